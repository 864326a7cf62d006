"""Twin-field QKD: sending-or-not-sending (SNS), asymptotic, infinite decoys.

Protocol and rate: Wang, Yu, Hu, PRA 98, 062323 (2018) (SNS TF-QKD). In a Z window Alice (Bob) *sends* a
phase-randomised coherent pulse of intensity ``mu`` with probability ``eps`` (bit 1 for Alice, 0 for Bob)
or sends nothing. An untrusted relay **in the middle** interferes the pulses on a beam splitter; an
*effective event* is a click of exactly one of its two detectors. The key rate is::

    R = 2 eps (1 - eps) mu e^{-mu} s1 [1 - H2(e1_ph)] - f n_t H2(E_Z)

(untagged single-photon events of the "one sends, the other does not" windows; phase-flip error of those
events ``e1_ph`` equals the single-photon error of the X windows, known exactly with infinite decoys).

Channel model written out here (each arm ``eta_s = eta_det * sqrt(eta_channel)``, ``p_d`` per detector):

* neither sends: ``P00 = 2 p_d (1 - p_d)``;
* one sends: ``P10 = 2 (1-p_d) e^{-eta_s mu/2} [1 - (1-p_d) e^{-eta_s mu/2}]``;
* both send (random relative phase): ``P11 = 2 (1-p_d) e^{-eta_s mu} I0(eta_s mu) - 2 (1-p_d)^2 e^{-2 eta_s mu}``;
* ``n_t = (1-eps)^2 P00 + 2 eps(1-eps) P10 + eps^2 P11``; errors (both or neither send):
  ``E_Z n_t = (1-eps)^2 P00 + eps^2 P11``;
* single photon: ``s1 = eta_s (1 - p_d) + (1 - eta_s) 2 p_d (1 - p_d)``,
  ``e1_ph s1 = e_d eta_s (1 - p_d) + (1 - eta_s) p_d (1 - p_d)`` (``e_d``: phase-mismatch error).

The untagged-event term scales as ``eta_s ~ sqrt(eta_channel)``: the rate beats the repeaterless PLOB bound
at high loss. Phase-reference pulses, laser phase drift and the finite data size are **not** modelled
(they reduce the duty cycle and add to ``e_d``). Bits per pulse pair (channel use of the span).
"""
from __future__ import annotations

import numpy as np

from ._util import h2_capped, maximise
from .devices import Device


def sns_rate(eta_s, mu, eps, pd, ed, f, q=1.0):
    """SNS twin-field rate (see module docstring) for per-arm transmittance ``eta_s`` (detector included).

    Parameters
    ----------
    eta_s : array_like
        Transmittance of each arm, relay detector efficiency included.
    mu : array_like
        Intensity of a "sending" pulse in Z windows.
    eps : array_like
        Sending probability in Z windows.
    pd, ed, f, q : float
        Dark count per detector per gate, phase-mismatch error, EC inefficiency, window/sifting factor.

    Returns
    -------
    numpy.ndarray
        Secret bits per pulse pair (may be negative).
    """
    from scipy.special import i0e  # here, not at import: `qtopo rates` of other protocols starts faster

    es = np.asarray(eta_s, float)
    one = 1.0 - pd
    x = es * mu
    p00 = 2.0 * pd * one
    h = np.exp(-x / 2.0)
    p10 = 2.0 * one * h * (1.0 - one * h)
    p11 = 2.0 * one * i0e(x) - 2.0 * one ** 2 * np.exp(-2.0 * x)
    w00, w10, w11 = (1 - eps) ** 2, 2 * eps * (1 - eps), eps ** 2
    n_t = w00 * p00 + w10 * p10 + w11 * p11
    m_t = w00 * p00 + w11 * p11
    s1 = es * one + (1.0 - es) * 2.0 * pd * one
    with np.errstate(divide="ignore", invalid="ignore"):
        e_z = np.where(n_t > 0, m_t / n_t, 0.5)
        e1 = np.where(s1 > 0, (ed * es * one + (1.0 - es) * pd * one) / s1, 0.5)
    n1 = w10 * mu * np.exp(-mu) * s1
    return q * (n1 * (1.0 - h2_capped(e1)) - f * n_t * h2_capped(e_z))


def tf_sns(eta_channel, device: Device):
    """Sending-or-not-sending twin-field QKD, asymptotic, relay in the middle (Wang, Yu, Hu, PRA 98, 062323 (2018)).

    ``mu`` (``device.signal_intensity``) and ``eps`` (``device.send_probability``) are optimised per loss
    when ``None``.

    Parameters
    ----------
    eta_channel : array_like
        End-to-end channel transmittance; each arm gets ``sqrt(eta_channel)``.
    device : Device
        Relay detector ``detector_efficiency`` and ``dark_count_prob``; ``misalignment_error`` (phase
        mismatch), ``ec_efficiency``, ``sifting_factor``.

    Returns
    -------
    numpy.ndarray
        Secret bits per pulse pair, >= 0.
    """
    es = (np.sqrt(np.asarray(eta_channel, dtype=float)) * device.detector_efficiency)[..., None]
    args = (device.dark_count_prob, device.misalignment_error, device.ec_efficiency, device.sifting_factor)
    fixed = {"mu": device.signal_intensity, "eps": device.send_probability}
    bounds = {k: v for k, v in {"mu": (1e-3, 1.5), "eps": (1e-3, 0.5)}.items() if fixed[k] is None}
    if not bounds:
        r = sns_rate(es, fixed["mu"], fixed["eps"], *args)[..., 0]
    else:
        def f(**x):
            return sns_rate(es, x.get("mu", fixed["mu"]), x.get("eps", fixed["eps"]), *args)
        r, _ = maximise(f, es.shape[:-1], bounds, n_iter=14, n_grid=7, n_start=121)
    return np.maximum(r, 0.0)
