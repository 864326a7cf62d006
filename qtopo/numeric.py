"""Number helpers shared by every layer: a finite float or nothing, and EUR amounts as people read them.

Standard library only (bottom layer, beside :mod:`qtopo.contract`).
"""
from __future__ import annotations

import math


def finite_or_none(x) -> float | None:
    """``float(x)`` when that is a finite number; ``None`` for text that is no number, NaN, infinities, None."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt_eur(v) -> str:
    """A EUR amount in whole euros with thousands separators (``1,617,832``); ``-`` when missing or not finite.

    An amount that rounds to zero prints ``0``, never ``-0``: a brownfield plan's cost is its solver objective
    less the sunk cost of what is installed, which floating-point cancellation leaves at about -1e-11.
    """
    v = finite_or_none(v)
    if v is None:
        return "-"
    return f"{round(v):,}"
