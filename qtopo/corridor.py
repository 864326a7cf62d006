"""Two-site corridors: write a ready-to-plan scenario between two points and read the plan back along it.

A corridor is the simplest planning question: key between two cities over one fibre route. This module
writes it as an ordinary scenario (``sites.gpkg``, ``routes.gpkg``, ``demands.csv``, ``scenario.toml``) that
:func:`qtopo.plan` reads like any other, and lays a plan's trusted nodes and relays out along the route::

    from qtopo.corridor import make_corridor, corridor_nodes
    toml = make_corridor(None, a=(4.88969, 52.37403, "Amsterdam"), b=(8.68417, 50.11552, "Frankfurt"),
                         hut_spacing_km=25.0, devices={"apd": {"preset": "apd-bb84"}}, target_bps=1000.0)
    plan = qtopo.plan(toml)
    corridor_nodes(plan)          # id, kind, distance_km from A, span_km, lon, lat, cost_eur

The route is the great-circle line between the two points (:func:`qtopo.geo.great_circle_line`); its fibre
length is the geodesic length times ``network.route_factor`` (applied by the planner when it reads the route).
"""
from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .geo import WGS84, geodesic_distance_km, great_circle_line
from .scenario import to_toml

__all__ = ["make_corridor", "corridor_nodes", "corridor_length_km", "to_toml"]

NODE_COLUMNS = ["id", "kind", "distance_km", "span_km", "lon", "lat", "cost_eur"]

_DEFAULT_SOLVER = {"time_limit_s": 10.0, "mip_gap": 1e-4, "threads": 1}
_DEFAULT_DEVICES = {"d1": {"preset": "apd-bb84", "pair_cost_eur": 100000.0}}


# --------------------------------------------------------------------------------------------------- writer
def _endpoint(p, default_name: str) -> tuple[float, float, str]:
    if not isinstance(p, Sequence) or isinstance(p, str) or len(p) not in (2, 3):
        raise ValueError(f"corridor end {p!r}: give (lon, lat) or (lon, lat, name)")
    lon, lat = float(p[0]), float(p[1])
    name = str(p[2]) if len(p) == 3 else default_name
    if not (abs(lon) <= 180.0 and abs(lat) <= 90.0):
        raise ValueError(f"corridor end {name}: lon {lon}, lat {lat} out of range (give lon first)")
    if not name.strip():
        raise ValueError("corridor end names must not be empty")
    return lon, lat, name


def _devices(devices) -> dict[str, dict]:
    out = {}
    for name, spec in (devices or _DEFAULT_DEVICES).items():
        if isinstance(spec, str):
            spec = {"preset": spec}
        if not isinstance(spec, Mapping) or "preset" not in spec:
            raise ValueError(f"device {name!r}: give a preset name or a table with 'preset' (and optional "
                             "pair_cost_eur, max_pairs_per_link, physical overrides)")
        out[str(name)] = dict(spec)
    return out


def corridor_length_km(a, b, route_factor: float = 1.3) -> float:
    """Fibre length of the corridor between ``a`` and ``b`` ((lon, lat[, name])): geodesic x route_factor."""
    (lon1, lat1, _), (lon2, lat2, _) = _endpoint(a, "A"), _endpoint(b, "B")
    return float(geodesic_distance_km(lon1, lat1, lon2, lat2)) * float(route_factor)


def make_corridor(out_dir: str | Path | None = None, a=(4.88969, 52.37403, "Amsterdam"),
                  b=(8.68417, 50.11552, "Frankfurt"), route_factor: float = 1.3, hut_spacing_km: float = 25.0,
                  devices: Mapping[str, Any] | None = None, costs: Mapping[str, Any] | None = None,
                  target_bps: float = 1000.0, solver: Mapping[str, Any] | None = None,
                  fibre: Mapping[str, Any] | None = None, network: Mapping[str, Any] | None = None,
                  sections: Mapping[str, Mapping[str, Any]] | None = None, name: str | None = None,
                  step_km: float = 5.0) -> Path:
    """Write a two-site corridor scenario and return the path of its ``scenario.toml``.

    Parameters
    ----------
    out_dir : path, optional
        Folder to write into (created); default a new temporary folder.
    a, b : tuple
        ``(lon, lat)`` or ``(lon, lat, name)`` of the two ends; the name is the site id (default "A", "B").
    route_factor : float
        Fibre length / geodesic length of the great-circle route (``network.route_factor``).
    hut_spacing_km : float
        Candidate in-line huts along the route every at most this many km (0: none).
    devices : mapping, optional
        ``{name: {"preset": ..., "pair_cost_eur": ..., "max_pairs_per_link": ..., <physical overrides>}}`` or
        ``{name: "preset"}``; written as ``[devices.NAME]`` tables. Default one ``apd-bb84`` device.
    costs, fibre : mapping, optional
        ``[costs]`` and ``[fibre]`` keys (scenario defaults for the rest).
    target_bps : float
        Key-rate target of the single demand a -> b.
    solver : mapping, optional
        ``[solver]`` keys over the defaults ``time_limit_s = 10, mip_gap = 1e-4, threads = 1``.
    network : mapping, optional
        Further ``[network]`` keys (e.g. ``max_hop_loss_db``).
    sections : mapping, optional
        Further sections, e.g. ``{"objective": {"mode": "max_rate", "budget_eur": 1e6}}``.
    name : str, optional
        Scenario name (default "A-B").
    step_km : float
        Vertex spacing of the great-circle line.

    Returns
    -------
    Path
        The scenario file; it is validated with :func:`qtopo.load_scenario` before returning.
    """
    import geopandas as gpd
    import shapely

    from .scenario import load_scenario

    lon1, lat1, n1 = _endpoint(a, "A")
    lon2, lat2, n2 = _endpoint(b, "B")
    if n1 == n2:
        raise ValueError(f"the corridor ends need different names (both {n1!r})")
    if geodesic_distance_km(lon1, lat1, lon2, lat2) <= 0:
        raise ValueError("the corridor ends are the same point")
    folder = Path(tempfile.mkdtemp(prefix="qtopo-corridor-")) if out_dir is None else Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)

    line = great_circle_line(lon1, lat1, lon2, lat2, step_km=step_km)
    sites = gpd.GeoDataFrame({"id": [n1, n2], "name": [n1, n2], "kind": ["datacenter", "datacenter"]},
                             geometry=[shapely.Point(lon1, lat1), shapely.Point(lon2, lat2)], crs=WGS84)
    routes = gpd.GeoDataFrame({"id": [f"{n1}-{n2}"]}, geometry=[line], crs=WGS84)
    demands = pd.DataFrame({"source": [n1], "target": [n2], "target_bps": [float(target_bps)]})
    sites.to_file(folder / "sites.gpkg", driver="GPKG")
    routes.to_file(folder / "routes.gpkg", driver="GPKG")
    demands.to_csv(folder / "demands.csv", index=False)

    doc: dict[str, dict] = {
        "scenario": {"name": name or f"{n1}-{n2}",
                     "description": f"corridor {n1} - {n2}: great-circle route x {route_factor:g}, "
                                    f"huts every <= {hut_spacing_km:g} km, {float(target_bps):g} bit/s"},
        "inputs": {"sites": "sites.gpkg", "routes": "routes.gpkg", "demands": "demands.csv"},
        "network": {"route_factor": float(route_factor), "node_tolerance_m": 100.0, "snap_tolerance_m": 1000.0,
                    "hut_spacing_km": float(hut_spacing_km), **dict(network or {})},
    }
    if fibre:
        doc["fibre"] = dict(fibre)
    if costs:
        doc["costs"] = dict(costs)
    doc["solver"] = {**_DEFAULT_SOLVER, **dict(solver or {})}
    for sec, body in (sections or {}).items():
        doc.setdefault(sec, {}).update(dict(body))
    doc["devices"] = _devices(devices)

    path = folder / "scenario.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    load_scenario(path)  # raises InputError listing every problem (unknown preset, bad value, ...)
    return path


# --------------------------------------------------------------------------------------------------- reader
def corridor_nodes(plan, origin: str | None = None) -> pd.DataFrame:
    """Sites, trusted nodes and relays of a corridor plan, ordered along the corridor.

    Distances come from the plan's links: ``distance_km`` of a key-holding node is the fibre distance from
    ``origin`` (default: the first demand's source) along the planned links (``length_km``); ``span_km`` is the
    fibre length of the hop from the previous key-holding node. A relay (MDI / twin-field, untrusted) sits inside
    its link; its distance is the link's start plus the link length split in proportion to the geodesic
    distances to the link's two ends (exact on a great-circle route with one route factor), and its
    ``span_km`` is that offset from the link's start.

    Parameters
    ----------
    plan : Plan or dict
        A plan from :func:`qtopo.plan` (or ``plan.json`` content).
    origin : str, optional
        Node id the distances are measured from.

    Returns
    -------
    pandas.DataFrame
        Columns ``id, kind (site|trusted|relay), distance_km, span_km, lon, lat, cost_eur``, sorted by distance;
        empty (same columns) for a plan without links (infeasible, no solution).
    """
    import networkx as nx

    from .contract import Plan

    data = plan if isinstance(plan, Plan) else Plan.from_dict(plan, source="plan")
    links = list(data.links)
    if not links:
        return pd.DataFrame(columns=NODE_COLUMNS)
    nodes = {n.id: n for n in data.nodes}
    if origin is None:
        dem = data.demands
        origin = dem[0].source_node if dem else None
    if origin is None or origin not in nodes:
        raise ValueError(f"origin {origin!r} is not a node of the plan")
    g = nx.Graph()
    for L in links:
        u, v, km = L.from_node, L.to_node, L.length_km
        if not g.has_edge(u, v) or km < g[u][v]["length_km"]:
            g.add_edge(u, v, length_km=km)
    dist = nx.single_source_dijkstra_path_length(g, origin, weight="length_km")
    rows = []
    for nid, d in dist.items():
        n = nodes.get(nid)
        rows.append({"id": nid, "kind": n.kind if n else "trusted", "distance_km": float(d),
                     "lon": n.lon if n else np.nan, "lat": n.lat if n else np.nan,
                     "cost_eur": n.cost_eur if n else np.nan})
    rows.sort(key=lambda r: r["distance_km"])
    for prev, r in zip([None] + rows[:-1], rows):
        r["span_km"] = 0.0 if prev is None else r["distance_km"] - prev["distance_km"]
    seen = set()
    for L in links:
        rid = L.relay
        if not rid or rid in seen or L.from_node not in dist or L.to_node not in dist:
            continue
        seen.add(rid)
        u, v = (L.from_node, L.to_node) if dist[L.from_node] <= dist[L.to_node] else (L.to_node, L.from_node)
        r, nu, nv = nodes[rid], nodes[u], nodes[v]
        du = float(geodesic_distance_km(nu.lon, nu.lat, r.lon, r.lat))
        dv = float(geodesic_distance_km(r.lon, r.lat, nv.lon, nv.lat))
        off = L.length_km * (du / (du + dv) if du + dv > 0 else 0.5)
        rows.append({"id": rid, "kind": "relay", "distance_km": dist[u] + off, "span_km": off,
                     "lon": r.lon, "lat": r.lat, "cost_eur": r.cost_eur})
    df = pd.DataFrame(rows, columns=NODE_COLUMNS)
    return df.sort_values(["distance_km", "kind"], kind="stable").reset_index(drop=True)
