"""Shared numerical helpers of :mod:`qtopo.keyrate` (private).

Everything here is vectorised NumPy; nothing loops over array elements in Python.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from qtopo.errors import InputError, Problem

#: Smallest probability fed into ``log2`` (avoids ``log2(0)`` warnings; entropy terms vanish there anyway).
_TINY = 1e-300


def h2(p):
    """Binary Shannon entropy in bits, ``-p log2 p - (1-p) log2 (1-p)``.

    Parameters
    ----------
    p : array_like
        Probability; clipped to ``[0, 1]``. ``h2(0) = h2(1) = 0`` exactly, no NumPy warnings.

    Returns
    -------
    numpy.ndarray
        Entropy in bits, in ``[0, 1]``.
    """
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -p * np.log2(np.maximum(p, _TINY)) - q * np.log2(np.maximum(q, _TINY))
    return np.where((p <= 0.0) | (p >= 1.0), 0.0, out)


def h2_capped(p):
    """Binary entropy that is 1 for ``p >= 1/2`` (error rates above 1/2 carry no information).

    Parameters
    ----------
    p : array_like
        Error probability.

    Returns
    -------
    numpy.ndarray
        ``h2(min(p, 1/2))`` in bits.
    """
    return h2(np.minimum(np.asarray(p, dtype=float), 0.5))


def eta_from_loss_db(loss_db):
    """Transmittance of a loss in dB: ``eta = 10**(-loss_db/10)``.

    Parameters
    ----------
    loss_db : array_like
        Loss in dB (>= 0).

    Returns
    -------
    numpy.ndarray
        Dimensionless transmittance in ``(0, 1]``.
    """
    return np.power(10.0, -np.asarray(loss_db, dtype=float) / 10.0)


def loss_db_from_eta(eta):
    """Loss in dB of a transmittance: ``-10 log10(eta)`` (``inf`` for ``eta = 0``)."""
    eta = np.asarray(eta, dtype=float)
    with np.errstate(divide="ignore"):
        return -10.0 * np.log10(eta)


def check_loss_db(loss_db, where: str = "loss_db") -> np.ndarray:
    """Validate channel losses and return them as a float array.

    Parameters
    ----------
    loss_db : array_like
        Channel loss in dB; must be finite or ``+inf`` and non-negative.
    where : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        ``np.asarray(loss_db, float)`` (same shape).

    Raises
    ------
    qtopo.errors.InputError
        If any value is NaN or negative (all offending positions are reported, up to 5 examples).
    """
    try:
        arr = np.asarray(loss_db, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError([Problem(where, f"loss must be numeric ({exc})",
                                  "pass a number or an array of dB values")]) from None
    if arr.size == 0 or arr.min() >= 0.0:   # fast path: one reduction (NaN makes min() NaN -> checks below)
        return arr
    problems = []
    nan = np.isnan(arr)
    if nan.any():
        idx = np.flatnonzero(nan.ravel())[:5].tolist()
        problems.append(Problem(where, f"{int(nan.sum())} loss value(s) are NaN (flat index {idx})",
                                "give every span a loss in dB"))
    neg = arr < 0
    if neg.any():
        idx = np.flatnonzero(neg.ravel())[:5]
        vals = arr.ravel()[idx].tolist()
        problems.append(Problem(where, f"{int(neg.sum())} loss value(s) are negative "
                                       f"(e.g. {vals} dB at flat index {idx.tolist()})",
                                "loss in dB must be >= 0 (a passive fibre cannot amplify)"))
    if problems:
        raise InputError(problems, "invalid channel loss")
    return arr


def maximise(
    f: Callable[..., np.ndarray],
    shape: Sequence[int],
    bounds: Mapping[str, tuple[float, float]],
    *,
    n_grid: int = 9,
    n_iter: int = 14,
    log: Sequence[str] = (),
    init: Mapping[str, float] | None = None,
    n_start: int = 33,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Maximise ``f(**params)`` independently for every element of an array, without Python loops over elements.

    A vectorised coordinate search: for each free parameter in turn, ``n_grid`` candidate values in a window
    around the current best are evaluated for *all* elements at once (broadcast on a trailing axis); the best
    is kept and the window shrinks by a factor 2 per sweep. The first parameter is started from a dense grid of
    ``n_start`` points over its whole range, which makes the search global in that parameter; the others start
    at ``init`` (or the middle of their range). Parameters listed in ``log`` are searched in log space.

    Parameters
    ----------
    f : callable
        ``f(**params) -> ndarray`` broadcasting over arrays of shape ``shape + (k,)``; must be finite
        (return ``-inf`` where undefined).
    shape : tuple of int
        Shape of the problem arrays (e.g. the loss array) the other inputs of ``f`` broadcast against with a
        trailing axis: they should have shape ``shape + (1,)``.
    bounds : mapping name -> (lo, hi)
        Box constraints of each free parameter.
    n_grid, n_iter : int
        Candidates per coordinate step and number of sweeps.
    log : sequence of str
        Parameters searched in log space.
    init : mapping name -> float, optional
        Unused (kept for API stability; the global start grid replaces it).
    n_start : int
        Dense starting grid of the first parameter.

    Returns
    -------
    best : numpy.ndarray
        Maximum of ``f`` per element, shape ``shape``.
    params : dict name -> numpy.ndarray
        Maximiser per element.
    """
    names = list(bounds)
    tr = {n: (np.log if n in log else (lambda x: x)) for n in names}
    inv = {n: (np.exp if n in log else (lambda x: x)) for n in names}
    lo = {n: float(tr[n](bounds[n][0])) for n in names}
    hi = {n: float(tr[n](bounds[n][1])) for n in names}
    cur: dict = {}

    def evaluate(trial: dict) -> np.ndarray:
        with np.errstate(all="ignore"):
            val = f(**{n: inv[n](trial[n]) for n in names})
        return np.where(np.isfinite(val), val, -np.inf)

    # Global start: a dense grid (one parameter) or a coarse product grid (several parameters).
    d = len(names)
    k_per = n_start if d == 1 else max(3, int(round(n_start ** (1.0 / d))))
    axes = [np.linspace(lo[n], hi[n], k_per) for n in names]
    mesh = [m.ravel() for m in np.meshgrid(*axes, indexing="ij")]
    trial = {n: np.broadcast_to(m, tuple(shape) + (m.size,)) for n, m in zip(names, mesh)}
    vals = evaluate(trial)
    k = np.argmax(vals, axis=-1)[..., None]
    best = np.take_along_axis(vals, k, axis=-1)
    for n, m in zip(names, mesh):
        start_v = np.take_along_axis(np.broadcast_to(m, vals.shape), k, axis=-1)
        cur[n] = start_v
    width = {n: 2.0 * (hi[n] - lo[n]) / (k_per - 1) for n in names}
    offsets = np.linspace(-1.0, 1.0, n_grid)
    for _ in range(n_iter):
        for n in names:
            cand = np.clip(cur[n] + width[n] * offsets, lo[n], hi[n])
            trial = dict(cur)
            trial[n] = cand
            vals = evaluate(trial)
            k = np.argmax(vals, axis=-1)[..., None]
            v = np.take_along_axis(vals, k, axis=-1)
            better = v > best
            cur[n] = np.where(better, np.take_along_axis(cand, k, axis=-1), cur[n])
            best = np.where(better, v, best)
            width[n] *= 0.5
    return best[..., 0], {n: inv[n](cur[n][..., 0]) for n in names}
