"""ETSI GS QKD 015 documents: the derived schema, validation, IDs, and reading a topology as brownfield.

The low-level half of the ETSI export (no plan, no GeoPandas): :mod:`qtopo.export.etsi` writes the documents,
:func:`qtopo.io.read_existing_links` reads them back as installed device pairs. Field names and types follow
the YANG module ``etsi-qkd-sdn-node``, revision 2022-01-30 (ETSI GS QKD 015 V2.1.1), in the RFC 7951 JSON
encoding; the JSON Schema derived from it (``qtopo/schemas/etsi-qkd-sdn-node.schema.json``, written by
``tools/derive_etsi_schema.py``) names the YANG files it was derived from. See ``docs/standards.md``.
"""
from __future__ import annotations

import functools
import json
import math
import uuid
from pathlib import Path

import pandas as pd

from .errors import ProblemCollector

SCHEMA_PATH = Path(__file__).parent / "schemas" / "etsi-qkd-sdn-node.schema.json"
NODE_KEY = "etsi-qkd-sdn-node:qkd_node"
TYPES = "etsi-qkd-node-types"
EXT = "qtopo-plan"
TOPOLOGY_FORMAT = "qtopo-etsi-topology/1"
#: UUID v5 namespace of qtopo's ETSI ids (uuid5(NAMESPACE_URL, "urn:qtopo:etsi-export")).
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:qtopo:etsi-export")
UINT32_MAX = 2**32 - 1
SPECIFICATIONS = {
    "node_model": "ETSI GS QKD 015 V2.1.1 (2022-04), YANG module etsi-qkd-sdn-node revision 2022-01-30",
    "encoding": "IETF RFC 7951 (JSON encoding of YANG data)",
    "topology": "qtopo collection of GS QKD 015 node documents, shaped after GS QKD 018 V1.1.1 (its YANG module "
                "etsi-qkd-sdn-topology could not be found to derive a schema from, so this level is not validated; "
                "docs/standards.md lists what was searched)",
    "key_relay": "ITU-T Y.3800 (2019), Y.3802 (2020), Y.3803 (2020)",
}
ROLES = {"site": "endpoint", "trusted": "trusted-node", "relay": "untrusted-relay", "repeater": "repeater"}


def node_uuid(node_id: str) -> str:
    """``qkdn_id`` of a plan node (UUID v5 of its id: stable across exports)."""
    return str(uuid.uuid5(ID_NAMESPACE, f"qkdn/{node_id}"))


def derived_uuid(kind: str, *parts) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "/".join([kind, *map(str, parts)])))


def identity(name: str) -> str:
    return f"{TYPES}:{name}"


def uint32(x: float, up: bool = False) -> int:
    """``x`` (bit/s) as a YANG uint32: rounded up (a reservation) or down (a rate), ignoring solver noise of
    1e-9 relative, clipped to the type's range."""
    tol = 1e-9 * max(1.0, abs(x))
    v = math.ceil(x - tol) if up else math.floor(x + tol)
    return int(min(max(v, 0), UINT32_MAX))


def technology(protocol: str) -> str:
    """GS QKD 015 ``qkd-technology-types``: continuous-variable or discrete-variable QKD."""
    return identity("CV-QKD" if protocol.startswith("cv") else "DV-QKD")


# ------------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """The bundled JSON Schema derived from the YANG modules (see its ``x-provenance``)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(schema(), format_checker=None)


def _keys_unique(obj, sch, path, out) -> None:
    """YANG list keys are unique (JSON Schema cannot say so); recurse through the schema."""
    if isinstance(obj, dict) and sch.get("type") == "object":
        for k, v in obj.items():
            if k in sch.get("properties", {}):
                _keys_unique(v, sch["properties"][k], f"{path}/{k}", out)
    elif isinstance(obj, list) and sch.get("type") == "array" and isinstance(sch.get("items"), dict):
        key = sch.get("x-yang-key")
        if key:
            seen = {}
            for i, it in enumerate(obj):
                if isinstance(it, dict):
                    kv = tuple(json.dumps(it.get(k)) for k in key)
                    if kv in seen:
                        out.append(f"{path}[{i}]: duplicate list key {dict(zip(key, kv))} (also at [{seen[kv]}])")
                    seen[kv] = i
        for i, it in enumerate(obj):
            _keys_unique(it, sch["items"], f"{path}[{i}]", out)


def validate_node_document(doc) -> list[str]:
    """Problems of one ``etsi-qkd-sdn-node`` document: schema, unique list keys, interface references."""
    out = [f"{'/'.join(map(str, e.absolute_path)) or '(document)'}: {e.message}"
           for e in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
    if out:
        return out
    _keys_unique(doc, schema(), "", out)
    body = doc[NODE_KEY]
    ifs = {i["qkdi_id"] for i in body.get("qkd_interfaces", {}).get("qkd_interface", [])}
    for j, L in enumerate(body.get("qkd_links", {}).get("qkd_link", [])):
        loc = L.get("qkdl_local", {})
        if loc.get("qkdi_id") is not None and loc["qkdi_id"] not in ifs:
            out.append(f"qkd_links/qkd_link[{j}]: qkdl_local/qkdi_id {loc['qkdi_id']} is not an interface of "
                       "this node")
        if loc.get("qkdn_id") not in (None, body["qkdn_id"]) and L.get("qkdl_type") == identity("PHYS"):
            out.append(f"qkd_links/qkd_link[{j}]: a physical link's qkdl_local/qkdn_id must be this node")
    return out


def validate_topology(topo) -> list[str]:
    """Problems of a topology document: every node document, and the two ends of every physical link."""
    out = []
    if not isinstance(topo, dict) or not isinstance(topo.get(f"{EXT}:topology"), dict):
        return [f"not a qtopo ETSI topology document (no '{EXT}:topology' object)"]
    nodes = topo[f"{EXT}:topology"].get("qkd_nodes")
    if not isinstance(nodes, list):
        return [f"'{EXT}:topology' has no 'qkd_nodes' list"]
    for i, doc in enumerate(nodes):
        out += [f"qkd_nodes[{i}]/{p}" for p in validate_node_document(doc)]
    if out:
        return out
    ends: dict = {}
    for doc in nodes:
        b = doc[NODE_KEY]
        for L in b.get("qkd_links", {}).get("qkd_link", []):
            if L.get("qkdl_type") == identity("PHYS"):
                ends.setdefault(L["qkdl_id"], []).append(
                    ((L["qkdl_local"].get("qkdn_id"), L["qkdl_local"].get("qkdi_id")),
                     (L["qkdl_remote"].get("qkdn_id"), L["qkdl_remote"].get("qkdi_id"))))
    for lid, e in ends.items():
        if len(e) == 2 and (e[0][0] != e[1][1] or e[0][1] != e[1][0]):
            out.append(f"physical link {lid}: its two ends disagree on which interfaces it joins")
        elif len(e) > 2:
            out.append(f"physical link {lid}: listed by {len(e)} nodes (a link has two ends)")
    return out


# ------------------------------------------------------------------------------------------------------
# import: a topology document as a brownfield network
# ------------------------------------------------------------------------------------------------------
def read_etsi_topology(path) -> dict:
    """Read a topology document (``topology.json``), or a folder of node documents (``nodes/*.json``)."""
    p = Path(path)
    col = ProblemCollector(f"cannot read ETSI topology {p}")
    if p.is_dir():
        files = sorted((p / "nodes").glob("*.json")) if (p / "nodes").is_dir() else sorted(p.glob("*.json"))
        if (p / "topology.json").is_file():
            files = [p / "topology.json"]
    else:
        files = [p]
    docs = []
    for f in files:
        try:
            docs.append((f, json.loads(f.read_text(encoding="utf-8"))))
        except FileNotFoundError:
            col.add(str(f), "file does not exist", "check the path (inputs.existing_links)")
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            col.add(str(f), f"not valid JSON ({e})", "export the topology again")
    col.raise_if_any()
    if len(docs) == 1 and isinstance(docs[0][1], dict) and f"{EXT}:topology" in docs[0][1]:
        topo = docs[0][1]
    else:
        bad = [str(f) for f, d in docs if not (isinstance(d, dict) and NODE_KEY in d)]
        for b in bad:
            col.add(b, f"neither a topology document ('{EXT}:topology') nor a node document ('{NODE_KEY}')",
                    "give topology.json or a folder of etsi-qkd-sdn-node documents")
        if not docs:
            col.add(str(p), "holds no JSON documents", "give topology.json or a folder of node documents")
        col.raise_if_any()
        topo = {f"{EXT}:topology": {"format": TOPOLOGY_FORMAT, "qkd_nodes": [d for _, d in docs]}}
    for q in validate_topology(topo):
        col.add(str(p), q, "fix the document so that it follows etsi-qkd-sdn-node (GS QKD 015 V2.1.1)")
    col.raise_if_any()
    return topo


def existing_links_from_etsi(path, devices=None) -> pd.DataFrame:
    """Installed device pairs of an ETSI topology, as the brownfield table ``from,to,device,pairs``.

    Each physical key-association link (``qkdl_type`` PHYS) is one installed device pair between the nodes'
    ``qkdn_location_id`` (their ``qkdn_id`` when a node has no location id); its device type is the scenario
    device named by the interface's ``qkdi_model`` (qtopo exports write the scenario's device name there).

    Parameters
    ----------
    devices : iterable of str, optional
        The scenario's device names: a ``qkdi_model`` that names none of them is reported.
    """
    topo = read_etsi_topology(path)
    col = ProblemCollector(f"cannot use ETSI topology {path} as existing links")
    name_of, model_of = {}, {}
    for doc in topo[f"{EXT}:topology"]["qkd_nodes"]:
        b = doc[NODE_KEY]
        name_of[b["qkdn_id"]] = b.get("qkdn_location_id") or b["qkdn_id"]
        for i in b.get("qkd_interfaces", {}).get("qkd_interface", []):
            model_of[(b["qkdn_id"], i["qkdi_id"])] = i.get("qkdi_model")
    pairs: dict = {}
    seen = set()
    for doc in topo[f"{EXT}:topology"]["qkd_nodes"]:
        b = doc[NODE_KEY]
        for L in b.get("qkd_links", {}).get("qkd_link", []):
            if L.get("qkdl_type") != identity("PHYS") or L["qkdl_id"] in seen:
                continue
            seen.add(L["qkdl_id"])
            a, z = L["qkdl_local"].get("qkdn_id"), L["qkdl_remote"].get("qkdn_id")
            where = f"{path}: node {name_of.get(b['qkdn_id'])}, link {L['qkdl_id']}"
            if z not in name_of:
                col.add(where, f"remote node {z} is not in the topology", "export the whole network")
                continue
            model = model_of.get((b["qkdn_id"], L["qkdl_local"].get("qkdi_id")))
            if not model:
                col.add(where, "its local interface has no qkdi_model, so the device type is unknown",
                        "set qkdi_model to the scenario's device name")
                continue
            if devices is not None and model not in set(devices):
                col.add(where, f"device {model!r} (qkdi_model) is not a device of the scenario",
                        f"use one of {', '.join(sorted(devices))} or add it under [devices]")
                continue
            u, v = sorted((name_of[a], name_of[z]))
            pairs[(u, v, model)] = pairs.get((u, v, model), 0) + 1
    col.raise_if_any()
    return pd.DataFrame([{"from": u, "to": v, "device": m, "pairs": n} for (u, v, m), n in sorted(pairs.items())],
                        columns=["from", "to", "device", "pairs"])
