"""Reading user input (sites, routes, demands); atomic output writing lives in :mod:`qtopo.atomic`.

Readers validate at the boundary and report every problem at once (file, row/feature, what, fix). They return
GeoDataFrames in EPSG:4326 (lon/lat), the planner's storage CRS; lengths are computed geodesically elsewhere.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .atomic import (OUTPUT_MARKER, atomic_output_dir, check_output_dir, safe_child,
                     write_json_atomic)
from .errors import InputError, Problem, ProblemCollector
from .geo import WGS84, check_lonlat

#: re-exported from :mod:`qtopo.atomic` (older callers import them from here)
_REEXPORTED = (OUTPUT_MARKER, atomic_output_dir, check_output_dir, safe_child, write_json_atomic)

#: A surveyed ``length_km`` may be below the drawn line's geodesic length by at most this share or
#: :data:`LENGTH_TOLERANCE_KM`, whichever is larger (digitising noise); more is an error.
LENGTH_TOLERANCE = 0.02
LENGTH_TOLERANCE_KM = 0.05
#: ... and below this share of it (50 times too short), ``length_km`` is refused: a placeholder or unit mistake
#: (0.001 km on a 112 km route was planned as a free link). In between, a note names the route: schematic
#: drawings (straight lines between nodes, test networks) are not to scale, so they are allowed.
LENGTH_REFUSE_RATIO = 0.02

VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".fgb", ".zip", ".parquet", ".geoparquet"}
PARQUET_SUFFIXES = {".parquet", ".geoparquet"}
#: Formats :func:`write_vector` writes, by name: GeoPackage, GeoParquet (via pyarrow), FlatGeobuf (via GDAL).
VECTOR_FORMATS = {"gpkg": ".gpkg", "parquet": ".parquet", "fgb": ".fgb"}
MAX_INPUT_BYTES = 2 * 1024**3


def _show(v) -> str:
    """A cell value for a message: numbers plainly (``-5``, ``1e+15``, ``nan``), text quoted (``'fast'``)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v)


def _gdal_message(e: Exception) -> str:
    """The first, useful sentence of a GDAL/pyogrio error."""
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    if "malformed" in msg or "not a database" in msg:
        return "the file is damaged or truncated (SQLite: database disk image is malformed)"
    return msg.split("; It might help")[0]


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file (streamed)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _human_bytes(n: int) -> str:
    for unit, k in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= k:
            return f"{n / k:.3g} {unit}"
    return f"{n} bytes"


def _check_file(path: Path, what: str, col: ProblemCollector, suffixes=None) -> bool:
    if not path.exists():
        col.add(str(path), f"{what} file does not exist", "check the path in the scenario [inputs]")
        return False
    if path.is_dir():
        col.add(str(path), f"{what} path is a directory, not a file", "name the file inside it")
        return False
    if suffixes and path.suffix.lower() not in suffixes:
        col.add(str(path), f"{what} file has unsupported extension '{path.suffix}'",
                f"use one of {', '.join(sorted(suffixes))}")
        return False
    size = path.stat().st_size
    if size == 0:
        col.add(str(path), f"{what} file is empty", "export the layer again")
        return False
    if size > MAX_INPUT_BYTES:
        col.add(str(path), f"{what} file is {_human_bytes(size)} ({size} bytes), larger than the "
                f"{_human_bytes(MAX_INPUT_BYTES)} limit",
                "clip it to the study area first")
        return False
    return True


def _read_vector(path: Path, what: str, layer: str | None, col: ProblemCollector) -> gpd.GeoDataFrame | None:
    if not _check_file(path, what, col, VECTOR_SUFFIXES):
        return None
    if path.suffix.lower() == ".shp":
        if not path.with_suffix(".prj").exists() and not path.with_suffix(".PRJ").exists():
            col.add(str(path), "shapefile has no .prj file, so its CRS is unknown",
                    "export it again with its .prj, or convert it to GeoPackage with a CRS")
            return None
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_geoparquet(path, what, layer, col)
    kw = {"layer": layer} if layer else {}
    try:
        import pyogrio

        layers = [str(x) for x in pyogrio.list_layers(path)[:, 0]]
    except Exception:  # unreadable: reported by the read below
        layers = []
    if layer and layers and layer not in layers:
        import difflib

        close = difflib.get_close_matches(layer, layers, n=1)
        col.add(str(path), f"has no layer {layer!r} (layers: {', '.join(layers)})",
                f"did you mean {close[0]!r}? (inputs.{what}_layer)" if close else f"set inputs.{what}_layer to one of them")
        return None
    if not layer and len(layers) > 1:
        # never guess: reading the first layer silently could plan on the wrong data
        col.add(str(path), f"has {len(layers)} layers ({', '.join(layers)}) and the scenario does not say which "
                f"holds the {what}", f"set inputs.{what}_layer = \"...\" in the scenario")
        return None
    unreadable: dict[int, str] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN coordinates: reported per row below
            # mixed-type attribute columns stay text; the checks below report the bad values per row
            warnings.filterwarnings("ignore", message="Could not parse column", category=UserWarning)
            try:
                gdf = gpd.read_file(path, engine="pyogrio", **kw)
            except shapely.errors.GEOSException:
                # a feature GEOS cannot build (e.g. a one-vertex LineString): read the rest, name the bad rows
                gdf = gpd.read_file(path, engine="pyogrio", on_invalid="ignore", **kw)
                unreadable = _unreadable_rows(path, kw)
    except Exception as e:  # pyogrio raises DataSourceError / DataLayerError etc.
        from .textfile import sniff_encoding

        enc = sniff_encoding(_head(path)) if path.suffix.lower() in (".geojson", ".json") else None
        if enc is not None:
            col.add(str(path), f"cannot read {what} file: it is encoded as {enc}; GeoJSON must be UTF-8",
                    "save it as UTF-8 (GeoJSON is UTF-8 by definition, RFC 7946 section 11)")
        else:
            col.add(str(path), f"cannot read {what} file: {_gdal_message(e)}",
                    "check that it is a valid GeoPackage, GeoJSON, FlatGeobuf or Shapefile (not truncated)")
        return None
    gdf.attrs["unreadable"] = unreadable
    for i, why in unreadable.items():
        col.add(f"{path.name}, {_row_label(gdf, i)}", f"invalid geometry ({why})",
                "repair it in your GIS (a line needs at least 2 distinct vertices)")
    if gdf.crs is None:
        col.add(str(path), f"{what} layer has no CRS", "assign one (e.g. EPSG:4326) in your GIS and save again")
        return None
    return gdf


def _head(path: Path, n: int = 1024) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def normalize_id(v) -> str:
    """An id as qtopo compares it: text, stripped, Unicode NFC (a composed and a decomposed 'ü' are one id)."""
    import unicodedata

    return unicodedata.normalize("NFC", str(v).strip())


def _unknown_columns(col: ProblemCollector, path: Path, columns, table: str) -> None:
    """A column that nearly spells a known one (``k_route``) is an error: ignoring it would plan something else."""
    from .columns import near_misses

    for given, meant in near_misses(columns, table):
        col.add(str(path), f"unknown column {given!r} (did you mean {meant!r}?)",
                f"rename the column to {meant!r}; unknown columns are ignored, so its values would not be used")


def _read_geoparquet(path: Path, what: str, layer: str | None, col: ProblemCollector) -> gpd.GeoDataFrame | None:
    """GeoParquet (one layer per file; its CRS is in the file's ``geo`` metadata) via pyarrow."""
    if layer:
        col.add(str(path), f"GeoParquet holds one layer; inputs.{what}_layer = {layer!r} cannot apply",
                f"remove inputs.{what}_layer")
        return None
    try:
        importlib.import_module("pyarrow")  # only whether it imports
    except ImportError:
        col.add(str(path), "reading GeoParquet needs pyarrow, which is not installed",
                "pip install pyarrow (or convert the file to GeoPackage)")
        return None
    try:
        gdf = gpd.read_parquet(path)
    except Exception as e:  # ArrowInvalid, ValueError (no geo metadata), OSError
        col.add(str(path), f"cannot read {what} file as GeoParquet: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                "check that it is a GeoParquet file (Parquet with 'geo' metadata), not truncated")
        return None
    gdf.attrs["unreadable"] = {}
    if gdf.crs is None:
        col.add(str(path), f"{what} layer has no CRS", "write it again with a CRS (e.g. EPSG:4326)")
        return None
    return gdf


def write_gpkg(gdf, path: str | Path, layer: str | None) -> None:
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


def write_vector(gdf: gpd.GeoDataFrame, path: str | Path, layer: str | None = None) -> None:
    """Write ``gdf`` as GeoPackage (``.gpkg``, as ``layer``), GeoParquet (``.parquet``) or FlatGeobuf (``.fgb``).

    List and dict values are written as JSON text (none of the formats has a portable list type in GDAL).
    GeoPackages are stamped with a fixed date so that the same data gives the same bytes.
    """
    path = Path(path)
    g = gdf.copy()
    for c in g.columns:
        if c != g.geometry.name and g[c].map(lambda x: isinstance(x, (list, tuple, dict))).any():
            g[c] = g[c].map(lambda x: json.dumps(x) if isinstance(x, (list, tuple, dict)) else x)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        try:
            importlib.import_module("pyarrow")  # only whether it imports
        except ImportError:
            raise InputError([Problem(str(path), "writing GeoParquet needs pyarrow, which is not installed",
                                      "pip install pyarrow, or choose gpkg or fgb")], "cannot write output") from None
        g.to_parquet(path, index=False)
    elif suffix == ".fgb":
        g.to_file(path, driver="FlatGeobuf", engine="pyogrio")
    elif suffix == ".gpkg":
        write_gpkg(g, path, layer)
    else:
        raise InputError([Problem(str(path), f"cannot write vector format {path.suffix!r}",
                                  f"use one of {', '.join(VECTOR_FORMATS.values())}")], "cannot write output")


def _unreadable_rows(path: Path, kw: dict) -> dict[int, str]:
    """Rows whose geometry GEOS cannot build, with GEOS' reason."""
    import pyogrio.raw

    _, _, wkb, _ = pyogrio.raw.read(path, **kw)[:4]
    out = {}
    for i, w in enumerate(wkb):
        if w is None:
            continue
        try:
            shapely.from_wkb(w)
        except shapely.errors.GEOSException as e:
            out[i] = str(e).split(": ", 1)[-1]
    return out


def _unreadable_mask(gdf) -> np.ndarray:
    m = np.zeros(len(gdf), bool)
    m[list(gdf.attrs.get("unreadable", {}))] = True
    return m


def _coord_hint(x: float, y: float) -> str:
    """Why a coordinate pair is outside lon/lat, as a fix."""
    if not (math.isfinite(x) and math.isfinite(y)):
        return "give the point finite coordinates"
    if abs(x) > 360 or abs(y) > 360:
        return ("these look like metres of a projected CRS (wrong CRS): declare the layer's real CRS (e.g. "
                "EPSG:28992, EPSG:3035) instead of lon/lat EPSG:4326")
    if abs(y) > 90 and abs(x) <= 90:
        return "lon/lat look swapped (check for swapped lon/lat, or a wrong CRS)"
    return "check for swapped lon/lat or a wrong CRS"


def _row_label(gdf, i, idcol="id") -> str:
    if idcol in gdf.columns:
        v = gdf[idcol].iloc[i]
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            return f"row {i} (id={v!r})"
    return f"row {i}"


def _to_wgs84(gdf: gpd.GeoDataFrame, path: Path, what: str, col: ProblemCollector) -> gpd.GeoDataFrame | None:
    try:
        out = gdf.to_crs(WGS84)
    except Exception as e:
        col.add(str(path), f"cannot transform {what} from {gdf.crs} to {WGS84}: {e}", "check the layer's CRS")
        return None
    return out


def read_sites(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read sites (Points) with a unique string ``id``.

    Optional columns: ``name``, ``kind`` (``datacenter``, ``pop``, ...), ``capex_eur`` (node capex override),
    ``country``, ``operator``.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326, index reset, ``id`` as str, ``kind`` filled with ``"site"`` where missing.

    Raises
    ------
    InputError
        Listing every problem: missing file or CRS, missing/duplicate ids, non-point, empty or non-finite
        geometry, coordinates outside the lon/lat range (e.g. swapped).
    """
    path = Path(path)
    col = ProblemCollector(f"invalid sites file {path}")
    gdf = _read_vector(path, "sites", layer, col)
    col.raise_if_any()
    if len(gdf) == 0:
        col.add(str(path), "sites layer has no features", "add at least two sites")
        col.raise_if_any()
    if "id" not in gdf.columns:
        col.add(str(path), f"sites layer has no 'id' column (columns: {', '.join(map(str, gdf.columns))})",
                "add a unique text column named 'id'")
        col.raise_if_any()
    geom = gdf.geometry.values
    types = shapely.get_type_id(geom)
    empty = _empty_geometries(gdf, path, col, "empty geometry (no coordinates, or both coordinates NaN: not finite)",
                              "give the site a point location or delete it")
    for i in np.flatnonzero(~empty & (types != 0)):
        col.add(f"{path.name}, {_row_label(gdf, i)}", f"geometry is {geom[i].geom_type}, not Point",
                "sites must be points; use the centroid or the building entrance")
    _check_site_ids(gdf, path, col)
    _check_site_lonlat(gdf, ~empty & (types == 0), path, col)
    _check_site_columns(gdf, path, col)
    col.raise_if_any()
    gdf = _to_wgs84(gdf, path, "sites", col)
    col.raise_if_any()
    gdf = gdf.reset_index(drop=True)
    gdf["id"] = gdf["id"].map(normalize_id)
    if "kind" not in gdf.columns:
        gdf["kind"] = "site"
    gdf["kind"] = gdf["kind"].astype(object).fillna("site").astype(str)
    if "name" not in gdf.columns:
        gdf["name"] = gdf["id"]
    return gdf


def _empty_geometries(gdf: gpd.GeoDataFrame, path: Path, col: ProblemCollector, problem: str, fix: str) -> np.ndarray:
    """Rows without a usable geometry: empty or missing ones (each reported) and unreadable ones (reported when
    read)."""
    bad_read = _unreadable_mask(gdf)
    empty = (shapely.is_empty(gdf.geometry.values) | pd.isna(gdf.geometry).to_numpy()) & ~bad_read
    for i in np.flatnonzero(empty):
        col.add(f"{path.name}, {_row_label(gdf, i)}", problem, fix)
    return empty | bad_read


def _check_site_ids(gdf: gpd.GeoDataFrame, path: Path, col: ProblemCollector) -> None:
    """Every site has an id, unique once Unicode-normalised, and unique ignoring letter case."""
    ids = gdf["id"]
    missing = ids.isna() | (ids.astype(str).str.strip() == "")
    for i in np.flatnonzero(missing.to_numpy()):
        col.add(f"{path.name}, row {i}", "missing id", "give every site a unique id")
    ids_s = ids.map(normalize_id)  # " a" and "a", or composed and decomposed "ü", are the same id once read
    dup = ids_s.duplicated(keep=False) & ~missing
    for v in sorted(set(ids_s[dup])):
        rows = np.flatnonzero((ids_s == v).to_numpy()).tolist()
        raw = sorted({str(x) for x in ids.iloc[rows]})
        how = (f" (written {' and '.join(map(repr, raw))}: they differ only in Unicode normal form)"
               if len(raw) > 1 else "")
        col.add(f"{path.name}, rows {rows}", f"duplicate site id {v!r}{how}", "make every site id unique")
    # ids differing only by letter case name the same place in every user's head (and on case-insensitive
    # file systems and databases): refuse them rather than plan two sites
    folded = ids_s.str.casefold()
    cdup = folded.duplicated(keep=False) & ~missing & ~dup
    for v in sorted(set(folded[cdup])):
        rows = np.flatnonzero((folded == v).to_numpy() & cdup.to_numpy()).tolist()
        col.add(f"{path.name}, rows {rows}",
                f"site ids {', '.join(repr(ids_s.iloc[i]) for i in rows)} differ only by letter case",
                "use one spelling for one site, or distinct ids for distinct sites")


def _check_site_lonlat(gdf: gpd.GeoDataFrame, good: np.ndarray, path: Path, col: ProblemCollector) -> None:
    """The points (rows ``good``) lie within lon [-180, 180] / lat [-90, 90] once in WGS84."""
    if good.any():
        pts = gdf[good].to_crs(WGS84) if not gdf.crs.equals(WGS84) else gdf[good]
        xy = shapely.get_coordinates(pts.geometry.values)
        ok = check_lonlat(xy[:, 0], xy[:, 1])
        rows = np.flatnonzero(good)
        for j in np.flatnonzero(~ok):
            i = rows[j]
            col.add(f"{path.name}, {_row_label(gdf, i)}",
                    f"coordinates ({xy[j, 0]:g}, {xy[j, 1]:g}) are not finite or outside lon [-180,180] / lat [-90,90]",
                    _coord_hint(xy[j, 0], xy[j, 1]))


def _check_site_columns(gdf: gpd.GeoDataFrame, path: Path, col: ProblemCollector) -> None:
    """Optional columns: ``capex_eur`` a plausible cost, ``country`` an ISO code; no near-miss column names."""
    if "capex_eur" in gdf.columns:
        from .scenario import MAX_ITEM_EUR

        cap = pd.to_numeric(gdf["capex_eur"], errors="coerce")
        bad = gdf["capex_eur"].notna() & (cap.isna() | (cap < 0) | ~np.isfinite(cap.fillna(0)))
        for i in np.flatnonzero(bad.to_numpy()):
            col.add(f"{path.name}, {_row_label(gdf, i)}", f"capex_eur {_show(gdf['capex_eur'].iloc[i])} is not a cost >= 0",
                    "give a non-negative number or leave it empty")
        for i in np.flatnonzero((~bad & (cap > MAX_ITEM_EUR)).to_numpy()):
            col.add(f"{path.name}, {_row_label(gdf, i)}",
                    f"capex_eur {_show(gdf['capex_eur'].iloc[i])} is above the plausible maximum {MAX_ITEM_EUR:g} EUR "
                    "for one node", "check the unit (EUR), or leave it empty for the scenario default")
    _unknown_columns(col, path, gdf.columns, "sites")
    if "country" in gdf.columns:
        from .requirements import iso_country_problem

        for i, v in enumerate(gdf["country"]):
            if v is None or (isinstance(v, float) and math.isnan(v)) or not str(v).strip():
                continue
            why = iso_country_problem(v)
            if why:
                col.add(f"{path.name}, {_row_label(gdf, i)}", f"country {why}",
                        "the country column holds ISO 3166-1 alpha-2 codes (or leave it empty to look it up)")


_TRUE = ("1", "true", "yes", "y", "t")
_FALSE = ("0", "false", "no", "n", "f")


def parse_bool_column(values: pd.Series, default: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(values as bool, bad mask)``: true/false, 1/0, yes/no (any case); empty cells take ``default``."""
    out = np.full(len(values), default, bool)
    bad = np.zeros(len(values), bool)
    for i, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, float) and not np.isfinite(v)) or (isinstance(v, str) and not v.strip()):
            continue
        if isinstance(v, (bool, np.bool_)):
            out[i] = bool(v)
            continue
        t = str(v).strip().lower()
        if isinstance(v, (int, float, np.integer, np.floating)) and float(v) in (0.0, 1.0):
            t = str(int(v))
        if t in _TRUE:
            out[i] = True
        elif t in _FALSE:
            out[i] = False
        else:
            bad[i] = True
    return out, bad


def _check_fibre_columns(gdf: gpd.GeoDataFrame, path: Path, col: ProblemCollector) -> None:
    """Validate the lit/dark fibre columns (``dark_fibre``, ``dark_lease_eur``, ``lit_launch_dbm``) in place:
    ``dark_fibre`` becomes bool, the numbers float (NaN where empty)."""
    from .columns import column

    if "dark_fibre" in gdf.columns:
        val, bad = parse_bool_column(gdf["dark_fibre"], True)
        for i in np.flatnonzero(bad):
            col.add(f"{path.name}, {_row_label(gdf, i)}", f"dark_fibre {_show(gdf['dark_fibre'].iloc[i])} is not "
                    "true or false", "write true/false (or 1/0, yes/no); empty means true")
        gdf["dark_fibre"] = val
    for name, fix in (("dark_lease_eur", "the lease of one dark fibre strand along the route in EUR (empty: 0)"),
                      ("lit_launch_dbm", "the classical launch power in dBm (empty: no lit fibre on this route)")):
        if name not in gdf.columns:
            continue
        spec = column("routes", name)
        num = pd.to_numeric(gdf[name], errors="coerce")
        given = gdf[name].notna() & (gdf[name].astype(str).str.strip() != "")
        bad = given & (num.isna() | ~np.isfinite(num.fillna(0.0)) | ~num.fillna(spec.lo).map(spec.in_range))
        for i in np.flatnonzero(bad.to_numpy()):
            col.add(f"{path.name}, {_row_label(gdf, i)}", f"{name} {_show(gdf[name].iloc[i])} is not a number "
                    f"in [{spec.lo:g}, {spec.hi:g}] {spec.unit}", fix)
        gdf[name] = num.where(given & ~bad).astype(float)


def read_routes(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read fibre routes (LineStrings; MultiLineStrings are split into their parts).

    Optional columns: ``id``, ``length_km`` (surveyed fibre length, used instead of geodesic x route factor),
    ``attenuation_db_per_km`` (per-route override), ``operator``, and the lit/dark fibre columns ``dark_fibre``,
    ``dark_lease_eur``, ``lit_launch_dbm`` (see :mod:`qtopo.columns`).

    Raises
    ------
    InputError
        Listing every problem: missing file or CRS, empty, invalid, zero-length, non-line geometries,
        non-finite or out-of-range coordinates, bad ``length_km``. A line that crosses itself or doubles back
        (valid for shapely, but not simple) is an error too: a duct does not cross itself, so such a line is
        almost always a digitising mistake (wrong vertex order) whose length would be wrong.
    """
    from .geo import geodesic_length_km

    path = Path(path)
    notes: list[str] = []
    col = ProblemCollector(f"invalid routes file {path}")
    gdf = _read_vector(path, "routes", layer, col)
    col.raise_if_any()
    if len(gdf) == 0:
        col.add(str(path), "routes layer has no features", "add the fibre routes as LineStrings")
        col.raise_if_any()
    gdf = _route_ids(gdf.reset_index(drop=True), path, col)
    _check_route_geometries(gdf, path, col)
    _unknown_columns(col, path, gdf.columns, "routes")
    lk_given = _check_route_columns(gdf, path, col)
    col.raise_if_any()
    gdf = _to_wgs84(gdf, path, "routes", col)
    col.raise_if_any()
    _check_route_lonlat(gdf, path, col)
    if lk_given is not None and lk_given.notna().any():
        _check_surveyed_lengths(gdf, lk_given, path, col, notes)
    gdf = _split_multilines(gdf)
    gdf.attrs["notes"] = notes
    lengths = geodesic_length_km(gdf.geometry.values)
    for i in np.flatnonzero(lengths <= 1e-6):
        col.add(f"{path.name}, {_row_label(gdf, i)}", "zero-length line", "delete it or give it its real vertices")
    col.raise_if_any()
    gdf["geodesic_km"] = lengths
    return gdf


def _route_ids(gdf: gpd.GeoDataFrame, path: Path, col: ProblemCollector) -> gpd.GeoDataFrame:
    """Route ids as text, the missing ones numbered ``route<row>``; duplicates reported."""
    if "id" not in gdf.columns:
        gdf["id"] = [f"route{i}" for i in range(len(gdf))]
    rid = gdf["id"]
    no_id = (rid.isna() | (rid.astype(str).str.strip() == "")).to_numpy()
    gdf["id"] = rid.astype(str).str.strip()
    gdf.loc[no_id, "id"] = [f"route{i}" for i in np.flatnonzero(no_id)]  # ids are optional: number the missing
    dup = gdf["id"].duplicated(keep=False).to_numpy()
    for v in sorted(set(gdf["id"][dup])):
        rows = np.flatnonzero((gdf["id"] == v).to_numpy()).tolist()
        col.add(f"{path.name}, rows {rows}", f"duplicate route id {v!r}",
                "make route ids unique (they name fibre cuts in reports), or leave them empty to have them numbered")
    return gdf


def _check_route_geometries(gdf: gpd.GeoDataFrame, path: Path, col: ProblemCollector) -> None:
    """Every route a valid, simple (Multi)LineString of at least two finite vertices."""
    geom = gdf.geometry.values
    types = shapely.get_type_id(geom)
    line = (types == 1) | (types == 5)
    empty = _empty_geometries(gdf, path, col, "empty geometry", "draw the route or delete the feature")
    for i in np.flatnonzero(~empty & ~line):
        col.add(f"{path.name}, {_row_label(gdf, i)}", f"geometry is {geom[i].geom_type}, not a LineString",
                "routes must be lines (LineString or MultiLineString)")
    cand = ~empty & line
    if cand.any():
        idx = np.flatnonzero(cand)
        coords, cidx = shapely.get_coordinates(geom[idx], return_index=True)
        finite = np.isfinite(coords).all(axis=1)
        bad_rows = set(idx[np.unique(cidx[~finite])].tolist())
        for i in sorted(bad_rows):
            col.add(f"{path.name}, {_row_label(gdf, i)}", "has NaN or infinite coordinates", "fix the vertices")
        valid = shapely.is_valid(geom)
        for i in idx:
            if i in bad_rows:
                continue
            if not valid[i]:
                reason = shapely.is_valid_reason(geom[i])
                col.add(f"{path.name}, {_row_label(gdf, i)}", f"invalid line geometry ({reason})",
                        "repair it in your GIS (remove repeated/degenerate vertices)")
            elif shapely.get_num_coordinates(geom[i]) < 2:
                col.add(f"{path.name}, {_row_label(gdf, i)}", "line has fewer than 2 vertices", "fix or delete it")
            elif not shapely.is_simple(shapely.get_parts(geom[i])).all():
                # Valid for shapely (is_simple False), but a duct that crosses or doubles back on itself is
                # almost always a digitising error, and its length would then be wrong: refuse it.
                col.add(f"{path.name}, {_row_label(gdf, i)}",
                        "line crosses itself or doubles back (self-intersecting)",
                        "fix the vertex order, or split it at the crossing into separate routes")


def _check_route_columns(gdf: gpd.GeoDataFrame, path: Path, col: ProblemCollector):
    """Optional ``length_km`` (positive, below the Earth's circumference) and ``attenuation_db_per_km``; returns
    the usable surveyed lengths (NaN where not given or bad), or None without the column."""
    if "length_km" in gdf.columns:
        from .columns import column

        spec = column("routes", "length_km")
        lk = pd.to_numeric(gdf["length_km"], errors="coerce")
        bad = gdf["length_km"].notna() & (lk.isna() | ~(lk > 0) | ~np.isfinite(lk.fillna(1)))
        for i in np.flatnonzero(bad.to_numpy()):
            col.add(f"{path.name}, {_row_label(gdf, i)}", f"length_km {_show(gdf['length_km'].iloc[i])} is not a positive number",
                    "give the surveyed fibre length in km, or leave it empty to use geodesic x route_factor")
        for i in np.flatnonzero((~bad & (lk > spec.hi)).to_numpy()):
            col.add(f"{path.name}, {_row_label(gdf, i)}", f"length_km {_show(gdf['length_km'].iloc[i])} is longer than "
                    f"the Earth's circumference ({spec.hi:g} km)", "check the unit: length_km is in km")
        # The fibre follows the drawn line, so it is never shorter than the line's geodesic length: that length
        # is a lower bound (as route_factor >= 1 says). Checked below, once the geometries are known to be good.
        lk_given = lk.where(~bad & (lk <= spec.hi))
    else:
        lk_given = None
    if "attenuation_db_per_km" in gdf.columns:
        at = pd.to_numeric(gdf["attenuation_db_per_km"], errors="coerce")  # range: columns.ROUTES
        bad = gdf["attenuation_db_per_km"].notna() & (at.isna() | (at < 0) | (at > 10))
        for i in np.flatnonzero(bad.to_numpy()):
            col.add(f"{path.name}, {_row_label(gdf, i)}", "attenuation_db_per_km must be within [0, 10] dB/km",
                    "fix the value or leave it empty for the scenario default")
    _check_fibre_columns(gdf, path, col)
    return lk_given


def _check_route_lonlat(gdf: gpd.GeoDataFrame, path: Path, col: ProblemCollector) -> None:
    """Every vertex (in WGS84) within lon [-180, 180] / lat [-90, 90]; raises on any outside."""
    xy = shapely.get_coordinates(gdf.geometry.values)
    ok = check_lonlat(xy[:, 0], xy[:, 1])
    if not ok.all():
        _, cidx = shapely.get_coordinates(gdf.geometry.values, return_index=True)
        for i in np.unique(cidx[~ok]):
            j = np.flatnonzero(~ok & (cidx == i))[0]
            col.add(f"{path.name}, {_row_label(gdf, i)}",
                    f"coordinates outside lon [-180,180] / lat [-90,90], e.g. ({xy[j, 0]:g}, {xy[j, 1]:g})",
                    _coord_hint(xy[j, 0], xy[j, 1]))
        col.raise_if_any()


def _check_surveyed_lengths(gdf: gpd.GeoDataFrame, lk_given: pd.Series, path: Path, col: ProblemCollector,
                            notes: list) -> None:
    """A surveyed ``length_km`` is never shorter than the drawn line's geodesic length (a lower bound): far below
    it is refused, a little below it noted (a schematic drawing, or a wrong length)."""
    from .geo import geodesic_length_km

    parts, pidx = shapely.get_parts(gdf.geometry.values, return_index=True)
    drawn = np.bincount(pidx, geodesic_length_km(parts), minlength=len(gdf))
    lk_arr = lk_given.to_numpy()
    absurd = lk_arr < LENGTH_REFUSE_RATIO * drawn
    short = ~absurd & (lk_arr < drawn - np.maximum(LENGTH_TOLERANCE * drawn, LENGTH_TOLERANCE_KM))
    for i in np.flatnonzero(absurd):
        col.add(f"{path.name}, {_row_label(gdf, i)}",
                f"length_km {_show(gdf['length_km'].iloc[i])} is less than {LENGTH_REFUSE_RATIO:.0%} of the route's "
                f"drawn geodesic length {drawn[i]:.3f} km; a fibre is never shorter than the line it follows (the geodesic "
                "length is a lower bound)", "give the surveyed length in km (not metres), or leave it empty "
                "to use geodesic x route_factor")
    if short.any():
        rows = np.flatnonzero(short)
        notes.append(f"{len(rows)} route(s) have a length_km below their drawn geodesic length (a lower bound; "
                     "the drawing is schematic or the length is wrong): " + ", ".join(
                         f"{gdf['id'].iloc[i]} {lk_arr[i]:g} < {drawn[i]:.1f} km" for i in rows[:5]))
    col.raise_if_any()


def _split_multilines(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """MultiLineStrings split into their parts (ids ``<id>.<part>`` from the second part on), a surveyed length
    shared out by the parts' geodesic lengths."""
    from .geo import geodesic_length_km

    if (shapely.get_type_id(gdf.geometry.values) == 5).any():
        gdf = gdf.explode(index_parts=True)
        part = gdf.index.get_level_values(1)
        gdf["id"] = np.where(part > 0, gdf["id"] + "." + part.astype(str), gdf["id"])
        if "length_km" in gdf.columns:  # a surveyed length is the whole route's: share it out by geodesic length
            row = gdf.index.get_level_values(0).to_numpy()
            lp = geodesic_length_km(gdf.geometry.values)
            tot = pd.Series(lp).groupby(row).transform("sum").to_numpy()
            lkp = pd.to_numeric(gdf["length_km"], errors="coerce").to_numpy(float)
            gdf["length_km"] = np.where(np.isfinite(lkp) & (tot > 0), lkp * lp / np.where(tot > 0, tot, 1.0), lkp)
        if "dark_lease_eur" in gdf.columns:  # a lease is the whole route's too: share it by geodesic length
            row = gdf.index.get_level_values(0).to_numpy()
            lp = geodesic_length_km(gdf.geometry.values)
            tot = pd.Series(lp).groupby(row).transform("sum").to_numpy()
            le = gdf["dark_lease_eur"].to_numpy(float)
            gdf["dark_lease_eur"] = np.where(np.isfinite(le) & (tot > 0), le * lp / np.where(tot > 0, tot, 1.0), le)
        gdf = gdf.reset_index(drop=True)
    return gdf


def read_demands(path: str | Path, site_ids=None) -> pd.DataFrame:
    """Read a demands CSV with columns ``source, target, target_bps`` (more columns are kept).

    Raises
    ------
    InputError
        Listing every problem: missing columns, unknown sites (with close matches), self-demands, duplicate
        pairs, targets that are not finite positive numbers.
    """
    path = Path(path)
    col = ProblemCollector(f"invalid demands file {path}")
    df = _demands_table(path, col)
    tgt = _check_demand_rows(df, path, col, site_ids)
    if not col.problems:
        df["source"] = df["source"].map(normalize_id)
        df["target"] = df["target"].map(normalize_id)
        key = df[["source", "target"]].apply(lambda r: tuple(sorted(r)), axis=1)
        for k in sorted(set(key[key.duplicated()])):
            col.add(str(path), f"pair {k[0]!r}-{k[1]!r} appears more than once", "merge them into one row")
    col.raise_if_any()
    df["target_bps"] = tgt.astype(float)
    df = df.reset_index(drop=True)
    df.attrs["file"] = path.name  # for messages about rows found wrong later (requirements, governance)
    return df


def _demands_table(path: Path, col: ProblemCollector) -> pd.DataFrame:
    """The demands CSV read as UTF-8, with its required columns and at least one row (raises otherwise)."""
    from .textfile import decode_utf8

    if not _check_file(path, "demands", col, {".csv", ".txt"}):
        col.raise_if_any()
    try:
        text = decode_utf8(path.read_bytes(), str(path), "demands file")
    except InputError as e:
        col.extend(e)
        col.raise_if_any()
    try:
        import io as _io

        df = pd.read_csv(_io.StringIO(text), dtype={"source": str, "target": str}, skipinitialspace=True)
    except Exception as e:
        col.add(str(path), f"cannot parse CSV: {str(e).splitlines()[0]}", "check delimiters and quoting")
        col.raise_if_any()
    df.columns = [str(c).strip() for c in df.columns]
    need = ["source", "target", "target_bps"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        header = ",".join(map(str, df.columns))
        sep = _sep_hint(header)
        col.add(str(path), f"missing column(s) {missing} (has {list(df.columns)})",
                f"the file looks {sep}-separated: save it comma-separated with the header source,target,target_bps"
                if sep else "the header must be: source,target,target_bps")
        col.raise_if_any()
    if len(df) == 0:
        col.add(str(path), "no demands", "add at least one row source,target,target_bps")
        col.raise_if_any()
    return df


def _check_demand_rows(df: pd.DataFrame, path: Path, col: ProblemCollector, site_ids) -> pd.Series:
    """Each row: two different known sites (close matches suggested) and a plausible ``target_bps``; returns the
    targets as numbers (NaN where not)."""
    import difflib

    from .columns import column

    _unknown_columns(col, path, df.columns, "demands")
    tspec = column("demands", "target_bps")
    tgt = pd.to_numeric(df["target_bps"], errors="coerce")
    known = set(map(str, site_ids)) if site_ids is not None else None
    for i in range(len(df)):
        where = f"{path.name}, line {i + 2}"
        s, t = df["source"].iloc[i], df["target"].iloc[i]
        for role, v in (("source", s), ("target", t)):
            if v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == "":
                col.add(where, f"missing {role}", "name a site id")
            elif known is not None and normalize_id(v) not in known:
                close = difflib.get_close_matches(normalize_id(v), list(known), n=1)
                col.add(where, f"{role} {v!r} is not a site id",
                        f"did you mean {close[0]!r}?" if close else "use an id from the sites file")
        if isinstance(s, str) and isinstance(t, str) and normalize_id(s) == normalize_id(t):
            col.add(where, f"self-demand {s!r} -> {t!r}", "a demand needs two different sites")
        v = tgt.iloc[i]
        raw = df["target_bps"].iloc[i]
        if pd.isna(v) or not math.isfinite(v):
            col.add(where, f"target_bps {_show(raw)} is not a finite number", "give the key-rate target in bit/s")
        elif v <= 0:
            col.add(where, f"target_bps {_show(raw)} must be > 0", "give the key-rate target in bit/s")
        elif v > tspec.hi:
            col.add(where, f"target_bps {_show(raw)} is above 1 Tbit/s, beyond any QKD system",
                    f"check the unit: targets are in bit/s (plausible: {tspec.lo:g} to {tspec.hi:g})")
        elif v < tspec.lo:
            col.add(where, f"target_bps {_show(raw)} is below {tspec.lo:g} bit/s (less than 90 key bits a day)",
                    f"check the unit: targets are in bit/s (plausible: {tspec.lo:g} to {tspec.hi:g})")
    return tgt


def _sep_hint(header: str) -> str | None:
    return next((name for ch, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")) if ch in header), None)


def read_existing_links(path: str | Path, max_pairs: dict | None = None) -> pd.DataFrame:
    """Read the brownfield table ``from,to,device,pairs`` (installed device pairs; see ``docs/inputs.md``), or an
    ETSI topology document (``.json`` or a folder of node documents; see :func:`qtopo.etsi.existing_links_from_etsi`).

    ``from``/``to`` are site ids or fibre node ids, ``device`` a ``[devices.NAME]`` of the scenario. Whether the
    ids and hops exist is checked where the network is known (:func:`qtopo.candidates.build_inputs`).

    Parameters
    ----------
    max_pairs : dict, optional
        Device name -> ``max_pairs_per_link`` of the scenario: unknown devices and counts above the cap are
        errors.

    Raises
    ------
    InputError
        Listing every problem: missing columns (naming a ``;``-separated file), near-miss column names,
        counts that are not whole numbers in range (``inf`` too), unknown devices, duplicate rows for one hop
        and device (either direction).
    """
    path = Path(path)
    col = ProblemCollector(f"invalid existing links file {path}")
    if not path.exists():
        col.add(str(path), "file does not exist", "check inputs.existing_links")
        col.raise_if_any()
    if path.suffix.lower() == ".json" or path.is_dir():  # an ETSI topology document (qtopo export etsi)
        from .etsi import existing_links_from_etsi

        return existing_links_from_etsi(path)
    ex = _existing_table(path, col)
    pairs = _check_existing_rows(ex, path, col)
    col.raise_if_any()
    ex["from"] = ex["from"].map(normalize_id)
    ex["to"] = ex["to"].map(normalize_id)
    ex["device"] = ex["device"].astype(str).str.strip()
    ex["pairs"] = pairs.astype(int)
    out = ex[list(EXISTING_LINK_COLUMNS)].reset_index(drop=True)
    if max_pairs is not None:
        check_existing_devices(out, max_pairs, path)
    return out


def _existing_table(path: Path, col: ProblemCollector) -> pd.DataFrame:
    """The brownfield CSV read as UTF-8, with its required columns (raises otherwise)."""
    import io as _io

    from .textfile import decode_utf8

    if not _check_file(path, "existing links", col, {".csv", ".txt"}):
        col.raise_if_any()
    try:
        text = decode_utf8(path.read_bytes(), str(path), "existing links file")
        ex = pd.read_csv(_io.StringIO(text), dtype={"from": str, "to": str, "device": str}, skipinitialspace=True)
    except InputError as e:
        col.extend(e)
        col.raise_if_any()
    except Exception as e:
        col.add(str(path), f"cannot parse CSV: {str(e).splitlines()[0]}", "header: from,to,device,pairs")
        col.raise_if_any()
    ex.columns = [str(c).strip() for c in ex.columns]
    need = ["from", "to", "device", "pairs"]
    missing = [c for c in need if c not in ex.columns]
    if missing:
        sep = _sep_hint(",".join(ex.columns))
        col.add(str(path), f"missing columns {missing} (has {list(ex.columns)})",
                f"the file looks {sep}-separated: save it comma-separated with the header from,to,device,pairs"
                if sep else "header: from,to,device,pairs")
        col.raise_if_any()
    return ex


def _check_existing_rows(ex: pd.DataFrame, path: Path, col: ProblemCollector) -> pd.Series:
    """Each row: from, to and device given, a whole plausible number of pairs, one row per hop and device (either
    direction); returns the pair counts as numbers."""
    from .columns import column

    _unknown_columns(col, path, ex.columns, "existing_links")
    spec = column("existing_links", "pairs")
    pairs = pd.to_numeric(ex["pairs"], errors="coerce")
    seen: dict = {}
    for i in range(len(ex)):
        where = f"{path.name}, line {i + 2}"
        u, v, dv = (ex[c].iat[i] for c in ("from", "to", "device"))
        gaps = [c for c, x in (("from", u), ("to", v), ("device", dv))
                if x is None or (isinstance(x, float) and math.isnan(x)) or not str(x).strip()]
        for c in gaps:
            col.add(where, f"missing {c}", "give a site id (from, to) or a device name (device)")
        p = pairs.iat[i]
        if not (np.isfinite(p) and p >= spec.lo and p == int(p)):
            col.add(where, f"pairs {_show(ex['pairs'].iat[i])} must be a whole number >= 1", "give the installed count")
        elif p > spec.hi:
            col.add(where, f"pairs {int(p)} is above the plausible maximum {spec.hi:g}", "fix the count")
        if gaps:
            continue
        u, v, dv = normalize_id(u), normalize_id(v), str(dv).strip()
        key = (min(u, v), max(u, v), dv)
        if key in seen:
            col.add(where, f"hop {u}-{v} with device {dv!r} is listed again (first in row {seen[key] - 1} of the "
                    "table)", "give one row per hop and device, with the total number of pairs")
        else:
            seen[key] = i + 2
    return pairs


def check_existing_devices(ex: pd.DataFrame, max_pairs: dict, path: str | Path) -> None:
    """Brownfield rows against the scenario's devices: each names an enabled device and holds at most its
    ``max_pairs_per_link`` pairs (``max_pairs``: device name -> cap); :class:`InputError` listing every row."""
    path = Path(path)
    col = ProblemCollector(f"invalid existing links file {path}")
    for i, (dv, p) in enumerate(zip(ex["device"], ex["pairs"])):
        where = f"{path.name}, line {i + 2}"
        if dv not in max_pairs:
            close = difflib.get_close_matches(dv, list(max_pairs), n=1)
            col.add(where, f"device {dv!r} is not an enabled device of the scenario",
                    f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(sorted(max_pairs))}")
        elif p > max_pairs[dv]:
            col.add(where, f"pairs {int(p)} is above max_pairs_per_link = {max_pairs[dv]:g} of device {dv!r}",
                    f"raise devices.{dv}.max_pairs_per_link to at least {int(p)}, or fix the count")
    col.raise_if_any()


def read_input_files(sites=None, routes=None, demands=None, *, sites_layer: str | None = None,
                     routes_layer: str | None = None) -> tuple:
    """Read the sites, routes and demands files given (``None``: skipped), reporting every problem of all of
    them in one :class:`InputError`. Demands are checked against the site ids when the sites were readable.

    Returns
    -------
    (sites, routes, demands)
        GeoDataFrame, GeoDataFrame, DataFrame; ``None`` for a file not given.
    """
    problems = []
    out = {"sites": None, "routes": None, "demands": None}
    for key, path, read in (("sites", sites, lambda p: read_sites(p, sites_layer)),
                            ("routes", routes, lambda p: read_routes(p, routes_layer)),
                            ("demands", demands, lambda p: read_demands(
                                p, list(out["sites"]["id"]) if out["sites"] is not None else None))):
        if path is None:
            continue
        try:
            out[key] = read(path)
        except InputError as e:
            problems += e.problems
    if problems:
        raise InputError(problems, "invalid input files")
    return out["sites"], out["routes"], out["demands"]


EXISTING_LINK_COLUMNS = ("from", "to", "device", "pairs")
