"""Helpers shared by the importers: ids, country codes, geodesic route geometry, file checks."""
from __future__ import annotations

import gzip
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
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
    return shapely.linestrings(np.column_stack([lon, lat]), indices=line_idx)


def write_gpkg(gdf, path: Path, layer: str) -> None:
    """Write a GeoDataFrame as a single-layer GeoPackage with pyogrio, byte-reproducibly.

    GDAL stamps GeoPackages with the current time; ``OGR_CURRENT_DATE`` pins it so that rebuilding the
    same data gives the same bytes.
    """
    import pyogrio

    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"})
    try:
        gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})
