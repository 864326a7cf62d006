"""Protocol registry and the dispatching rate functions used by the planner.

``secret_bits_per_pulse(loss_db, device)`` and ``secret_key_rate_bps(loss_db, device)`` dispatch on
``device.protocol``. Models whose free parameters are optimised per loss are evaluated through a per-device
lookup table (log-rate linearly interpolated on a 0.05 dB grid, direct computation within 1 dB of the reach)
so that the planner can evaluate millions of spans per second; ``exact=True`` bypasses the table.
Beyond :func:`max_reach_db` every model returns exactly 0.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from qtopo.errors import InputError, Problem, ValidityWarning

from . import devices as D
from ._util import check_loss_db, eta_from_loss_db
from .devices import Device


@dataclass(frozen=True)
class ProtocolSpec:
    """A registered key-rate model.

    Attributes
    ----------
    name : str
        Protocol id (``Device.protocol``).
    title : str
        Human-readable name.
    bits_per_pulse : callable
        ``f(eta_channel, device) -> ndarray`` secret bits per pulse (per channel use / symbol), where
        ``eta_channel`` is the end-to-end channel transmittance (for relay protocols the relay sits in the
        middle: each arm has ``sqrt(eta_channel)``).
    source : str
        Paper the model implements.
    relay_in_middle : bool
        MDI / twin-field: an untrusted relay in the middle of the span.
    repeaterless : bool
        Point-to-point protocol bounded by PLOB (``-log2(1-eta)`` per channel use).
    optimised : bool
        Free parameters optimised per loss (the table path is used).
    """

    name: str
    title: str
    bits_per_pulse: Callable[[np.ndarray, Device], np.ndarray]
    source: str
    relay_in_middle: bool = False
    repeaterless: bool = True
    optimised: bool = True


PROTOCOLS: dict[str, ProtocolSpec] = {}


def register(spec: ProtocolSpec) -> ProtocolSpec:
    """Add a model to :data:`PROTOCOLS` (used by the protocol modules)."""
    PROTOCOLS[spec.name] = spec
    return spec


def list_protocols() -> list[dict[str, object]]:
    """Registered protocols as rows ``{"name", "title", "source", "relay_in_middle"}``."""
    return [
        {"name": s.name, "title": s.title, "source": s.source, "relay_in_middle": s.relay_in_middle}
        for s in PROTOCOLS.values()
    ]


def _spec(device: Device) -> ProtocolSpec:
    if not isinstance(device, Device):
        raise InputError([Problem("device", f"expected a qtopo.keyrate.Device, got {type(device).__name__}",
                                  "use qtopo.keyrate.get_device(name)")])
    try:
        return PROTOCOLS[device.protocol]
    except KeyError:
        raise InputError([Problem(f"device {device.name!r}, field 'protocol'",
                                  f"protocol {device.protocol!r} is not registered",
                                  "choose one of: " + ", ".join(PROTOCOLS))]) from None


# --------------------------------------------------------------------------------------------------------
# Reach (bisection) and the per-device lookup table
# --------------------------------------------------------------------------------------------------------
_REACH_CAP_DB = 300.0      # search limit; a model still positive there is reported as unbounded (inf)
_TABLE_STEP_DB = 0.05
_DIRECT_BAND_DB = 1.0


def _direct(loss_db: np.ndarray, device: Device) -> np.ndarray:
    spec = _spec(device)
    with np.errstate(all="ignore"):
        r = spec.bits_per_pulse(eta_from_loss_db(loss_db), device)
    r = np.where(np.isfinite(r), r, 0.0)
    return np.maximum(r, 0.0)


@lru_cache(maxsize=256)
def _reach_db(device: Device) -> float:
    r0 = float(_direct(np.array([0.0]), device)[0])
    if r0 <= 0.0:
        return 0.0
    # Coarse scan brackets the first zero (models are non-increasing in loss), then bisection.
    grid = np.arange(0.0, _REACH_CAP_DB + 1.0, 1.0)
    r = _direct(grid, device)
    zero = np.flatnonzero(r <= 0.0)
    if zero.size == 0:
        return math.inf
    hi = float(grid[zero[0]])
    lo = hi - 1.0
    for _ in range(40):  # 1 dB / 2^40: well below any meaningful resolution
        mid = 0.5 * (lo + hi)
        if _direct(np.array([mid]), device)[0] > 0.0:
            lo = mid
        else:
            hi = mid
    return lo


def max_reach_db(device: Device) -> float:
    """Largest channel loss (dB) at which ``device`` still yields a positive key.

    Parameters
    ----------
    device : Device

    Returns
    -------
    float
        Loss in dB (``math.inf`` if the model stays positive up to 300 dB, e.g. CV-QKD without excess
        noise; ``0.0`` if no key is possible even at zero loss).
    """
    reach = _reach_db(device)
    if reach == 0.0:
        warnings.warn(f"device {device.name!r}: no secret key even at zero channel loss "
                      "(parameters outside the protocol's working range)", ValidityWarning, stacklevel=2)
    return reach


def max_distance_km(device: Device, attenuation_db_per_km: float = 0.2, fixed_loss_db: float = 0.0) -> float:
    """Maximum fibre length (km) for ``device`` on fibre of the given attenuation.

    Parameters
    ----------
    device : Device
    attenuation_db_per_km : float
        Fibre attenuation (> 0), e.g. ``FIBRE_TYPES["standard"].attenuation_db_per_km``.
    fixed_loss_db : float
        Length-independent loss (connectors, splices) subtracted from the reach first.

    Returns
    -------
    float
        ``(max_reach_db - fixed_loss_db) / attenuation_db_per_km``, at least 0 (``inf`` if unbounded).
    """
    if not (isinstance(attenuation_db_per_km, (int, float)) and attenuation_db_per_km > 0
            and math.isfinite(attenuation_db_per_km)):
        raise InputError([Problem("attenuation_db_per_km", f"{attenuation_db_per_km!r} is not a positive number",
                                  "e.g. 0.2 (standard fibre) or 0.16 (ultra-low-loss)")])
    if not (isinstance(fixed_loss_db, (int, float)) and fixed_loss_db >= 0):
        raise InputError([Problem("fixed_loss_db", f"{fixed_loss_db!r} must be >= 0", "connector losses in dB")])
    reach = max_reach_db(device)
    return max(0.0, (reach - fixed_loss_db) / attenuation_db_per_km)


@lru_cache(maxsize=256)
def _table(device: Device):
    """(grid_db, log_rate, table_end_db) for interpolation; direct evaluation beyond ``table_end_db``."""
    reach = _reach_db(device)
    top = min(reach, _REACH_CAP_DB)
    end = max(0.0, top - _DIRECT_BAND_DB)
    n = int(math.ceil(end / _TABLE_STEP_DB)) + 1
    grid = np.linspace(0.0, end, max(n, 2))
    r = _direct(grid, device)
    with np.errstate(divide="ignore"):
        logr = np.log(r)
    if not np.all(np.isfinite(logr)):   # should not happen below the reach; fall back to direct evaluation
        return grid, None, 0.0
    return grid, logr, end


def secret_bits_per_pulse(loss_db, device: Device, *, exact: bool = False) -> np.ndarray:
    """Secret bits per pulse (per channel use / symbol) over a channel of the given loss.

    Parameters
    ----------
    loss_db : array_like
        End-to-end channel loss in dB (fibre + connectors; the receiver is in ``device``). For MDI and
        twin-field devices the untrusted relay sits in the middle (each arm has half the loss).
    device : Device
        Device; ``device.protocol`` selects the model.
    exact : bool
        Bypass the interpolation table (direct per-element optimisation).

    Returns
    -------
    numpy.ndarray
        Same shape as ``loss_db``; >= 0, exactly 0 beyond :func:`max_reach_db`.

    Raises
    ------
    qtopo.errors.InputError
        Negative or NaN loss, or a device that is not a :class:`Device`.
    """
    loss = check_loss_db(loss_db)
    spec = _spec(device)
    reach = _reach_db(device)
    out = np.zeros(loss.shape)
    inside = loss < reach if math.isfinite(reach) else np.isfinite(loss)
    if not inside.any():
        return out
    x = loss[inside]
    if exact or not spec.optimised:
        out[inside] = _direct(x, device)
        return out
    grid, logr, end = _table(device)
    if logr is None:
        out[inside] = _direct(x, device)
        return out
    vals = np.exp(np.interp(x, grid, logr))
    far = x > end
    if far.any():
        vals[far] = _direct(x[far], device)
    out[inside] = vals
    return out


def secret_key_rate_bps(loss_db, device: Device, *, exact: bool = False) -> np.ndarray:
    """Secret key rate in bit/s: :func:`secret_bits_per_pulse` times ``device.repetition_rate_hz``.

    Parameters
    ----------
    loss_db : array_like
        End-to-end channel loss in dB (see :func:`secret_bits_per_pulse`).
    device : Device
    exact : bool
        Bypass the interpolation table.

    Returns
    -------
    numpy.ndarray
        bit/s, same shape as ``loss_db``, exactly 0 beyond reach.
    """
    return secret_bits_per_pulse(loss_db, device, exact=exact) * device.repetition_rate_hz


# --------------------------------------------------------------------------------------------------------
# Registered models
# --------------------------------------------------------------------------------------------------------
from . import bb84 as _bb84  # noqa: E402

register(ProtocolSpec(
    D.BB84_DECOY, "Decoy-state BB84, asymptotic, infinite decoys (GLLP)", _bb84.bb84_decoy_gllp,
    "Lo, Ma, Chen, PRL 94, 230504 (2005), Eq. (1); GLLP: Gottesman et al., QIC 4, 325 (2004)",
))
register(ProtocolSpec(
    D.BB84_VACUUM_WEAK, "Decoy-state BB84, vacuum + weak decoy, asymptotic", _bb84.bb84_vacuum_weak,
    "Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Sec. III (vacuum + weak decoy)",
))
