"""Device catalog: physical parameter sets of QKD systems, with their sources.

Conventions (all protocols)
---------------------------
* ``loss_db`` passed to the rate functions is the *channel* loss between the two trusted ends (fibre, splices,
  connectors). Everything inside the receiver (detector efficiency, Bob's internal optics) is in
  ``detector_efficiency``.
* ``dark_count_prob`` is the probability of a dark/background click **per detector per gate (pulse)**.
  Two-detector BB84 receivers therefore have the background yield ``Y0 = 1 - (1 - p_d)**2 ~ 2 p_d``
  (Lo-Ma-Chen's ``Y0``; Lim et al.'s ``2 p_dc``).
* ``misalignment_error`` is the probability ``e_d`` that a detected photon hits the wrong detector
  (optical misalignment; for twin-field the phase-mismatch error).
* ``ec_efficiency`` is the error-correction inefficiency ``f >= 1`` (leak ``f h2(E)`` per sifted bit).
  CV-QKD uses ``reconciliation_efficiency`` (``beta <= 1``) instead.
* ``repetition_rate_hz`` converts secret bits per pulse (per channel use, per symbol) into bit/s.
* Intensity-like parameters set to ``None`` are optimised per loss.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, fields, replace
from typing import Any

from qtopo.errors import InputError, Problem, ProblemCollector

# Protocol identifiers (the registry in qtopo.keyrate.rates maps them to models).
BB84_DECOY = "bb84-decoy"                 # GLLP, infinite decoys (Lo-Ma-Chen 2005)
BB84_VACUUM_WEAK = "bb84-vacuum-weak"     # vacuum + weak decoy (Ma-Qi-Zhao-Lo 2005)
BB84_FINITE = "bb84-finite"               # finite-key decoy BB84 (Lim et al. 2014)
MDI = "mdi-qkd"                           # MDI-QKD asymptotic (Lo-Curty-Qi 2012)
TF_SNS = "tf-sns"                         # twin-field, sending-or-not-sending (Wang-Yu-Hu 2018)
CV_GG02 = "cv-gg02"                       # CV-QKD GG02 Gaussian modulation, reverse reconciliation

KNOWN_PROTOCOLS = (BB84_DECOY, BB84_VACUUM_WEAK, BB84_FINITE, MDI, TF_SNS, CV_GG02)


@dataclass(frozen=True)
class FibreType:
    """A fibre type: attenuation in dB/km and where the figure comes from."""

    name: str
    attenuation_db_per_km: float
    source: str


#: Fibre presets. ``FIBRE_TYPES["standard"].attenuation_db_per_km == 0.2``.
FIBRE_TYPES: dict[str, FibreType] = {
    "standard": FibreType(
        "standard", 0.2,
        "ITU-T G.652.D single-mode fibre, typical 0.18-0.22 dB/km at 1550 nm; 0.2 dB/km is the value used in "
        "most QKD rate-distance studies (e.g. Lim et al., PRA 89, 022307 (2014)).",
    ),
    "ultra-low-loss": FibreType(
        "ultra-low-loss", 0.16,
        "Ultra-low-loss (pure-silica-core, G.654) fibre, 0.16 dB/km as used by Boaron et al., "
        "PRL 121, 190502 (2018) (421 km QKD).",
    ),
    "gys-2004": FibreType(
        "gys-2004", 0.21,
        "0.21 dB/km of the Gobby-Yuan-Shields 122 km experiment, as used by Lo, Ma, Chen, PRL 94, 230504 "
        "(2005), Table I.",
    ),
}


@dataclass(frozen=True)
class Device:
    """Physical parameters of a QKD system (one transmitter/receiver pair, or one pair plus its relay).

    Parameters
    ----------
    name : str
        Preset name (or a user name for a customised device).
    protocol : str
        Registered protocol id (see :func:`qtopo.keyrate.list_protocols`).
    repetition_rate_hz : float
        Pulses (DV) or symbols (CV) per second, Hz.
    detector_efficiency : float
        Receiver efficiency in (0, 1]: detector quantum efficiency times Bob's internal transmittance.
        For MDI/TF the efficiency of the relay's detectors.
    dark_count_prob : float
        Dark/background click probability per detector per gate, in [0, 1).
    misalignment_error : float
        Optical misalignment error ``e_d`` in [0, 0.5).
    ec_efficiency : float
        Error-correction inefficiency ``f >= 1``.
    source : str
        Citation of the parameter set.
    sifting_factor : float
        Fraction of detections kept after basis sifting (1/2 for standard BB84, ~1 for efficient BB84 with a
        strongly biased basis choice in the asymptotic limit).
    signal_intensity : float or None
        Mean photon number ``mu`` of signal states (MDI/TF: per sender); ``None`` = optimised per loss.
    decoy_intensity : float or None
        Weak decoy ``nu`` (vacuum + weak decoy; finite key ``mu2``); ``None`` = optimised (finite key only).
    vacuum_intensity : float
        Weakest decoy ``mu3`` of the finite-key protocol (0 = true vacuum).
    block_size : float or None
        Finite key: post-processing block size ``n_X`` (sifted key-basis detections).
    eps_sec, eps_cor : float
        Finite key: secrecy and correctness parameters.
    send_probability : float or None
        Twin-field SNS: probability ``epsilon`` of sending in a Z window; ``None`` = optimised.
    excess_noise : float
        CV: excess noise ``xi`` in shot-noise units, referred to the channel input.
    electronic_noise : float
        CV: detector electronic noise ``v_el`` in shot-noise units.
    reconciliation_efficiency : float
        CV: reconciliation efficiency ``beta`` in (0, 1].
    detection : str
        CV: ``"homodyne"`` or ``"heterodyne"``.
    modulation_variance : float or None
        CV: Alice's modulation variance ``V_A`` (SNU); ``None`` = optimised per loss.
    max_loss_db : float or None
        Validity range of the device: channel loss (dB) up to which its source supports the model (the loss
        up to which the system was demonstrated, or the end of the paper's curve); the rate is 0 beyond it
        (no silent extrapolation). ``None``: the physics model alone decides the reach (not allowed for
        ``cv-gg02``, whose asymptotic rate has no physical cut-off).
    afterpulse_prob : float
        DV detectors: afterpulse probability ``p_ap`` (finite-key BB84 model of Lim et al. 2014:
        detection rate ``D_k (1 + p_ap)``, error ``p_ap D_k / 2``); other protocols require 0.
    eps_sec_per_bit : float or None
        Finite key: if set (``kappa``), the secrecy parameter is ``eps_sec = kappa * l`` (Lim et al. 2014,
        Sec. IV, ``kappa = 1e-15``) instead of the fixed ``eps_sec``.
    max_block_time_s : float or None
        Finite key: longest time (s) a block may take to fill; the device uses the largest block
        ``<= block_size`` it can fill in that time (default one day). ``None``: no limit.
    min_block_size : float
        Finite key: smallest block ``n_X`` worth running; a span that cannot fill it within
        ``max_block_time_s`` has rate 0.
    dead_time_s : float or None
        DV: non-paralysable dead time of each detector (s) (Rogers et al., NJP 9, 319 (2007)): a detector
        offered ``c`` clicks/s registers ``c / (1 + c tau)``. ``None``: no dead time.
    max_count_rate_hz : float or None
        DV: maximum registered detection rate per detector (counting electronics), clicks/s.
    max_secret_rate_bps : float or None
        Post-processing (error correction + privacy amplification) throughput cap, secret bit/s.
    fibre_type : str or None
        Fibre the source's numbers assume (a key of :data:`FIBRE_TYPES`); ``qtopo rates`` uses its
        attenuation for this device unless the user gives one.
    """

    name: str
    protocol: str
    repetition_rate_hz: float
    detector_efficiency: float
    dark_count_prob: float
    misalignment_error: float
    ec_efficiency: float
    source: str
    sifting_factor: float = 0.5
    signal_intensity: float | None = None
    decoy_intensity: float | None = None
    vacuum_intensity: float = 0.0
    block_size: float | None = None
    eps_sec: float = 1e-10
    eps_cor: float = 1e-15
    send_probability: float | None = None
    excess_noise: float = 0.0
    electronic_noise: float = 0.0
    reconciliation_efficiency: float = 1.0
    detection: str = "homodyne"
    modulation_variance: float | None = None
    max_loss_db: float | None = None
    afterpulse_prob: float = 0.0
    eps_sec_per_bit: float | None = None
    max_block_time_s: float | None = 86400.0
    min_block_size: float = 1e4
    dead_time_s: float | None = None
    max_count_rate_hz: float | None = None
    max_secret_rate_bps: float | None = None
    fibre_type: str | None = None

    @property
    def detector_loss_db(self) -> float:
        """Receiver loss in dB equivalent to ``detector_efficiency`` (``-10 log10(eta_det)``)."""
        return -10.0 * math.log10(self.detector_efficiency)

    @property
    def background_yield(self) -> float:
        """Two-detector background yield ``Y0 = 1 - (1 - p_d)**2`` per pulse."""
        return 1.0 - (1.0 - self.dark_count_prob) ** 2

    def with_(self, **overrides: Any) -> "Device":
        """Copy with fields replaced, validated like :func:`get_device`."""
        return _validated(replace(self, **_check_override_names(self.name, overrides)))


def _p(name, protocol, rate, eff, pd, ed, f, source, **kw) -> Device:
    return Device(name, protocol, rate, eff, pd, ed, f, source, **kw)


_GYS_SRC = (
    "Lo, Ma, Chen, PRL 94, 230504 (2005), Table I, 'GYS' column (Gobby, Yuan, Shields, APL 84, 3762 (2004)): "
    "eta_Bob = 4.5%, Y0 = 1.7e-6, e_detector = 3.3%, alpha = 0.21 dB/km; f(e) = 1.22 and q = 1/2 as in the paper's "
    "simulation. Repetition rate 2 MHz as in the GYS experiment."
)

PRESETS: dict[str, Device] = {
    "gys-2005": _p(
        "gys-2005", BB84_DECOY, 2e6, 0.045, 0.85e-6, 0.033, 1.22, _GYS_SRC, sifting_factor=0.5,
        fibre_type="gys-2004",
    ),
    "gys-vacuum-weak": _p(
        "gys-vacuum-weak", BB84_VACUUM_WEAK, 2e6, 0.045, 0.85e-6, 0.033, 1.22,
        "GYS parameters as 'gys-2005' (Lo, Ma, Chen 2005, Table I) with the vacuum + weak decoy method of Ma, "
        "Qi, Zhao, Lo, PRA 72, 012326 (2005); nu = 0.05 is an assumption (their analysis: the smaller nu, the "
        "closer to the infinite-decoy reach), mu optimised.",
        sifting_factor=0.5, decoy_intensity=0.05, fibre_type="gys-2004",
    ),
    "apd-bb84": _p(
        "apd-bb84", BB84_DECOY, 1e9, 0.0664, 1e-6, 0.03, 1.16,
        "Commercial-class GHz-gated InGaAs/APD decoy BB84, calibrated to the Toshiba link of the Tokyo QKD "
        "network (Sasaki et al., Opt. Express 19, 10387 (2011)): 1 GHz clock as that system; the receiver "
        "efficiency 6.64% (APD efficiency times Bob's optics, and every loss the asymptotic model leaves out) "
        "is the one calibrated parameter, set so that the model gives the reported 304 kbit/s at 14.5 dB. "
        "Assumptions: optical error 3% (typical QBER of GHz APD systems at tens of km), 1e-6 dark counts per "
        "detector per gate, f = 1.16 and efficient BB84 (sifting ~1) as in Lim et al. PRA 89, 022307 (2014). "
        "Checked against the APD-class envelope (docs/physics.md).",
        sifting_factor=1.0, max_loss_db=30.0,
    ),
    "snspd-bb84": _p(
        "snspd-bb84", BB84_DECOY, 2.5e9, 0.204, 1e-10, 0.01, 1.16,
        "Commercial-class SNSPD decoy BB84 of the Geneva 2.5 GHz time-bin family (Boaron et al., PRL 121, "
        "190502 (2018); Grunenfelder et al., Nat. Photon. 17, 422 (2023)): 2.5 GHz clock and ~1e-10 dark "
        "counts per gate as Boaron et al.; the receiver efficiency 20.4% is the one calibrated parameter, set "
        "so that the model gives Grunenfelder et al.'s 3.0 Mbit/s over 102.4 km (16.4 dB, assuming "
        "ultra-low-loss fibre; see docs/physics.md); post-processing capped at their demonstrated real-time "
        "64 Mbit/s. Assumptions: optical error 1%, asymptotic decoy BB84 with efficient sifting (their "
        "one-decoy finite-key protocol is not modelled).",
        sifting_factor=1.0, max_secret_rate_bps=64e6, max_loss_db=60.0,
    ),
    "lim-2014-finite": _p(
        "lim-2014-finite", BB84_FINITE, 1e9, 0.10, 6e-7, 0.005, 1.16,
        "Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Sec. IV (dedicated fibre): eta_Bob = 10%, "
        "p_dc = 6e-7 per detector (D_k = 1-(1-2 p_dc) e^(-eta k)), p_ap = 4e-2, mu3 = 2e-4, e_mis = 5e-3, "
        "f_EC = 1.16, eps_cor = 1e-15, eps_sec = kappa l with kappa = 1e-15, 0.2 dB/km fibre; largest block "
        "n_X = 1e9 and smallest 1e4 (the range of their Fig. 1, n_X = 10^4..10^9). Assumption (the paper "
        "gives bits per pulse only): 1 GHz clock, and a block must fill within max_block_time_s (one day).",
        block_size=1e9, min_block_size=1e4, eps_cor=1e-15, eps_sec_per_bit=1e-15, vacuum_intensity=2e-4,
        afterpulse_prob=0.04, fibre_type="standard", max_loss_db=40.0,
    ),
    "apd-bb84-finite": _p(
        "apd-bb84-finite", BB84_FINITE, 1e9, 0.0664, 1e-6, 0.03, 1.16,
        "The 'apd-bb84' hardware (calibrated to Sasaki et al. 2011) with the finite-key analysis of Lim et "
        "al., PRA 89, 022307 (2014): eps_cor = 1e-15, eps_sec = kappa l with kappa = 1e-15, mu3 = 2e-4; no "
        "separate afterpulse term (the calibrated 3% error of 'apd-bb84' already holds every error source); "
        "largest block n_X = 1e8 (assumption: a block size GHz systems post-process routinely, inside Lim et "
        "al.'s 1e4..1e9), filled within max_block_time_s.",
        block_size=1e8, min_block_size=1e4, eps_cor=1e-15, eps_sec_per_bit=1e-15, vacuum_intensity=2e-4,
        max_loss_db=30.0,
    ),
    "mdi-lcq-2012": _p(
        "mdi-lcq-2012", MDI, 1e9, 0.145, 3e-6, 0.015, 1.16,
        "Lo, Curty, Qi, PRL 108, 130503 (2012), Fig. 2 simulation set (from Ursin et al., Nat. Phys. 3, 481 "
        "(2007)): 0.2 dB/km, e_d = 1.5%, eta_d = 14.5%, Y0 = 6.02e-6, f = 1.16, relay in the middle; per-detector "
        "p_d = 3.0e-6 as Ma and Razavi, PRA 86, 062319 (2012), Table I (the channel model used here). Values "
        "checked against two independent readings of the papers (not the PDF itself); test: LCQ's stated "
        "tolerance of more than 40 dB (the model reaches 46.4 dB, 232 km). Assumption: 1 GHz clock (the "
        "paper gives bits per pulse pair).",
        sifting_factor=1.0, fibre_type="standard",
    ),
    "mdi-snspd": _p(
        "mdi-snspd", MDI, 1e9, 0.60, 1e-8, 0.01, 1.16,
        "SNSPD-relay MDI-QKD planning device; every number is an assumption (no paper table re-read): "
        "efficiency 60%, dark counts 1e-8 per gate, 1% misalignment, chosen of the order of the SNSPD relay of "
        "Yin et al., PRL 117, 190501 (2016) (404 km MDI-QKD); asymptotic, relay in the middle, 1 GHz clock. "
        "Optimistic: no finite-key or duty-cycle losses. Model checked on mdi-lcq-2012 (same protocol code).",
        sifting_factor=1.0,
    ),
    "tf-sns": _p(
        "tf-sns", TF_SNS, 1e9, 0.60, 1e-8, 0.03, 1.16,
        "Sending-or-not-sending twin-field planning device (protocol of Wang, Yu, Hu, PRA 98, 062323 (2018)); "
        "every number is an assumption (no paper table re-read): SNSPD relay efficiency 60%, dark counts 1e-8 "
        "per gate, 3% phase-mismatch error, chosen of the order of Chen et al., PRL 124, 070501 (2020) and Liu "
        "et al., PRL 126, 250502 (2021); asymptotic, relay in the middle, phase-reference duty cycle not "
        "modelled; 1 GHz clock.",
        sifting_factor=1.0,
    ),
    "cv-jouguet-2013": _p(
        "cv-jouguet-2013", CV_GG02, 1e6, 0.606, 0.0, 0.0, 1.0,
        "GG02 homodyne system of the Grangier-Diamanti group (Jouguet, Kunz-Jacques, Leverrier, Grangier, "
        "Diamanti, Nat. Photon. 7, 378 (2013), 80 km). Detector efficiency 0.606 and electronic noise 0.041 SNU "
        "are those of Lodewyck et al., PRA 76, 042305 (2007), whose 25 km point (12.3 kb/s) the model "
        "reproduces within 1% (test). Assumptions (Jouguet et al.'s table was not re-read): excess noise 0.01 "
        "SNU at the channel input and beta = 0.95 (of the order they report), 1 MHz symbol rate; asymptotic "
        "collective-attack rate, so above their finite-size rates. Validity range: the demonstrated 80 km of "
        "standard fibre (16 dB); beyond it the fixed beta and finite-size effects make the asymptotic model "
        "unreliable, so the rate is 0.",
        excess_noise=0.01, electronic_noise=0.041, reconciliation_efficiency=0.95, detection="homodyne",
        max_loss_db=16.0, fibre_type="standard",
    ),
}


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "choose one of: " + ", ".join(sorted(options))


_FIELD_NAMES = tuple(f.name for f in fields(Device))


def _check_override_names(where: str, overrides: dict) -> dict:
    bad = [k for k in overrides if k not in _FIELD_NAMES]
    if bad:
        raise InputError(
            [Problem(f"device {where!r}, field {k!r}", "unknown device field", _suggest(k, _FIELD_NAMES)) for k in bad],
            "invalid device override",
        )
    return overrides


def _num(pc: ProblemCollector, where: str, field: str, v, *, allow_none=False) -> float | None:
    if v is None:
        if not allow_none:
            pc.add(f"{where}, field {field!r}", "must be a number, got None")
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        pc.add(f"{where}, field {field!r}", f"must be a finite number, got {v!r}")
        return None
    return float(v)


def _validated(dev: Device) -> Device:
    """Check every field of ``dev``; raise one :class:`InputError` listing all problems."""
    pc = ProblemCollector("invalid device parameters")
    w = f"device {dev.name!r}"

    def rng(field, lo, hi, lo_open=False, hi_open=False, allow_none=False, fix=""):
        v = _num(pc, w, field, getattr(dev, field), allow_none=allow_none)
        if v is None:
            return
        bad_lo = v <= lo if lo_open else v < lo
        bad_hi = v >= hi if hi_open else v > hi
        if bad_lo or bad_hi:
            lb = "(" if lo_open else "["
            hb = ")" if hi_open else "]"
            pc.add(f"{w}, field {field!r}", f"{v!r} is outside {lb}{lo}, {hi}{hb}", fix)

    if dev.protocol not in KNOWN_PROTOCOLS:
        pc.add(f"{w}, field 'protocol'", f"unknown protocol {dev.protocol!r}", _suggest(str(dev.protocol), KNOWN_PROTOCOLS))
    rng("repetition_rate_hz", 0, math.inf, lo_open=True, hi_open=True, fix="pulses per second, e.g. 1e9")
    rng("detector_efficiency", 0, 1, lo_open=True, fix="efficiency is a fraction in (0, 1], e.g. 0.2 for 20%")
    rng("dark_count_prob", 0, 1, hi_open=True, fix="probability per detector per gate, e.g. 1e-6")
    rng("misalignment_error", 0, 0.5, hi_open=True, fix="error probability, e.g. 0.01")
    rng("ec_efficiency", 1, math.inf, hi_open=True, fix="error-correction inefficiency f >= 1, e.g. 1.16")
    rng("sifting_factor", 0, 1, lo_open=True)
    rng("signal_intensity", 0, 10, lo_open=True, allow_none=True, fix="mean photon number, e.g. 0.5, or None to optimise")
    rng("decoy_intensity", 0, 10, lo_open=True, allow_none=True)
    rng("vacuum_intensity", 0, 10)
    rng("block_size", 1, math.inf, hi_open=True, allow_none=True, fix="sifted key-basis detections per block, e.g. 1e10")
    rng("eps_sec", 0, 1, lo_open=True, hi_open=True)
    rng("eps_cor", 0, 1, lo_open=True, hi_open=True)
    rng("send_probability", 0, 1, lo_open=True, hi_open=True, allow_none=True)
    rng("excess_noise", 0, math.inf, hi_open=True, fix="excess noise in shot-noise units at the channel input, e.g. 0.01")
    rng("electronic_noise", 0, math.inf, hi_open=True, fix="electronic noise in shot-noise units, e.g. 0.04")
    rng("reconciliation_efficiency", 0, 1, lo_open=True, fix="beta in (0, 1], e.g. 0.95")
    rng("modulation_variance", 0, 1e6, lo_open=True, allow_none=True, fix="V_A in shot-noise units, or None to optimise")
    rng("max_loss_db", 0, math.inf, lo_open=True, hi_open=True, allow_none=True,
        fix="channel loss in dB beyond which the hardware does not operate, or None")
    rng("afterpulse_prob", 0, 1, hi_open=True, fix="afterpulse probability, e.g. 0.04")
    rng("eps_sec_per_bit", 0, 1e-3, lo_open=True, allow_none=True,
        fix="secrecy leakage per key bit kappa, e.g. 1e-15 (Lim et al. 2014), or None for a fixed eps_sec")
    rng("max_block_time_s", 0, math.inf, lo_open=True, allow_none=True,
        fix="seconds a finite-key block may take to fill, e.g. 86400 (one day), or None for no limit")
    rng("min_block_size", 1e3, math.inf, hi_open=True, fix="smallest useful block n_X, e.g. 1e4")
    rng("dead_time_s", 0, 1e-3, lo_open=True, allow_none=True, fix="detector dead time in seconds, e.g. 5e-8")
    rng("max_count_rate_hz", 0, math.inf, lo_open=True, hi_open=True, allow_none=True,
        fix="maximum registered clicks per second per detector, e.g. 1e8")
    rng("max_secret_rate_bps", 0, math.inf, lo_open=True, hi_open=True, allow_none=True,
        fix="post-processing throughput in secret bit/s, e.g. 1e7")
    if dev.fibre_type is not None and dev.fibre_type not in FIBRE_TYPES:
        pc.add(f"{w}, field 'fibre_type'", f"unknown fibre type {dev.fibre_type!r}", _suggest(str(dev.fibre_type), FIBRE_TYPES))
    if dev.detection not in ("homodyne", "heterodyne"):
        pc.add(f"{w}, field 'detection'", f"{dev.detection!r} is not 'homodyne' or 'heterodyne'")
    if not isinstance(dev.source, str):
        pc.add(f"{w}, field 'source'", "must be a citation string")
    pc.raise_if_any()
    # Cross-field checks.
    if dev.protocol == BB84_FINITE and dev.block_size is None:
        pc.add(f"{w}, field 'block_size'", "the finite-key protocol needs a block size", "set block_size, e.g. 1e10")
    if dev.protocol == CV_GG02 and dev.excess_noise >= 2.0:
        pc.add(f"{w}, field 'excess_noise'", f"{dev.excess_noise!r} SNU >= 2 makes the channel entanglement-breaking "
               "at every transmittance (no key possible)", "excess noise referred to the channel input, e.g. 0.01")
    if dev.protocol == BB84_FINITE and dev.block_size is not None and dev.block_size < 1e3:
        pc.add(f"{w}, field 'block_size'", f"{dev.block_size!r} is too small for a finite-key decoy analysis",
               "use at least 1e3 (practically 1e6 or more) key-basis detections per block")
    if dev.protocol == BB84_FINITE and dev.block_size is not None and dev.min_block_size > dev.block_size:
        pc.add(f"{w}, field 'min_block_size'", f"{dev.min_block_size!r} is above block_size {dev.block_size!r}",
               "min_block_size <= block_size")
    if dev.protocol == CV_GG02 and dev.max_loss_db is None:
        pc.add(f"{w}, field 'max_loss_db'", "a CV-QKD device needs its validity range: the asymptotic GG02 rate "
               "has no physical cut-off, only a numerical floor", "set max_loss_db to the demonstrated loss, e.g. 16.0")
    if dev.protocol == CV_GG02 and any(getattr(dev, k) is not None for k in ("dead_time_s", "max_count_rate_hz")):
        pc.add(f"{w}, field 'dead_time_s'", "CV-QKD homodyne detectors have no single-photon dead time",
               "leave dead_time_s and max_count_rate_hz unset (use max_secret_rate_bps for a throughput cap)")
    if dev.afterpulse_prob > 0 and dev.protocol != BB84_FINITE:
        pc.add(f"{w}, field 'afterpulse_prob'", f"afterpulsing is modelled only by {BB84_FINITE!r}",
               "set afterpulse_prob=0 or use the finite-key protocol")
    if dev.protocol == BB84_VACUUM_WEAK and dev.decoy_intensity is None:
        pc.add(f"{w}, field 'decoy_intensity'", "vacuum + weak decoy needs a fixed weak decoy intensity nu",
               "set decoy_intensity, e.g. 0.05")
    if (dev.signal_intensity is not None and dev.decoy_intensity is not None
            and dev.protocol in (BB84_VACUUM_WEAK, BB84_FINITE) and dev.decoy_intensity >= dev.signal_intensity):
        pc.add(f"{w}, field 'decoy_intensity'", "decoy intensity must be below the signal intensity")
    pc.raise_if_any()
    return dev


def get_device(name: str, **overrides: Any) -> Device:
    """Return a catalog device, optionally with fields overridden.

    Parameters
    ----------
    name : str
        Preset name (see :func:`list_presets`).
    **overrides
        Device fields to replace, e.g. ``detector_efficiency=0.2``.

    Returns
    -------
    Device
        A validated, frozen device.

    Raises
    ------
    qtopo.errors.InputError
        Unknown preset (close matches suggested), unknown field, or a value outside its range; every problem
        names the field.
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise InputError([Problem(f"device preset {name!r}", "unknown device preset", _suggest(str(name), PRESETS))],
                         "invalid device")
    base = PRESETS[name]
    _check_override_names(name, overrides)
    return _validated(replace(base, **overrides))


def list_presets() -> list[dict[str, str]]:
    """Catalog rows ``{"name", "protocol", "source"}``, in catalog order."""
    return [{"name": d.name, "protocol": d.protocol, "source": d.source} for d in PRESETS.values()]


def make_device(**fields_: Any) -> Device:
    """Build and validate a device from explicit fields (no preset)."""
    try:
        dev = Device(**fields_)
    except TypeError as exc:
        raise InputError([Problem("device", str(exc), "see qtopo.keyrate.Device for the field list")]) from None
    return _validated(dev)
