"""Helpers shared by the importers: ids, country codes, geodesic route geometry, file checks."""
from __future__ import annotations

import gzip
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyproj import Geod

from qtopo.errors import InputError, Problem
from qtopo.importers._countries import COUNTRY_CODES

#: WGS84 ellipsoid; every length in the importers is geodesic on it (never degrees).
GEOD = Geod(ellps="WGS84")
#: CRS of every GeoDataFrame the importers produce.
CRS = "EPSG:4326"
#: Default spacing of the vertices of great-circle routes (km).
DENSIFY_KM = 5.0


@dataclass
class ImportReport:
    """What an importer did with its input, for the user to read.

    Attributes
    ----------
    source : str
        The file that was read.
    network : str
        Network name found in the file (may be empty).
    n_sites, n_routes : int
        Number of sites and routes produced.
    skipped_nodes : list of str
        Nodes not imported (e.g. no coordinates), each ``"id (label): reason"``.
    dropped_links : list of str
        Links not imported (self-loops, links to skipped nodes), each with the reason.
    external_nodes : list of str
        Ids of nodes flagged as external to the operator's network (kept).
    notes : list of str
        Anything else worth knowing (collapsed parallel links, ...).
    """

    source: str
    network: str = ""
    n_sites: int = 0
    n_routes: int = 0
    skipped_nodes: list[str] = field(default_factory=list)
    dropped_links: list[str] = field(default_factory=list)
    external_nodes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.source}: network {self.network!r}: {self.n_sites} sites, {self.n_routes} routes"]
        if self.skipped_nodes:
            lines.append(f"  skipped {len(self.skipped_nodes)} node(s):")
            lines += [f"    - {s}" for s in self.skipped_nodes]
        if self.dropped_links:
            lines.append(f"  dropped {len(self.dropped_links)} link(s):")
            lines += [f"    - {s}" for s in self.dropped_links]
        if self.external_nodes:
            lines.append(f"  {len(self.external_nodes)} external node(s) kept (internal=False): "
                         + ", ".join(self.external_nodes))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def check_file(path: str | Path, what: str) -> Path:
    """Return ``path`` as a Path, or raise :class:`InputError` if it is not a readable file.

    Parameters
    ----------
    path : str or Path
        File to check.
    what : str
        Human description used in the message, e.g. ``"Topology Zoo GraphML file"``.
    """
    p = Path(path)
    if not p.exists():
        raise InputError([Problem(str(p), f"{what} not found", "check the path")], "cannot import")
    if not p.is_file():
        raise InputError([Problem(str(p), f"{what} is not a file", "give the path of a file")], "cannot import")
    return p


def read_text(path: Path) -> bytes:
    """Read a file as bytes, transparently decompressing ``.gz``."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise InputError([Problem(str(path), f"cannot read file: {exc}", "check the file is intact")],
                         "cannot import") from None


def slugify(label: str) -> str:
    """Short, stable ASCII slug of a label: ``"Den Haag"`` -> ``"den-haag"``, ``"Zürich"`` -> ``"zurich"``."""
    s = unicodedata.normalize("NFKD", str(label)).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")


def unique_slugs(labels, fallbacks) -> list[str]:
    """Unique slugs for ``labels``; duplicates get ``-2``, ``-3``... in input order.

    Parameters
    ----------
    labels : sequence of str
        Labels to slugify (may be empty strings).
    fallbacks : sequence of str
        Used (slugified) when a label slugifies to the empty string, e.g. ``"node-7"``.
    """
    base = [slugify(lab) or slugify(fb) for lab, fb in zip(labels, fallbacks)]
    taken = set(base)
    seen: dict[str, int] = {}
    out = []
    for b in base:
        k = seen.get(b, 0) + 1
        seen[b] = k
        if k == 1:
            out.append(b)
            continue
        cand, j = f"{b}-{k}", k
        while cand in taken:
            j += 1
            cand = f"{b}-{j}"
        taken.add(cand)
        out.append(cand)
    return out


def country_code(name: str | None) -> str:
    """ISO 3166-1 alpha-2 code of a country name (or code); ``""`` if unknown or missing."""
    if not name:
        return ""
    s = str(name).strip()
    if len(s) == 2 and s.isalpha():
        return s.upper()
    return COUNTRY_CODES.get(s.casefold(), "")


def geodesic_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic (WGS84) distance in km between arrays of points."""
    _, _, d = GEOD.inv(np.asarray(lon1, float), np.asarray(lat1, float),
                       np.asarray(lon2, float), np.asarray(lat2, float))
    return np.asarray(d, float) / 1000.0


def geodesic_lines(lon1, lat1, lon2, lat2, spacing_km: float = DENSIFY_KM) -> np.ndarray:
    """Great-circle polylines between point pairs, with a vertex at least every ``spacing_km``.

    Vectorised: all intermediate vertices of all lines are computed by one ``Geod.fwd`` call.

    Parameters
    ----------
    lon1, lat1, lon2, lat2 : array_like
        Endpoints in degrees (WGS84).
    spacing_km : float
        Maximum distance between consecutive vertices.

    Returns
    -------
    numpy.ndarray of shapely.LineString
        One line per pair, starting exactly at point 1 and ending exactly at point 2.

    Notes
    -----
    Longitudes are normalised to [-180, 180], so a route crossing the antimeridian (Pacific cables) is drawn
    across the map; its ``geodesic_km`` is still right. None of the bundled networks crosses it.
    """
    lon1, lat1, lon2, lat2 = (np.atleast_1d(np.asarray(a, float)) for a in (lon1, lat1, lon2, lat2))
    if lon1.size == 0:
        return np.empty(0, dtype=object)
    az, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    nseg = np.maximum(1, np.ceil(np.asarray(dist) / (spacing_km * 1000.0)).astype(int))
    npts = nseg + 1
    line_idx = np.repeat(np.arange(lon1.size), npts)
    starts = np.cumsum(npts) - npts
    k = np.arange(npts.sum()) - np.repeat(starts, npts)          # vertex number within its line
    frac = k / np.repeat(nseg, npts)
    lon, lat, _ = GEOD.fwd(lon1[line_idx], lat1[line_idx], np.asarray(az)[line_idx],
                           np.asarray(dist)[line_idx] * frac)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    last = starts + nseg                                          # pin the end vertices exactly
    lon[starts], lat[starts] = lon1, lat1
    lon[last], lat[last] = lon2, lat2
    import shapely

    return shapely.linestrings(np.column_stack([lon, lat]), indices=line_idx)


def declare_node(nid, where: str, declared: set, probs, *, missing_text: str) -> bool:
    """Add node ``nid`` to ``declared``; a missing or repeated id is a problem of the file (False)."""
    if not nid:
        probs.add(where, missing_text, "give every node an id")
        return False
    if nid in declared:
        probs.add(f"{where}, node {nid}", "node id declared twice", "make node ids unique")
        return False
    declared.add(nid)
    return True


def usable_link(u, v, declared, located, where: str, label: str, probs, dropped: list, *,
                unknown_text: str, unknown_fix: str, show=str) -> bool:
    """Whether link ``u``-``v`` of a source file can be imported; records why not.

    A node that was never declared is a problem of the file (``probs``: ``where`` and ``unknown_text`` naming
    the nodes, ``unknown_fix``); a self-loop or an endpoint without coordinates drops the link (``dropped``
    gets ``label``: reason).
    """
    unknown = [x for x in (u, v) if x is None or x not in declared]
    if unknown:
        probs.add(where, unknown_text.format(", ".join(map(show, unknown))), unknown_fix)
        return False
    if u == v:
        dropped.append(f"{label}: self-loop")
        return False
    if u not in located or v not in located:
        dropped.append(f"{label}: endpoint without coordinates")
        return False
    return True


class XmlElement:
    """Minimal XML element with its source line number (namespaces stripped from tags).

    Attributes
    ----------
    tag : str
        Local name of the element.
    attrib : dict
        Attributes (local names).
    text : str
        Concatenated character data directly inside the element, stripped.
    children : list of XmlElement
        Child elements in document order.
    line : int
        Line of the start tag in the file (1-based).
    """

    __slots__ = ("tag", "attrib", "text", "children", "line", "_text")

    def __init__(self, tag, attrib, line):
        self.tag, self.attrib, self.line = tag, attrib, line
        self.children: list[XmlElement] = []
        self._text: list[str] = []
        self.text = ""

    def get(self, key, default=None):
        return self.attrib.get(key, default)

    def find(self, tag):
        """First child with local name ``tag``, or None."""
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag):
        """Children with local name ``tag``."""
        return [c for c in self.children if c.tag == tag]

    def findtext(self, tag, default=None):
        c = self.find(tag)
        return c.text if c is not None else default

    def iter(self, tag):
        """All descendants (and self) with local name ``tag``, in document order."""
        if self.tag == tag:
            yield self
        for c in self.children:
            yield from c.iter(tag)


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].rsplit(" ", 1)[-1]


def parse_xml(data: bytes, src: str, header: str) -> XmlElement:
    """Parse XML bytes into :class:`XmlElement` trees that remember line numbers.

    Parameters
    ----------
    data : bytes
        The document.
    src : str
        File name used in error messages.
    header : str
        Header of the :class:`InputError` raised on malformed XML.

    Raises
    ------
    qtopo.errors.InputError
        Malformed XML, naming the line and column.
    """
    from xml.parsers import expat

    p = expat.ParserCreate(namespace_separator="}")
    stack: list[XmlElement] = []
    root: list[XmlElement] = []

    def start(name, attrs):
        el = XmlElement(_local(name), {_local(k): v for k, v in attrs.items()}, p.CurrentLineNumber)
        (stack[-1].children if stack else root).append(el)
        stack.append(el)

    def end(name):
        el = stack.pop()
        el.text = "".join(el._text).strip()
        el._text = []

    def chars(data):
        if stack:
            stack[-1]._text.append(data)

    p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = start, end, chars
    try:
        p.Parse(data, True)
    except expat.ExpatError as exc:
        raise InputError([Problem(f"{src}, line {exc.lineno}, column {exc.offset + 1}",
                                  f"malformed XML: {expat.ErrorString(exc.code)}",
                                  "the file must be well-formed XML (was it truncated or edited by hand?)")],
                         header) from None
    if not root:
        raise InputError([Problem(src, "empty XML document", "give a non-empty file")], header)
    return root[0]


def datacenter_kinds(ids, datacenters, src: str, header: str) -> np.ndarray:
    """``kind`` column: ``"datacenter"`` for the ids in ``datacenters``, ``"pop"`` otherwise.

    Raises
    ------
    qtopo.errors.InputError
        If some of ``datacenters`` are not in ``ids`` (all listed).
    """
    ids = np.asarray(list(ids), dtype=object)
    kinds = np.full(len(ids), "pop", dtype=object)
    if datacenters:
        dc = [str(d).strip() for d in datacenters if str(d).strip()]
        unknown = sorted(set(dc) - set(ids.tolist()))
        if unknown:
            example = ", ".join(map(str, ids[:6]))
            raise InputError([Problem(src, f"datacenter id {u!r} is not a site id",
                                      f"use ids of the imported sites, e.g. {example}") for u in unknown],
                             header)
        kinds[np.isin(ids, dc)] = "datacenter"
    return kinds


def routes_between(sites, from_ids, to_ids, link_ids, *, operator: str = "", spacing_km: float = DENSIFY_KM,
                   collapse: bool = True, length_km=None):
    """Great-circle routes between pairs of sites.

    Parameters
    ----------
    sites : geopandas.GeoDataFrame
        Points with a unique ``id``; the order of the rows orients each route (``from`` comes first).
    from_ids, to_ids : sequence of str
        Site ids of the link endpoints (no self-loops; both ids must exist).
    link_ids : sequence of str
        Original link ids, kept in ``source_ids``.
    operator : str
        Value of the ``operator`` column.
    spacing_km : float
        Maximum vertex spacing of the geometries.
    collapse : bool
        Merge parallel links (same unordered pair) into one route with ``multiplicity`` > 1.
    length_km : sequence of float, optional
        Surveyed lengths, kept as column ``length_km`` (only with ``collapse=False``).

    Returns
    -------
    routes : geopandas.GeoDataFrame
        Columns ``id`` (``r000``...), ``from_pop``, ``to_pop``, ``operator``, ``geodesic_km``,
        ``multiplicity``, ``source_ids`` [, ``length_km``], LineString geometry in EPSG:4326.
    n_parallel : int
        Number of site pairs that had parallel links.
    """
    import geopandas as gpd
    import pandas as pd

    ids = sites["id"].astype(str).to_numpy()
    pos = pd.Series(np.arange(len(ids)), index=ids)
    a = np.asarray(list(from_ids), dtype=object)
    b = np.asarray(list(to_ids), dtype=object)
    swap = pos.reindex(a).to_numpy() > pos.reindex(b).to_numpy()
    e = pd.DataFrame({"from_pop": np.where(swap, b, a), "to_pop": np.where(swap, a, b),
                      "eid": [str(x) for x in link_ids]})
    if length_km is not None:
        e["length_km"] = np.asarray(length_km, float)
    if collapse:
        g = (e.groupby(["from_pop", "to_pop"], sort=False)
             .agg(multiplicity=("eid", "size"), source_ids=("eid", ";".join)).reset_index())
    else:
        key = e["from_pop"] + "\x00" + e["to_pop"]
        g = e.rename(columns={"eid": "source_ids"})
        g["multiplicity"] = key.map(key.value_counts()).to_numpy()
    n_par = int(((g["multiplicity"] > 1) & ~g.duplicated(["from_pop", "to_pop"])).sum())
    xy = sites.set_index(sites["id"].astype(str)).geometry
    fa, ta = xy.reindex(g["from_pop"]), xy.reindex(g["to_pop"])
    lon1, lat1, lon2, lat2 = fa.x.to_numpy(), fa.y.to_numpy(), ta.x.to_numpy(), ta.y.to_numpy()
    width = max(3, len(str(max(len(g) - 1, 0))))
    cols = {"id": [f"r{i:0{width}d}" for i in range(len(g))],
            "from_pop": g["from_pop"].to_numpy(dtype=object), "to_pop": g["to_pop"].to_numpy(dtype=object),
            "operator": operator,
            "geodesic_km": np.round(geodesic_km(lon1, lat1, lon2, lat2), 4),
            "multiplicity": g["multiplicity"].astype("int64").to_numpy(),
            "source_ids": g["source_ids"].to_numpy(dtype=object)}
    if length_km is not None and not collapse:
        cols["length_km"] = g["length_km"].to_numpy()
    routes = gpd.GeoDataFrame(cols, geometry=geodesic_lines(lon1, lat1, lon2, lat2, spacing_km), crs=CRS)
    return routes, n_par


def isolated_note(site_ids, routes) -> list[str]:
    """A report note listing sites that no route touches (empty list if none)."""
    iso = sorted(set(site_ids) - set(routes["from_pop"]) - set(routes["to_pop"]))
    return [f"{len(iso)} site(s) have no route: {', '.join(iso)}"] if iso else []
