"""Generic CSV network importer.

Two files:

- nodes: ``id,lon,lat[,name,kind]`` -- one row per site, coordinates in degrees (WGS84);
- links: ``from,to[,length_km]`` -- one row per fibre link between node ids; ``length_km`` is an optional
  surveyed fibre length (empty cells mean "unknown": the planner then uses geodesic x route factor).

Column names are matched case-insensitively; ``longitude``/``latitude``, ``source``/``target`` and
``src``/``dst`` are accepted as aliases.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from qtopo.errors import InputError, ProblemCollector
from qtopo.importers._common import (CRS, DENSIFY_KM, ImportReport, check_file, datacenter_kinds,
                                     isolated_note, routes_between)

_HEADER = "cannot import CSV network"
_NODE_ALIASES = {"id": ("id", "node", "node_id", "name_id"), "lon": ("lon", "longitude", "lng", "x"),
                 "lat": ("lat", "latitude", "y")}
_LINK_ALIASES = {"from": ("from", "source", "src", "u", "a"), "to": ("to", "target", "dst", "v", "b")}


def _read_csv(path: Path, probs: ProblemCollector) -> pd.DataFrame | None:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, comment=None)
    except pd.errors.EmptyDataError:
        probs.add(str(path), "file is empty", "give a CSV file with a header row")
        return None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        probs.add(str(path), f"malformed CSV: {str(exc).strip()}", "check quoting and the number of fields per row")
        return None
    df.columns = [str(c).strip() for c in df.columns]
    return df.apply(lambda c: c.str.strip())


def _columns(df, aliases, path, probs, required):
    """Map canonical names to the file's column names."""
    lower = {c.lower(): c for c in df.columns}
    out = {}
    for canon, names in aliases.items():
        hit = next((lower[n] for n in names if n in lower), None)
        if hit is None and canon in required:
            probs.add(str(path), f"missing column {canon!r} (have: {', '.join(df.columns)})",
                      f"add a header column named {canon!r} (aliases: {', '.join(names[1:])})")
        out[canon] = hit
    return out


def read_csv_network(nodes_path: str | Path, links_path: str | Path, *, datacenters=None, operator: str = "",
                     spacing_km: float = DENSIFY_KM):
    """Read a network from a nodes CSV and a links CSV.

    Parameters
    ----------
    nodes_path : str or Path
        CSV with columns ``id,lon,lat`` and optionally ``name``, ``kind``.
    links_path : str or Path
        CSV with columns ``from,to`` and optionally ``length_km``.
    datacenters : iterable of str, optional
        Node ids to mark ``kind="datacenter"`` (overrides the ``kind`` column for those ids).
    operator : str
        Value of the routes' ``operator`` column.
    spacing_km : float
        Maximum vertex spacing of the great-circle route geometries.

    Returns
    -------
    sites : geopandas.GeoDataFrame
        Points (EPSG:4326) with ``id``, ``name``, ``kind``.
    routes : geopandas.GeoDataFrame
        One great-circle LineString per link row (parallel rows are kept: they may have different surveyed
        lengths): ``id``, ``from_pop``, ``to_pop``, ``operator``, ``geodesic_km``, ``multiplicity``,
        ``source_ids`` (``"row N"``), ``length_km`` (NaN where not given).
    report : ImportReport
        Dropped self-loops, notes.

    Raises
    ------
    qtopo.errors.InputError
        Missing or malformed files, missing columns, non-numeric or out-of-range coordinates, duplicate
        ids, links to unknown nodes, non-positive lengths; all listed at once with their line numbers
        (line 1 is the header).
    """
    probs = ProblemCollector(_HEADER)
    npath, lpath = Path(nodes_path), Path(links_path)
    for p, what in ((npath, "nodes CSV"), (lpath, "links CSV")):
        try:
            check_file(p, what)
        except InputError as exc:
            probs.extend(exc)
    probs.raise_if_any()
    nodes, links = _read_csv(npath, probs), _read_csv(lpath, probs)
    probs.raise_if_any()
    nc = _columns(nodes, _NODE_ALIASES, npath, probs, {"id", "lon", "lat"})
    lc = _columns(links, _LINK_ALIASES, lpath, probs, {"from", "to"})
    probs.raise_if_any()
    report = ImportReport(source=f"{npath} + {lpath}", network=npath.stem)
    ids, lon, lat = _check_nodes(nodes, nc, npath, probs)
    lower = {c.lower(): c for c in nodes.columns}
    names = nodes[lower["name"]] if "name" in lower else ids
    kinds = nodes[lower["kind"]].replace("", "pop") if "kind" in lower else pd.Series("pop", index=nodes.index)
    src, dst, lline, length = _check_links(links, lc, set(ids), npath, lpath, probs)
    probs.raise_if_any()

    loops = (src == dst).to_numpy()
    report.dropped_links += [f"line {lline[i]} ({src.iloc[i]} - {dst.iloc[i]}): self-loop"
                             for i in np.flatnonzero(loops)]
    keep = ~loops
    dc = set(datacenters or [])
    kind_arr = kinds.to_numpy(dtype=object).copy()
    if dc:
        kind_arr[datacenter_kinds(ids, dc, str(npath), _HEADER) == "datacenter"] = "datacenter"
    sites = gpd.GeoDataFrame({"id": ids.to_numpy(dtype=object), "name": names.to_numpy(dtype=object),
                              "kind": kind_arr}, geometry=gpd.points_from_xy(lon, lat), crs=CRS)
    routes, n_par = routes_between(sites, src[keep], dst[keep], [f"row {n}" for n in lline[keep]],
                                   operator=operator, spacing_km=spacing_km, collapse=False,
                                   length_km=length[keep])
    if n_par:
        report.notes.append(f"{n_par} node pair(s) have parallel links; kept as separate routes")
    report.n_sites, report.n_routes = len(sites), len(routes)
    report.notes += isolated_note(sites["id"], routes)
    return sites, routes, report


def _check_nodes(nodes: pd.DataFrame, nc: dict, npath: Path, probs: ProblemCollector) -> tuple:
    """Node ids present and unique, coordinates numbers within range (vectorised; line = row index + 2);
    returns ``(ids, lon, lat)``."""
    ids = nodes[nc["id"]]
    lon = pd.to_numeric(nodes[nc["lon"]], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(nodes[nc["lat"]], errors="coerce").to_numpy(float)
    line = np.arange(len(nodes)) + 2
    for i in np.flatnonzero(ids.to_numpy() == ""):
        probs.add(f"{npath.name}, line {line[i]}", "empty id", "give every node an id")
    for i in np.flatnonzero(ids.duplicated().to_numpy() & (ids.to_numpy() != "")):
        probs.add(f"{npath.name}, line {line[i]}, id {ids.iloc[i]!r}", "duplicate id", "make node ids unique")
    for name, vals, lim in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        raw = nodes[nc[name]].to_numpy()
        for i in np.flatnonzero(~np.isfinite(vals)):
            probs.add(f"{npath.name}, line {line[i]}, id {ids.iloc[i]!r}",
                      f"{name} {raw[i]!r} is not a number" if raw[i] else f"{name} is missing",
                      "give coordinates in decimal degrees (WGS84)")
        for i in np.flatnonzero(np.isfinite(vals) & (np.abs(vals) > lim)):
            probs.add(f"{npath.name}, line {line[i]}, id {ids.iloc[i]!r}", f"{name} {vals[i]:g} out of range",
                      f"{name} must be within [-{lim:g}, {lim:g}] degrees (x/y in metres are not supported)")
    return ids, lon, lat


def _check_links(links: pd.DataFrame, lc: dict, known: set, npath: Path, lpath: Path,
                 probs: ProblemCollector) -> tuple:
    """Link endpoints known node ids, ``length_km`` (when given) positive; returns ``(src, dst, line numbers,
    length_km with NaN where not given)``."""
    src, dst = links[lc["from"]], links[lc["to"]]
    lline = np.arange(len(links)) + 2
    lcol = {c.lower(): c for c in links.columns}.get("length_km")
    length = (pd.to_numeric(links[lcol].replace("", np.nan), errors="coerce").to_numpy(float)
              if lcol else np.full(len(links), np.nan))
    for i in np.flatnonzero(~src.isin(known).to_numpy() | ~dst.isin(known).to_numpy()):
        unknown = [x for x in (src.iloc[i], dst.iloc[i]) if x not in known]
        probs.add(f"{lpath.name}, line {lline[i]}", f"unknown node id(s) {', '.join(map(repr, unknown))}",
                  f"link endpoints must be ids in {npath.name}")
    if lcol:
        raw = links[lcol].to_numpy()
        bad = (raw != "") & ~(np.isfinite(length) & (length > 0))  # inf too: the scenario would refuse it
        for i in np.flatnonzero(bad):
            probs.add(f"{lpath.name}, line {lline[i]}", f"length_km {raw[i]!r} is not a positive number",
                      "give the surveyed fibre length in km, or leave the cell empty")
    return src, dst, lline, length
