"""Exports of a plan for the teams that build the network: ETSI GS QKD 015-shaped node and topology documents,
key-relay tables for a key-management system (ITU-T Y.3803), and the import of such a topology as brownfield.

No command-line code here: ``qtopo/cli/export.py`` is a thin wrapper.
"""
from ..etsi import existing_links_from_etsi, read_etsi_topology, validate_node_document, validate_topology
from .etsi import etsi_topology, write_etsi
from .relay import relay_rows, relay_table

__all__ = ["etsi_topology", "write_etsi", "validate_topology", "validate_node_document", "read_etsi_topology",
           "existing_links_from_etsi", "relay_table", "relay_rows"]
