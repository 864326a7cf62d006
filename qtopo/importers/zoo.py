"""Topology Zoo GraphML importer.

The Internet Topology Zoo (Knight et al., IEEE JSAC 29(9), 2011; CC BY 4.0) describes operator networks as
GraphML graphs of points of presence (PoPs). Node attributes used here: ``label``, ``Latitude``,
``Longitude``, ``Country``, ``Internal`` (0 for nodes outside the operator's own network). Graphs may be
multigraphs (parallel links). Links carry no lengths: routes are great-circle polylines between the PoPs and
planners multiply their geodesic length by an explicit route factor.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qtopo.errors import ProblemCollector
from qtopo.numeric import finite_or_none
from qtopo.importers._common import (CRS, DENSIFY_KM, ImportReport, check_file, country_code, datacenter_kinds,
                                     declare_node, isolated_note, parse_xml, read_text, routes_between, unique_slugs,
                                     usable_link)

_HEADER = "cannot import Topology Zoo file"

SITE_COLUMNS = ["id", "name", "kind", "country", "internal", "source_id", "geometry"]
ROUTE_COLUMNS = ["id", "from_pop", "to_pop", "operator", "geodesic_km", "multiplicity", "source_ids", "geometry"]


@dataclass
class ZooGraph:
    """A Topology Zoo GraphML file, parsed and checked: located nodes and the links between them.

    ``node_ids`` are the GraphML ids, ``ids`` the unique ASCII slugs of the labels (the site ids of
    ``qtopo import zoo``); ``pairs`` are links between located nodes (self-loops dropped, parallel links kept),
    ``edge_ids`` their GraphML ids. ``report`` lists what was skipped or dropped.
    """

    source: str
    network: str
    node_ids: list
    labels: list
    lons: list
    lats: list
    countries: list
    internal: list
    pairs: list
    edge_ids: list
    report: ImportReport

    @property
    def ids(self) -> list:
        return unique_slugs(self.labels, [f"node-{n}" for n in self.node_ids])


def parse_zoo(path: str | Path) -> ZooGraph:
    """Read and check a Topology Zoo GraphML file (``.graphml`` or ``.graphml.gz``): the one GraphML reader of
    qtopo (``qtopo import zoo`` and ``qtopo repeaters`` both use it).

    Raises
    ------
    qtopo.errors.InputError
        Missing or malformed file, no node with coordinates, coordinates out of range, links to undeclared
        nodes; all problems are listed at once, with line numbers.
    """
    p = check_file(path, "Topology Zoo GraphML file")
    src = str(p)
    root = parse_xml(read_text(p), src, _HEADER)
    probs = ProblemCollector(_HEADER)
    if root.tag != "graphml":
        probs.add(src, f"root element is <{root.tag}>, not <graphml>", "give a GraphML file")
        probs.raise_if_any()
    keys = {(k.get("for"), k.get("id")): k.get("attr.name") for k in root.iter("key")}
    graph = root.find("graph")
    if graph is None:
        probs.add(src, "no <graph> element", "give a GraphML file with one graph")
        probs.raise_if_any()

    def attrs(el, kind):
        out = {}
        for d in el.findall("data"):
            k = d.get("key")
            out[keys.get((kind, k), keys.get(("all", k), k))] = d.text
        return out

    gattr = attrs(graph, "graph")
    network = gattr.get("Network") or gattr.get("label") or p.name.split(".")[0]
    report = ImportReport(source=src, network=network)
    declared, (node_ids, labels, lons, lats, countries, internal) = _zoo_nodes(graph, attrs, src, probs, report)
    pairs, edge_ids = _zoo_edges(graph, declared, set(node_ids), src, probs, report)
    if not node_ids and declared:
        probs.add(src, f"none of the {len(declared)} nodes has Latitude/Longitude",
                  "this graph cannot be placed on a map; choose a located variant (e.g. Geant2012 instead of Geant)")
    elif not declared:
        probs.add(src, "the graph has no nodes", "give a non-empty graph")
    probs.raise_if_any()

    return ZooGraph(src, network, node_ids, labels, lons, lats, countries, internal, pairs, edge_ids, report)


def _zoo_nodes(graph, attrs, src: str, probs: ProblemCollector, report: ImportReport) -> tuple:
    """The declared node ids, and the located nodes' ids, labels, lon, lat, country codes and internal flags
    (a small per-node loop while parsing is fine); unlocated nodes skipped with a note."""
    node_ids, labels, lons, lats, countries, internal = [], [], [], [], [], []
    declared = set()
    for n in graph.findall("node"):
        nid = n.get("id")
        if not declare_node(nid, f"{src}, line {n.line}", declared, probs, missing_text="a <node> has no id attribute"):
            continue
        a = attrs(n, "node")
        label = a.get("label") or ""
        if label.strip().lower() in ("none", "null", "nan"):       # the zoo writes unlabelled nodes as "None"
            label = ""
        lon, lat = finite_or_none(a.get("Longitude")), finite_or_none(a.get("Latitude"))
        if lon is None or lat is None:
            report.skipped_nodes.append(f"{nid} ({label or 'no label'}): no Latitude/Longitude")
            continue
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            probs.add(f"{src}, line {n.line}, node {nid} ({label})", f"coordinates out of range (lon={lon}, lat={lat})",
                      "Longitude must be in [-180, 180] and Latitude in [-90, 90] degrees")
            continue
        node_ids.append(nid)
        labels.append(label)
        lons.append(lon)
        lats.append(lat)
        countries.append(country_code(a.get("Country")))
        internal.append(a.get("Internal", "1") not in ("0", "0.0"))
    return declared, (node_ids, labels, lons, lats, countries, internal)


def _zoo_edges(graph, declared: set, located: set, src: str, probs: ProblemCollector, report: ImportReport):
    """The usable edges ``(pairs, edge ids)``: between located nodes; others dropped or reported."""
    pairs, edge_ids = [], []
    for i, e in enumerate(graph.findall("edge")):
        u, v = e.get("source"), e.get("target")
        eid = e.get("id") or f"edge {i}"
        if not usable_link(u, v, declared, located, f"{src}, line {e.line}, edge {eid} ({u} - {v})",
                           f"{eid} ({u} - {v}), line {e.line}", probs, report.dropped_links,
                           unknown_text="links undeclared node(s) {}", unknown_fix="declare every node an edge refers to"):
            continue
        pairs.append((u, v))
        edge_ids.append(eid)
    return pairs, edge_ids


def read_zoo(path: str | Path, *, datacenters=None, operator: str | None = None,
             spacing_km: float = DENSIFY_KM):
    """Read a Topology Zoo GraphML file (``.graphml`` or ``.graphml.gz``) into sites and routes.

    Parameters
    ----------
    path : str or Path
        GraphML file.
    datacenters : iterable of str, optional
        Site ids (slugs, see below) to mark ``kind="datacenter"``; all other sites are ``"pop"``.
    operator : str, optional
        Value of the routes' ``operator`` column; default: the graph's ``Network`` attribute.
    spacing_km : float
        Maximum vertex spacing of the great-circle route geometries.

    Returns
    -------
    sites : geopandas.GeoDataFrame
        Points (EPSG:4326) with ``id`` (unique ASCII slug of the label, ``-2``... for repeated labels),
        ``name`` (the label), ``kind``, ``country`` (ISO alpha-2, ``""`` if unknown), ``internal``
        (False for nodes the zoo marks external, ``Internal=0``), ``source_id`` (GraphML node id).
    routes : geopandas.GeoDataFrame
        LineStrings (EPSG:4326), one per unordered pair of linked sites (parallel links collapsed),
        with ``id`` (``r000``...), ``from_pop``, ``to_pop``, ``operator``, ``geodesic_km``,
        ``multiplicity`` (number of parallel links) and ``source_ids`` (GraphML edge ids).
    report : ImportReport
        Skipped nodes (no coordinates), dropped links (self-loops, links to skipped nodes), external nodes.

    Raises
    ------
    qtopo.errors.InputError
        Missing or malformed file, no node with coordinates, links to undeclared nodes, unknown
        ``datacenters`` ids; all problems are listed at once.
    """
    g = parse_zoo(path)
    src, network, report = g.source, g.network, g.report
    node_ids, labels, lons, lats, countries, internal = g.node_ids, g.labels, g.lons, g.lats, g.countries, g.internal
    pairs, edge_ids = g.pairs, g.edge_ids

    import geopandas as gpd

    # --- sites ---
    ids = g.ids
    id_of = dict(zip(node_ids, ids))
    kinds = datacenter_kinds(ids, datacenters, src, _HEADER)
    sites = gpd.GeoDataFrame(
        {"id": ids, "name": labels, "kind": kinds, "country": countries, "internal": internal,
         "source_id": node_ids},
        geometry=gpd.points_from_xy(lons, lats), crs=CRS)
    report.external_nodes = [i for i, keep in zip(ids, internal) if not keep]

    # --- routes: collapse parallel links on unordered pairs ---
    routes, n_par = routes_between(sites, [id_of[u] for u, _ in pairs], [id_of[v] for _, v in pairs], edge_ids,
                                   operator=operator if operator is not None else network,
                                   spacing_km=spacing_km, collapse=True)
    if n_par:
        report.notes.append(f"collapsed parallel links on {n_par} site pair(s) into single routes "
                            f"(see column multiplicity)")
    # links between co-located PoPs (the zoo gives several nodes one city's coordinates) have no length:
    # they are one place; drop them (the planner snaps both sites to one fibre node)
    short = routes["geodesic_km"].to_numpy() < 0.05 if "geodesic_km" in routes.columns else np.zeros(len(routes), bool)
    if short.any():
        for r in routes[short].itertuples():
            report.dropped_links.append(f"{r.id} ({r.from_pop} - {r.to_pop}): co-located PoPs (length < 50 m)")
        routes = routes[~short].reset_index(drop=True)
    report.notes += isolated_note(ids, routes)
    # PoPs with no link at all cannot be reached by fibre: leave them out (listed in the report)
    linked = set(routes["from_pop"]) | set(routes["to_pop"])
    lonely = [i for i in ids if i not in linked]
    if lonely and len(lonely) < len(ids):
        report.skipped_nodes += [f"{i}: no link to any other located PoP" for i in lonely]
        sites = sites[sites["id"].isin(linked)].reset_index(drop=True)
    report.n_sites, report.n_routes = len(sites), len(routes)
    return sites[SITE_COLUMNS], routes[ROUTE_COLUMNS], report

