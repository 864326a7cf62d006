"""Protocol registry and the dispatching rate functions used by the planner.

``secret_bits_per_pulse(loss_db, device)`` and ``secret_key_rate_bps(loss_db, device)`` dispatch on
``device.protocol``. Models whose free parameters are optimised per loss are evaluated through a per-device
lookup table (rate linearly interpolated on a uniform 0.01 dB grid resampled from a model evaluation at
0.1 dB steps, 0.01 dB in the first dB and within 1 dB of the reach)
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
    """

    name: str
    title: str
    bits_per_pulse: Callable[[np.ndarray, Device], np.ndarray]
    source: str
    relay_in_middle: bool = False
    repeaterless: bool = True


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
_TABLE_STEP_DB = 0.1
_DIRECT_BAND_DB = 1.0


#: Signal intensity assumed for the detector click rate when the device optimises it per loss: the
#: asymptotic decoy-BB84 optimum is ~0.5 (Lo, Ma, Chen, PRL 94, 230504 (2005)); at the short distances where
#: detectors saturate the optimum is at or above it, so the click rate is not overestimated by much.
MU_CLICK_REF = 0.5


def detector_click_rate_hz(loss_db, device: Device) -> np.ndarray:
    """Clicks per second offered to each detector (before dead time), the input of :func:`limit_factor`.

    Point-to-point protocols: two detectors, mean photon number at the receiver ``mu eta_ch eta_det``;
    MDI (four detectors) and twin-field (two): both arms' light ``2 mu sqrt(eta_ch) eta_det`` reaches the
    relay. Click probability per pulse ``(1 - e^{-m} + n_det p_d)(1 + p_ap)``, shared evenly by the
    detectors; ``mu = signal_intensity`` or :data:`MU_CLICK_REF`.
    """
    spec = _spec(device)
    eta = eta_from_loss_db(np.asarray(loss_db, dtype=float))
    mu = device.signal_intensity if device.signal_intensity is not None else MU_CLICK_REF
    if spec.relay_in_middle:
        n_det = 4 if device.protocol == D.MDI else 2
        m = 2.0 * mu * np.sqrt(eta) * device.detector_efficiency
    else:
        n_det = 2
        m = mu * eta * device.detector_efficiency
    p_click = (-np.expm1(-m) + n_det * device.dark_count_prob) * (1.0 + device.afterpulse_prob)
    return device.repetition_rate_hz * p_click / n_det


def limit_factor(loss_db, device: Device) -> np.ndarray:
    """Fraction of the detections a device's detectors register (1 without dead time or count-rate limit).

    Non-paralysable dead time ``tau`` (the model analysed by Rogers, Bienfang, Nakassis, Xu, Clark, NJP 9, 319
    (2007)):
    a detector offered ``c`` clicks/s registers ``c / (1 + c tau)``; a counting limit ``c_max`` caps the
    registered rate. Signal and background clicks are lost alike, so the secret fraction is unchanged and
    the key rate scales with this factor (to first order; the intensity is not re-optimised for it, which
    can only underestimate the rate).
    """
    c = detector_click_rate_hz(loss_db, device)
    f = np.ones_like(c)
    if device.dead_time_s is not None:
        f = 1.0 / (1.0 + c * device.dead_time_s)
    if device.max_count_rate_hz is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(c * f > device.max_count_rate_hz, device.max_count_rate_hz / c, f)
    return f


def _direct(loss_db: np.ndarray, device: Device) -> np.ndarray:
    spec = _spec(device)
    loss_db = np.asarray(loss_db, dtype=float)
    with np.errstate(all="ignore"):
        r = spec.bits_per_pulse(eta_from_loss_db(loss_db), device)
    r = np.where(np.isfinite(r), r, 0.0)
    if device.dead_time_s is not None or device.max_count_rate_hz is not None:
        r = r * limit_factor(loss_db, device)
    if device.max_secret_rate_bps is not None:      # post-processing throughput cap
        r = np.minimum(r, device.max_secret_rate_bps / device.repetition_rate_hz)
    if device.max_loss_db is not None:
        r = np.where(loss_db <= device.max_loss_db, r, 0.0)
    return np.maximum(r, 0.0)


def finite_block_time_s(loss_db, device: Device) -> np.ndarray:
    """Time (s) to fill one finite-key block at each loss (0 where no key; NaN for asymptotic protocols).

    The block is the largest ``n_X <= block_size`` that fills within ``max_block_time_s``
    (:func:`qtopo.keyrate.bb84.finite_key_rate`); the time is pulses per block over the repetition rate.
    """
    loss = check_loss_db(loss_db)
    if device.protocol != D.BB84_FINITE:
        return np.full(loss.shape, np.nan)
    from .bb84 import bb84_finite

    with np.errstate(all="ignore"):
        r, _, n_pulses = bb84_finite(eta_from_loss_db(loss), device, details=True)
    t = n_pulses / device.repetition_rate_hz
    if device.max_loss_db is not None:
        t = np.where(loss <= device.max_loss_db, t, 0.0)
    return np.where(r > 0, t, 0.0)


def finite_block_size(loss_db, device: Device) -> np.ndarray:
    """Block size ``n_X`` (key-basis detections) used at each loss (0 where no key; NaN if asymptotic)."""
    loss = check_loss_db(loss_db)
    if device.protocol != D.BB84_FINITE:
        return np.full(loss.shape, np.nan)
    from .bb84 import bb84_finite

    with np.errstate(all="ignore"):
        r, n_x, _ = bb84_finite(eta_from_loss_db(loss), device, details=True)
    if device.max_loss_db is not None:
        n_x = np.where(loss <= device.max_loss_db, n_x, 0.0)
    return np.where(r > 0, n_x, 0.0)


@lru_cache(maxsize=256)
def _reach_db(device: Device) -> float:
    r0 = float(_direct(np.array([0.0]), device)[0])
    if r0 <= 0.0:
        return 0.0
    cap = device.max_loss_db
    if cap is not None and _direct(np.array([cap]), device)[0] > 0.0:
        return float(cap)
    # Coarse scan (5 dB) brackets the first zero (models are non-increasing in loss), then bisection.
    grid = np.arange(0.0, _REACH_CAP_DB + 5.0, 5.0)
    r = _direct(grid, device)
    zero = np.flatnonzero(r <= 0.0)
    if zero.size == 0:
        return math.inf
    hi = float(grid[zero[0]])
    lo = float(grid[zero[0] - 1])
    for _ in range(10):  # 16-section: 5 dB / 17^10 ~ 2.5e-12 dB, one vectorised call per round
        pts = np.linspace(lo, hi, 18)[1:-1]
        pos = _direct(pts, device) > 0.0
        k = int(np.argmin(pos)) if not pos.all() else pts.size
        lo = float(pts[k - 1]) if k > 0 else lo
        hi = float(pts[k]) if k < pts.size else hi
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


@dataclass(frozen=True)
class _Table:
    """Rate (bits/pulse) on a uniform loss grid ``k * step`` for ``k = 0 .. rate.size - 1``."""

    step: float
    inv_step: float
    end: float
    rate: np.ndarray


def _segment(a: float, b: float, step: float) -> int:
    return max(1, int(math.ceil((b - a) / step))) if b > a else 1


@lru_cache(maxsize=256)
def _table(device: Device) -> _Table:
    """Per-device lookup table, linear interpolation of the rate itself.

    The model is evaluated (optimised) on a piecewise grid: 0.01 dB over the first dB (CV rates are steep
    near zero loss), 0.1 dB in the middle (relative interpolation error of an exponential decay
    ``(0.1 ln10/10)^2 / 8 ~ 7e-5``), 0.01 dB over the last dB before the reach (the rate falls linearly to
    zero there). That piecewise-linear curve is then resampled on a uniform 0.01 dB grid, so a lookup is one
    multiply and one gather (no search). Beyond ``end`` (only for unbounded models) rates are computed
    directly.
    """
    reach = _reach_db(device)
    end = min(reach, _REACH_CAP_DB)
    fine = _TABLE_STEP_DB / 10.0
    head = min(_DIRECT_BAND_DB, end / 3.0)
    split = max(head, end - _DIRECT_BAND_DB)
    grid = np.unique(np.concatenate([
        np.linspace(0.0, head, _segment(0.0, head, fine) + 1),
        np.linspace(head, split, _segment(head, split, _TABLE_STEP_DB) + 1),
        np.linspace(split, end, _segment(split, end, fine) + 1),
    ]))
    rates = _direct(grid, device)
    # The optimum is non-increasing in loss; an optimiser can only fall short of it, so the running minimum
    # removes optimiser noise conservatively (every tabulated value stays <= the value computed there).
    rates = np.minimum.accumulate(rates)
    n = _segment(0.0, end, fine)
    step = end / n if end > 0 else 1.0
    uniform = np.interp(np.arange(n + 1) * step, grid, rates)
    return _Table(step, 1.0 / step, end, uniform)


def _lookup(x: np.ndarray, t: _Table) -> np.ndarray:
    """Uniform-grid linear interpolation: one multiply, two gathers, few temporaries (no binary search)."""
    u = np.multiply(x, t.inv_step)
    np.clip(u, 0.0, t.rate.size - 1.000001, out=u)
    i = u.astype(np.intp)
    u -= i                                   # fractional position in the cell
    out = np.take(t.rate, i)                 # lower node
    np.add(i, 1, out=i)
    hi = np.take(t.rate, i)                  # upper node
    hi -= out
    hi *= u
    out += hi
    return out


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
        Bypass the interpolation table (direct per-element optimisation). The table matches the direct
        computation within 0.5% (tested).

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
    _spec(device)
    reach = _reach_db(device)
    if reach == 0.0:
        warnings.warn(f"device {device.name!r}: no secret key even at zero channel loss "
                      "(parameters outside the protocol's working range); all rates are 0",
                      ValidityWarning, stacklevel=2)
    if exact:
        out = np.zeros(loss.shape)
        inside = (loss <= reach) & np.isfinite(loss)
        if inside.any():
            out[inside] = _direct(loss[inside], device)
        return out
    if loss.ndim == 0:
        return secret_bits_per_pulse(loss.reshape(1), device).reshape(())
    if reach == 0.0:
        return np.zeros(loss.shape)
    t = _table(device)
    with np.errstate(invalid="ignore"):
        vals = _lookup(loss, t)
    np.copyto(vals, 0.0, where=~(loss <= reach))
    if t.end < reach:  # unbounded model: beyond the table, compute directly
        far = (loss > t.end) & np.isfinite(loss)
        if far.any():
            vals[far] = _direct(loss[far], device)
    return vals


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
    out = secret_bits_per_pulse(loss_db, device, exact=exact)
    out *= device.repetition_rate_hz
    return out


# --------------------------------------------------------------------------------------------------------
# Registered models
# --------------------------------------------------------------------------------------------------------
from . import bb84 as _bb84  # noqa: E402
from . import cvqkd as _cv  # noqa: E402
from . import mdi as _mdi  # noqa: E402
from . import twinfield as _tf  # noqa: E402

register(ProtocolSpec(
    D.BB84_DECOY, "Decoy-state BB84, asymptotic, infinite decoys (GLLP)", _bb84.bb84_decoy_gllp,
    "Lo, Ma, Chen, PRL 94, 230504 (2005), Eq. (1); GLLP: Gottesman et al., QIC 4, 325 (2004)",
))
register(ProtocolSpec(
    D.BB84_VACUUM_WEAK, "Decoy-state BB84, vacuum + weak decoy, asymptotic", _bb84.bb84_vacuum_weak,
    "Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) (vacuum + weak decoy bounds)",
))
register(ProtocolSpec(
    D.BB84_FINITE, "Decoy-state BB84, finite key (one decoy + vacuum)", _bb84.bb84_finite,
    "Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014) (key length and decoy bounds)",
))
register(ProtocolSpec(
    D.MDI, "MDI-QKD, asymptotic, relay in the middle", _mdi.mdi_qkd,
    "Lo, Curty, Qi, PRL 108, 130503 (2012); channel model Ma, Razavi, PRA 86, 062319 (2012)",
    relay_in_middle=True,
))
register(ProtocolSpec(
    D.TF_SNS, "Twin-field QKD, sending-or-not-sending, asymptotic, relay in the middle", _tf.tf_sns,
    "Wang, Yu, Hu, PRA 98, 062323 (2018)",
    relay_in_middle=True, repeaterless=False,
))
register(ProtocolSpec(
    D.CV_GG02, "CV-QKD GG02, Gaussian modulation, reverse reconciliation, collective attacks", _cv.cv_gg02,
    "Grosshans et al., Nature 421, 238 (2003); Lodewyck et al., PRA 76, 042305 (2007); Fossier et al., "
    "J. Phys. B 42, 114014 (2009)",
))
