"""Quantum-repeater chain limits for placement studies, after Rabbie, Chakraborty, Avis, Wehner,
"Designing quantum networks using preexisting infrastructure", npj Quantum Inf. 8, 5 (2022).

Rabbie et al. turn an end-to-end *rate* target and *fidelity* target into two planning constraints: every
elementary link of a repeater chain must be at most ``L_max`` km long, and a path may use at most ``N_max``
repeaters. This module computes ``(L_max, N_max)`` from an explicit, deliberately simple model:

Model (simplifications stated)
------------------------------
* **Elementary link** of length ``L`` (km): heralded entanglement generation with a heralding station in the
  middle (two-photon / Barrett-Kok-type scheme), success probability per attempt
  ``p(L) = p_link * 10^(-alpha L / 10)`` (both photons cross ``L/2``; ``p_link`` lumps emission, coupling,
  detection and the Bell-measurement success 1/2). Attempts are made at ``attempt_rate_hz`` but no faster
  than the heralding round trip allows: attempt period ``max(1/attempt_rate_hz, L / c_fibre)``. So the link
  generation rate is ``r(L) = p(L) / max(1/f, L/c)`` -- proportional to the fibre transmittance ``eta(L)``.
* **Chain rate** ``R ~ r(L)``: deterministic entanglement swapping, memories without decoherence, the chain
  delivers at the rate of its slowest (longest) link. This is the bottleneck approximation; waiting for all
  links to be ready simultaneously lowers the true rate by an O(log N) factor, and memory cut-offs further.
* **Fidelity**: every elementary link delivers a Werner state of fidelity ``F_link`` (Werner parameter
  ``w = (4F - 1)/3``); a swap maps Werner parameters to their product and may add depolarising noise of
  Werner parameter ``w_swap = (4 F_swap - 1)/3``. With ``N`` repeaters (``N + 1`` links)
  ``F_e2e = (1 + 3 w_link^(N+1) w_swap^N) / 4``. Link fidelity does not depend on ``L`` and memories do
  not decohere while waiting (both optimistic).
* ``L_max`` solves ``r(L_max) = rate_target``; ``N_max`` is the largest ``N`` with ``F_e2e >= F_target``.
"""
from __future__ import annotations

import math

import numpy as np

from qtopo.errors import InputError, Problem

C_FIBRE_KM_S = 2.0e5  # speed of light in fibre, km/s (group index ~1.5)


def link_rate_hz(length_km, *, attempt_rate_hz, link_efficiency, attenuation_db_per_km=0.2,
                 fibre_speed_km_s=C_FIBRE_KM_S):
    """Elementary-link entanglement generation rate (pairs per second) of the model above.

    Parameters
    ----------
    length_km : array_like
        Elementary link length (km, >= 0).
    attempt_rate_hz : float
        Maximum attempt rate of the hardware (Hz).
    link_efficiency : float
        ``p_link`` in (0, 1]: success probability per attempt at zero length.
    attenuation_db_per_km : float
        Fibre attenuation (dB/km).
    fibre_speed_km_s : float
        Signal speed in fibre (km/s).

    Returns
    -------
    numpy.ndarray
        Pairs per second.
    """
    L = np.asarray(length_km, dtype=float)
    p = link_efficiency * np.power(10.0, -attenuation_db_per_km * L / 10.0)
    period = np.maximum(1.0 / attempt_rate_hz, L / fibre_speed_km_s)
    return p / period


def chain_fidelity(n_repeaters, *, link_fidelity, swap_fidelity=1.0):
    """End-to-end Werner fidelity of a chain with ``n_repeaters`` repeaters (``n + 1`` links).

    ``F = (1 + 3 w_link^(n+1) w_swap^n) / 4`` with ``w = (4F - 1)/3``.
    """
    n = np.asarray(n_repeaters, dtype=float)
    wl = (4.0 * link_fidelity - 1.0) / 3.0
    ws = (4.0 * swap_fidelity - 1.0) / 3.0
    return (1.0 + 3.0 * wl ** (n + 1.0) * ws ** n) / 4.0


def repeater_chain_limits(rate_target_bps, fidelity_target, *, link_fidelity=0.99, swap_fidelity=1.0,
                          attempt_rate_hz=1e6, link_efficiency=0.1, attenuation_db_per_km=0.2,
                          fibre_speed_km_s=C_FIBRE_KM_S):
    """Maximum elementary-link length and maximum repeater count for rate and fidelity targets.

    Planning constraints in the style of Rabbie et al., npj Quantum Inf. 8, 5 (2022), from the simplified
    model of the module docstring (bottleneck-link rate ~ fibre transmittance, Werner-state fidelity decay
    per swap, no memory decoherence). Default hardware values are illustrative, not taken from the paper.

    Parameters
    ----------
    rate_target_bps : float or array_like
        Required end-to-end entangled-pair (key) rate per second (> 0).
    fidelity_target : float or array_like
        Required end-to-end fidelity in (1/4, 1].
    link_fidelity : float
        Fidelity of an elementary-link Werner state, in (1/4, 1].
    swap_fidelity : float
        Fidelity of the depolarising noise added per swap, in (1/4, 1] (1 = perfect swap).
    attempt_rate_hz : float
        Maximum attempt rate (Hz).
    link_efficiency : float
        Success probability per attempt at zero length, in (0, 1].
    attenuation_db_per_km : float
        Fibre attenuation (dB/km).
    fibre_speed_km_s : float
        Signal speed in fibre (km/s).

    Returns
    -------
    L_max_km : float or numpy.ndarray
        Longest elementary link meeting the rate target (km).
    N_max : int or numpy.ndarray
        Most repeaters a path may contain meeting the fidelity target (0 = direct links only).

    Raises
    ------
    qtopo.errors.InputError
        Parameters out of range, or targets unreachable by this hardware even with one short link (the
        problem names ``rate_target_bps`` or ``fidelity_target``).
    """
    probs = []

    def chk(name, v, lo, hi, lo_open=True):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or \
                (v <= lo if lo_open else v < lo) or v > hi:
            probs.append(Problem(name, f"{v!r} is outside {'(' if lo_open else '['}{lo}, {hi}]"))

    chk("link_fidelity", link_fidelity, 0.25, 1.0)
    chk("swap_fidelity", swap_fidelity, 0.25, 1.0)
    chk("attempt_rate_hz", attempt_rate_hz, 0.0, math.inf)
    chk("link_efficiency", link_efficiency, 0.0, 1.0)
    chk("attenuation_db_per_km", attenuation_db_per_km, 0.0, math.inf)
    chk("fibre_speed_km_s", fibre_speed_km_s, 0.0, math.inf)
    scalar = np.ndim(rate_target_bps) == 0 and np.ndim(fidelity_target) == 0
    rt = np.asarray(rate_target_bps, dtype=float)
    ft = np.asarray(fidelity_target, dtype=float)
    if not np.all(np.isfinite(rt) & (rt > 0)):
        probs.append(Problem("rate_target_bps", "must be finite and > 0 (pairs or bits per second)"))
    if not np.all(np.isfinite(ft) & (ft > 0.25) & (ft <= 1.0)):
        probs.append(Problem("fidelity_target", "must be in (1/4, 1]"))
    if probs:
        raise InputError(probs, "invalid repeater-chain parameters")
    rt, ft = np.broadcast_arrays(rt, ft)
    kw = dict(attempt_rate_hz=attempt_rate_hz, link_efficiency=link_efficiency,
              attenuation_db_per_km=attenuation_db_per_km, fibre_speed_km_s=fibre_speed_km_s)
    r0 = float(link_rate_hz(0.0, **kw))
    if np.any(rt > r0):
        probs.append(Problem("rate_target_bps", f"{rt.max():g}/s exceeds the zero-length link rate {r0:g}/s",
                             "lower the target or raise attempt_rate_hz / link_efficiency"))
    if np.any(ft > link_fidelity):
        probs.append(Problem("fidelity_target", f"{ft.max():g} exceeds the elementary-link fidelity {link_fidelity:g}",
                             "no chain (not even one link) can reach it"))
    if probs:
        raise InputError(probs, "repeater-chain targets unreachable")
    # L_max: the rate is strictly decreasing in L -> array bisection on [0, hi].
    lo = np.zeros(rt.shape)
    hi = np.full(rt.shape, 1.0)
    while np.any(link_rate_hz(hi, **kw) >= rt):
        hi = np.where(link_rate_hz(hi, **kw) >= rt, hi * 2.0, hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        ok = link_rate_hz(mid, **kw) >= rt
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    # N_max: (N+1) ln w_l + N ln w_s >= ln w_t  ->  N <= (ln w_t - ln w_l) / (ln w_l + ln w_s)
    wl = (4.0 * link_fidelity - 1.0) / 3.0
    ws = (4.0 * swap_fidelity - 1.0) / 3.0
    wt = (4.0 * ft - 1.0) / 3.0
    per = math.log(wl) + math.log(ws)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.where(per < 0, np.floor((np.log(wt) - math.log(wl)) / per + 1e-12), np.iinfo(np.int32).max)
    n = n.astype(np.int64)
    if scalar:
        return float(lo), int(n)
    return lo, n
