"""Decoy-state BB84 with weak coherent pulses: asymptotic (infinite decoys, vacuum + weak) and finite key.

Channel model (all three models; the simulation model of Lo-Ma-Chen 2005 and Ma-Qi-Zhao-Lo 2005)
--------------------------------------------------------------------------------------------------------
``eta = eta_channel * eta_det`` is the overall transmittance of a photon to a click. A phase-randomised
weak coherent pulse of mean photon number ``mu`` is a Poisson mixture of Fock states. With ``Y0`` the
background yield (``Y0 = 1 - (1 - p_d)^2``, two detectors) and ``e_d`` the misalignment error:

* yield of ``i`` photons ``Y_i = Y0 + eta_i - Y0 eta_i``, ``eta_i = 1 - (1 - eta)^i``;
* ``Q_mu = Y0 + 1 - exp(-eta mu)`` (gain), ``E_mu Q_mu = e0 Y0 + e_d (1 - exp(-eta mu))``, ``e0 = 1/2``;
* ``Y1 = Y0 + eta - Y0 eta``, ``e1 = (e0 Y0 + e_d eta) / Y1``, ``Q1 = Y1 mu exp(-mu)``.

All rates are secret bits per *pulse sent* (multiply by the repetition rate for bit/s).
"""
from __future__ import annotations

import numpy as np

from ._util import h2_capped, maximise
from .devices import Device

E0 = 0.5
MU_BOUNDS = (1e-3, 1.5)


def _gains(eta, mu, y0, ed):
    """Signal gain ``Q_mu`` and error gain ``E_mu Q_mu`` (module docstring channel model)."""
    det = -np.expm1(-eta * mu)           # 1 - exp(-eta mu), accurate for tiny eta mu
    q_mu = y0 + det
    eq_mu = E0 * y0 + ed * det
    return q_mu, eq_mu


def gllp_rate(eta, mu, y0, ed, f, q=0.5):
    """GLLP secret fraction with perfect (infinite-decoy) knowledge of ``Y1`` and ``e1``.

    Implements Lo, Ma, Chen, PRL 94, 230504 (2005), Eq. (1) (the GLLP formula of Gottesman, Lo, Lutkenhaus,
    Preskill, QIC 4, 325 (2004)) with the channel model of the module docstring::

        R = q { -Q_mu f(E_mu) H2(E_mu) + Q1 [1 - H2(e1)] }

    Parameters
    ----------
    eta : array_like
        Overall transmittance channel x receiver (dimensionless).
    mu : array_like
        Signal mean photon number (broadcast with ``eta``).
    y0 : float
        Background yield per pulse (both detectors).
    ed : float
        Misalignment error probability.
    f : float
        Error-correction inefficiency (>= 1).
    q : float
        Sifting factor (1/2 for BB84).

    Returns
    -------
    numpy.ndarray
        Secret bits per pulse; may be negative (callers clip at 0).
    """
    eta = np.asarray(eta, dtype=float)
    q_mu, eq_mu = _gains(eta, mu, y0, ed)
    with np.errstate(divide="ignore", invalid="ignore"):
        e_mu = np.where(q_mu > 0, eq_mu / q_mu, E0)
        y1 = y0 + eta - y0 * eta
        e1 = np.where(y1 > 0, (E0 * y0 + ed * eta) / y1, E0)
    q1 = y1 * mu * np.exp(-mu)
    return q * (-q_mu * f * h2_capped(e_mu) + q1 * (1.0 - h2_capped(e1)))


def bb84_decoy_gllp(eta_channel, device: Device, mu=None):
    """Decoy-state BB84, asymptotic, infinite decoys (GLLP; Lo, Ma, Chen, PRL 94, 230504 (2005)).

    Secret bits per pulse from Eq. (1) of Lo-Ma-Chen with ``Y1`` and ``e1`` known exactly (the infinite-decoy
    limit), channel model as in the module docstring. The signal intensity ``mu`` is
    ``device.signal_intensity`` if set, otherwise optimised for every element of ``eta_channel``
    (vectorised coordinate search on ``mu`` in [1e-3, 1.5]).

    Parameters
    ----------
    eta_channel : array_like
        Channel transmittance (dimensionless, in [0, 1]); the receiver efficiency is taken from ``device``.
    device : Device
        Uses ``detector_efficiency``, ``dark_count_prob`` (per detector; ``Y0 = 1-(1-p_d)^2``),
        ``misalignment_error``, ``ec_efficiency``, ``sifting_factor``, ``signal_intensity``.
    mu : array_like, optional
        Fixed signal intensity overriding the device.

    Returns
    -------
    numpy.ndarray
        Secret bits per pulse, >= 0 (exactly 0 where no key can be made).
    """
    eta = np.asarray(eta_channel, dtype=float) * device.detector_efficiency
    args = (device.background_yield, device.misalignment_error, device.ec_efficiency, device.sifting_factor)
    mu = device.signal_intensity if mu is None else mu
    if mu is not None:
        r = gllp_rate(eta, mu, *args)
    else:
        e = eta[..., None]
        r, _ = maximise(lambda mu: gllp_rate(e, mu, *args), eta.shape, {"mu": MU_BOUNDS}, n_iter=12)
    return np.maximum(r, 0.0)


def vacuum_weak_rate(eta, mu, nu, y0, ed, f, q=0.5):
    """Key rate of the vacuum + weak decoy method without statistical fluctuations.

    Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), vacuum + weak decoy method: the single-photon yield
    and error rate are bounded from the observed gains of the signal ``mu`` and the weak decoy ``nu``
    (the vacuum decoy measures ``Y0``)::

        Y1_L = mu / (mu nu - nu^2) * (Q_nu e^nu - Q_mu e^mu nu^2/mu^2 - (mu^2 - nu^2)/mu^2 * Y0)
        e1_U = (E_nu Q_nu e^nu - e0 Y0) / (Y1_L nu)
        R    = q { -Q_mu f H2(E_mu) + Y1_L mu e^-mu [1 - H2(e1_U)] }

    Requires ``0 < nu < mu``. Parameters as :func:`gllp_rate`; returns possibly negative values.
    """
    eta = np.asarray(eta, dtype=float)
    q_mu, eq_mu = _gains(eta, mu, y0, ed)
    q_nu, eq_nu = _gains(eta, nu, y0, ed)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y1_l = mu / (mu * nu - nu * nu) * (
            q_nu * np.exp(nu) - q_mu * np.exp(mu) * nu * nu / (mu * mu) - (mu * mu - nu * nu) / (mu * mu) * y0
        )
        y1_l = np.maximum(y1_l, 0.0)
        e1_u = np.where(y1_l > 0, (eq_nu * np.exp(nu) - E0 * y0) / (y1_l * nu), E0)
        e_mu = np.where(q_mu > 0, eq_mu / q_mu, E0)
    e1_u = np.clip(e1_u, 0.0, E0)
    q1_l = y1_l * mu * np.exp(-mu)
    r = q * (-q_mu * f * h2_capped(e_mu) + q1_l * (1.0 - h2_capped(e1_u)))
    return np.where(nu < mu, r, -np.inf)


def bb84_vacuum_weak(eta_channel, device: Device, mu=None):
    """Decoy BB84 with one vacuum and one weak decoy, asymptotic (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005)).

    The weak decoy ``nu = device.decoy_intensity`` is *fixed* (documented choice: without statistical
    fluctuations a smaller ``nu`` is always better (Ma et al.), so ``nu`` is a hardware parameter,
    not an optimisation variable). The signal ``mu`` is ``device.signal_intensity`` or optimised per loss
    in ``(nu, 1.5]``. Channel model as in the module docstring.

    Parameters
    ----------
    eta_channel : array_like
        Channel transmittance.
    device : Device
        As :func:`bb84_decoy_gllp`, plus ``decoy_intensity``.
    mu : array_like, optional
        Fixed signal intensity.

    Returns
    -------
    numpy.ndarray
        Secret bits per pulse, >= 0.
    """
    eta = np.asarray(eta_channel, dtype=float) * device.detector_efficiency
    nu = device.decoy_intensity
    args = (device.background_yield, device.misalignment_error, device.ec_efficiency, device.sifting_factor)
    mu = device.signal_intensity if mu is None else mu
    if mu is not None:
        r = vacuum_weak_rate(eta, mu, nu, *args)
    else:
        e = eta[..., None]
        r, _ = maximise(lambda mu: vacuum_weak_rate(e, mu, nu, *args), eta.shape,
                        {"mu": (min(1.01 * nu, 1.4), 1.5)}, n_iter=12)
    return np.maximum(r, 0.0)


# ----------------------------------------------------------------------------------------------------------
# Finite-key decoy BB84 (Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014))
# ----------------------------------------------------------------------------------------------------------
def finite_key_rate(eta, mu1, mu2, mu3, p1, p2, qx, *, pd, ed, f, n_x, eps_sec, eps_cor):
    """Secret bits per pulse of the one-decoy-plus-vacuum finite-key BB84 of Lim et al. (2014).

    Implements the secret-key length of Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014) (the
    paper's main result for the one-decoy-plus-vacuum protocol)::

        l = s_X0 + s_X1 (1 - h(phi_X)) - lambda_EC - 6 log2(21/eps_sec) - log2(2/eps_cor)

    with the paper's decoy bounds on vacuum and single-photon events ``s_X0``, ``s_X1`` (and ``s_Z1``), the
    single-photon error bound ``v_Z1``, the phase-error bound ``phi_X = v_Z1/s_Z1 + gamma(eps_sec/21,
    v_Z1/s_Z1, s_Z1, s_X1)``, Hoeffding deviations ``n^pm_k = e^k/p_k (n_k pm sqrt(n/2 ln(21/eps_sec)))`` and
    ``lambda_EC = f n_X h(E_X)``. Counts are the expected values of the simulation model of their
    Appendix (detection probability ``D_k = 1 - (1 - 2 p_dc) e^{-eta k}``, error probability
    ``p_dc + e_mis (1 - e^{-eta k})``; here ``2 p_dc -> Y0 = 1-(1-p_d)^2``). The block is fixed by the
    number of key-basis (X) detections ``n_X``; the number of pulses sent is
    ``N = n_X / (q_x^2 sum_k p_k D_k)`` and the rate is ``l / N``.

    Parameters
    ----------
    eta : array_like
        Overall transmittance (channel x receiver).
    mu1, mu2, mu3 : array_like
        Signal, decoy, vacuum(-like) intensities, ``mu1 > mu2 + mu3``, ``mu2 > mu3 >= 0``.
    p1, p2 : array_like
        Probabilities of sending ``mu1`` and ``mu2`` (``p3 = 1 - p1 - p2 > 0``).
    qx : array_like
        Probability of the X (key) basis for Alice and for Bob.
    pd, ed, f : float
        Dark count per detector per gate, misalignment error, error-correction inefficiency.
    n_x : float
        Post-processing block size (X-basis detections).
    eps_sec, eps_cor : float
        Secrecy and correctness parameters.

    Returns
    -------
    numpy.ndarray
        Secret bits per pulse; ``-inf`` where the intensities violate the constraints, negative where no key.
    """
    eta = np.asarray(eta, dtype=float)
    p3 = 1.0 - p1 - p2
    y0 = 1.0 - (1.0 - pd) ** 2
    ks = (mu1, mu2, mu3)
    ps = (p1, p2, p3)
    D = [1.0 - (1.0 - y0) * np.exp(-eta * k) for k in ks]
    Eg = [0.5 * y0 + ed * (-np.expm1(-eta * k)) for k in ks]
    sum_pd = p1 * D[0] + p2 * D[1] + p3 * D[2]
    N = n_x / (qx * qx * sum_pd)
    qz2 = (1.0 - qx) ** 2
    nX = [N * p * qx * qx * d for p, d in zip(ps, D)]
    nZ = [N * p * qz2 * d for p, d in zip(ps, D)]
    mX = [N * p * qx * qx * e for p, e in zip(ps, Eg)]
    mZ = [N * p * qz2 * e for p, e in zip(ps, Eg)]
    ln_term = np.log(21.0 / eps_sec)
    tot_nX, tot_nZ, tot_mZ = sum(nX), sum(nZ), sum(mZ)

    def pm(counts, total):
        d = np.sqrt(total / 2.0 * ln_term)
        return ([np.exp(k) / p * (c - d) for k, p, c in zip(ks, ps, counts)],
                [np.exp(k) / p * (c + d) for k, p, c in zip(ks, ps, counts)])

    tau0 = p1 * np.exp(-mu1) + p2 * np.exp(-mu2) + p3 * np.exp(-mu3)
    tau1 = p1 * np.exp(-mu1) * mu1 + p2 * np.exp(-mu2) * mu2 + p3 * np.exp(-mu3) * mu3

    def s0_s1(counts, total):
        lo, hi = pm(counts, total)
        s0 = tau0 * (mu2 * lo[2] - mu3 * hi[1]) / (mu2 - mu3)
        s0 = np.maximum(s0, 0.0)
        s1 = tau1 * mu1 * (lo[1] - hi[2] - (mu2 ** 2 - mu3 ** 2) / mu1 ** 2 * (hi[0] - s0 / tau0)) / (
            mu1 * (mu2 - mu3) - mu2 ** 2 + mu3 ** 2)
        return s0, np.maximum(s1, 0.0)

    sX0, sX1 = s0_s1(nX, tot_nX)
    _, sZ1 = s0_s1(nZ, tot_nZ)
    mlo, mhi = pm(mZ, tot_mZ)
    vZ1 = np.maximum(tau1 * (mhi[1] - mlo[2]) / (mu2 - mu3), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.clip(vZ1 / sZ1, 1e-15, 0.5)
        c, d = sZ1, sX1
        a = eps_sec / 21.0
        arg = (c + d) / (c * d * (1.0 - b) * b * a * a)
        gamma = np.sqrt(np.maximum(
            (c + d) * (1.0 - b) * b / (c * d * np.log(2.0)) * np.log2(np.maximum(arg, 1.0)), 0.0))
        phi = np.where((sZ1 > 0) & (sX1 > 0), b + gamma, 0.5)
        e_x = sum(mX) / tot_nX
    lam_ec = f * n_x * h2_capped(e_x)
    ell = (sX0 + sX1 * (1.0 - h2_capped(phi)) - lam_ec - 6.0 * np.log2(21.0 / eps_sec) - np.log2(2.0 / eps_cor))
    r = ell / N
    ok = (mu1 > mu2 + mu3) & (mu2 > mu3) & (p3 > 0) & (p1 > 0) & (p2 > 0) & (qx > 0) & (qx < 1)
    return np.where(ok & np.isfinite(r), r, -np.inf)


FINITE_BOUNDS = {
    "mu1": (0.05, 1.0),
    "mu2": (0.005, 0.6),
    "p1": (0.05, 0.98),
    "s2": (0.05, 0.95),     # p2 = (1 - p1) * s2
    "qx": (0.5, 0.995),
}


def bb84_finite(eta_channel, device: Device):
    """Finite-key decoy BB84 (Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014)).

    Secret bits per pulse for a block of ``device.block_size`` key-basis detections ``n_X`` at security
    ``eps_sec`` / ``eps_cor`` (see :func:`finite_key_rate`). The intensities ``mu1`` (signal) and ``mu2``
    (decoy), their probabilities and the basis bias ``q_x`` are optimised per loss (vectorised coordinate
    search); ``mu3 = device.vacuum_intensity`` is fixed. If ``device.signal_intensity`` /
    ``device.decoy_intensity`` are set they are held fixed.

    Parameters
    ----------
    eta_channel : array_like
        Channel transmittance.
    device : Device
        Uses ``detector_efficiency``, ``dark_count_prob``, ``misalignment_error``, ``ec_efficiency``,
        ``block_size``, ``eps_sec``, ``eps_cor``, ``vacuum_intensity``, ``signal_intensity``,
        ``decoy_intensity``. ``sifting_factor`` is not used (sifting is explicit through ``q_x``).

    Returns
    -------
    numpy.ndarray
        Secret bits per pulse, >= 0.
    """
    eta = (np.asarray(eta_channel, dtype=float) * device.detector_efficiency)[..., None]
    kw = dict(pd=device.dark_count_prob, ed=device.misalignment_error, f=device.ec_efficiency,
              n_x=float(device.block_size), eps_sec=device.eps_sec, eps_cor=device.eps_cor)
    mu3 = device.vacuum_intensity
    fixed = {"mu1": device.signal_intensity, "mu2": device.decoy_intensity}
    bounds = {k: v for k, v in FINITE_BOUNDS.items() if fixed.get(k) is None}

    def f(**x):
        mu1 = x.get("mu1", fixed["mu1"])
        mu2 = x.get("mu2", fixed["mu2"])
        p1 = x["p1"]
        return finite_key_rate(eta, mu1, mu2, mu3, p1, (1.0 - p1) * x["s2"], x["qx"], **kw)

    r, _ = maximise(f, eta.shape[:-1], bounds, n_iter=30, n_grid=9, n_start=1024)
    return np.maximum(r, 0.0)
