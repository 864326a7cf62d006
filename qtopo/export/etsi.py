"""A plan as ETSI GS QKD 015 ``etsi-qkd-sdn-node`` instance documents, and back as a brownfield network.

What is written (RFC 7951 JSON encoding of the YANG data tree; field names and types follow the module
``etsi-qkd-sdn-node``, revision 2022-01-30, ETSI GS QKD 015 V2.1.1):

- one document per QKD node, ``{"etsi-qkd-sdn-node:qkd_node": {...}}``: its QKD interfaces (one per device
  pair end: a QKD module in the node's secure location), its physical key-association links (``qkdl_type``
  PHYS: one per device pair, with the expected attenuation ``phys_channel_att`` in dB and the expected secret
  key rate ``qkdl_performance/skr``) and the virtual key-association links it takes part in (``VIRT``: one per
  key-relay route of a demand, with ``virt_prev_hop`` / ``virt_next_hop`` and the reserved ``virt_bandwidth``);
- ``topology.json``: the network-wide collection of those node documents with the plan's metadata.

What the YANG module has no field for (the node's role in the plan, device and protocol names, fibre paths,
lengths, coordinates, brownfield flags, untrusted relays and repeaters) is carried in members of a module
named ``qtopo-plan`` (RFC 7951 section 4 encodes augmentations as ``module:member``), so the ETSI members stay
exactly those of the YANG module and a consumer can ignore ours. Fields a planner cannot know are left out:
see ``docs/standards.md``.

IDs: ``qkdn_id`` and ``qkdl_id`` are YANG ``uuid``s, derived with UUID version 5 from the plan's node and link
ids, so the same node gets the same ``qkdn_id`` in every export; ``qkdn_location_id`` holds the plan's node id.
"""
from __future__ import annotations

import functools
import json
import math
import re
import uuid
from pathlib import Path

import pandas as pd

from ..errors import InputError, ProblemCollector
from ._plan import PlanView, plan_view

SCHEMA_PATH = Path(__file__).with_name("schema") / "etsi-qkd-sdn-node.schema.json"
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
    "topology": "qtopo collection of GS QKD 015 node documents (the GS QKD 018 V1.1.1 YANG module "
                "etsi-qkd-sdn-topology was not available to derive from; see docs/standards.md)",
    "key_relay": "ITU-T Y.3800 (2019), Y.3802 (2020), Y.3803 (2020)",
}
ROLES = {"site": "endpoint", "trusted": "trusted-node", "relay": "untrusted-relay", "repeater": "repeater"}


def node_uuid(node_id: str) -> str:
    """``qkdn_id`` of a plan node (UUID v5 of its id: stable across exports)."""
    return str(uuid.uuid5(ID_NAMESPACE, f"qkdn/{node_id}"))


def _uuid(kind: str, *parts) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "/".join([kind, *map(str, parts)])))


def _ident(name: str) -> str:
    return f"{TYPES}:{name}"


def _u32(x: float, up: bool = False) -> int:
    v = math.ceil(x - 1e-9) if up else math.floor(x + 1e-9)
    return int(min(max(v, 0), UINT32_MAX))


def _technology(protocol: str) -> str:
    """GS QKD 015 ``qkd-technology-types``: continuous-variable or discrete-variable QKD."""
    return _ident("CV-QKD" if protocol.startswith("cv") else "DV-QKD")


# ------------------------------------------------------------------------------------------------------
# export
# ------------------------------------------------------------------------------------------------------
def etsi_topology(plan) -> dict:
    """The ETSI-shaped topology document of ``plan`` (a Plan, plan dict, or path to plan.json)."""
    view = plan_view(plan)
    nodes = _node_documents(view)
    return {f"{EXT}:topology": {
        "format": TOPOLOGY_FORMAT, "specifications": SPECIFICATIONS, "scenario": view.scenario_name,
        "plan_status": view.status, "objective_cost_eur": view.objective_cost,
        "qkd_nodes": [nodes[k] for k in sorted(nodes)],
    }}


def _node_documents(view: PlanView) -> dict:
    roles: dict = {}
    info: dict = {}
    for n in view.nodes:
        roles.setdefault(n.id, []).append(ROLES.get(n.role, n.role))
        info.setdefault(n.id, n)
    relay_nodes = {x for d in view.demands for r in d.routes for x in r.nodes[1:-1]}
    ifaces: dict = {nid: [] for nid in roles}
    links: dict = {nid: [] for nid in roles}
    iface_of: dict = {}
    for L in sorted(view.links, key=lambda L: L.id):
        two_way_tx = L.relay is not None  # MDI / twin field: both ends send, the untrusted relay measures
        for k in range(L.device_pairs):
            for end in (L.u, L.v):
                i = len(ifaces[end]) + 1
                iface_of[(L.id, k, end)] = i
                role = "TRANSMITTER" if (end == L.u or two_way_tx) else "RECEIVER"
                ifaces[end].append({
                    "qkdi_id": i, "qkdi_model": L.device, "qkdi_type": _technology(L.protocol),
                    "qkdi_capabilities": {"role_support": _ident(role)},
                    f"{EXT}:interface": {"link": L.id, "pair": k, "device": L.device, "protocol": L.protocol,
                                         "existing": k < L.existing_pairs},
                })
        for k in range(L.device_pairs):
            lid = _uuid("qkdl/phys", L.id, k)
            ext = {"link": L.id, "pair": k, "device": L.device, "protocol": L.protocol,
                   "length_km": L.length_km, "loss_db": L.loss_db, "fiber_path": list(L.fiber_path),
                   "existing": k < L.existing_pairs}
            if L.relay is not None:
                ext["untrusted_relay"] = L.relay
            if L.repeaters:
                ext["repeaters"] = list(L.repeaters)
            for here, there in ((L.u, L.v), (L.v, L.u)):
                role = "TRANSMITTER" if (here == L.u or two_way_tx) else "RECEIVER"
                links[here].append({
                    "qkdl_id": lid,
                    "qkdl_local": {"qkdn_id": node_uuid(here), "qkdi_id": iface_of[(L.id, k, here)]},
                    "qkdl_remote": {"qkdn_id": node_uuid(there), "qkdi_id": iface_of[(L.id, k, there)]},
                    "qkdl_type": _ident("PHYS"),
                    "phys_channel_att": f"{L.loss_db:.3f}",
                    "phys_qkd_role": _ident(role),
                    "qkdl_performance": {"expected_consumption": _u32(L.load_bps / L.device_pairs, up=True),
                                         "skr": _u32(L.rate_bps_per_pair)},
                    f"{EXT}:link": ext,
                })
    for d in view.demands:
        for k, r in enumerate(d.routes):
            lid = _uuid("qkdl/virt", d.source, d.target, k)
            hops = list(r.nodes)
            for i, here in enumerate(hops):
                far = hops[-1] if i < len(hops) - 1 else hops[0]
                near = hops[0] if i < len(hops) - 1 else hops[-1]
                e = {"qkdl_id": lid, "qkdl_local": {"qkdn_id": node_uuid(near)},
                     "qkdl_remote": {"qkdn_id": node_uuid(far)}, "qkdl_type": _ident("VIRT")}
                if i > 0:
                    e["virt_prev_hop"] = node_uuid(hops[i - 1])
                if i < len(hops) - 1:
                    e["virt_next_hop"] = [node_uuid(hops[i + 1])]
                e["virt_bandwidth"] = _u32(r.rate_bps, up=True)
                e[f"{EXT}:key_relay"] = {"demand": f"{d.source}->{d.target}", "route": k, "hops": hops,
                                         "position": i, "rate_bps": r.rate_bps}
                links[here].append(e)
    out = {}
    for nid in roles:
        n = info[nid]
        body = {"qkdn_id": node_uuid(nid), "qkdn_location_id": nid}
        if {"endpoint", "trusted-node"} & set(roles[nid]):
            body["qkdn_capabilities"] = {"key_relay_mode_enable": nid in relay_nodes}
        if ifaces[nid]:
            body["qkd_interfaces"] = {"qkd_interface": ifaces[nid]}
        if links[nid]:
            body["qkd_links"] = {"qkd_link": links[nid]}
        body[f"{EXT}:node"] = {"id": nid, "roles": roles[nid], "site_kind": n.site_kind, "lon": n.lon,
                               "lat": n.lat, "existing": n.existing}
        out[nid] = {NODE_KEY: body}
    return out


def node_file_names(topology: dict) -> dict:
    """File name (``nodes/<id>.json``, made filesystem-safe and unique) of each node document."""
    names, used = {}, set()
    for doc in topology[f"{EXT}:topology"]["qkd_nodes"]:
        nid = doc[NODE_KEY]["qkdn_location_id"]
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", nid).strip("._") or "node"
        name = base
        if name.lower() in used:
            name = f"{base}-{doc[NODE_KEY]['qkdn_id'][:8]}"
        used.add(name.lower())
        names[nid] = f"nodes/{name}.json"
    return names


def write_etsi(plan, out_dir) -> dict:
    """Write ``topology.json`` and ``nodes/<id>.json`` for ``plan`` into ``out_dir`` (atomically).

    Every document is validated against the bundled schema first; a document that does not validate is a
    bug in qtopo and nothing is written.

    Returns
    -------
    dict
        The topology document.
    """
    from ..atomic import atomic_output_dir, write_json_atomic

    topo = etsi_topology(plan)
    problems = validate_topology(topo)
    if problems:
        raise RuntimeError("the ETSI export does not validate against its schema (a bug in qtopo):\n"
                           + "\n".join(problems[:20]))
    names = node_file_names(topo)
    with atomic_output_dir(out_dir) as tmp:
        write_json_atomic(Path(tmp) / "topology.json", topo)
        for doc in topo[f"{EXT}:topology"]["qkd_nodes"]:
            write_json_atomic(Path(tmp) / names[doc[NODE_KEY]["qkdn_location_id"]], doc)
    return topo


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
        if loc.get("qkdn_id") not in (None, body["qkdn_id"]) and L.get("qkdl_type") == _ident("PHYS"):
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
            if L.get("qkdl_type") == _ident("PHYS"):
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
            if L.get("qkdl_type") != _ident("PHYS") or L["qkdl_id"] in seen:
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
