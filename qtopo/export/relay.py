"""Key-relay tables: what a key-management system needs to configure key relay for a plan.

ITU-T Y.3803 (key management for QKD networks) has the KMS of each trusted node relay keys hop by hop along a
key-relay route, each hop drawing from the key of one QKD link. Per demand the table lists its key-relay
routes, the nodes that hold the key (the two ends and every intermediate trusted node), the rate reserved on
each hop, and whether the routes are node-, link- and fibre-disjoint (recomputed from the plan's links, not
copied from the demand's requirement).
"""
from __future__ import annotations

import itertools

import pandas as pd

from ._plan import PlanView, plan_view

TABLE_FORMAT = "qtopo-relay-table/1"
REFERENCES = {
    "key relay through trusted nodes": "ITU-T Y.3800 (2019) Overview on networks supporting QKD; "
                                       "ITU-T Y.3802 (2020) QKD networks - Functional architecture",
    "key management (KM, KMS)": "ITU-T Y.3803 (2020) QKD networks - Key management",
}


def _route_fibre(view: PlanView, nodes: tuple) -> tuple[set, set]:
    """Fibre segments and fibre nodes a route uses (through the planned links' fibre paths)."""
    segs, fnodes = set(), set()
    for a, b in zip(nodes[:-1], nodes[1:]):
        for L in view.links_between(a, b)[:1]:
            fp = L.fibre_path
            segs |= {tuple(sorted(e)) for e in zip(fp[:-1], fp[1:])}
            fnodes |= set(fp)
    return segs, fnodes


def _disjointness(view: PlanView, d) -> dict:
    ends = {d.source_node, d.target_node}
    shared_nodes, shared_hops, shared_segs = set(), set(), set()
    per = []
    for r in d.routes:
        segs, fnodes = _route_fibre(view, r.nodes)
        hops = {tuple(sorted(h)) for h in zip(r.nodes[:-1], r.nodes[1:])}
        per.append((set(r.nodes) | fnodes, hops, segs))
    for (n1, h1, s1), (n2, h2, s2) in itertools.combinations(per, 2):
        shared_nodes |= (n1 & n2) - ends
        shared_hops |= h1 & h2
        shared_segs |= s1 & s2
    return {"node_disjoint": not shared_nodes, "link_disjoint": not shared_hops and not shared_segs,
            "shared_nodes": sorted(shared_nodes), "shared_hops": [list(h) for h in sorted(shared_hops)],
            "shared_fibre_segments": [list(s) for s in sorted(shared_segs)]}


def relay_table(plan) -> dict:
    """The key-relay table of ``plan`` (a Plan, plan dict, or path) as a JSON-ready dict.

    Returns
    -------
    dict
        ``demands``: per demand its ``routes`` (each with ``nodes``, ``rate_bps``, ``key_holding_nodes`` and
        ``hops`` with ``from``, ``to``, ``reserved_bps`` in bit/s and the planned ``links`` that carry it),
        the demand's ``key_holding_nodes`` and, for more than one route, ``disjointness``.
    """
    view = plan_view(plan)
    out = []
    for d in view.demands:
        routes = []
        for k, r in enumerate(d.routes):
            hops = []
            for i, (a, b) in enumerate(zip(r.nodes[:-1], r.nodes[1:])):
                links = view.links_between(a, b)
                hops.append({"hop": i, "from": a, "to": b, "reserved_bps": r.rate_bps,
                             "links": [L.id for L in links], "devices": [L.device for L in links],
                             "protocols": [L.protocol for L in links]})
            routes.append({"route": k, "nodes": list(r.nodes), "rate_bps": r.rate_bps,
                           "key_holding_nodes": list(r.nodes), "intermediate_trusted_nodes": list(r.nodes[1:-1]),
                           "hops": hops})
        entry = {"demand": f"{d.source}->{d.target}", "source": d.source, "target": d.target,
                 "source_node": d.source_node, "target_node": d.target_node, "target_bps": d.target_bps,
                 "delivered_bps": d.delivered_bps, "k_routes": d.k_routes, "protection": d.protection,
                 "disjoint_required": d.disjoint,
                 "key_holding_nodes": sorted({x for r in d.routes for x in r.nodes}), "routes": routes}
        if len(d.routes) > 1:
            entry["disjointness"] = _disjointness(view, d)
        out.append(entry)
    return {"format": TABLE_FORMAT, "scenario": view.scenario_name, "references": REFERENCES, "demands": out}


CSV_COLUMNS = ["demand", "source", "target", "route", "route_rate_bps", "hop", "from", "to", "reserved_bps",
               "links", "devices", "route_key_holding_nodes", "k_routes", "protection", "node_disjoint",
               "link_disjoint"]


def relay_rows(table: dict) -> pd.DataFrame:
    """One row per demand, route and hop (the CSV form of :func:`relay_table`)."""
    rows = []
    for e in table["demands"]:
        dj = e.get("disjointness", {})
        for r in e["routes"]:
            for h in r["hops"]:
                rows.append({"demand": e["demand"], "source": e["source"], "target": e["target"],
                             "route": r["route"], "route_rate_bps": r["rate_bps"], "hop": h["hop"],
                             "from": h["from"], "to": h["to"], "reserved_bps": h["reserved_bps"],
                             "links": " ".join(h["links"]), "devices": " ".join(h["devices"]),
                             "route_key_holding_nodes": " ".join(r["key_holding_nodes"]),
                             "k_routes": e["k_routes"], "protection": e["protection"] or "",
                             "node_disjoint": dj.get("node_disjoint", ""), "link_disjoint": dj.get("link_disjoint", "")})
    return pd.DataFrame(rows, columns=CSV_COLUMNS)
