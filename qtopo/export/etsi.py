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

import re
from pathlib import Path

from ..etsi import (EXT, NODE_KEY, ROLES, SPECIFICATIONS, TOPOLOGY_FORMAT, identity, technology, uint32, derived_uuid,
                    node_uuid, validate_topology)
from ._plan import PlanView, plan_view

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
        # per device type of the plan: the quantum channel's wavelength, null where the scenario does not state it
        "device_wavelength_nm": dict(sorted((view.wavelength_nm or {}).items())),
        "qkd_nodes": [nodes[k] for k in sorted(nodes)],
    }}


def _node_documents(view: PlanView) -> dict:
    """One ETSI GS QKD 015 node document per plan node: its interfaces, physical and virtual (key-relay) links."""
    roles: dict = {}
    info: dict = {}
    for n in view.nodes:
        roles.setdefault(n.id, []).append(ROLES.get(n.role, n.role))
        info.setdefault(n.id, n)
    relay_nodes = {x for d in view.demands for r in d.routes for x in r.nodes[1:-1]}
    ifaces: dict = {nid: [] for nid in roles}
    links: dict = {nid: [] for nid in roles}
    for L in sorted(view.links, key=lambda L: L.id):
        wl = (view.wavelength_nm or {}).get(L.device)  # None: not known to the planner (docs/standards.md)
        iface_of = _interfaces(L, ifaces, wl)
        _phys_links(L, iface_of, links, wl)
    for d in view.demands:
        _virt_links(d, links)
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


def _interfaces(L, ifaces: dict, wl: int | None = None) -> dict:
    """A QKD interface at both ends of each device pair of link ``L`` (appended to ``ifaces[node]``); returns
    ``(pair, node) -> interface id``. MDI / twin field: both ends send, the untrusted relay measures. ``wl``:
    the device's wavelength (nm) when the scenario states it."""
    two_way_tx = L.relay is not None
    iface_of = {}
    for k in range(L.device_pairs):
        for end in (L.u, L.v):
            i = len(ifaces[end]) + 1
            iface_of[(k, end)] = i
            role = "TRANSMITTER" if (end == L.u or two_way_tx) else "RECEIVER"
            caps = {"role_support": identity(role)}
            if wl is not None:
                caps["wavelength_range"] = str(wl)
            ifaces[end].append({
                "qkdi_id": i, "qkdi_model": L.device, "qkdi_type": technology(L.protocol),
                "qkdi_capabilities": caps,
                f"{EXT}:interface": {"link": L.id, "pair": k, "device": L.device, "protocol": L.protocol,
                                     "wavelength_nm": wl, "existing": k < L.existing_pairs},
            })
    return iface_of


def _phys_links(L, iface_of: dict, links: dict, wl: int | None = None) -> None:
    """A physical QKD link (``PHYS``) per device pair of ``L``, in the documents of both its ends."""
    two_way_tx = L.relay is not None
    for k in range(L.device_pairs):
        lid = derived_uuid("qkdl/phys", L.id, k)
        # members of our extension are qtopo's names (one spelling: fibre); the members of the ETSI YANG model
        # (qkdl_*, phys_*, qkdi_*) keep the standard's names as written
        ext = {"link": L.id, "pair": k, "device": L.device, "protocol": L.protocol,
               "length_km": L.length_km, "loss_db": L.loss_db, "wavelength_nm": wl,
               "fibre_path": list(L.fibre_path), "existing": k < L.existing_pairs}
        if L.relay is not None:
            ext["untrusted_relay"] = L.relay
        if L.repeaters:
            ext["repeaters"] = list(L.repeaters)
        for here, there in ((L.u, L.v), (L.v, L.u)):
            role = "TRANSMITTER" if (here == L.u or two_way_tx) else "RECEIVER"
            links[here].append({
                "qkdl_id": lid,
                "qkdl_local": {"qkdn_id": node_uuid(here), "qkdi_id": iface_of[(k, here)]},
                "qkdl_remote": {"qkdn_id": node_uuid(there), "qkdi_id": iface_of[(k, there)]},
                "qkdl_type": identity("PHYS"),
                **({"phys_wavelength": str(wl)} if wl is not None else {}),
                "phys_channel_att": f"{L.loss_db:.3f}",
                "phys_qkd_role": identity(role),
                "qkdl_performance": {"expected_consumption": uint32(L.load_bps / L.device_pairs, up=True),
                                     "skr": uint32(L.rate_bps_per_pair)},
                f"{EXT}:link": ext,
            })


def _virt_links(d, links: dict) -> None:
    """A virtual QKD link (``VIRT``, key relay) per route of demand ``d``, in the document of every node on it."""
    for k, r in enumerate(d.routes):
        lid = derived_uuid("qkdl/virt", d.source, d.target, k)
        hops = list(r.nodes)
        for i, here in enumerate(hops):
            far = hops[-1] if i < len(hops) - 1 else hops[0]
            near = hops[0] if i < len(hops) - 1 else hops[-1]
            e = {"qkdl_id": lid, "qkdl_local": {"qkdn_id": node_uuid(near)},
                 "qkdl_remote": {"qkdn_id": node_uuid(far)}, "qkdl_type": identity("VIRT")}
            if i > 0:
                e["virt_prev_hop"] = node_uuid(hops[i - 1])
            if i < len(hops) - 1:
                e["virt_next_hop"] = [node_uuid(hops[i + 1])]
            e["virt_bandwidth"] = uint32(r.rate_bps, up=True)
            e[f"{EXT}:key_relay"] = {"demand": f"{d.source}->{d.target}", "route": k, "hops": hops,
                                     "position": i, "rate_bps": r.rate_bps}
            links[here].append(e)


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


