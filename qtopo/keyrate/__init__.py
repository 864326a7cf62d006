"""Key-rate models of QKD protocols, device presets and bounds (pure NumPy).

Public API::

    from qtopo.keyrate import Device, get_device, list_presets, list_protocols, PROTOCOLS
    from qtopo.keyrate import secret_key_rate_bps, secret_bits_per_pulse, max_reach_db, max_distance_km
    dev = get_device("gys-2005")
    rate_bps = secret_key_rate_bps(loss_db_array, dev)   # 0 beyond reach

``loss_db`` is the channel loss between the two trusted ends (fibre + connectors); the receiver's
efficiency is a device parameter. MDI / twin-field devices put their untrusted relay in the middle.

Protocols (``Device.protocol``)

==================  ===========================================================  ===============================
id                  model                                                        source
==================  ===========================================================  ===============================
bb84-decoy          decoy BB84, asymptotic, infinite decoys (GLLP)               Lo, Ma, Chen, PRL 94, 230504 (2005)
bb84-vacuum-weak    decoy BB84, vacuum + weak decoy (nu fixed), asymptotic       Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005)
bb84-finite         decoy BB84, one decoy + vacuum, finite key                   Lim et al., PRA 89, 022307 (2014)
mdi-qkd             MDI-QKD, asymptotic, relay in the middle                     Lo, Curty, Qi, PRL 108, 130503 (2012)
tf-sns              twin-field, sending-or-not-sending, asymptotic, relay        Wang, Yu, Hu, PRA 98, 062323 (2018)
cv-gg02             CV-QKD GG02, RR, collective attacks, homodyne/heterodyne     Lodewyck et al., PRA 76, 042305 (2007)
==================  ===========================================================  ===============================

Bounds: :func:`plob_bound` (Pirandola et al., Nat. Commun. 8, 15043 (2017)), :func:`tgw_bound` (Takeoka,
Guha, Wilde, Nat. Commun. 5, 5235 (2014)). Repeater chains: :func:`repeater_chain_limits` (simplified model
after Rabbie et al., npj Quantum Inf. 8, 5 (2022)).
"""
from .devices import FIBRE_TYPES, PRESETS, Device, FibreType, get_device, list_presets, make_device
from .rates import (
    PROTOCOLS,
    ProtocolSpec,
    list_protocols,
    max_distance_km,
    max_reach_db,
    secret_bits_per_pulse,
    secret_key_rate_bps,
)
from ._util import eta_from_loss_db, h2, loss_db_from_eta
from .bounds import plob_bound, plob_bound_loss, tgw_bound, tgw_bound_loss
from .repeater import chain_fidelity, link_rate_hz, repeater_chain_limits

__all__ = [
    "Device", "FibreType", "FIBRE_TYPES", "PRESETS", "PROTOCOLS", "ProtocolSpec",
    "get_device", "make_device", "list_presets", "list_protocols",
    "secret_bits_per_pulse", "secret_key_rate_bps", "max_reach_db", "max_distance_km",
    "eta_from_loss_db", "loss_db_from_eta", "h2",
    "plob_bound", "plob_bound_loss", "tgw_bound", "tgw_bound_loss",
    "repeater_chain_limits", "link_rate_hz", "chain_fidelity",
]
