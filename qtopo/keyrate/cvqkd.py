"""CV-QKD: GG02 Gaussian-modulated coherent states, reverse reconciliation, collective attacks, asymptotic.

Conventions (Lodewyck et al., PRA 76, 042305 (2007); Fossier et al., J. Phys. B 42, 114014 (2009);
review: Laudenbach et al., Adv. Quantum Technol. 1, 1800011 (2018)):

* Variances in **shot-noise units** (SNU). Alice's modulation variance ``V_A``; ``V = V_A + 1``.
* ``T`` channel transmittance; ``xi`` **excess noise referred to the channel input** (SNU), so the added
  noise at the channel output is ``T xi``. (Experiments often quote noise at Bob's side: divide by ``T``.)
* Detector: efficiency ``eta`` and electronic noise ``v_el`` (SNU), *trusted* (not attributed to Eve).
* Reconciliation efficiency ``beta`` multiplies Alice-Bob mutual information.

Formulas (homodyne; heterodyne in brackets)::

    chi_line = 1/T - 1 + xi
    chi_hom  = (1 - eta + v_el)/eta          [chi_het = (2 - eta + 2 v_el)/eta]
    chi_tot  = chi_line + chi_det / T
    I_AB     = 1/2 log2((V + chi_tot)/(1 + chi_tot))     [log2(...) for heterodyne]
    chi_BE   = G((l1-1)/2) + G((l2-1)/2) - G((l3-1)/2) - G((l4-1)/2),   G(x) = (x+1)log2(x+1) - x log2 x
    K        = beta I_AB - chi_BE      (bits per symbol)

with the symplectic eigenvalues ``l1,l2`` of Eve's state from ``A = V^2(1-2T) + 2T + T^2(V+chi_line)^2``,
``B = T^2 (V chi_line + 1)^2``, and ``l3,l4`` of the conditional state (``C``, ``D`` of Lodewyck et al. for
homodyne, of Fossier et al. for heterodyne); ``l5 = 1`` contributes nothing.

Validity: ``xi >= 2`` SNU makes the channel entanglement-breaking at every ``T`` (added noise
``1 - T + T xi >= 1 + T``) -- refused by the device validation. The asymptotic formula ignores finite-size
effects; with ``xi = 0`` reverse reconciliation has no maximum distance in principle, and the rate is
limited only by double precision (reported as zero below ~1e-13 bits per symbol).
"""
from __future__ import annotations

import numpy as np

from ._util import maximise
from .devices import Device

_LN2 = np.log(2.0)
VA_BOUNDS = (1e-3, 100.0)  # SNU; practical modulators, and avoids the unbounded T -> 1 optimum


def _g(nu):
    """Von Neumann entropy (bits) of a thermal mode of symplectic eigenvalue ``nu >= 1``: G((nu-1)/2)."""
    x = np.maximum((np.asarray(nu, float) - 1.0) / 2.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ((x + 1.0) * np.log1p(x) - x * np.log(np.maximum(x, 1e-300))) / _LN2
    return np.where(x > 0, out, 0.0)


def _eig_pair(s, p):
    """Symplectic eigenvalues ``l1 >= l2`` from ``l1^2 + l2^2 = s`` and ``l1^2 l2^2 = p`` (stable form)."""
    disc = np.sqrt(np.maximum(s * s - 4.0 * p, 0.0))
    l1sq = 0.5 * (s + disc)
    with np.errstate(divide="ignore", invalid="ignore"):
        l2sq = np.where(l1sq > 0, p / l1sq, 0.0)
    return np.sqrt(np.maximum(l1sq, 1.0)), np.sqrt(np.maximum(l2sq, 1.0))


def gg02_rate(T, v_a, xi, eta, v_el, beta, detection="homodyne"):
    """GG02 secret bits per symbol, reverse reconciliation, collective attacks (see module docstring).

    Parameters
    ----------
    T : array_like
        Channel transmittance.
    v_a : array_like
        Modulation variance ``V_A`` (SNU).
    xi : float
        Excess noise referred to the channel input (SNU).
    eta, v_el : float
        Detector efficiency and electronic noise (SNU), trusted.
    beta : float
        Reconciliation efficiency.
    detection : {"homodyne", "heterodyne"}

    Returns
    -------
    numpy.ndarray
        Bits per symbol (may be negative).
    """
    T = np.asarray(T, dtype=float)
    V = v_a + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        chi_line = 1.0 / T - 1.0 + xi
        het = detection == "heterodyne"
        chi_det = (2.0 - eta + 2.0 * v_el) / eta if het else (1.0 - eta + v_el) / eta
        chi_tot = chi_line + chi_det / T
        # (V + chi_tot)/(1 + chi_tot) = 1 + (V - 1)/(1 + chi_tot) = 1 + snr
        snr = v_a / (1.0 + chi_tot)
        i_ab = np.log1p(snr) / _LN2 * (1.0 if het else 0.5)
        A = V * V * (1.0 - 2.0 * T) + 2.0 * T + T * T * (V + chi_line) ** 2
        B = T * T * (V * chi_line + 1.0) ** 2
        sB = np.sqrt(B)
        den = T * (V + chi_tot)
        if het:
            C = (A * chi_det ** 2 + B + 1.0 + 2.0 * chi_det * (V * sB + T * (V + chi_line))
                 + 2.0 * T * (V * V - 1.0)) / den ** 2
            Dd = ((V + sB * chi_det) / den) ** 2
        else:
            C = (V * sB + T * (V + chi_line) + A * chi_det) / den
            Dd = sB * (V + sB * chi_det) / den
        l1, l2 = _eig_pair(A, B)
        l3, l4 = _eig_pair(C, Dd)
        chi_be = _g(l1) + _g(l2) - _g(l3) - _g(l4)
        k = beta * i_ab - chi_be
    return np.where(T > 0, k, -np.inf)


#: Rates below this many bits per symbol are numerically indistinguishable from zero in double precision.
CV_RATE_FLOOR = 1e-13


def cv_gg02(eta_channel, device: Device, v_a=None):
    """CV-QKD GG02, reverse reconciliation, collective attacks, asymptotic (homodyne or heterodyne).

    Grosshans, Van Assche, Wenger, Brouri, Cerf, Grangier, Nature 421, 238 (2003) (GG02 protocol);
    rate and noise model of Lodewyck et al., PRA 76, 042305 (2007) (homodyne) and Fossier et al., J. Phys.
    B 42, 114014 (2009) (heterodyne); see the module docstring for the formulas and conventions.
    ``V_A`` is ``device.modulation_variance`` or optimised per loss (log search in [1e-3, 100] SNU, the
    practical modulation range).

    Parameters
    ----------
    eta_channel : array_like
        Channel transmittance ``T``.
    device : Device
        ``excess_noise`` (SNU, channel input), ``electronic_noise`` (SNU), ``detector_efficiency``,
        ``reconciliation_efficiency``, ``detection``, ``modulation_variance``.
    v_a : array_like, optional
        Fixed modulation variance (SNU).

    Returns
    -------
    numpy.ndarray
        Secret bits per symbol, >= 0 (0 below ``CV_RATE_FLOOR``).
    """
    T = np.asarray(eta_channel, dtype=float)
    args = (device.excess_noise, device.detector_efficiency, device.electronic_noise,
            device.reconciliation_efficiency, device.detection)
    v_a = device.modulation_variance if v_a is None else v_a
    if v_a is not None:
        r = gg02_rate(T, v_a, *args)
    else:
        t = T[..., None]
        r, _ = maximise(lambda v_a: gg02_rate(t, v_a, *args), T.shape, {"v_a": VA_BOUNDS}, log=("v_a",),
                        n_iter=14, n_start=41)
    return np.where(r > CV_RATE_FLOOR, r, 0.0)
