"""Geometry policy: CRS handling and lengths.

Lengths are never measured in degrees. Geodesic lengths on the WGS84 ellipsoid come from :class:`pyproj.Geod`;
tolerances (snapping, noding) are applied in a local metric CRS estimated for the data (UTM).
"""
from __future__ import annotations

import functools

import numpy as np
import pyproj
import shapely

GEOD = pyproj.Geod(ellps="WGS84")
WGS84 = "EPSG:4326"


def geodesic_length_km(geoms) -> np.ndarray:
    """Geodesic length of each LineString (lon/lat, EPSG:4326) in km, vectorised over vertices.

    Parameters
    ----------
    geoms : array-like of shapely LineString in EPSG:4326

    Returns
    -------
    numpy.ndarray
        Length in km per geometry.
    """
    geoms = np.asarray(geoms, dtype=object)
    if geoms.size == 0:
        return np.zeros(0)
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    if len(coords) == 0:
        return np.zeros(len(geoms))
    same = idx[1:] == idx[:-1]
    _, _, seg_m = GEOD.inv(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
    seg_m = np.where(same, seg_m, 0.0)
    out = np.zeros(len(geoms))
    np.add.at(out, idx[1:], seg_m)
    return out / 1000.0


def split_line_geodesic(line: shapely.LineString, n: int) -> tuple[list, list]:
    """Cut a lon/lat LineString into ``n`` pieces of equal geodesic length.

    Cut points lie on the geodesic between the two vertices they fall between (pyproj ``Geod.fwd``), so each
    piece's :func:`geodesic_length_km` is the whole line's divided by ``n`` (to floating-point accuracy), unlike
    cuts at equal fractions of the length in degrees, which on a line turning from east-west to north-south
    gave pieces of 18.6-30.9 km for 23.55 km shares.

    Returns
    -------
    points : list of (lon, lat)
        The ``n - 1`` cut points, in order.
    pieces : list of shapely.LineString
        The ``n`` pieces, from the first vertex to the last.
    """
    xy = np.asarray(shapely.get_coordinates(line), float)
    az, _, seg_m = GEOD.inv(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1])
    seg_m = np.atleast_1d(np.asarray(seg_m, float))
    az = np.atleast_1d(np.asarray(az, float))
    cum = np.concatenate([[0.0], np.cumsum(seg_m)])
    targets = cum[-1] * np.arange(1, n) / n
    k = np.clip(np.searchsorted(cum, targets, side="right") - 1, 0, len(seg_m) - 1)
    lon, lat, _ = GEOD.fwd(xy[k, 0], xy[k, 1], az[k], targets - cum[k])
    cuts = list(zip(np.atleast_1d(lon).tolist(), np.atleast_1d(lat).tolist()))
    pieces = []
    start, j0 = tuple(xy[0]), 1
    for c, kk in zip(cuts + [tuple(xy[-1])], list(k) + [len(xy) - 2]):
        inner = [tuple(p) for p in xy[j0:kk + 1]] if kk + 1 > j0 else []
        pieces.append(shapely.LineString([start, *inner, c]))
        start, j0 = c, kk + 1
    return cuts, pieces


def geodesic_distance_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance between point arrays in km."""
    _, _, d = GEOD.inv(np.asarray(lon1, float), np.asarray(lat1, float), np.asarray(lon2, float),
                       np.asarray(lat2, float))
    return np.asarray(d) / 1000.0


def great_circle_line(lon1, lat1, lon2, lat2, step_km: float = 5.0) -> shapely.LineString:
    """Great-circle LineString between two points, densified every ``step_km``."""
    d = geodesic_distance_km(lon1, lat1, lon2, lat2)
    n = max(int(np.ceil(float(d) / step_km)) - 1, 0)
    mid = GEOD.npts(lon1, lat1, lon2, lat2, n) if n else []
    return shapely.LineString([(lon1, lat1), *mid, (lon2, lat2)])


def local_metric_crs(gdf) -> pyproj.CRS:
    """A metric CRS for tolerance computations on ``gdf``: the WGS84 UTM zone of its bounding-box centre
    (GeoPandas' ``estimate_utm_crs``; zone 31N for data without finite bounds)."""
    g = gdf.to_crs(WGS84) if gdf.crs is not None and not gdf.crs.equals(WGS84) else gdf
    minx, miny, maxx, maxy = g.total_bounds
    lon, lat = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    if not (np.isfinite(lon) and np.isfinite(lat)):
        return pyproj.CRS.from_epsg(32631)
    return _utm_crs_at(round(float(lon), 6), round(float(lat), 6))


@functools.lru_cache(maxsize=64)
def _utm_crs_at(lon: float, lat: float) -> pyproj.CRS:
    # estimate_utm_crs queries the PROJ database (~0.1 s): the planner, verify and the risk groups ask for the
    # same network's zone, so remember it
    import geopandas as gpd

    return gpd.GeoSeries([shapely.Point(lon, lat)], crs=WGS84).estimate_utm_crs(datum_name="WGS 84")


def check_lonlat(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Boolean mask of coordinates that are finite and in the valid lon/lat range."""
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    return np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)


def bundled_data_dir():
    """The project's ``data/`` folder (next to the package in a source checkout)."""
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "data"


def countries_of_points(lon, lat, polygons_path=None, base_dir=None, max_gap_km: float = 25.0) -> np.ndarray:
    """ISO 3166 alpha-2 code of the country containing each point ('' where none).

    Uses ``polygons_path`` (any vector file with an ``iso_a2`` column) or the bundled Natural Earth polygons:
    1:10m for Europe, then 1:110m worldwide. Points within ``max_gap_km`` of a coast or border but outside
    every polygon (simplified outlines) take the nearest country.
    """
    from pathlib import Path

    import geopandas as gpd

    from .errors import InputError

    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    out = np.full(len(lon), "", dtype=object)
    if len(lon) == 0:
        return out
    if polygons_path:
        p = Path(polygons_path)
        if not p.is_absolute() and base_dir is not None:
            p = Path(base_dir) / p
        files = [p]
    else:
        d = bundled_data_dir() / "naturalearth"
        files = [d / "countries_europe_10m.gpkg", d / "countries.gpkg"]
    files = [f for f in files if f.exists()]
    if not files:
        raise InputError(["no country polygons found for allowed_countries"], "cannot resolve jurisdictions")
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=WGS84)
    for f in files:
        todo = np.flatnonzero(out == "")
        if len(todo) == 0:
            break
        poly = gpd.read_file(f)
        if "iso_a2" not in poly.columns:
            raise InputError([f"{f}: no 'iso_a2' column"], "cannot resolve jurisdictions")
        poly = poly.to_crs(WGS84)[["iso_a2", "geometry"]]
        j = gpd.sjoin(pts.iloc[todo], poly, how="left", predicate="within")
        j = j[~j.index.duplicated()]
        vals = j["iso_a2"].reindex(pts.index[todo]).fillna("").astype(str).to_numpy()
        out[todo] = vals
    todo = np.flatnonzero(out == "")
    if len(todo):
        poly = gpd.read_file(files[0]).to_crs(WGS84)
        metric = pts.iloc[todo].estimate_utm_crs()
        j = gpd.sjoin_nearest(pts.iloc[todo].to_crs(metric), poly.to_crs(metric)[["iso_a2", "geometry"]],
                              how="left", max_distance=max_gap_km * 1000.0)
        j = j[~j.index.duplicated()]
        out[todo] = j["iso_a2"].reindex(pts.index[todo]).fillna("").astype(str).to_numpy()
    return out
