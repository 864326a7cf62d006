"""Plans: extraction from a solved model into the typed plan contract, GeoDataFrames and GeoPackage output.

A :class:`~qtopo.contract.Plan` is typed data (dataclasses in :mod:`qtopo.contract`, with a published JSON
Schema) plus views as GeoDataFrames defined here. Everything a reviewer needs to check the plan is in it: opened
nodes, links with their fibre paths and devices, every demand's routes and the nodes that hold its key, the
inputs' hashes, versions, solver status, gap and timings.
"""
from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .contract import (CostBreakdown, DemandResult, Diagnosis, Link, Node, ObjectiveSpec, Plan, Route,
                       ScenarioRef, SolverRecord, set_fields, to_jsonable)
from .geo import WGS84

log = logging.getLogger(__name__)

FLOW_EPS = 1e-6  # bit/s below which flows are noise


def nodes_gdf(plan: Plan) -> gpd.GeoDataFrame:
    """Opened nodes as points."""
    df = pd.DataFrame([to_jsonable(n) for n in plan.nodes])
    if df.empty:
        return gpd.GeoDataFrame({"id": []}, geometry=[], crs=WGS84)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=WGS84)


def links_gdf(plan: Plan) -> gpd.GeoDataFrame:
    """Links as lines along their fibre paths (list columns joined with spaces)."""
    coords = plan.fibre_coords
    rows, geoms = [], []
    for L in plan.links:
        r = {k: v for k, v in to_jsonable(L).items() if not isinstance(v, (list, dict))}
        r["fibre_path"] = " ".join(L.fibre_path)
        r["repeaters"] = " ".join(L.repeaters)
        rows.append(r)
        geoms.append(shapely.LineString([coords[n] for n in L.fibre_path]) if coords else None)
    if not rows:
        return gpd.GeoDataFrame({"id": []}, geometry=[], crs=WGS84)
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=WGS84)


def routes_gdf(plan: Plan) -> gpd.GeoDataFrame:
    """Every route of every demand as a line along its links' fibre paths."""
    coords = plan.fibre_coords
    links = {(L.from_node, L.to_node): L for L in plan.links}
    rows, geoms = [], []
    for d in plan.demands:
        for k, r in enumerate(d.routes):
            pts = []
            for a, b in zip(r.nodes[:-1], r.nodes[1:]):
                L = links.get((a, b)) or links.get((b, a))
                fp = L.fibre_path if L else [a, b]
                if L and L.from_node != a:
                    fp = fp[::-1]
                seg = [coords[n] for n in fp]
                pts.extend(seg if not pts else seg[1:])
            rows.append({"source": d.source, "target": d.target, "route": k, "rate_bps": r.rate_bps,
                         "nodes": " ".join(r.nodes), "trusted_hops": len(r.nodes) - 2})
            geoms.append(shapely.LineString(pts) if len(pts) >= 2 else None)
    if not rows:
        return gpd.GeoDataFrame({"source": []}, geometry=[], crs=WGS84)
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=WGS84)


def layers(plan: Plan, sites: gpd.GeoDataFrame | None = None, fibre: gpd.GeoDataFrame | None = None) -> dict:
    """Non-empty layers ``sites``, ``fibre`` (when given), ``nodes``, ``links``, ``demand_routes``."""
    out = {}
    if sites is not None:
        out["sites"] = sites
    if fibre is not None:
        out["fibre"] = fibre
    out.update({"nodes": nodes_gdf(plan), "links": links_gdf(plan), "demand_routes": routes_gdf(plan)})
    return {k: g for k, g in out.items() if len(g)}


def write_gpkg(plan: Plan, path, sites: gpd.GeoDataFrame | None = None, fibre: gpd.GeoDataFrame | None = None) -> None:
    """Write layers ``sites``, ``fibre``, ``nodes``, ``links``, ``demand_routes`` to one GeoPackage."""
    from .io import write_vector

    for name, g in layers(plan, sites, fibre).items():
        write_vector(g, Path(path), layer=name)


def write_layers(plan: Plan, folder, fmt: str = "parquet", sites: gpd.GeoDataFrame | None = None,
                 fibre: gpd.GeoDataFrame | None = None) -> list:
    """Write each layer to ``folder/<layer>.<ext>`` as GeoParquet (``parquet``), FlatGeobuf (``fgb``) or
    GeoPackage (``gpkg``); one file per layer (GeoParquet and FlatGeobuf hold one layer). Returns the paths."""
    from .io import VECTOR_FORMATS, write_vector

    out = []
    for name, g in layers(plan, sites, fibre).items():
        p = Path(folder) / f"{name}{VECTOR_FORMATS[fmt]}"
        write_vector(g, p, layer=name)
        out.append(p)
    return out


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
    plan = _plan_header(inputs, result, scenario)
    if not result.status.has_plan:
        return set_fields(plan, extra or {})
    q = model._qidx
    y_open = {q.node_ids[v] for v in q.open_nodes if round(model.y[v].value or 0.0) >= 1}
    z_open = {q.node_ids[v] for v in q.relay_nodes if round(model.z[v].value or 0.0) >= 1}
    w_open = {q.node_ids[v] for v in q.repeater_nodes if round(model.w[v].value or 0.0) >= 1}
    n_val = np.array([round(model.n[i].value or 0.0) for i in range(len(inputs.hop_devices))], dtype=int)
    f_val = np.array([max(model.f[j].value or 0.0, 0.0) for j in range(len(q.arc_hop))])
    x_val = np.array([round(model.x[j].value or 0.0) for j in range(len(q.x_hop))], dtype=int)
    if q.budget_mode:
        q.extra["delta"] = {i: max(float(model.delta[i].value or 0.0), 0.0) for i in model.FD}
        served = {i: round(model.served[i].value or 0.0) for i in model.RD}
        x_val = np.where(np.array([served.get(int(i), 1) for i in q.x_dem], dtype=int) >= 1, x_val, 0)
    routes = routes_from_flows(inputs, q, f_val)
    routes.update(routes_from_arcs(inputs, q, x_val))
    return assemble_plan(plan, inputs, scenario, y_open=y_open, relay_open=z_open, pairs=n_val, routes=routes,
                         extra=extra, repeater_open=w_open)


def routes_from_flows(inputs, q, f_val) -> dict:
    """Demand row -> list of (node list, rate) by decomposing each flow commodity."""
    d = inputs.demands
    ids = q.node_ids
    out = {}
    for k, rows in enumerate(q.com_demands):
        m = (q.arc_com == k) & (f_val > FLOW_EPS)
        flows: dict = {}
        for a, b, v in zip(q.arc_tail[m], q.arc_head[m], f_val[m]):
            key = (ids[a], ids[b])
            flows[key] = flows.get(key, 0.0) + float(v)
        for (a, b) in list(flows):  # cancel opposite flows
            if (b, a) in flows and a < b:
                x = min(flows[(a, b)], flows[(b, a)])
                flows[(a, b)] -= x
                flows[(b, a)] -= x
        src = ids[q.com_source[k]]
        sinks: dict = {}
        for r in rows:
            other = d["target_node"].iat[r] if d["source_node"].iat[r] == src else d["source_node"].iat[r]
            amount = _delivered_target(inputs, r, q)
            sinks[other] = sinks.get(other, 0.0) + amount
        paths = _decompose(flows, src, sinks)
        # several demands to the same sink from one source cannot happen (pairs are unique)
        for r in rows:
            other = d["target_node"].iat[r] if d["source_node"].iat[r] == src else d["source_node"].iat[r]
            rts = [([str(x) for x in p], float(a)) for p, a in paths.get(other, [])]
            if d["source_node"].iat[r] != src:
                rts = [(p[::-1], a) for p, a in rts]
            out[r] = rts
    return out


def _delivered_target(inputs, r, q) -> float:
    """Rate a flow demand must get: its target, or in budget mode what the model delivered."""
    return float(inputs.demands["target_bps"].iat[r]) if not q.budget_mode else float(
        q.extra.get("delta", {}).get(r, inputs.demands["target_bps"].iat[r]))


def routes_from_arcs(inputs, q, x_val) -> dict:
    """Demand row -> list of (node list, route rate) from the binary route variables."""
    d = inputs.demands
    ids = q.node_ids
    out = {}
    for i in q.routed:
        rts = []
        u = q.route_units.get(i, 1)
        s = int(np.flatnonzero(ids == d["source_node"].iat[i])[0])
        t = int(np.flatnonzero(ids == d["target_node"].iat[i])[0])
        for r in range(int(d["k_routes"].iat[i]) // u):
            m = (q.x_dem == i) & (q.x_route == r) & (x_val >= 1)
            nxt: dict = {}
            for a, b in zip(q.x_tail[m], q.x_head[m]):
                nxt.setdefault(int(a), []).append(int(b))
            # a merged flow of u units leaves s on u arcs; node-disjointness gives every other node one successor
            for first in sorted(nxt.get(s, [])):
                path = [s, first]
                while path[-1] != t and nxt.get(path[-1]) and len(path) <= len(ids):
                    path.append(nxt[path[-1]][0])
                rts.append(([str(ids[p]) for p in path], float(d["route_rate_bps"].iat[i])))
        out[i] = rts
    return out


def _plan_header(inputs, result, scenario) -> Plan:
    """A plan holding the solve's outcome and the scenario's identity (no nodes, links or demands yet)."""
    budget = scenario.objective.get("mode") == "max_rate"
    return Plan(
        status=result.status, termination=result.termination,
        cost_eur=None if budget else result.objective, objective_value=result.objective, best_bound=result.bound,
        gap=result.gap,
        scenario=ScenarioRef(name=scenario.name, path=str(scenario.path) if scenario.path else None),
        objective=ObjectiveSpec(mode=str(scenario.objective.get("mode", "min_cost")),
                                budget_eur=float(scenario.objective.get("budget_eur", 0.0))),
        solver=SolverRecord(name=result.solver, version=result.solver_version, options=dict(result.options),
                            sizes=dict(result.sizes), message=result.message or ""),
        diagnosis=[Diagnosis(**{k: str(x.get(k, "")) for k in ("source", "target", "reason", "detail")})
                   for x in inputs.diagnosis],
        stats=dict(inputs.stats),
    )


def delivered_rate(routes, k_routes: int, protection: str) -> float:
    """Key rate a demand is guaranteed by its routes.

    Unprotected (one route, or flows split over several paths): the sum of route rates. ``1+1``: the smallest
    route rate (each route alone carries it). ``k-1``: the sum minus the largest route rate (any K-1 routes).
    """
    rates = [r.rate_bps for r in routes]
    if not rates:
        return 0.0
    if k_routes <= 1:
        return float(sum(rates))
    if len(rates) < k_routes:
        return 0.0
    if protection == "k-1":
        return float(sum(rates) - max(rates))
    return float(min(rates))


def assemble_plan(header: Plan, inputs, scenario, y_open: set, pairs: np.ndarray, routes: dict,
                  relay_open: set = frozenset(), extra: dict | None = None,
                  repeater_open: set = frozenset()) -> Plan:
    """Build the plan body from decision values (also used by the heuristic fallback).

    Parameters
    ----------
    header : Plan
        From :func:`_plan_header` (status, solver, scenario); filled in place and returned.
    routes : dict
        Demand row -> list of (node list from source to target, rate in bit/s).
    extra : dict, optional
        Further plan fields by name (``inputs``, ``versions``, ``timings_s``, ...).
    """
    links = _links(inputs, pairs)
    demands_out, hop_load = _demands(inputs, routes)
    _set_loads(links, hop_load)
    nodes_out, open_set, relays, repeaters = _nodes(inputs, scenario, links, y_open, relay_open, repeater_open)
    fibre_nodes = {n for L in links for n in L.fibre_path} | open_set | relays | repeaters
    allnodes = inputs.network.nodes
    coords = {str(n): [float(allnodes.at[n, "lon"]), float(allnodes.at[n, "lat"])]
              for n in sorted(fibre_nodes, key=str)}
    plan = header
    plan.cost_breakdown = _cost_breakdown(inputs, nodes_out, links, open_set)
    plan.nodes, plan.links, plan.demands, plan.fibre_coords = nodes_out, links, demands_out, coords
    if plan.budget_mode:
        plan.delivered_weighted_bps = float(sum(e.weight * e.delivered_bps for e in demands_out))
    plan.cost_eur = plan.cost_breakdown.total_eur if plan.budget_mode else plan.cost_eur
    return set_fields(plan, extra or {})


def _links(inputs, pairs: np.ndarray) -> list[Link]:
    """One link per hop-device option with device pairs (load filled in later)."""
    hops = inputs.hops
    hd = inputs.hop_devices
    existing = hd["existing_pairs"].to_numpy(int) if "existing_pairs" in hd.columns else np.zeros(len(hd), int)
    links = []
    for i in np.flatnonzero(pairs > 0):
        r = hd.iloc[i]
        h = hops.iloc[int(r.hop)]
        npair = int(pairs[i])
        new = npair - int(existing[i])
        fibre = str(r.fibre) if "fibre" in hd.columns else "dark"
        links.append(Link(
            id=f"{h.u}--{h.v}:{r.device}" + ("@lit" if fibre == "lit" else ""), from_node=str(h.u), to_node=str(h.v),
            fibre_path=[str(x) for x in h.path], length_km=float(h.length_km), loss_db=float(h.loss_db),
            protocol=str(r.protocol), device=str(r.device), device_pairs=npair, existing_pairs=int(existing[i]),
            rate_bps_per_pair=float(r.rate_bps_per_pair), capacity_bps=float(npair * r.rate_bps_per_pair),
            cost_eur=float(new * r.cost_per_pair_eur), cost_per_pair_eur=float(r.cost_per_pair_eur),
            load_bps=0.0, utilisation=0.0,
            relay=str(r.relay) if "relay" in hd.columns and r.relay is not None else None,
            repeaters=[str(x) for x in r.repeaters] if "repeaters" in hd.columns and len(r.repeaters) else [],
            fibre=fibre,
        ))
    return links


def _demands(inputs, routes: dict) -> tuple[list[DemandResult], dict]:
    """Every demand with its routes and delivered rate; the key rate routed over each hop."""
    d = inputs.demands
    out = []
    hop_load: dict = {}
    for i in range(len(d)):
        rts = [Route(nodes=[str(x) for x in p], rate_bps=float(a)) for p, a in routes.get(i, [])]
        for rt in rts:
            for a, b in zip(rt.nodes[:-1], rt.nodes[1:]):
                key = (min(a, b), max(a, b))
                hop_load[key] = hop_load.get(key, 0.0) + rt.rate_bps
        k = int(d["k_routes"].iat[i]) if "k_routes" in d.columns else 1
        prot = str(d["protection"].iat[i]) if "protection" in d.columns else "1+1"
        mt = d["max_trusted_nodes"].iat[i] if "max_trusted_nodes" in d.columns else np.nan
        lists = {c: [str(x) for x in d[c].iat[i]] if c in d.columns and len(d[c].iat[i]) else []
                 for c in ("allowed_countries", "excluded_nodes", "excluded_operators")}
        out.append(DemandResult(
            source=str(d["source"].iat[i]), target=str(d["target"].iat[i]),
            source_node=str(d["source_node"].iat[i]), target_node=str(d["target_node"].iat[i]),
            target_bps=float(d["target_bps"].iat[i]), delivered_bps=delivered_rate(rts, k, prot), routes=rts,
            trusted_nodes=sorted({x for rt in rts for x in rt.nodes}),
            intermediate_trusted_nodes=sorted({x for rt in rts for x in rt.nodes[1:-1]}),
            k_routes=k, protection=prot if k > 1 else None, disjoint=str(d["disjoint"].iat[i]) if k > 1 else None,
            max_trusted_nodes=int(mt) if pd.notna(mt) else None, **lists,
            weight=float(d["weight"].iat[i]) if "weight" in d.columns else 1.0,
        ))
    return out, hop_load


def _set_loads(links: list[Link], hop_load: dict) -> None:
    """Split each hop's routed key rate over its links in proportion to their capacity."""
    cap_of_hop: dict = {}
    for L in links:
        key = (min(L.from_node, L.to_node), max(L.from_node, L.to_node))
        cap_of_hop[key] = cap_of_hop.get(key, 0.0) + L.capacity_bps
    for L in links:
        key = (min(L.from_node, L.to_node), max(L.from_node, L.to_node))
        L.load_bps = hop_load.get(key, 0.0) * L.capacity_bps / cap_of_hop[key] if cap_of_hop[key] else 0.0
        L.utilisation = L.load_bps / L.capacity_bps if L.capacity_bps else 0.0


def _nodes(inputs, scenario, links, y_open, relay_open, repeater_open):
    """Opened nodes (sites, trusted nodes, relays, repeater stations) with their capex."""
    from .model import relay_costs, repeater_costs

    nodes_df = inputs.nodes
    term = set(nodes_df.index[nodes_df["terminal"].to_numpy()])
    ends = {L.from_node for L in links} | {L.to_node for L in links}
    if inputs.params.get("budget_mode"):  # an endpoint of demands left unserved is not bought
        term = term & (set(y_open) | ends)
    open_set = term | set(y_open) | ends
    relays = {L.relay for L in links if L.relay is not None} | set(relay_open)
    repeaters = {x for L in links for x in L.repeaters} | set(repeater_open)
    rep_capex = dict(zip(nodes_df.index, repeater_costs(inputs, scenario)))
    rcost = dict(zip(nodes_df.index, relay_costs(inputs, scenario)))
    degree: dict = {}
    for L in links:
        for e in (L.from_node, L.to_node):
            degree[e] = degree.get(e, 0) + 1
    out = []
    for nid in nodes_df.index:
        row = nodes_df.loc[nid]
        base = dict(id=str(nid), site_kind=str(row.kind), lon=float(row.lon), lat=float(row.lat),
                    existing=bool(row.get("existing", False)))
        if nid in open_set:
            out.append(Node(**base, kind="site" if nid in term else "trusted", cost_eur=float(row.capex_eur),
                            degree=degree.get(nid, 0)))
        if nid in relays:  # a relay station of an installed (brownfield) MDI / TF pair is existing
            out.append(Node(**{**base, "existing": base["existing"] or bool(row.get("relay_built", False))},
                            kind="relay", cost_eur=float(rcost[nid]), degree=0))
        if nid in repeaters:
            out.append(Node(**{**base, "existing": base["existing"] or bool(row.get("repeater_built", False))},
                            kind="repeater", cost_eur=float(rep_capex[nid]), degree=0))
    return out, open_set, relays, repeaters


def _cost_breakdown(inputs, nodes_out, links, open_set) -> CostBreakdown:
    nodes_df = inputs.nodes
    hd = inputs.hop_devices
    cost_nodes = float(sum(nd.cost_eur for nd in nodes_out if nd.kind in ("site", "trusted")))
    cost_relays = float(sum(nd.cost_eur for nd in nodes_out if nd.kind == "relay"))
    cost_repeaters = float(sum(nd.cost_eur for nd in nodes_out if nd.kind == "repeater"))
    cost_links = float(sum(L.cost_eur for L in links))
    pair_cost = dict(zip(hd["device"], hd["pair_cost_eur"]))
    return CostBreakdown(
        nodes_eur=cost_nodes, relays_eur=cost_relays, devices_and_fibre_eur=cost_links,
        device_pairs_eur=float(sum((L.device_pairs - L.existing_pairs) * pair_cost[L.device] for L in links)),
        repeaters_eur=cost_repeaters, total_eur=cost_nodes + cost_relays + cost_repeaters + cost_links,
        sunk_brownfield_eur=float(nodes_df["sunk_capex_eur"].loc[list(open_set)].sum()
                                  if "sunk_capex_eur" in nodes_df.columns else 0.0)
        + float(sum(L.existing_pairs * L.cost_per_pair_eur for L in links))
        + float(sum(nodes_df.at[nd.id, f"{nd.kind}_sunk_eur"] for nd in nodes_out
                    if nd.kind in ("relay", "repeater") and f"{nd.kind}_sunk_eur" in nodes_df.columns)),
    )
