"""SNDlib network importer (native text format and XML format).

SNDlib, the Survivable fixed telecommunication Network Design library (S. Orlowski, R. Wessäly,
M. Pióro, A. Tomaszewski, "SNDlib 1.0 -- Survivable Network Design Library", Networks 55(3):276-286, 2010),
publishes network instances in two formats.

Native format (``.txt``)::

    ?SNDlib native format; type: network; version: 1.0
    # <node_id> ( <longitude> <latitude> )
    NODES (
      Berlin ( 13.40 52.52 )
      ...
    )
    # <link_id> ( <source> <target> ) <pre_installed_capacity> <pre_installed_capacity_cost>
    #           <routing_cost> <setup_cost> ( {<module_capacity> <module_cost>}* )
    LINKS (
      L1 ( Berlin Hamburg ) 0.00 0.00 0.00 0.00 ( 40.00 1.00 )
    )
    # <demand_id> ( <source> <target> ) <routing_unit> <demand_value> <max_path_length>
    DEMANDS (
      D1 ( Berlin Hamburg ) 1 12.00 UNLIMITED
    )

plus optional ``META (...)`` and ``ADMISSIBLE_PATHS (...)`` sections. XML format: root
``<network xmlns="http://sndlib.zib.de/network">`` with ``networkStructure/nodes[@coordinatesType]/node[@id]/
coordinates/{x,y}``, ``networkStructure/links/link[@id]/{source,target}`` and
``demands/demand[@id]/{source,target,demandValue}``.

Some SNDlib instances have *pixel* coordinates (drawing positions, ``coordinatesType="pixel"`` in XML); they
cannot be placed on the Earth and are refused. The native format does not state the coordinate type: values
outside longitude/latitude ranges are taken as pixels; pass ``coordinates="pixel"`` to refuse explicitly
or ``"geographical"`` to skip the range heuristic's warning.
"""
from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from qtopo.errors import InputError, Problem, ProblemCollector
from qtopo.importers._common import (CRS, DENSIFY_KM, ImportReport, check_file, datacenter_kinds, declare_node,
                                     isolated_note, parse_xml, read_text, routes_between, usable_link)

_HEADER = "cannot import SNDlib file"
_NATIVE_MAGIC = "?SNDlib native format"
_SECTIONS = ("META", "NODES", "LINKS", "DEMANDS", "ADMISSIBLE_PATHS")
_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NODE_RE = re.compile(rf"^(\S+)\s*(?:\(\s*({_FLOAT})\s*,?\s*({_FLOAT})\s*\))?\s*$")
_PAIR_RE = re.compile(r"^(\S+)\s*\(\s*(\S+)\s+(\S+)\s*\)\s*(.*)$")
_PIXEL_HINT = ("SNDlib instances with pixel coordinates are drawings, not maps; use an instance with "
               "geographical coordinates (e.g. germany50, nobel-eu, polska) or a Topology Zoo graph")

SITE_COLUMNS = ["id", "name", "kind", "geometry"]
DEMAND_COLUMNS = ["id", "source", "target", "demand_value"]


def read_sndlib(path: str | Path, *, datacenters=None, operator: str = "",
                coordinates: str = "auto", spacing_km: float = DENSIFY_KM):
    """Read an SNDlib network file (native ``.txt`` or ``.xml``, optionally ``.gz``).

    Parameters
    ----------
    path : str or Path
        SNDlib network file; the format is detected from its content.
    datacenters : iterable of str, optional
        Node ids to mark ``kind="datacenter"``; the others are ``"pop"``.
    operator : str
        Value of the routes' ``operator`` column.
    coordinates : {"auto", "geographical", "pixel"}
        Coordinate type. XML files state it (``coordinatesType``) and that wins unless it contradicts an
        explicit value. ``"pixel"`` always refuses the file.
    spacing_km : float
        Maximum vertex spacing of the great-circle route geometries.

    Returns
    -------
    sites : geopandas.GeoDataFrame
        Points (EPSG:4326): ``id`` (the SNDlib node id), ``name``, ``kind``.
    routes : geopandas.GeoDataFrame
        Great-circle LineStrings, parallel links collapsed: ``id``, ``from_pop``, ``to_pop``, ``operator``,
        ``geodesic_km``, ``multiplicity``, ``source_ids``.
    demands : pandas.DataFrame
        ``id``, ``source``, ``target``, ``demand_value`` (SNDlib traffic units, *not* key rates).
    report : ImportReport
        Skipped nodes and links, notes.

    Raises
    ------
    qtopo.errors.InputError
        Missing or malformed file, pixel coordinates, nodes without coordinates only, links or demands
        naming unknown nodes; every problem is listed with its line.
    """
    if coordinates not in ("auto", "geographical", "pixel"):
        raise InputError([Problem("coordinates", f"unknown coordinate type {coordinates!r}",
                                  "use auto, geographical or pixel")], _HEADER)
    p = check_file(path, "SNDlib network file")
    src = str(p)
    data = read_text(p)
    head = data.lstrip()[:400]
    if head.startswith(b"<"):
        parsed = _parse_xml(data, src)
    else:
        parsed = _parse_native(data, src)
    return _assemble(src, *parsed, coordinates, datacenters, operator, spacing_km)


# ---------------------------------------------------------------------------------------------- parsing
def _parse_native(data: bytes, src: str):
    """Parse the native format into (nodes, links, demands, coordinate type, network name, problems)."""
    probs = ProblemCollector(_HEADER)
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    start, network = _native_header(lines, src)
    nodes, links, demands = [], [], []
    section, seen, ctype = None, set(), None
    for i, raw in enumerate(lines[start:], start + 1):
        ln = raw.split("#", 1)[0].strip()
        if not ln:
            continue
        if section is None:
            mm = re.match(r"^([A-Z_]+)\s*\($", ln)
            if mm and mm.group(1) in _SECTIONS:
                section = mm.group(1)
                if section in seen:
                    probs.add(f"{src}, line {i}", f"section {section} appears twice", "merge the sections")
                seen.add(section)
            else:
                probs.add(f"{src}, line {i}", f"expected a section header like 'NODES (', got {ln[:60]!r}",
                          f"sections are {', '.join(_SECTIONS)}, each closed by ')' on its own line")
            continue
        if ln == ")":
            section = None
            continue
        got = _native_record(section, ln, i, src, probs, nodes, links, demands)
        if got is not None:
            ctype = got
    if section is not None:
        probs.add(src, f"section {section} is not closed (missing ')')", "close every section with ')'")
    if "NODES" not in seen:
        probs.add(src, "no NODES section", "an SNDlib network file needs NODES ( ... )")
        probs.raise_if_any()
    return nodes, links, demands, ctype, network, probs


def _native_header(lines: list, src: str) -> tuple:
    """The native file's first line checked (magic, ``type: network``); returns ``(its line number, the network
    name from a '# network NAME' comment or "")``."""
    first = next(((i, ln.strip()) for i, ln in enumerate(lines, 1) if ln.strip() and not ln.strip().startswith("#")),
                 None)
    if first is None:
        raise InputError([Problem(src, "file is empty", "give an SNDlib network file")], _HEADER)
    if not first[1].startswith(_NATIVE_MAGIC):
        raise InputError([Problem(f"{src}, line {first[0]}", f"not an SNDlib file: first line is {first[1][:60]!r}",
                                  f"native SNDlib files start with '{_NATIVE_MAGIC}; type: network; "
                                  "version: 1.0'; XML files with '<?xml'")], _HEADER)
    m = re.search(r"type:\s*([A-Za-z_]+)", first[1])
    if m and m.group(1).lower() != "network":
        raise InputError([Problem(f"{src}, line {first[0]}", f"SNDlib file of type {m.group(1)!r}",
                                  "give the network file of the instance (type: network)")], _HEADER)
    network = ""
    for ln in lines[: first[0] + 5]:
        mm = re.match(r"^#\s*network\s+(\S+)", ln.strip())
        if mm:
            network = mm.group(1)
    return first[0], network


def _native_record(section: str, ln: str, i: int, src: str, probs: ProblemCollector, nodes: list, links: list,
                   demands: list):
    """One line inside a section of a native file, appended to its list; a coordinate type read from META is
    returned (else None)."""
    if section == "META":
        mm = re.match(r"^(\S+)\s*=\s*(.*)$", ln)
        if mm and mm.group(1).lower() in ("coordinatestype", "coordinates_type", "coordinates"):
            return mm.group(2).strip().lower()
    elif section == "NODES":
        mm = _NODE_RE.match(ln)
        if not mm:
            probs.add(f"{src}, line {i}", f"cannot read node line {ln[:80]!r}",
                      "write nodes as: <id> ( <longitude> <latitude> )")
            return None
        x = float(mm.group(2)) if mm.group(2) is not None else None
        y = float(mm.group(3)) if mm.group(3) is not None else None
        nodes.append((mm.group(1), x, y, i))
    elif section in ("LINKS", "DEMANDS"):
        mm = _PAIR_RE.match(ln)
        if not mm:
            what = "link" if section == "LINKS" else "demand"
            probs.add(f"{src}, line {i}", f"cannot read {what} line {ln[:80]!r}",
                      f"write {what}s as: <id> ( <source> <target> ) ...")
            return None
        lid, s, t, rest = mm.groups()
        if section == "LINKS":
            links.append((lid, s, t, i))
        else:
            toks = rest.split()
            try:
                val = float(toks[1])
            except (IndexError, ValueError):
                probs.add(f"{src}, line {i}, demand {lid}", f"no numeric demand value in {rest[:60]!r}",
                          "write demands as: <id> ( <source> <target> ) <routing_unit> <demand_value> "
                          "<max_path_length>")
                return None
            demands.append((lid, s, t, val, i))
    return None


def _parse_xml(data: bytes, src: str):
    """Parse the XML format into (nodes, links, demands, coordinate type, network name, problems)."""
    root = parse_xml(data, src, _HEADER)
    probs = ProblemCollector(_HEADER)
    if root.tag != "network":
        raise InputError([Problem(f"{src}, line {root.line}", f"root element is <{root.tag}>, not <network>",
                                  "give an SNDlib network file (not a solution or model file)")], _HEADER)
    struct = root.find("networkStructure")
    nodes_el = struct.find("nodes") if struct is not None else None
    if nodes_el is None:
        raise InputError([Problem(src, "no <networkStructure><nodes> element",
                                  "an SNDlib network file lists its nodes in networkStructure/nodes")], _HEADER)
    ctype = (nodes_el.get("coordinatesType") or "").strip().lower() or None
    nodes = []
    for n in nodes_el.findall("node"):
        c = n.find("coordinates")
        x = y = None
        if c is not None:
            try:
                x, y = float(c.findtext("x")), float(c.findtext("y"))
            except (TypeError, ValueError):
                probs.add(f"{src}, line {n.line}, node {n.get('id')}", "coordinates x/y are not numbers",
                          "write <coordinates><x>lon</x><y>lat</y></coordinates>")
                continue
        nodes.append((n.get("id"), x, y, n.line))
    links = []
    links_el = struct.find("links")
    for ln in (links_el.findall("link") if links_el is not None else []):
        links.append((ln.get("id"), ln.findtext("source"), ln.findtext("target"), ln.line))
    demands = []
    dem_el = root.find("demands")
    for d in (dem_el.findall("demand") if dem_el is not None else []):
        try:
            val = float(d.findtext("demandValue"))
        except (TypeError, ValueError):
            probs.add(f"{src}, line {d.line}, demand {d.get('id')}", "demandValue missing or not a number",
                      "give <demandValue>number</demandValue>")
            continue
        demands.append((d.get("id"), d.findtext("source"), d.findtext("target"), val, d.line))
    meta = root.find("meta")
    network = (meta.findtext("name") if meta is not None else None) or ""
    return nodes, links, demands, ctype, network, probs


# ---------------------------------------------------------------------------------------------- assembly
def _assemble(src, nodes, links, demands, ctype, network, probs, coordinates, datacenters, operator, spacing_km):
    """Validate parsed records (adding to ``probs``) and build sites, routes and demands."""
    report = ImportReport(source=src, network=network or Path(src).name.split(".")[0])

    if ctype is not None and ctype not in ("geographical", "pixel"):
        probs.add(src, f"unknown coordinatesType {ctype!r}", "SNDlib uses 'geographical' or 'pixel'")
    if coordinates == "pixel" or ctype == "pixel":
        declared = "the file declares coordinatesType=\"pixel\"" if ctype == "pixel" else "pixel coordinates"
        probs.add(src, f"{declared}: node positions are drawing coordinates, not longitude/latitude",
                  _PIXEL_HINT)
        probs.raise_if_any()
    ids, seen_ids, xs_a, ys_a = _located_nodes(src, nodes, ctype, coordinates, probs, report)
    located = set(ids)
    f_ids, t_ids, l_ids = [], [], []
    for lid, s, t, line in links:
        if not usable_link(s, t, seen_ids, located, f"{src}, line {line}, link {lid}", f"{lid} (line {line})", probs,
                           report.dropped_links, unknown_text="unknown node(s) {}",
                           unknown_fix="links must join nodes declared in NODES", show=repr):
            continue
        f_ids.append(s)
        t_ids.append(t)
        l_ids.append(lid or f"line{line}")
    dem_rows = _usable_demands(src, demands, seen_ids, located, probs, report)
    probs.raise_if_any()

    sites = gpd.GeoDataFrame({"id": ids, "name": ids,
                              "kind": datacenter_kinds(ids, datacenters, src, _HEADER)},
                             geometry=gpd.points_from_xy(xs_a, ys_a), crs=CRS)
    routes, n_par = routes_between(sites, f_ids, t_ids, l_ids, operator=operator, spacing_km=spacing_km)
    if n_par:
        report.notes.append(f"collapsed parallel links on {n_par} node pair(s) into single routes")
    report.n_sites, report.n_routes = len(sites), len(routes)
    report.notes += isolated_note(ids, routes)
    dem = pd.DataFrame(dem_rows, columns=DEMAND_COLUMNS)
    return sites[SITE_COLUMNS], routes, dem, report


def _located_nodes(src, nodes: list, ctype, coordinates: str, probs: ProblemCollector, report: ImportReport):
    """Declared nodes (ids checked) and those with longitude/latitude; pixel (drawing) coordinates refused.
    Returns ``(located ids, all declared ids, lon array, lat array)``."""
    ids, seen_ids, xs, ys = [], set(), [], []
    for nid, x, y, line in nodes:
        if not declare_node(nid, f"{src}, line {line}", seen_ids, probs, missing_text="node without id"):
            continue
        if x is None or y is None:
            report.skipped_nodes.append(f"{nid} (line {line}): no coordinates")
            continue
        ids.append(nid)
        xs.append(x)
        ys.append(y)
    if not seen_ids:
        probs.add(src, "no nodes", "an SNDlib network needs nodes")
    elif not ids:
        probs.add(src, f"none of the {len(seen_ids)} nodes has coordinates",
                  "give every node ( <longitude> <latitude> ) coordinates")
    xs_a, ys_a = np.asarray(xs, float), np.asarray(ys, float)
    out = (np.abs(xs_a) > 180.0) | (np.abs(ys_a) > 90.0)
    if ids and out.any() and ctype != "geographical":
        bad = [f"{i} ({x:g} {y:g})" for i, x, y in zip(np.asarray(ids)[out], xs_a[out], ys_a[out])]
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        probs.add(src, f"coordinates are not longitude/latitude (pixel coordinates?): {', '.join(bad[:5])}{more}",
                  _PIXEL_HINT)
        probs.raise_if_any()                                     # nothing else matters for a drawing
    elif ids and out.any():
        for i, x, y in zip(np.asarray(ids)[out], xs_a[out], ys_a[out]):
            probs.add(f"{src}, node {i}", f"coordinates out of range (lon={x:g}, lat={y:g})",
                      "longitude must be in [-180, 180] and latitude in [-90, 90]")
    if ctype is None and coordinates == "auto":
        report.notes.append("coordinate type not stated in the file; values are within longitude/latitude "
                            "ranges and were read as geographical (x = longitude, y = latitude)")
    return ids, seen_ids, xs_a, ys_a


def _usable_demands(src, demands: list, seen_ids: set, located: set, probs: ProblemCollector,
                    report: ImportReport) -> list:
    """Demands between declared nodes (others reported); those with an endpoint without coordinates, or from a
    node to itself, dropped with a note."""
    dem_rows = []
    for did, s, t, val, line in demands:
        unknown = [x for x in (s, t) if x not in seen_ids]
        if unknown:
            probs.add(f"{src}, line {line}, demand {did}", f"unknown node(s) {', '.join(map(repr, unknown))}",
                      "demands must join nodes declared in NODES")
            continue
        if s in located and t in located and s != t:
            dem_rows.append((did, s, t, val))
        else:
            report.notes.append(f"demand {did} (line {line}) dropped: endpoint without coordinates or self-demand")
    return dem_rows
