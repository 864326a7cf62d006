"""Lit fibre: spontaneous Raman noise from classical DWDM channels sharing the QKD fibre (pure NumPy).

A QKD channel multiplexed into a fibre that carries classical traffic picks up photons Raman-scattered out of the
classical channels into its pass band. The noise power inside the receiver's filter is (Eraerds, Walenta,
Legre, Gisin, Zbinden, "Quantum key distribution and 1 Gbps data encryption over a single fibre", NJP 12,
063027 (2010), arXiv:0912.1798, the forward and backward Raman noise equations of their Sec. 2 (numbered (1) and
(2) in our reading; the numbers were not re-checked against the published text), with
``beta = rho(lambda) * delta_lambda``)::

    forward  (classical and quantum travel the same way):   P_f = P_out * beta * L
    backward (classical travels towards the QKD sender):     P_b = P_out * beta * sinh(alpha L) / alpha

where ``P_out = P_in exp(-alpha L)`` is the classical power at the fibre's far end, ``P_in`` the launch power,
``alpha`` the attenuation (1/km, the same for the classical and the Raman wavelength), ``L`` the length and
``rho`` the effective Raman cross-section (per km per nm of filter bandwidth). Equivalently
``P_b = P_in beta (1 - exp(-2 alpha L)) / (2 alpha)``: backward noise grows to the saturation value
``P_in beta / (2 alpha)``, forward noise peaks at ``L = 1/alpha`` (21.7 km at 0.2 dB/km) and then decays.
The same two expressions are used by Patel et al., "Coexistence of high-bit-rate quantum key distribution and
data on optical fiber", PRX 2, 041010 (2012) (their Raman noise model, with temporal filtering: only photons
inside the detector's gate count) and by Mao et al., "Integrating quantum key distribution with classical
communications in backbone fiber network", Opt. Express 26, 6010 (2018).

From noise power to clicks: the photon flux is ``P / (h c / lambda_q)``; a detection window (gate) of
``tau`` seconds sees ``n = P tau lambda_q / (h c)`` noise photons at the receiver input, the receiver detects
``eta_det n`` of them, spread evenly over its two detectors, so each detector clicks on noise with probability
``p_R = 1 - exp(-eta_det n / 2)`` per gate. These clicks are background: the per-detector dark-count
probability of the device becomes ``1 - (1 - p_d)(1 - p_R)`` (independent events), and every DV model that
has a dark-count parameter (decoy BB84, finite-key BB84, MDI, twin-field) gives its lit-fibre rate from it.
CV-QKD (excess noise, not clicks) is not modelled on lit fibre: it is refused with a clear error.

Assumptions (stated, not hidden): the cross-section ``rho`` is an input (it depends on the wavelength plan:
Stokes side of the classical channels is worse than the anti-Stokes side, a few 1e-9 per km per nm for C-band
neighbours, orders of magnitude less for a 1310 nm quantum channel far on the anti-Stokes side of 1550 nm
data: Eraerds et al. 2010 measured the spectrum rho(lambda) of a 1550 nm pump in standard fibre); the default :data:`DEFAULT_CROSS_SECTION_PER_KM_NM` is an
order-of-magnitude value for a C-band quantum channel about 20 nm from its classical neighbours, not a
measurement of a particular fibre. Four-wave mixing and channel leakage (isolation of the multiplexers) are not
modelled. Noise is a worst case over the receiver's whole gate (``window_ns``, default one clock period).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from qtopo.errors import InputError, Problem, ValidityWarning

from .devices import CV_GG02, Device

H_PLANCK = 6.62607015e-34      # J s (exact, SI 2019)
C_LIGHT = 299_792_458.0        # m/s (exact)
LN10_OVER_10 = math.log(10.0) / 10.0

#: Effective Raman cross-section rho (1 / (km nm)): order-of-magnitude value for a C-band quantum channel
#: ~20 nm on the Stokes side of C-band classical channels (the magnitude of the spectrum measured by Eraerds et
#: al., NJP 12, 063027 (2010); 3e-9 is also quoted as the worst C-band coefficient of Kumar, Qin, Alleaume,
#: NJP 17, 043027 (2015), not re-checked here). An assumption: pass the value measured for your fibre and plan.
DEFAULT_CROSS_SECTION_PER_KM_NM = 3.0e-9
#: Receiver filter bandwidth (nm): one 100 GHz ITU-T G.694.1 DWDM channel (0.8 nm at 1550 nm).
DEFAULT_FILTER_NM = 0.8
#: Wavelength of the quantum channel (nm), for the photon energy.
DEFAULT_WAVELENGTH_NM = 1550.0
DIRECTIONS = ("forward", "backward", "both")
#: Noise levels are rounded *up* to this many steps per decade before a rate is computed (a rate is then shared
#: by all spans of one level; the rounding overstates the noise by at most 10**(1/20) - 1 = 12%).
LEVELS_PER_DECADE = 20
#: Launch power range accepted (dBm): below -60 dBm the noise is negligible, above 30 dBm (1 W) no DWDM system.
MIN_LAUNCH_DBM, MAX_LAUNCH_DBM = -60.0, 30.0


@dataclass(frozen=True)
class LitFibre:
    """The classical load of a lit fibre and the receiver's filtering.

    Parameters
    ----------
    launch_power_dbm : float or None
        Total classical launch power into the fibre (all DWDM channels), dBm. ``None`` (or ``-inf``): no
        classical light, i.e. dark fibre.
    cross_section_per_km_nm : float
        Effective Raman cross-section ``rho`` (1/(km nm)), ``beta = rho * filter_nm`` (Eraerds et al. 2010).
    filter_nm : float
        Receiver filter bandwidth (nm).
    window_ns : float or None
        Detection window per gate (ns); ``None``: one clock period of the device (``1 / repetition_rate_hz``).
    direction : str
        ``forward`` (classical co-propagating with the quantum signal), ``backward`` (counter-propagating) or
        ``both`` (bidirectional classical traffic at ``launch_power_dbm`` each way).
    wavelength_nm : float
        Quantum channel wavelength (nm).
    """

    launch_power_dbm: float | None = None
    cross_section_per_km_nm: float = DEFAULT_CROSS_SECTION_PER_KM_NM
    filter_nm: float = DEFAULT_FILTER_NM
    window_ns: float | None = None
    direction: str = "forward"
    wavelength_nm: float = DEFAULT_WAVELENGTH_NM

    def __post_init__(self):
        probs = []
        p = self.launch_power_dbm
        if p is not None and not (isinstance(p, (int, float)) and not isinstance(p, bool)
                                  and (p == -math.inf or MIN_LAUNCH_DBM <= p <= MAX_LAUNCH_DBM)):
            probs.append(Problem("launch_power_dbm", f"{p!r} is not a power in [{MIN_LAUNCH_DBM:g}, "
                                 f"{MAX_LAUNCH_DBM:g}] dBm", "e.g. 0 (1 mW) for a few DWDM channels; None: dark fibre"))
        for name, lo, hi in (("cross_section_per_km_nm", 0.0, 1e-6), ("filter_nm", 1e-4, 100.0),
                             ("wavelength_nm", 400.0, 2500.0)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
                probs.append(Problem(name, f"{v!r} is outside [{lo:g}, {hi:g}]", "see qtopo.keyrate.raman"))
        w = self.window_ns
        if w is not None and not (isinstance(w, (int, float)) and math.isfinite(w) and 0 < w <= 1e6):
            probs.append(Problem("window_ns", f"{w!r} must be in (0, 1e6] ns", "e.g. 0.1 for a 100 ps gate; None: one "
                                 "clock period"))
        if self.direction not in DIRECTIONS:
            probs.append(Problem("direction", f"{self.direction!r} is not one of {DIRECTIONS}", "e.g. forward"))
        if probs:
            raise InputError(probs, "invalid lit-fibre parameters")

    @property
    def lit(self) -> bool:
        """True when classical light is present."""
        return self.launch_power_dbm is not None and self.launch_power_dbm > -math.inf

    @property
    def beta_per_km(self) -> float:
        """``beta = rho * delta_lambda`` (1/km), the Raman scattering coefficient inside the filter."""
        return self.cross_section_per_km_nm * self.filter_nm

    def window_s(self, device: Device) -> float:
        """Detection window per gate (s)."""
        return self.window_ns * 1e-9 if self.window_ns is not None else 1.0 / device.repetition_rate_hz


def dbm_to_w(p_dbm):
    """Power in W of ``p_dbm`` (``-inf`` -> 0)."""
    return 1e-3 * np.power(10.0, np.asarray(p_dbm, dtype=float) / 10.0)


def raman_power_w(launch_power_dbm, length_km, fibre_loss_db, beta_per_km: float, direction: str = "forward"):
    """Raman noise power (W) inside the receiver filter at the end of a lit fibre.

    Eraerds et al., NJP 12, 063027 (2010), forward ``P_out beta L`` and backward
    ``P_out beta sinh(alpha L) / alpha``, written with the fibre's total loss ``A = alpha L`` in dB so that
    per-route attenuation and splices are taken as given: ``P_out = P_in 10^(-A/10)`` and
    ``P_b = P_in beta L (1 - 10^(-2A/10)) / (2 alpha L)`` (``-> P_in beta L`` as ``A -> 0``).

    Parameters
    ----------
    launch_power_dbm : array_like
        Classical launch power (dBm); ``-inf`` gives 0.
    length_km : array_like
        Fibre length (km, >= 0).
    fibre_loss_db : array_like
        Fibre loss over that length (dB, >= 0), connectors excluded.
    beta_per_km : float
        ``rho * filter bandwidth`` (1/km).
    direction : str
        ``forward``, ``backward`` or ``both`` (sum: bidirectional traffic).

    Returns
    -------
    numpy.ndarray
        Noise power in W, broadcast shape of the inputs.
    """
    if direction not in DIRECTIONS:
        raise InputError([Problem("direction", f"{direction!r} is not one of {DIRECTIONS}", "e.g. forward")])
    p_in = dbm_to_w(launch_power_dbm)
    L = np.asarray(length_km, dtype=float)
    A = np.asarray(fibre_loss_db, dtype=float)
    t = np.power(10.0, -A / 10.0)                     # classical transmission exp(-alpha L)
    fwd = p_in * t * beta_per_km * L                  # forward (Eraerds Eq. 1)
    aL = A * LN10_OVER_10                             # alpha L (nepers)
    with np.errstate(divide="ignore", invalid="ignore"):
        # (1 - exp(-2 aL)) / (2 aL) -> 1 as aL -> 0 (series 1 - aL + 2/3 aL^2)
        g = np.where(aL > 1e-6, -np.expm1(-2.0 * aL) / (2.0 * aL), 1.0 - aL)
    bwd = p_in * beta_per_km * L * g                  # backward (Eraerds Eq. 2): P_out beta sinh(aL)/alpha
    if direction == "forward":
        return fwd
    if direction == "backward":
        return bwd
    return fwd + bwd


def noise_photons_per_window(power_w, window_s: float, wavelength_nm: float = DEFAULT_WAVELENGTH_NM):
    """Mean noise photons at the receiver input per detection window: ``P tau lambda / (h c)``."""
    e_photon = H_PLANCK * C_LIGHT / (wavelength_nm * 1e-9)
    return np.asarray(power_w, dtype=float) * window_s / e_photon


def span_noise_photons(length_km, fibre_loss_db, device: Device, lit: LitFibre):
    """Mean Raman photons per gate at the receiver input of ``device`` on spans of a lit fibre.

    Parameters
    ----------
    length_km, fibre_loss_db : array_like
        Span length (km) and its fibre loss (dB, connectors excluded).
    device : Device
    lit : LitFibre

    Returns
    -------
    numpy.ndarray
        Photons per window (0 everywhere for dark fibre).
    """
    shape = np.broadcast(np.asarray(length_km, float), np.asarray(fibre_loss_db, float)).shape
    if not lit.lit:
        return np.zeros(shape)
    p = raman_power_w(lit.launch_power_dbm, length_km, fibre_loss_db, lit.beta_per_km, lit.direction)
    return np.broadcast_to(noise_photons_per_window(p, lit.window_s(device), lit.wavelength_nm), shape).copy()


def _check_dv(device: Device) -> None:
    if not isinstance(device, Device):
        raise InputError([Problem("device", f"expected a qtopo.keyrate.Device, got {type(device).__name__}",
                                  "use qtopo.keyrate.get_device(name)")])
    if device.protocol == CV_GG02:
        raise InputError([Problem(f"device {device.name!r}", "lit fibre is not modelled for CV-QKD (Raman noise is "
                                  "excess noise there, not dark counts)", "plan CV-QKD devices on dark fibre")],
                         "lit fibre not supported")


def raman_click_prob(noise_photons, device: Device):
    """Probability that one of the receiver's two detectors clicks on Raman noise in a gate.

    ``p_R = 1 - exp(-eta_det n / 2)``: the receiver detects ``eta_det`` of the ``n`` photons, half on each
    detector (Poisson statistics of the scattered light).
    """
    n = np.asarray(noise_photons, dtype=float)
    return -np.expm1(-device.detector_efficiency * n / 2.0)


def quantised_click_prob(noise_photons, device: Device) -> np.ndarray:
    """:func:`raman_click_prob` rounded *up* to :data:`LEVELS_PER_DECADE` levels per decade (0 stays 0)."""
    p = raman_click_prob(noise_photons, device)
    out = np.zeros(p.shape)
    pos = p > 0
    if pos.any():
        lev = np.ceil(np.log10(p[pos]) * LEVELS_PER_DECADE - 1e-9) / LEVELS_PER_DECADE
        out[pos] = np.minimum(np.power(10.0, lev), 0.5)
    return out


def lit_device(device: Device, click_prob: float) -> Device:
    """``device`` with its per-detector dark-count probability raised by Raman clicks of probability
    ``click_prob`` per gate: ``1 - (1 - p_d)(1 - p_R)`` (independent events)."""
    _check_dv(device)
    p = float(click_prob)
    if p <= 0.0:
        return device
    pd = 1.0 - (1.0 - device.dark_count_prob) * (1.0 - p)
    return device.with_(dark_count_prob=min(pd, 0.5), name=f"{device.name}@lit")


def lit_bits_per_pulse(loss_db, device: Device, noise_photons) -> np.ndarray:
    """Secret bits per pulse over channels of ``loss_db`` with ``noise_photons`` Raman photons per gate.

    Parameters
    ----------
    loss_db : array_like
        Channel loss (dB), as for :func:`qtopo.keyrate.secret_bits_per_pulse`.
    device : Device
        A DV device (CV-QKD is refused).
    noise_photons : array_like
        Mean Raman photons per gate at the receiver input (broadcast against ``loss_db``), e.g. from
        :func:`span_noise_photons`. Zero gives exactly the dark-fibre rate.

    Returns
    -------
    numpy.ndarray
        Bits per pulse, never above the dark-fibre rate (the dark rate comes from the lookup table, within
        1e-4 of the model); noisy spans are optimised directly (``exact``), one vectorised call per noise level,
        with the noise rounded up to :data:`LEVELS_PER_DECADE` levels per decade (conservative). A lookup table
        per level would cost a reach search and a table build per level (measured: 38 s instead of a few
        seconds for the bundled network with every route lit).
    """
    from .rates import _direct, secret_bits_per_pulse

    _check_dv(device)
    loss, noise = np.broadcast_arrays(np.asarray(loss_db, dtype=float), np.asarray(noise_photons, dtype=float))
    if loss.ndim == 0:
        return lit_bits_per_pulse(loss.reshape(1), device, noise.reshape(1)).reshape(())
    if np.any(~np.isfinite(noise) | (noise < 0)):
        raise InputError([Problem("noise_photons", "Raman noise must be finite and >= 0", "check the launch power")])
    flat_loss, p = loss.ravel(), quantised_click_prob(noise.ravel(), device)
    out = np.zeros(flat_loss.shape)
    levels, inv = np.unique(p, return_inverse=True)
    for k, lev in enumerate(levels):   # one vectorised evaluation per noise level, not per span
        m = inv == k
        dev = lit_device(device, lev)
        with warnings.catch_warnings():  # "no key even at zero loss" is an expected outcome of strong noise
            warnings.simplefilter("ignore", ValidityWarning)
            if lev > 0:  # direct optimisation of these spans only: no reach search, no lookup table per level
                out[m] = _direct(flat_loss[m], dev)
            else:
                out[m] = secret_bits_per_pulse(flat_loss[m], dev)
    if levels[-1] > 0:  # noise never helps: the lookup tables' interpolation (< 1e-4) must not make it look so
        np.minimum(out, secret_bits_per_pulse(flat_loss, device), out=out)
    return out.reshape(loss.shape)


def lit_key_rate_bps(loss_db, device: Device, noise_photons) -> np.ndarray:
    """:func:`lit_bits_per_pulse` times ``device.repetition_rate_hz`` (bit/s), and never above the dark-fibre
    :func:`qtopo.keyrate.secret_key_rate_bps` (so any system limit applied there, such as a detector or
    post-processing cap, bounds the lit rate too)."""
    from .rates import secret_key_rate_bps

    r = lit_bits_per_pulse(loss_db, device, noise_photons) * device.repetition_rate_hz
    return np.minimum(r, secret_key_rate_bps(loss_db, device))


def lit_span_rate_bps(length_km, fibre_loss_db, loss_db, device: Device, lit: LitFibre) -> np.ndarray:
    """Secret key rate (bit/s) of ``device`` on lit fibre spans.

    Parameters
    ----------
    length_km, fibre_loss_db : array_like
        Span length and its fibre loss (Raman noise is generated along the fibre).
    loss_db : array_like
        Channel loss of the span (fibre + connectors).
    device : Device
    lit : LitFibre
        ``lit.launch_power_dbm = None`` gives the dark-fibre rate exactly.
    """
    from .rates import secret_key_rate_bps

    if not lit.lit:
        return secret_key_rate_bps(loss_db, device)
    return lit_key_rate_bps(loss_db, device, span_noise_photons(length_km, fibre_loss_db, device, lit))
