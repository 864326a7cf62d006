"""Geometry policy: CRS handling and lengths.

Lengths are never measured in degrees. Geodesic lengths on the WGS84 ellipsoid come from :class:`pyproj.Geod`;
tolerances (snapping, noding) are applied in a local metric CRS estimated for the data (UTM).
"""
from __future__ import annotations

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
    """A metric CRS for tolerance computations on ``gdf`` (UTM zone of its centre)."""
    return gdf.to_crs(WGS84).estimate_utm_crs()


def check_lonlat(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Boolean mask of coordinates that are finite and in the valid lon/lat range."""
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    return np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)
