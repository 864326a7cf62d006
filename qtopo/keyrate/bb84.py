"""Decoy-state BB84 with weak coherent pulses: asymptotic (infinite decoys, vacuum + weak) and finite key.

Channel model (all three models; the simulation model of Lo-Ma-Chen 2005 and Ma-Qi-Zhao-Lo 2005 Sec. II)
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

from ._util import h2, h2_capped, maximise
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

    Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Sec. III (vacuum + weak decoy state): the single-photon yield
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
    fluctuations a smaller ``nu`` is always better, Ma et al. Sec. III, so ``nu`` is a hardware parameter,
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
