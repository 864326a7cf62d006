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
def finite_key_rate(eta, mu1, mu2, mu3, p1, p2, qx, *, pd, ed, f, n_x, eps_sec, eps_cor, p_ap=0.0,
                    kappa=None, max_pulses=np.inf, n_x_min=1e4, details=False):
    """Secret bits per pulse of the one-decoy-plus-vacuum finite-key BB84 of Lim et al. (2014).

    Implements Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014): the key length Eq. (1)::

        l = s_X0 + s_X1 (1 - h(phi_X)) - lambda_EC - 6 log2(21/eps_sec) - log2(2/eps_cor)

    with the decoy bounds Eqs. (2)-(3) on vacuum and single-photon events ``s_X0``, ``s_X1`` (and ``s_Z1``),
    the single-photon error bound ``v_Z1`` Eq. (4), the phase-error bound Eq. (5) ``phi_X = v_Z1/s_Z1 +
    gamma(eps_sec, v_Z1/s_Z1, s_Z1, s_X1)``, the Hoeffding deviations ``n^pm_k = e^k/p_k (n_k pm sqrt(n/2
    ln(21/eps_sec)))`` and ``lambda_EC = f n_X h(E_X)``. Counts are the expected values of the paper's
    simulation model (Sec. IV, dedicated fibre): detection probability without afterpulses
    ``D_k = 1 - (1 - 2 p_dc) e^{-eta k}`` (``p_dc`` per detector), with afterpulses ``R_k = D_k (1 + p_ap)``,
    error probability ``e_k = p_dc + e_mis (1 - e^{-eta k}) + p_ap D_k / 2``. (The paper prints
    ``eta_ch`` in the ``e_mis`` term; the optical error can only come from detected photons, so ``eta =
    eta_sys`` is used, as in ``D_k``.)

    Block and time: the block is ``n_X`` key-basis (X) detections. At most ``max_pulses`` pulses may be sent
    to fill it (repetition rate x ``max_block_time_s``): the block used is the largest ``n_X <= n_x`` that
    fills in ``max_pulses``; below ``n_x_min`` no key is made. ``N = n_X / (q_x^2 sum_k p_k R_k)`` pulses
    are sent and the rate is ``l / N``.

    Secrecy: ``eps_sec`` fixed, or, with ``kappa`` set, ``eps_sec = kappa l`` (Lim et al. Sec. IV:
    "secrecy leakage per generated bit", ``kappa = 1e-15``), solved by three fixed-point steps from
    ``eps_sec = kappa n_X`` (``l`` depends on ``eps_sec`` only through logarithms; the steps decrease
    ``l`` monotonically and the third changes it by far less than 0.1%).

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
        Largest post-processing block size (X-basis detections).
    eps_sec, eps_cor : float
        Secrecy (used when ``kappa`` is None) and correctness parameters.
    p_ap : float
        Afterpulse probability.
    kappa : float or None
        Secrecy leakage per key bit (``eps_sec = kappa l``).
    max_pulses : float
        Most pulses a block may take (``inf``: no limit).
    n_x_min : float
        Smallest useful block.
    details : bool
        Also return ``(n_X, N)`` arrays.

    Returns
    -------
    numpy.ndarray (or tuple with ``n_X`` and ``N`` when ``details``)
        Secret bits per pulse; ``-inf`` where the intensities violate the constraints or the block cannot be
        filled, negative where no key.
    """
    eta = np.asarray(eta, dtype=float)
    p3 = 1.0 - p1 - p2
    ks = (mu1, mu2, mu3)
    ps = (p1, p2, p3)
    Dk = [1.0 - (1.0 - 2.0 * pd) * np.exp(-eta * k) for k in ks]
    Rk = [d * (1.0 + p_ap) for d in Dk]
    Ek = [pd + ed * (-np.expm1(-eta * k)) + p_ap * d / 2.0 for k, d in zip(ks, Dk)]
    sum_pr = p1 * Rk[0] + p2 * Rk[1] + p3 * Rk[2]
    n_x = np.minimum(n_x, max_pulses * qx * qx * sum_pr)
    N = n_x / (qx * qx * sum_pr)
    qz2 = (1.0 - qx) ** 2
    nX = [N * p * qx * qx * r for p, r in zip(ps, Rk)]
    nZ = [N * p * qz2 * r for p, r in zip(ps, Rk)]
    mX = [N * p * qx * qx * e for p, e in zip(ps, Ek)]
    mZ = [N * p * qz2 * e for p, e in zip(ps, Ek)]
    tot_nX, tot_nZ, tot_mZ = sum(nX), sum(nZ), sum(mZ)
    tau0 = p1 * np.exp(-mu1) + p2 * np.exp(-mu2) + p3 * np.exp(-mu3)
    tau1 = p1 * np.exp(-mu1) * mu1 + p2 * np.exp(-mu2) * mu2 + p3 * np.exp(-mu3) * mu3
    with np.errstate(divide="ignore", invalid="ignore"):
        e_x = sum(mX) / tot_nX
    lam_ec = f * n_x * h2_capped(e_x)

    def key_length(eps):
        ln_term = np.log(21.0 / eps)

        def pm(counts, total):
            d = np.sqrt(total / 2.0 * ln_term)
            return ([np.exp(k) / p * (c - d) for k, p, c in zip(ks, ps, counts)],
                    [np.exp(k) / p * (c + d) for k, p, c in zip(ks, ps, counts)])

        def s0_s1(counts, total):
            lo, hi = pm(counts, total)
            s0 = np.maximum(tau0 * (mu2 * lo[2] - mu3 * hi[1]) / (mu2 - mu3), 0.0)          # Eq. (2)
            s1 = tau1 * mu1 * (lo[1] - hi[2] - (mu2 ** 2 - mu3 ** 2) / mu1 ** 2 * (hi[0] - s0 / tau0)) / (
                mu1 * (mu2 - mu3) - mu2 ** 2 + mu3 ** 2)                                      # Eq. (3)
            return s0, np.maximum(s1, 0.0)

        sX0, sX1 = s0_s1(nX, tot_nX)
        _, sZ1 = s0_s1(nZ, tot_nZ)
        mlo, mhi = pm(mZ, tot_mZ)
        vZ1 = np.maximum(tau1 * (mhi[1] - mlo[2]) / (mu2 - mu3), 0.0)                         # Eq. (4)
        with np.errstate(divide="ignore", invalid="ignore"):
            b = np.clip(vZ1 / sZ1, 1e-15, 0.5)
            c, d = sZ1, sX1
            arg = (c + d) / (c * d * (1.0 - b) * b) * (21.0 / eps) ** 2
            gamma = np.sqrt(np.maximum(
                (c + d) * (1.0 - b) * b / (c * d * np.log(2.0)) * np.log2(np.maximum(arg, 1.0)), 0.0))
            phi = np.where((sZ1 > 0) & (sX1 > 0), b + gamma, 0.5)                              # Eq. (5)
        return (sX0 + sX1 * (1.0 - h2_capped(phi)) - lam_ec - 6.0 * np.log2(21.0 / eps)
                - np.log2(2.0 / eps_cor))                                                      # Eq. (1)

    if kappa is None:
        ell = key_length(eps_sec)
    else:
        ell = key_length(kappa * n_x)
        for _ in range(2):
            ell = key_length(kappa * np.maximum(ell, 1.0))
    r = ell / N
    ok = ((mu1 > mu2 + mu3) & (mu2 > mu3) & (p3 > 0) & (p1 > 0) & (p2 > 0) & (qx > 0) & (qx < 1)
          & (n_x >= n_x_min))
    r = np.where(ok & np.isfinite(r), r, -np.inf)
    return (r, n_x, N) if details else r


FINITE_BOUNDS = {
    "mu1": (0.05, 1.0),
    "mu2": (0.005, 0.6),
    "p1": (0.01, 0.98),
    "s2": (0.05, 0.95),     # p2 = (1 - p1) * s2
    "qx": (0.05, 0.995),
}


def _finite_kw(device: Device) -> dict:
    t = device.max_block_time_s
    return dict(pd=device.dark_count_prob, ed=device.misalignment_error, f=device.ec_efficiency,
                n_x=float(device.block_size), eps_sec=device.eps_sec, eps_cor=device.eps_cor,
                p_ap=device.afterpulse_prob, kappa=device.eps_sec_per_bit,
                max_pulses=np.inf if t is None else device.repetition_rate_hz * t, n_x_min=device.min_block_size)


def bb84_finite(eta_channel, device: Device, *, details: bool = False):
    """Finite-key decoy BB84 (Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014)).

    Secret bits per pulse for the largest block ``n_X <= device.block_size`` of key-basis detections that
    fills within ``device.max_block_time_s`` (see :func:`finite_key_rate`), at correctness ``eps_cor`` and
    secrecy ``eps_sec`` (or ``eps_sec = eps_sec_per_bit * l``). The intensities ``mu1`` (signal) and ``mu2``
    (decoy), their probabilities and the basis bias ``q_x`` are optimised per loss (vectorised coordinate
    search); ``mu3 = device.vacuum_intensity`` is fixed. If ``device.signal_intensity`` /
    ``device.decoy_intensity`` are set they are held fixed.

    Parameters
    ----------
    eta_channel : array_like
        Channel transmittance.
    device : Device
        Uses ``detector_efficiency``, ``dark_count_prob``, ``misalignment_error``, ``ec_efficiency``,
        ``afterpulse_prob``, ``block_size``, ``min_block_size``, ``max_block_time_s``,
        ``repetition_rate_hz``, ``eps_sec``, ``eps_sec_per_bit``, ``eps_cor``, ``vacuum_intensity``,
        ``signal_intensity``, ``decoy_intensity``. ``sifting_factor`` is not used (sifting is explicit through
        ``q_x``).
    details : bool
        Also return the optimum's block size ``n_X`` and pulses per block ``N`` (0 where no key).

    Returns
    -------
    numpy.ndarray, or (rate, n_X, N)
        Secret bits per pulse, >= 0.
    """
    eta = (np.asarray(eta_channel, dtype=float) * device.detector_efficiency)[..., None]
    kw = _finite_kw(device)
    mu3 = device.vacuum_intensity
    fixed = {"mu1": device.signal_intensity, "mu2": device.decoy_intensity}
    bounds = {k: v for k, v in FINITE_BOUNDS.items() if fixed.get(k) is None}

    def args(x):
        mu1 = x.get("mu1", fixed["mu1"])
        mu2 = x.get("mu2", fixed["mu2"])
        p1 = x["p1"]
        return (eta, mu1, mu2, mu3, p1, (1.0 - p1) * x["s2"], x["qx"])

    # Two searches, linear and logarithmic in (p1, qx, mu2): large blocks have their optimum near qx -> 1,
    # small blocks at small p1 and qx < 1/2 (parameter estimation needs many Z-basis events); the better
    # of the two is kept per element.
    obj = lambda **x: finite_key_rate(*args(x), **kw)  # noqa: E731
    r, best = maximise(obj, eta.shape[:-1], bounds, n_iter=30, n_grid=9, n_start=1024)
    r2, best2 = maximise(obj, eta.shape[:-1], bounds, n_iter=30, n_grid=9, n_start=1024,
                         log=tuple(k for k in ("p1", "qx", "mu2") if k in bounds))
    take = r2 > r
    r = np.where(take, r2, r)
    best = {k: np.where(take, best2[k], v) for k, v in best.items()}
    r = np.maximum(r, 0.0)
    if not details:
        return r
    x = {k: v[..., None] for k, v in best.items()}
    _, n_x, n_pulses = finite_key_rate(*args(x), **kw, details=True)
    n_x = np.where(r > 0, np.broadcast_to(n_x, x["p1"].shape)[..., 0], 0.0)
    n_pulses = np.where(r > 0, np.broadcast_to(n_pulses, x["p1"].shape)[..., 0], 0.0)
    return r, n_x, n_pulses
