"""Fundamental rate-loss bounds of repeaterless point-to-point QKD over a pure-loss channel.

Both are in secret bits **per channel use** (per mode / pulse) of a bosonic pure-loss channel of
transmittance ``eta``; multiply by the repetition rate to compare with a system's bit/s.
"""
from __future__ import annotations

import numpy as np

from ._util import eta_from_loss_db


def _eta(eta):
    return np.clip(np.asarray(eta, dtype=float), 0.0, 1.0)


def plob_bound(eta):
    """PLOB bound, the secret-key capacity of the pure-loss channel: ``-log2(1 - eta)``.

    Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017) (secret-key capacity of the
    pure-loss channel, the paper's main result for bosonic lossy channels). At high loss
    ``-log2(1-eta) ~ eta / ln 2 ~ 1.44 eta`` bits per channel use.

    Parameters
    ----------
    eta : array_like
        Channel transmittance in [0, 1].

    Returns
    -------
    numpy.ndarray
        Bits per channel use (``inf`` at ``eta = 1``).
    """
    e = _eta(eta)
    with np.errstate(divide="ignore"):
        return -np.log1p(-e) / np.log(2.0)


def tgw_bound(eta):
    """TGW bound (squashed-entanglement bound): ``log2((1 + eta) / (1 - eta))``.

    Takeoka, Guha, Wilde, Nat. Commun. 5, 5235 (2014) (squashed-entanglement upper bound for the pure-loss
    channel; also IEEE Trans. Inf. Theory 60, 4987 (2014)).
    At high loss ``~ 2 eta / ln 2 ~ 2.88 eta`` bits per channel use: twice PLOB, which is tight.

    Parameters
    ----------
    eta : array_like
        Channel transmittance in [0, 1].

    Returns
    -------
    numpy.ndarray
        Bits per channel use.
    """
    e = _eta(eta)
    with np.errstate(divide="ignore"):
        return (np.log1p(e) - np.log1p(-e)) / np.log(2.0)


def plob_bound_loss(loss_db):
    """PLOB bound as a function of channel loss in dB (bits per channel use)."""
    return plob_bound(eta_from_loss_db(loss_db))


def tgw_bound_loss(loss_db):
    """TGW bound as a function of channel loss in dB (bits per channel use)."""
    return tgw_bound(eta_from_loss_db(loss_db))
