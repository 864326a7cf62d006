"""Topology Zoo GraphML importer.

The Internet Topology Zoo (Knight et al., IEEE JSAC 29(9), 2011; CC BY 4.0) describes operator networks as
GraphML graphs of points of presence (PoPs). Node attributes used here: ``label``, ``Latitude``,
``Longitude``, ``Country``, ``Internal`` (0 for nodes outside the operator's own network). Graphs may be
multigraphs (parallel links). Links carry no lengths: routes are great-circle polylines between the PoPs and
planners multiply their geodesic length by an explicit route factor.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from qtopo.errors import InputError, Problem, ProblemCollector
from qtopo.importers._common import (CRS, DENSIFY_KM, ImportReport, check_file, country_code,
                                     geodesic_km, geodesic_lines, read_text, unique_slugs)

_NS = "{http://graphml.graphdrawing.org/xmlns}"

SITE_COLUMNS = ["id", "name", "kind", "country", "internal", "source_id", "geometry"]
ROUTE_COLUMNS = ["id", "from_pop", "to_pop", "operator", "geodesic_km", "multiplicity", "source_ids", "geometry"]


def _tag(el) -> str:
    return el.tag[len(_NS):] if el.tag.startswith(_NS) else el.tag


def _parse_float(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


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
    p = check_file(path, "Topology Zoo GraphML file")
    src = str(p)
    try:
        root = ET.fromstring(read_text(p))
    except ET.ParseError as exc:
        line, col = exc.position
        raise InputError([Problem(f"{src}, line {line}, column {col}", f"malformed GraphML ({exc})",
                                  "the file must be valid GraphML XML")],
                         "cannot import Topology Zoo file") from None

    probs = ProblemCollector("cannot import Topology Zoo file")
    if _tag(root) != "graphml":
        probs.add(src, f"root element is <{_tag(root)}>, not <graphml>", "give a GraphML file")
        probs.raise_if_any()
    keys = {}
    for k in root.iter(_NS + "key"):
        keys[(k.get("for"), k.get("id"))] = k.get("attr.name")
    graph = root.find(_NS + "graph")
    if graph is None:
        probs.add(src, "no <graph> element", "give a GraphML file with one graph")
        probs.raise_if_any()

    def attrs(el, kind):
        out = {}
        for d in el.findall(_NS + "data"):
            name = keys.get((kind, d.get("key")), keys.get(("all", d.get("key")), d.get("key")))
            out[name] = (d.text or "").strip()
        return out

    gattr = attrs(graph, "graph")
    network = gattr.get("Network") or gattr.get("label") or p.name.split(".")[0]
    report = ImportReport(source=src, network=network)

    # --- nodes (small per-node loop while parsing is fine) ---
    node_ids, labels, lons, lats, countries, internal = [], [], [], [], [], []
    declared = set()
    for n in graph.iter(_NS + "node"):
        nid = n.get("id")
        if nid is None:
            probs.add(src, "a <node> has no id attribute", "give every node an id")
            continue
        if nid in declared:
            probs.add(f"{src}, node {nid}", "node id declared twice", "make node ids unique")
            continue
        declared.add(nid)
        a = attrs(n, "node")
        label = a.get("label", "")
        lon, lat = _parse_float(a.get("Longitude")), _parse_float(a.get("Latitude"))
        if lon is None or lat is None:
            report.skipped_nodes.append(f"{nid} ({label or 'no label'}): no Latitude/Longitude")
            continue
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            probs.add(f"{src}, node {nid} ({label})", f"coordinates out of range (lon={lon}, lat={lat})",
                      "Longitude must be in [-180, 180] and Latitude in [-90, 90] degrees")
            continue
        node_ids.append(nid)
        labels.append(label)
        lons.append(lon)
        lats.append(lat)
        countries.append(country_code(a.get("Country")))
        internal.append(a.get("Internal", "1") not in ("0", "0.0"))

    # --- edges ---
    located = set(node_ids)
    pairs, edge_ids = [], []
    for i, e in enumerate(graph.iter(_NS + "edge")):
        u, v = e.get("source"), e.get("target")
        eid = e.get("id") or f"edge#{i}"
        missing = [x for x in (u, v) if x is None or x not in declared]
        if missing:
            probs.add(f"{src}, edge {eid} ({u} - {v})", f"links undeclared node(s) {', '.join(map(str, missing))}",
                      "declare every node an edge refers to")
            continue
        if u == v:
            report.dropped_links.append(f"{eid} ({u} - {v}): self-loop")
            continue
        if u not in located or v not in located:
            report.dropped_links.append(f"{eid} ({u} - {v}): endpoint without coordinates")
            continue
        pairs.append((u, v))
        edge_ids.append(eid)

    if not node_ids and declared:
        probs.add(src, f"none of the {len(declared)} nodes has Latitude/Longitude",
                  "this graph cannot be placed on a map; choose a located variant (e.g. Geant2012 instead of Geant)")
    elif not declared:
        probs.add(src, "the graph has no nodes", "give a non-empty graph")
    probs.raise_if_any()

    # --- sites ---
    ids = unique_slugs(labels, [f"node-{n}" for n in node_ids])
    id_of = dict(zip(node_ids, ids))
    kinds = np.full(len(ids), "pop", dtype=object)
    if datacenters:
        dc = [str(d).strip() for d in datacenters if str(d).strip()]
        unknown = sorted(set(dc) - set(ids))
        if unknown:
            raise InputError([Problem(src, f"datacenter id {u!r} is not a site id",
                                       f"site ids are slugs of labels, e.g. {', '.join(ids[:5])}")
                              for u in unknown], "cannot import Topology Zoo file")
        kinds[np.isin(ids, dc)] = "datacenter"
    sites = gpd.GeoDataFrame(
        {"id": ids, "name": labels, "kind": kinds, "country": countries, "internal": internal,
         "source_id": node_ids},
        geometry=gpd.points_from_xy(lons, lats), crs=CRS)
    report.external_nodes = [i for i, keep in zip(ids, internal) if not keep]

    # --- routes: collapse parallel links on unordered pairs ---
    e = pd.DataFrame(pairs, columns=["u", "v"])
    e["a"] = [id_of[x] for x in e["u"]]
    e["b"] = [id_of[x] for x in e["v"]]
    order = pd.Series(ids).reset_index().set_index(0)["index"]          # site id -> position
    swap = order.reindex(e["a"]).to_numpy() > order.reindex(e["b"]).to_numpy()
    e["from_pop"] = np.where(swap, e["b"], e["a"])
    e["to_pop"] = np.where(swap, e["a"], e["b"])
    e["eid"] = edge_ids
    g = (e.groupby(["from_pop", "to_pop"], sort=False)
          .agg(multiplicity=("eid", "size"), source_ids=("eid", lambda s: ";".join(s)))
          .reset_index())
    n_par = int((g["multiplicity"] > 1).sum())
    if n_par:
        report.notes.append(f"collapsed parallel links on {n_par} site pair(s) into single routes "
                            f"(see column multiplicity)")
    xy = sites.set_index("id").geometry
    fa, ta = xy.reindex(g["from_pop"]), xy.reindex(g["to_pop"])
    lon1, lat1, lon2, lat2 = fa.x.to_numpy(), fa.y.to_numpy(), ta.x.to_numpy(), ta.y.to_numpy()
    routes = gpd.GeoDataFrame(
        {"id": [f"r{i:03d}" for i in range(len(g))],
         "from_pop": g["from_pop"].to_numpy(), "to_pop": g["to_pop"].to_numpy(),
         "operator": operator if operator is not None else network,
         "geodesic_km": np.round(geodesic_km(lon1, lat1, lon2, lat2), 4),
         "multiplicity": g["multiplicity"].astype("int64").to_numpy(),
         "source_ids": g["source_ids"].to_numpy()},
        geometry=geodesic_lines(lon1, lat1, lon2, lat2, spacing_km), crs=CRS)
    report.n_sites, report.n_routes = len(sites), len(routes)
    isolated = sorted(set(ids) - set(routes["from_pop"]) - set(routes["to_pop"]))
    if isolated:
        report.notes.append(f"{len(isolated)} site(s) have no route: {', '.join(isolated)}")
    return sites[SITE_COLUMNS], routes[ROUTE_COLUMNS], report

