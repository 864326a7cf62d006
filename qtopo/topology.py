"""The fibre graph: noding routes, snapping sites, in-line hut candidates.

Routes are noded into an undirected graph: route endpoints closer than ``node_tolerance_m`` merge into one
node; an endpoint that lies within the tolerance of another route's interior splits that route (a T-junction).
Crossing routes without a shared endpoint are *not* connected: crossing ducts do not meet. Sites snap to the
nearest graph node within ``snap_tolerance_m``. Optional hut candidates split each edge into equal segments no
longer than ``hut_spacing_km``.

Edge lengths are geodesic (pyproj) times the scenario's route factor, or the route's surveyed ``length_km``
shared out in proportion to geodesic length when a route is split.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely import ops

from .errors import ProblemCollector
from .geo import WGS84, geodesic_length_km, local_metric_crs, split_line_geodesic

log = logging.getLogger(__name__)

#: Optional lit / dark fibre attributes of the routes carried onto their segments (docs/lit_fibre.md).
FIBRE_COLUMNS = ("dark_fibre", "dark_lease_eur", "lit_launch_dbm")

#: Sanity limit on in-line hut candidates: beyond it the all-pairs hop table cannot be planned in useful time.
MAX_HUT_CANDIDATES = 5000


@dataclass
class FibreNetwork:
    """The noded fibre network.

    Attributes
    ----------
    nodes : pandas.DataFrame
        Indexed by node id: ``lon``, ``lat``, ``kind`` (``site`` kinds such as ``datacenter``/``pop``,
        ``junction``, ``hut``), ``site_ids`` (tuple of site ids snapped here), ``capex_eur`` (NaN: default),
        ``country``, ``operator``.
    edges : geopandas.GeoDataFrame
        One row per fibre segment: ``u``, ``v``, ``length_km``, ``route_id``, ``attenuation_db_per_km``
        (NaN: scenario default), ``operator``, geometry (EPSG:4326); when the routes carry them, ``dark_fibre``
        (bool), ``dark_lease_eur`` (the segment's share of its route's lease), ``lit_launch_dbm`` (NaN: not lit).
    site_node : dict
        Site id -> node id.
    notes : list of str
        What noding did (merged endpoints, dropped loops), for the report.
    """

    nodes: pd.DataFrame
    edges: gpd.GeoDataFrame
    site_node: dict
    notes: list = field(default_factory=list)

    def graph(self, weight: str = "length_km") -> nx.Graph:
        """Undirected networkx graph; between a node pair only the segment with the smallest ``weight`` is kept."""
        G = nx.Graph()
        for nid, row in self.nodes.iterrows():
            G.add_node(nid, lon=row.lon, lat=row.lat, kind=row.kind)
        e = self.edges.sort_values(weight, ascending=False)
        G.add_edges_from(
            (u, v, {"length_km": lk, "edge": int(i), "route_id": r, weight: w})
            for u, v, lk, i, r, w in zip(e.u, e.v, e.length_km, e.index, e.route_id, e[weight])
        )
        return G


def _cluster(points: np.ndarray, tol: float) -> np.ndarray:
    """Label points so that points within ``tol`` (transitively) share a label."""
    n = len(points)
    if n == 0:
        return np.zeros(0, int)
    pairs = cKDTree(points).query_pairs(r=tol, output_type="ndarray") if tol > 0 else np.zeros((0, 2), int)
    m = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(m, directed=False)
    return labels


def build_fibre_network(
    routes: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame | None = None,
    *,
    route_factor: float = 1.0,
    node_tolerance_m: float = 500.0,
    snap_tolerance_m: float = 2000.0,
    hut_spacing_km: float = 0.0,
    sites_name: str = "sites",
) -> FibreNetwork:
    """Node the routes into a fibre network and snap the sites onto it.

    The steps: :func:`_project_routes` (a local metric CRS), :func:`_endpoint_clusters` (route ends within
    ``node_tolerance_m`` become one node), :func:`_t_junctions` (a node near another route's interior splits
    it), :func:`_route_pieces`, :func:`_segments` (lengths and attributes of the pieces),
    :func:`_junction_nodes`, :func:`_snap_sites`, then :func:`add_huts`.

    Parameters
    ----------
    routes : GeoDataFrame
        As returned by :func:`qtopo.io.read_routes` (EPSG:4326, LineStrings, ``id``, ``geodesic_km``).
    sites : GeoDataFrame, optional
        As returned by :func:`qtopo.io.read_sites`.
    route_factor : float
        Fibre length / geodesic length for routes without ``length_km``.
    node_tolerance_m, snap_tolerance_m : float
        Merge and snapping tolerances in metres.
    hut_spacing_km : float
        Add hut candidates so that no segment is longer than this (0: no huts).

    Raises
    ------
    InputError
        If a site is farther than ``snap_tolerance_m`` from every route node (the distance is given).
    """
    notes: list[str] = list(routes.attrs.get("notes", []))  # e.g. surveyed lengths below the drawn ones
    metric, lines_m = _project_routes(routes)
    start_lab, end_lab, cx, cy = _endpoint_clusters(lines_m, node_tolerance_m, notes)
    splits = _t_junctions(lines_m, cx, cy, start_lab, end_lab, node_tolerance_m, notes)
    pr, pg, pu, pv = _route_pieces(lines_m, splits, start_lab, end_lab)
    seg = _segments(routes, lines_m, metric, pr, pg, pu, pv, route_factor, notes)
    nodes = _junction_nodes(cx, cy, metric)
    used = np.zeros(len(nodes), bool)
    used[seg["u"].to_numpy()] = True
    used[seg["v"].to_numpy()] = True
    if not used.any():
        from .errors import InputError, Problem

        raise InputError([Problem(
            "scenario [network]", f"node_tolerance_m = {node_tolerance_m:g} m merges both ends of every route into "
            f"one node, so no fibre segment is left (the {len(lines_m)} route(s) all became loops)",
            "use a tolerance well below the shortest route's length (typically 10-500 m)")], "invalid network")
    name_of = {i: f"n{i:04d}" for i in range(len(nodes))}
    site_node = _snap_sites(sites, nodes, name_of, used, cx, cy, metric, snap_tolerance_m, sites_name, notes)
    nodes = nodes[used].copy()
    nodes.index = [name_of[k] for k in np.flatnonzero(used)]
    nodes.index.name = "node"
    edges = gpd.GeoDataFrame({
        "u": [name_of[k] for k in seg["u"]], "v": [name_of[k] for k in seg["v"]],
        "length_km": seg["length_km"].to_numpy(), "route_id": seg["route_id"].to_numpy(),
        "attenuation_db_per_km": seg["attenuation_db_per_km"].to_numpy(), "operator": seg["operator"].to_numpy(),
        **{c: seg[c].to_numpy() for c in FIBRE_COLUMNS if c in seg.columns},
    }, geometry=seg.geometry.values, crs=WGS84)
    net = FibreNetwork(nodes=nodes, edges=edges, site_node=site_node, notes=notes)
    if hut_spacing_km and hut_spacing_km > 0:
        net = add_huts(net, hut_spacing_km)
    return net


def _project_routes(routes: gpd.GeoDataFrame):
    """``(metric CRS, route lines in it)``. Long straight lon/lat segments are densified first, so the projected
    lines follow the drawn geometry (a 140 km straight segment at 52 N bows ~0.5 km away from its chord)."""
    metric = local_metric_crs(routes)
    rp = gpd.GeoDataFrame(routes.drop(columns="geometry"), geometry=shapely.segmentize(routes.geometry.values, 0.02),
                          crs=routes.crs).to_crs(metric)
    return metric, rp.geometry.values


def _endpoint_clusters(lines_m, node_tolerance_m: float, notes: list):
    """Cluster the route ends within the tolerance: ``(start cluster, end cluster, cluster x, cluster y)``
    (metric coordinates, the mean of each cluster)."""
    n_r = len(lines_m)
    starts = shapely.get_coordinates(shapely.get_point(lines_m, 0))
    ends = shapely.get_coordinates(shapely.get_point(lines_m, -1))
    pts = np.vstack([starts, ends])
    labels = _cluster(pts, node_tolerance_m)
    n_cl = labels.max() + 1 if len(labels) else 0
    cx = np.bincount(labels, pts[:, 0], minlength=n_cl) / np.bincount(labels, minlength=n_cl)
    cy = np.bincount(labels, pts[:, 1], minlength=n_cl) / np.bincount(labels, minlength=n_cl)
    merged = int(len(pts) - n_cl)
    if merged:
        notes.append(f"{merged} route endpoints merged into shared nodes (tolerance {node_tolerance_m:g} m)")
    return labels[:n_r], labels[n_r:], cx, cy


def _t_junctions(lines_m, cx, cy, start_lab, end_lab, node_tolerance_m: float, notes: list) -> dict:
    """T-junctions: ``{route index: [(position along it in m, cluster)]}`` for each cluster within the tolerance
    of another route's interior."""
    tree = shapely.STRtree(lines_m)
    cpts = shapely.points(cx, cy)
    qi, qr = tree.query(cpts, predicate="dwithin", distance=max(node_tolerance_m, 1e-6))
    splits: dict[int, list[tuple[float, int]]] = {}
    if len(qi):
        incident = (start_lab[qr] == qi) | (end_lab[qr] == qi)
        qi, qr = qi[~incident], qr[~incident]
        pos = shapely.line_locate_point(lines_m[qr], cpts[qi])
        L = shapely.length(lines_m[qr])
        inner = (pos > node_tolerance_m) & (pos < L - node_tolerance_m)
        for c, r, p in zip(qi[inner], qr[inner], pos[inner]):
            splits.setdefault(int(r), []).append((float(p), int(c)))
        if inner.any():
            notes.append(f"{int(inner.sum())} T-junctions split routes")
    return splits


def _route_pieces(lines_m, splits: dict, start_lab, end_lab):
    """The routes cut at their T-junctions: parallel lists (route index, metric geometry, u cluster, v cluster)."""
    pr, pg, pu, pv = [], [], [], []
    for r in range(len(lines_m)):
        cuts = sorted(splits.get(r, []))
        if not cuts:
            pr.append(r); pg.append(lines_m[r]); pu.append(start_lab[r]); pv.append(end_lab[r])
            continue
        prev_p, prev_c = 0.0, start_lab[r]
        for p, c in cuts + [(shapely.length(lines_m[r]), end_lab[r])]:
            if c == prev_c:
                continue
            pr.append(r); pg.append(ops.substring(lines_m[r], prev_p, p)); pu.append(prev_c); pv.append(c)
            prev_p, prev_c = p, c
    return np.asarray(pr), pg, np.asarray(pu), np.asarray(pv)


def _segments(routes, lines_m, metric, pr, pg, pu, pv, route_factor: float, notes: list) -> gpd.GeoDataFrame:
    """The fibre segments (EPSG:4326): ``u``, ``v`` clusters, ``length_km``, ``route_id``,
    ``attenuation_db_per_km``, ``operator``. Pieces that start and end at one node are dropped (noted)."""
    pieces = gpd.GeoDataFrame({"r": pr, "u": pu, "v": pv}, geometry=list(pg), crs=metric).to_crs(WGS84)
    # each piece's share of its route, measured geodesically (a metric CRS distorts by up to ~1% away from its
    # central meridian, so shares measured there disagree with the pieces' own geodesic lengths); lengths are
    # shares of the route's geodesic (or surveyed) length, so an unsplit route keeps exactly its input length
    piece_km = geodesic_length_km(pieces.geometry.values)
    route_km = np.bincount(pr, piece_km, minlength=len(lines_m)) if len(pr) else np.zeros(len(lines_m))
    frac_all = piece_km / np.where(route_km[pr] > 0, route_km[pr], 1.0) if len(pr) else piece_km
    loops = pieces.u.to_numpy() == pieces.v.to_numpy()
    if loops.any():
        ids = routes["id"].to_numpy()[pieces.r.to_numpy()[loops]]
        notes.append(f"{int(loops.sum())} route(s) start and end at the same node and were dropped: {list(ids)[:10]}")
        pieces = pieces[~loops].reset_index(drop=True)
    r = pieces.r.to_numpy()
    frac = frac_all[~loops]
    if "length_km" in routes.columns:
        surveyed = pd.to_numeric(routes["length_km"], errors="coerce").to_numpy()[r]
    else:
        surveyed = np.full(len(pieces), np.nan)
    whole_geod = routes["geodesic_km"].to_numpy()[r]
    pieces["length_km"] = np.where(np.isfinite(surveyed), surveyed, whole_geod * route_factor) * frac
    pieces["route_id"] = routes["id"].to_numpy()[r]
    pieces["attenuation_db_per_km"] = (pd.to_numeric(routes["attenuation_db_per_km"], errors="coerce").to_numpy()[r]
                                       if "attenuation_db_per_km" in routes.columns else np.full(len(pieces), np.nan))
    pieces["operator"] = (routes["operator"].astype(str).to_numpy()[r] if "operator" in routes.columns
                          else np.full(len(pieces), ""))
    # lit / dark fibre (docs/lit_fibre.md): only when the routes carry the columns, so that networks without them
    # keep exactly their former edge table; a route's dark-fibre lease is shared by length like its length
    if "dark_fibre" in routes.columns:
        pieces["dark_fibre"] = routes["dark_fibre"].to_numpy(bool)[r]
    if "dark_lease_eur" in routes.columns:
        pieces["dark_lease_eur"] = np.nan_to_num(routes["dark_lease_eur"].to_numpy(float)[r]) * frac
    if "lit_launch_dbm" in routes.columns:
        pieces["lit_launch_dbm"] = routes["lit_launch_dbm"].to_numpy(float)[r]
    return pieces


def _junction_nodes(cx, cy, metric) -> pd.DataFrame:
    """One row per cluster: lon/lat (from the metric means) and the columns sites fill in when snapped."""
    node_xy = gpd.GeoSeries(shapely.points(cx, cy), crs=metric).to_crs(WGS84)
    return pd.DataFrame({
        "lon": node_xy.x.to_numpy(), "lat": node_xy.y.to_numpy(), "kind": "junction",
        "site_ids": [()] * len(cx), "capex_eur": np.nan, "country": "", "operator": "", "existing": False,
    })


def _snap_sites(sites, nodes: pd.DataFrame, name_of: dict, used: np.ndarray, cx, cy, metric,
                snap_tolerance_m: float, sites_name: str, notes: list) -> dict:
    """Snap each site to the nearest used node (in place: the node takes the first site's id, kind, capex,
    country, operator, existing). Returns ``{site id: node id}``; a site beyond ``snap_tolerance_m`` is an
    :class:`InputError` (all of them at once), saying so when its lon/lat look swapped."""
    col = ProblemCollector("sites cannot be placed on the fibre network")
    site_node: dict[str, str] = {}
    if sites is not None and len(sites):
        sp = sites.to_crs(metric)
        sxy = shapely.get_coordinates(sp.geometry.values)
        cand = np.flatnonzero(used)
        tree_n = cKDTree(np.c_[cx[cand], cy[cand]])
        fin_s = np.isfinite(sxy).all(axis=1)
        dist = np.full(len(sxy), np.inf)
        j = np.zeros(len(sxy), int)
        if fin_s.any():
            dist[fin_s], j[fin_s] = tree_n.query(sxy[fin_s])
        nearest = cand[j]
        swapped_ok = _swapped_would_snap(sites, dist, tree_n, metric, snap_tolerance_m)
        site_ids = sites["id"].to_numpy()
        order = np.argsort(site_ids, kind="stable")
        for i in order:
            sid = site_ids[i]
            if dist[i] > snap_tolerance_m:
                col.add(f"{sites_name}, site {sid!r}",
                        f"is {dist[i] / 1000:.2f} km from the nearest route node, beyond snap_tolerance_m = "
                        f"{snap_tolerance_m:g} m",
                        "its lon/lat look swapped: with the coordinates exchanged it lies on the network"
                        if swapped_ok[i] else "add a route to it, move the site, or raise network.snap_tolerance_m")
                continue
            k = int(nearest[i])
            nodes.at[k, "site_ids"] = nodes.at[k, "site_ids"] + (sid,)
            if len(nodes.at[k, "site_ids"]) == 1:
                name_of[k] = sid
                row = sites.iloc[i]
                nodes.at[k, "kind"] = str(row.get("kind", "site"))
                if "capex_eur" in sites.columns and pd.notna(row.get("capex_eur")):
                    nodes.at[k, "capex_eur"] = float(row["capex_eur"])
                for c in ("country", "operator"):
                    if c in sites.columns and pd.notna(row.get(c)):
                        nodes.at[k, c] = str(row[c])
                if "existing" in sites.columns and pd.notna(row.get("existing")):
                    nodes.at[k, "existing"] = str(row["existing"]).strip().lower() in ("1", "true", "yes")
            site_node[sid] = name_of[k]
        shared = [(name_of[k], ids) for k, ids in enumerate(nodes.site_ids) if len(ids) > 1]
        if shared:
            notes.append(f"{len(shared)} nodes hold several sites: " +
                         "; ".join(f"{n}: {', '.join(ids)}" for n, ids in shared[:10]))
    col.raise_if_any()
    return site_node


def _swapped_would_snap(sites, dist: np.ndarray, tree_n, metric, snap_tolerance_m: float) -> np.ndarray:
    """Per site: beyond the tolerance, but with lon and lat exchanged it would snap (a common export mistake)."""
    far = np.flatnonzero(dist > snap_tolerance_m)
    swapped_ok = np.zeros(len(dist), bool)
    if len(far):
        ll = shapely.get_coordinates(sites.to_crs(WGS84).geometry.values)[far]
        inr = (np.abs(ll[:, 1]) <= 180) & (np.abs(ll[:, 0]) <= 90)
        if inr.any():
            sw = gpd.GeoSeries(shapely.points(ll[inr, 1], ll[inr, 0]), crs=WGS84).to_crs(metric)
            swxy = shapely.get_coordinates(sw.values)
            fin = np.isfinite(swxy).all(axis=1)  # far from the UTM zone a projection can give inf
            d_sw = np.full(len(swxy), np.inf)
            if fin.any():
                d_sw[fin], _ = tree_n.query(swxy[fin])
            swapped_ok[far[inr]] = d_sw <= snap_tolerance_m
    return swapped_ok


def add_huts(net: FibreNetwork, spacing_km: float) -> FibreNetwork:
    """Split every edge longer than ``spacing_km`` into equal segments with a hut candidate at each cut.

    Hut ids are ``"{u}~{v}#{k}"`` (k-th hut from u along the edge), so they are stable for the same inputs.
    Parallel segments between the same two nodes (two routes along one corridor) are different huts in different
    places: their ids carry the route id, ``"{u}~{v}~{route_id}#{k}"`` (then ``.1``, ``.2``... if that repeats).
    """
    L = net.edges.length_km.to_numpy()
    nseg = np.maximum(np.ceil(L / spacing_km - 1e-9).astype(int), 1)
    n_huts = int((nseg - 1).sum())
    if n_huts > MAX_HUT_CANDIDATES:
        from .errors import InputError, Problem

        need = float(L.sum()) / MAX_HUT_CANDIDATES
        raise InputError([Problem(
            "scenario [network]",
            f"hut_spacing_km = {spacing_km:g} would create {n_huts} in-line hut candidates on {L.sum():,.0f} km of "
            f"fibre (limit {MAX_HUT_CANDIDATES}); planning would run out of time or memory",
            f"use hut_spacing_km >= {math.ceil(need):g} (trusted-node huts are typically tens of km apart), or 0 "
            "for none")], "network too large")
    keep = nseg == 1
    split = np.flatnonzero(~keep)
    tag = {i: f"{net.edges.u.iat[i]}~{net.edges.v.iat[i]}" for i in split}
    n_tag = Counter(tag.values())
    tag = {i: (t if n_tag[t] == 1 else f"{t}~{net.edges.route_id.iat[i]}") for i, t in tag.items()}
    n_tag, seen = Counter(tag.values()), Counter()
    for i in split:  # same route id twice between the same nodes: number them in edge order
        if n_tag[tag[i]] > 1:
            seen[tag[i]] += 1
            tag[i] = f"{tag[i]}.{seen[tag[i]]}"
    new_nodes, new_edges = [], [net.edges[keep]]
    rows = []
    geoms = []
    for i in split:
        e = net.edges.iloc[i]
        k = int(nseg[i])
        # equal geodesic shares (not equal shares of the length in degrees): each piece's geometry then
        # measures the length_km it is given
        hut_pts, pieces = split_line_geodesic(e.geometry, k)
        ids = [f"{tag[i]}#{j}" for j in range(1, k)]
        for hid, (x, y) in zip(ids, hut_pts):
            new_nodes.append({"node": hid, "lon": x, "lat": y, "kind": "hut", "site_ids": (),
                              "capex_eur": np.nan, "country": "", "operator": e.operator, "existing": False})
        chain = [e.u, *ids, e.v]
        for j in range(k):
            rows.append({"u": chain[j], "v": chain[j + 1], "length_km": e.length_km / k, "route_id": e.route_id,
                         "attenuation_db_per_km": e.attenuation_db_per_km, "operator": e.operator,
                         **{c: (getattr(e, c) / k if c == "dark_lease_eur" else getattr(e, c))
                            for c in FIBRE_COLUMNS if c in net.edges.columns}})
            geoms.append(pieces[j])
    if not rows:
        return net
    huts = pd.DataFrame(new_nodes).set_index("node")
    nodes = pd.concat([net.nodes, huts])
    edges = pd.concat([new_edges[0], gpd.GeoDataFrame(rows, geometry=geoms, crs=WGS84)], ignore_index=True)
    notes = net.notes + [f"{len(huts)} in-line hut candidates every <= {spacing_km:g} km"]
    return FibreNetwork(nodes=nodes, edges=gpd.GeoDataFrame(edges, crs=WGS84), site_node=net.site_node, notes=notes)


def read_network(scen) -> tuple[FibreNetwork, pd.DataFrame]:
    """The one network loader: read the scenario's sites, routes and demands and node them into a fibre network.

    Used by the planner, ``verify``, the failure analysis and ``qtopo repeaters`` alike, so they all see the
    same network. All input problems of all three files are reported together.

    Returns
    -------
    (FibreNetwork, DataFrame)
        The network and the demands (``source``, ``target`` site ids, ``target_bps``).
    """
    from .errors import InputError
    from .io import read_input_files, read_routes, read_sites

    layers = {"sites_layer": scen.inputs.get("sites_layer") or None,
              "routes_layer": scen.inputs.get("routes_layer") or None}
    nw = scen.network

    def node(routes, sites):
        return build_fibre_network(routes, sites, route_factor=nw["route_factor"],
                                   node_tolerance_m=nw["node_tolerance_m"], snap_tolerance_m=nw["snap_tolerance_m"],
                                   hut_spacing_km=nw["hut_spacing_km"], sites_name=str(scen.input_path("sites").name))

    try:
        sites, routes, demands = read_input_files(scen.input_path("sites"), scen.input_path("routes"),
                                                  scen.input_path("demands"), **layers)
    except InputError as e:
        # a bad demands file must not hide that sites do not snap to the routes: when sites and routes are
        # readable, node them too, so that every problem is reported at once
        problems = list(e.problems)
        try:
            sites = read_sites(scen.input_path("sites"), layers["sites_layer"])
            routes = read_routes(scen.input_path("routes"), layers["routes_layer"])
            node(routes, sites)
        except InputError as e2:
            problems += [p for p in e2.problems if p not in problems]
        raise InputError(problems, e.header) from None
    return node(routes, sites), demands
