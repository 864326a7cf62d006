"""Measurement-device-independent QKD, asymptotic, infinite decoys (Lo, Curty, Qi, PRL 108, 130503 (2012)).

Geometry and conventions
------------------------
Alice and Bob each send phase-randomised weak coherent pulses (polarisation BB84 states) to an untrusted
relay (Charlie) **in the middle of the span**: for an end-to-end channel transmittance ``eta_channel`` each
arm has ``sqrt(eta_channel)`` (half the loss in dB). Charlie's four detectors (efficiency
``detector_efficiency``, dark count ``p_d`` per detector per gate) perform a partial Bell-state
measurement. Both senders use the same signal intensity ``mu`` (optimal for a symmetric channel).

Rate (Lo-Curty-Qi 2012, the key-rate formula of the main text)::

    R = Q11_Z [1 - H2(e11_X)] - f Q_Z H2(E_Z)

with the single-photon-pair gain ``Q11_Z`` and phase error ``e11_X`` known exactly (infinite decoys). The
gains and error rates of the channel model are those of Ma and Razavi, PRA 86, 062319 (2012), Appendix
(polarisation encoding, rectilinear basis for the key), as used in the simulations of Lo-Curty-Qi:

* ``Y11 = (1-p_d)^2 [eta_a eta_b/2 + (2 eta_a + 2 eta_b - 3 eta_a eta_b) p_d + 4 (1-eta_a)(1-eta_b) p_d^2]``
* ``e11_X Y11 = e0 Y11 - (e0 - e_d)(1-p_d)^2 eta_a eta_b / 2``
* ``Q_Z = Q_C + Q_E``; ``E_Z Q_Z = e_d Q_C + (1 - e_d) Q_E`` with
  ``Q_C = 2 (1-p_d)^2 e^{-mu'/2} [1 - (1-p_d) e^{-eta_a mu_a/2}] [1 - (1-p_d) e^{-eta_b mu_b/2}]``,
  ``Q_E = 2 p_d (1-p_d)^2 e^{-mu'/2} [I0(2x) - (1-p_d) e^{-mu'/2}]``,
  ``mu' = eta_a mu_a + eta_b mu_b``, ``x = sqrt(eta_a mu_a eta_b mu_b)/2``.

All in secret bits per pulse pair (per channel use of the span).
"""
from __future__ import annotations

import numpy as np

from ._util import h2_capped, maximise
from .devices import Device

E0 = 0.5
MU_BOUNDS = (1e-3, 1.5)


def mdi_rate(eta_a, eta_b, mu_a, mu_b, pd, ed, f, q=1.0):
    """MDI-QKD asymptotic rate for arm transmittances ``eta_a``, ``eta_b`` (detector included).

    See the module docstring for the formulas (Lo-Curty-Qi 2012; channel model of Ma-Razavi 2012).

    Parameters
    ----------
    eta_a, eta_b : array_like
        Overall transmittance of each arm (fibre x relay detector efficiency).
    mu_a, mu_b : array_like
        Signal intensities of Alice and Bob.
    pd, ed, f, q : float
        Dark count per detector per gate, misalignment, EC inefficiency, sifting factor.

    Returns
    -------
    numpy.ndarray
        Secret bits per pulse pair (may be negative).
    """
    from scipy.special import i0e  # here, not at import: `qtopo rates` of other protocols starts faster

    ea, eb = np.asarray(eta_a, float), np.asarray(eta_b, float)
    a, b = ea * mu_a, eb * mu_b
    mup = a + b
    x = np.sqrt(a * b) / 2.0
    one = 1.0 - pd
    em = np.exp(-mup / 2.0)
    q_c = 2.0 * one ** 2 * em * (1.0 - one * np.exp(-a / 2.0)) * (1.0 - one * np.exp(-b / 2.0))
    # e^{-mu'/2} I0(2x) = i0e(2x) e^{2x - mu'/2}  (2x <= mu'/2, no overflow)
    q_e = 2.0 * pd * one ** 2 * (i0e(2.0 * x) * np.exp(2.0 * x - mup / 2.0) - one * np.exp(-mup))
    q_z = q_c + q_e
    eq_z = ed * q_c + (1.0 - ed) * q_e
    y11 = one ** 2 * (ea * eb / 2.0 + (2 * ea + 2 * eb - 3 * ea * eb) * pd + 4 * (1 - ea) * (1 - eb) * pd ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        e11 = np.where(y11 > 0, (E0 * y11 - (E0 - ed) * one ** 2 * ea * eb / 2.0) / y11, E0)
        e_z = np.where(q_z > 0, eq_z / q_z, E0)
    q11 = mu_a * mu_b * np.exp(-mu_a - mu_b) * y11
    return q * (q11 * (1.0 - h2_capped(e11)) - f * q_z * h2_capped(e_z))


def mdi_qkd(eta_channel, device: Device, mu=None):
    """MDI-QKD, asymptotic, relay in the middle (Lo, Curty, Qi, PRL 108, 130503 (2012)).

    Parameters
    ----------
    eta_channel : array_like
        End-to-end channel transmittance Alice -> Bob; each arm gets ``sqrt(eta_channel)``.
    device : Device
        ``detector_efficiency`` / ``dark_count_prob`` are Charlie's detectors; ``misalignment_error``,
        ``ec_efficiency``, ``sifting_factor``, ``signal_intensity`` (``None``: optimised per loss).
    mu : array_like, optional
        Fixed signal intensity (both senders).

    Returns
    -------
    numpy.ndarray
        Secret bits per pulse pair, >= 0.
    """
    eta_arm = np.sqrt(np.asarray(eta_channel, dtype=float)) * device.detector_efficiency
    args = (device.dark_count_prob, device.misalignment_error, device.ec_efficiency, device.sifting_factor)
    mu = device.signal_intensity if mu is None else mu
    if mu is not None:
        r = mdi_rate(eta_arm, eta_arm, mu, mu, *args)
    else:
        e = eta_arm[..., None]
        r, _ = maximise(lambda mu: mdi_rate(e, e, mu, mu, *args), eta_arm.shape, {"mu": MU_BOUNDS}, n_iter=12)
    return np.maximum(r, 0.0)
