"""Plans: extraction from a solved model, the ``plan.json`` schema, GeoDataFrames and GeoPackage output.

A :class:`Plan` is plain data (a dict that round-trips through JSON) plus views as GeoDataFrames. Everything a
reviewer needs to check the plan is in it: opened nodes, links with their fibre paths and devices, every
demand's routes and the nodes that hold its key, the inputs' hashes, versions, solver status, gap and timings.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .geo import WGS84

log = logging.getLogger(__name__)

PLAN_SCHEMA_VERSION = 1
FLOW_EPS = 1e-6  # bit/s below which flows are noise


class Plan:
    """A network plan.

    Parameters
    ----------
    data : dict
        The ``plan.json`` content.
    """

    def __init__(self, data: dict):
        self.data = data

    # -------------------------------------------------------------- dict-like
    def __getitem__(self, k):
        return self.data[k]

    def get(self, k, default=None):
        return self.data.get(k, default)

    @property
    def status(self) -> str:
        return self.data["status"]

    @property
    def has_plan(self) -> bool:
        return self.data["status"] in ("optimal", "feasible")

    def __repr__(self) -> str:
        d = self.data
        cost = d.get("objective_cost")
        cost_s = f"{cost:,.0f} EUR" if isinstance(cost, (int, float)) else "-"
        return (f"<Plan {d.get('scenario', {}).get('name', '')!r} status={d['status']} cost={cost_s} "
                f"nodes={len(d.get('nodes', []))} links={len(d.get('links', []))} demands={len(d.get('demands', []))}>")

    # -------------------------------------------------------------- json
    def to_json(self, path) -> None:
        from .io import write_json_atomic

        write_json_atomic(path, self.data)

    @classmethod
    def from_json(cls, path) -> "Plan":
        from .errors import InputError

        p = Path(path)
        if p.is_dir():
            p = p / "plan.json"
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError([f"{p}: plan file does not exist"], "cannot read plan") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError([f"{p}: not a valid plan.json ({e})"], "cannot read plan") from None
        if not isinstance(data, dict) or "status" not in data:
            raise InputError([f"{p}: not a qtopo plan (no 'status')"], "cannot read plan")
        plan = cls(data)
        plan.path = p
        return plan

    # -------------------------------------------------------------- geo views
    def nodes_gdf(self) -> gpd.GeoDataFrame:
        df = pd.DataFrame(self.data.get("nodes", []))
        if df.empty:
            return gpd.GeoDataFrame({"id": []}, geometry=[], crs=WGS84)
        return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=WGS84)

    def links_gdf(self) -> gpd.GeoDataFrame:
        links = self.data.get("links", [])
        coords = self.data.get("fibre_coords", {})
        rows, geoms = [], []
        for L in links:
            r = {k: v for k, v in L.items() if not isinstance(v, (list, dict))}
            r["fiber_path"] = " ".join(L["fiber_path"])
            rows.append(r)
            geoms.append(shapely.LineString([coords[n] for n in L["fiber_path"]]) if coords else None)
        if not rows:
            return gpd.GeoDataFrame({"id": []}, geometry=[], crs=WGS84)
        return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=WGS84)

    def routes_gdf(self) -> gpd.GeoDataFrame:
        coords = self.data.get("fibre_coords", {})
        links = {(L["from"], L["to"]): L for L in self.data.get("links", [])}
        rows, geoms = [], []
        for d in self.data.get("demands", []):
            for k, r in enumerate(d.get("routes", [])):
                pts = []
                for a, b in zip(r["nodes"][:-1], r["nodes"][1:]):
                    L = links.get((a, b)) or links.get((b, a))
                    fp = L["fiber_path"] if L else [a, b]
                    if L and L["from"] != a:
                        fp = fp[::-1]
                    seg = [coords[n] for n in fp]
                    pts.extend(seg if not pts else seg[1:])
                rows.append({"source": d["source"], "target": d["target"], "route": k, "rate_bps": r["rate_bps"],
                             "nodes": " ".join(r["nodes"]), "trusted_hops": len(r["nodes"]) - 2})
                geoms.append(shapely.LineString(pts) if len(pts) >= 2 else None)
        if not rows:
            return gpd.GeoDataFrame({"source": []}, geometry=[], crs=WGS84)
        return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=WGS84)

    def write_gpkg(self, path, sites: gpd.GeoDataFrame | None = None, fibre: gpd.GeoDataFrame | None = None) -> None:
        """Write layers ``sites``, ``fibre``, ``nodes``, ``links``, ``demand_routes`` to one GeoPackage."""
        path = Path(path)
        layers = []
        if sites is not None:
            layers.append(("sites", sites))
        if fibre is not None:
            layers.append(("fibre", fibre))
        layers += [("nodes", self.nodes_gdf()), ("links", self.links_gdf()), ("demand_routes", self.routes_gdf())]
        for name, g in layers:
            if len(g) == 0:
                continue
            g = g.copy()
            for c in g.columns:
                if c != "geometry" and g[c].map(lambda x: isinstance(x, (list, tuple, dict))).any():
                    g[c] = g[c].map(lambda x: json.dumps(x) if isinstance(x, (list, tuple, dict)) else x)
            g.to_file(path, layer=name, driver="GPKG", engine="pyogrio")

    def explore(self, **kw):
        """An interactive folium map of the plan (for notebooks)."""
        from .viz import plan_map_folium

        return plan_map_folium(self, **kw)


# ------------------------------------------------------------------------------------------------------
# extraction
# ------------------------------------------------------------------------------------------------------
def _decompose(flows: dict, source, sinks: dict) -> dict:
    """Decompose a single-source flow into paths to each sink.

    Parameters
    ----------
    flows : dict (tail, head) -> bit/s
    sinks : dict sink -> demand (bit/s)

    Returns
    -------
    dict sink -> list of (node list, rate)
    """
    import networkx as nx

    f = {k: v for k, v in flows.items() if v > FLOW_EPS}
    out = {t: [] for t in sinks}
    for t, need in sinks.items():
        remaining = need
        while remaining > FLOW_EPS * max(1.0, need) * 1e-3:
            G = nx.DiGraph()
            G.add_edges_from(k for k, v in f.items() if v > FLOW_EPS)
            try:
                p = nx.shortest_path(G, source, t)
            except (nx.NetworkXNoPath, nx.NodeNotFound):
                break
            amt = min([remaining] + [f[(a, b)] for a, b in zip(p[:-1], p[1:])])
            for a, b in zip(p[:-1], p[1:]):
                f[(a, b)] -= amt
            out[t].append((p, amt))
            remaining -= amt
    return out


def extract_plan(model, inputs, result, scenario, extra: dict | None = None) -> Plan:
    """Read the solved model into a :class:`Plan` (status, nodes, links, demands with routes)."""
    from .solve import Status

    data = _plan_header(inputs, result, scenario)
    if not result.status.has_plan:
        data.update(extra or {})
        return Plan(data)
    q = model._qidx
    y = {v: round(model.y[v].value or 0.0) for v in q.open_nodes}
    n_val = np.array([round(model.n[i].value or 0.0) for i in range(len(inputs.hop_devices))])
    f_val = np.array([max(model.f[j].value or 0.0, 0.0) for j in range(len(q.arc_hop))])
    return assemble_plan(data, inputs, scenario, y_open={q.node_ids[v] for v, val in y.items() if val >= 1},
                         pairs=n_val, arc_flow=(q.arc_com, q.arc_tail, q.arc_head, f_val), commodities=q.commodities,
                         extra=extra)


def _plan_header(inputs, result, scenario) -> dict:
    return {
        "schema_version": PLAN_SCHEMA_VERSION,
        "status": result.status.value,
        "termination": result.termination,
        "objective_cost": result.objective,
        "best_bound": result.bound,
        "mip_gap": result.gap,
        "scenario": {"name": scenario.name, "path": str(scenario.path) if scenario.path else None},
        "solver": {"name": result.solver, "version": result.solver_version, "options": result.options,
                   "sizes": result.sizes, "message": result.message},
        "diagnosis": list(inputs.diagnosis),
        "stats": dict(inputs.stats),
    }


def assemble_plan(data: dict, inputs, scenario, y_open: set, pairs: np.ndarray, arc_flow, commodities,
                  extra: dict | None = None) -> Plan:
    """Build the plan body from decision values (also used by the heuristic)."""
    nodes_df = inputs.nodes
    hops = inputs.hops
    hd = inputs.hop_devices
    node_ids = nodes_df.index.to_numpy()
    # links
    used = np.flatnonzero(pairs > 0)
    links = []
    for i in used:
        r = hd.iloc[i]
        h = hops.iloc[int(r.hop)]
        npair = int(pairs[i])
        links.append({
            "id": f"{h.u}--{h.v}:{r.device}", "from": h.u, "to": h.v, "fiber_path": list(h.path),
            "length_km": float(h.length_km), "loss_db": float(h.loss_db), "protocol": r.protocol,
            "device": r.device, "device_pairs": npair, "rate_bps_per_pair": float(r.rate_bps_per_pair),
            "capacity_bps": float(npair * r.rate_bps_per_pair), "cost": float(npair * r.cost_per_pair_eur),
            "load_bps": 0.0,
        })
    # routes per demand from commodity flows
    com, tail, head, fv = arc_flow
    d = inputs.demands
    demands_out = []
    hop_load = {}
    cidx = {c: i for i, c in enumerate(commodities)}
    for c in commodities:
        k = cidx[c]
        m = (com == k) & (fv > FLOW_EPS)
        flows = {}
        for a, b, v in zip(tail[m], head[m], fv[m]):
            flows[(node_ids[a], node_ids[b])] = flows.get((node_ids[a], node_ids[b]), 0.0) + float(v)
        # cancel opposite flows
        for (a, b) in list(flows):
            if (b, a) in flows and a < b:
                x = min(flows[(a, b)], flows[(b, a)])
                flows[(a, b)] -= x
                flows[(b, a)] -= x
        rows = d[d["commodity"] == c]
        src = rows["source_node"].iloc[0]
        sinks = {}
        for r in rows.itertuples():
            other = r.target_node if r.source_node == src else r.source_node
            sinks[other] = sinks.get(other, 0.0) + r.target_bps
        paths = _decompose(flows, src, sinks)
        for r in rows.itertuples():
            other = r.target_node if r.source_node == src else r.source_node
            routes = [{"nodes": [str(x) for x in p], "rate_bps": float(a)} for p, a in paths.get(other, [])]
            if r.source_node != src:
                routes = [{"nodes": rt["nodes"][::-1], "rate_bps": rt["rate_bps"]} for rt in routes]
            for rt in routes:
                for a, b in zip(rt["nodes"][:-1], rt["nodes"][1:]):
                    key = (min(a, b), max(a, b))
                    hop_load[key] = hop_load.get(key, 0.0) + rt["rate_bps"]
            trusted = sorted({x for rt in routes for x in rt["nodes"]})
            intermediate = sorted({x for rt in routes for x in rt["nodes"][1:-1]})
            demands_out.append({
                "source": r.source, "target": r.target, "source_node": r.source_node, "target_node": r.target_node,
                "target_bps": float(r.target_bps), "delivered_bps": float(sum(rt["rate_bps"] for rt in routes)),
                "routes": routes, "trusted_nodes": trusted, "intermediate_trusted_nodes": intermediate,
            })
    # share hop load among device types of a hop in proportion to capacity
    cap_of_hop = {}
    for L in links:
        key = (min(L["from"], L["to"]), max(L["from"], L["to"]))
        cap_of_hop[key] = cap_of_hop.get(key, 0.0) + L["capacity_bps"]
    for L in links:
        key = (min(L["from"], L["to"]), max(L["from"], L["to"]))
        L["load_bps"] = hop_load.get(key, 0.0) * L["capacity_bps"] / cap_of_hop[key] if cap_of_hop[key] else 0.0
        L["utilisation"] = L["load_bps"] / L["capacity_bps"] if L["capacity_bps"] else 0.0
    # nodes: terminals + opened, and any node that ends a used link
    term = set(nodes_df.index[nodes_df["terminal"].to_numpy()])
    ends = {L["from"] for L in links} | {L["to"] for L in links}
    open_set = term | set(y_open) | ends
    nodes_out = []
    for nid in nodes_df.index:
        if nid not in open_set:
            continue
        row = nodes_df.loc[nid]
        nodes_out.append({
            "id": str(nid), "kind": "site" if nid in term else "trusted", "site_kind": str(row.kind),
            "lon": float(row.lon), "lat": float(row.lat), "cost": float(row.capex_eur),
            "degree": sum(1 for L in links if nid in (L["from"], L["to"])),
        })
    fibre_nodes = {n for L in links for n in L["fiber_path"]} | open_set
    allnodes = inputs.network.nodes
    coords = {str(n): [float(allnodes.at[n, "lon"]), float(allnodes.at[n, "lat"])] for n in fibre_nodes}
    cost_nodes = sum(nd["cost"] for nd in nodes_out)
    cost_links = sum(L["cost"] for L in links)
    data = dict(data)
    data.update({
        "cost_breakdown": {"nodes_eur": cost_nodes, "devices_and_fibre_eur": cost_links,
                           "device_pairs_eur": float(sum(L["device_pairs"] * _pair_cost(inputs, L["device"]) for L in links)),
                           "total_eur": cost_nodes + cost_links},
        "nodes": nodes_out, "links": links, "demands": demands_out, "fibre_coords": coords,
    })
    data.update(extra or {})
    return Plan(data)


def _pair_cost(inputs, device: str) -> float:
    hd = inputs.hop_devices
    return float(hd.loc[hd["device"] == device, "pair_cost_eur"].iloc[0])
