"""Demand generators and the bundled reference data they use.

- :func:`all_pairs` -- one demand per unordered pair of chosen sites, same target.
- :func:`gravity` -- population-weighted demands (gravity model, target proportional to ``pop_i * pop_j``,
  scaled to a total), populations from the bundled GeoNames subset (``data/geonames/cities_europe.csv``).
- :func:`cloud_regions` -- cloud data-center regions (``data/cloud/regions.csv``) as candidate sites.
  Snapping them to the nearest point of presence is the planner's job; this only produces points.

The bundled data folder is ``data/`` of the repository; set the environment variable ``QTOPO_DATA`` to use
another copy.
"""
from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from qtopo.errors import InputError, Problem
from qtopo.importers._common import CRS, geodesic_km, unique_slugs

_HEADER = "cannot generate demands"
DEMAND_COLUMNS = ["source", "target", "target_bps"]


def data_dir() -> Path:
    """Folder of the bundled data: ``$QTOPO_DATA`` if set, else ``data/`` next to the ``qtopo`` package."""
    env = os.environ.get("QTOPO_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data"


def _bundled(rel: str) -> Path:
    p = data_dir() / rel
    if not p.is_file():
        raise InputError([Problem(str(p), "bundled data file not found",
                                  "run `python data/build_data.py` or set QTOPO_DATA to the data folder")],
                         _HEADER)
    return p


def load_cities(countries=None, min_population: int = 15000) -> gpd.GeoDataFrame:
    """Bundled GeoNames cities (>= 15,000 inhabitants, European countries) as points.

    Parameters
    ----------
    countries : iterable of str, optional
        ISO alpha-2 codes to keep (e.g. ``["NL", "BE"]``); default all.
    min_population : int
        Keep cities with at least this population.

    Returns
    -------
    geopandas.GeoDataFrame
        ``geonameid, name, country, population`` and Point geometry (EPSG:4326).
    """
    df = pd.read_csv(_bundled("geonames/cities_europe.csv"), keep_default_na=False,
                     dtype={"country": str, "name": str})
    if countries is not None:
        df = df[df["country"].isin([c.upper() for c in countries])]
    df = df[df["population"] >= min_population]
    return gpd.GeoDataFrame(df.drop(columns=["lat", "lon"]).reset_index(drop=True),
                            geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=CRS)


def cloud_regions(providers=None, countries=None, bbox=None) -> gpd.GeoDataFrame:
    """Cloud data-center regions as candidate sites (points, ``kind="datacenter"``).

    Parameters
    ----------
    providers : iterable of str, optional
        Keep these providers (``aws``, ``azure``, ``gcp``, ``oci``, ``alibaba``, ``ibm``, ``digitalocean``,
        ``linode``, ``vultr``, ``onedrive``); default all.
    countries : iterable of str, optional
        ISO alpha-2 codes to keep.
    bbox : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)`` to keep.

    Returns
    -------
    geopandas.GeoDataFrame
        ``id`` (``"aws-eu-west-1"``...), ``name`` (provider location label), ``kind``, ``provider``,
        ``region``, ``country`` and Point geometry (EPSG:4326). Positions are city-level approximations.
    """
    df = pd.read_csv(_bundled("cloud/regions.csv"), keep_default_na=False, dtype=str)
    df[["lat", "lon"]] = df[["lat", "lon"]].astype(float)
    probs = []
    if providers is not None:
        providers = [p.strip().lower() for p in providers]
        unknown = sorted(set(providers) - set(df["provider"]))
        if unknown:
            probs.append(Problem("providers", f"unknown provider(s) {unknown}",
                                 f"choose from {sorted(set(df['provider']))}"))
        df = df[df["provider"].isin(providers)]
    if countries is not None:
        df = df[df["country"].isin([c.upper() for c in countries])]
    if bbox is not None:
        x0, y0, x1, y1 = bbox
        df = df[df["lon"].between(x0, x1) & df["lat"].between(y0, y1)]
    if probs:
        raise InputError(probs, _HEADER)
    ids = unique_slugs((df["provider"] + "-" + df["region"]).tolist(), df["region"].tolist())
    return gpd.GeoDataFrame({"id": ids, "name": df["city"].to_numpy(), "kind": "datacenter",
                             "provider": df["provider"].to_numpy(), "region": df["region"].to_numpy(),
                             "country": df["country"].to_numpy()},
                            geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=CRS)


def _chosen(sites: gpd.GeoDataFrame, ids) -> np.ndarray:
    """Ids of the demand endpoints: ``ids`` if given (checked), else the sites of kind datacenter."""
    all_ids = sites["id"].astype(str).to_numpy()
    if ids is None:
        if "kind" not in sites.columns or not (sites["kind"] == "datacenter").any():
            raise InputError([Problem("sites", "no site has kind 'datacenter' and no ids were given",
                                      "pass ids=[...] (CLI: --datacenters a,b,c)")], _HEADER)
        return all_ids[(sites["kind"] == "datacenter").to_numpy()]
    ids = [str(i).strip() for i in ids if str(i).strip()]
    unknown = [i for i in ids if i not in set(all_ids)]
    if unknown:
        raise InputError([Problem("sites", f"unknown site id {u!r}", "use ids of the imported sites")
                          for u in unknown], _HEADER)
    if len(set(ids)) < 2:
        raise InputError([Problem("sites", f"need at least 2 distinct sites for demands, got {len(set(ids))}",
                                  "choose more sites")], _HEADER)
    return np.array(list(dict.fromkeys(ids)), dtype=object)


def all_pairs(sites: gpd.GeoDataFrame, ids=None, target_bps: float = 5.0e3) -> pd.DataFrame:
    """One demand of ``target_bps`` per unordered pair of chosen sites.

    Parameters
    ----------
    sites : geopandas.GeoDataFrame
        Sites with ``id`` (and ``kind`` if ``ids`` is None).
    ids : sequence of str, optional
        Sites to connect; default: the sites of ``kind == "datacenter"``.
    target_bps : float
        Secret-key rate per pair, bit/s.

    Returns
    -------
    pandas.DataFrame
        ``source, target, target_bps``, in the order of ``ids``.
    """
    if not (np.isfinite(target_bps) and target_bps > 0):
        raise InputError([Problem("target_bps", f"{target_bps!r} is not a positive rate",
                                  "give a key rate in bit/s, e.g. 5000")], _HEADER)
    chosen = _chosen(sites, ids)
    i, j = np.triu_indices(len(chosen), k=1)
    return pd.DataFrame({"source": chosen[i], "target": chosen[j], "target_bps": float(target_bps)})


def site_populations(sites: gpd.GeoDataFrame, cities: gpd.GeoDataFrame | None = None,
                     catchment_km: float = 30.0) -> np.ndarray:
    """Population served by each site: sum over cities whose nearest site it is, within ``catchment_km``.

    Nearest sites are found on the unit sphere (a k-d tree on 3-D unit vectors; great-circle order is the
    chord order), then the geodesic (WGS84) distance to that site is checked against the catchment.

    Parameters
    ----------
    sites : geopandas.GeoDataFrame
        Points in EPSG:4326.
    cities : geopandas.GeoDataFrame, optional
        Points with ``population``; default: the bundled GeoNames subset.
    catchment_km : float
        Cities farther than this from every site count for none.

    Returns
    -------
    numpy.ndarray
        Population per site (float), in the order of ``sites``.
    """
    from scipy.spatial import cKDTree

    if cities is None:
        cities = load_cities()
    s = sites.to_crs(CRS) if sites.crs is not None else sites

    def unit(lon, lat):
        lo, la = np.radians(lon), np.radians(lat)
        return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])

    sx, sy = s.geometry.x.to_numpy(), s.geometry.y.to_numpy()
    cx, cy = cities.geometry.x.to_numpy(), cities.geometry.y.to_numpy()
    if len(cx) == 0 or len(sx) == 0:
        return np.zeros(len(sx))
    _, nearest = cKDTree(unit(sx, sy)).query(unit(cx, cy))
    d = geodesic_km(cx, cy, sx[nearest], sy[nearest])
    ok = d <= catchment_km
    return np.bincount(nearest[ok], weights=cities["population"].to_numpy(float)[ok], minlength=len(sx))


def gravity(sites: gpd.GeoDataFrame, total_bps: float, ids=None, population=None, cities=None,
            catchment_km: float = 30.0, max_pairs: int | None = None, min_bps: float = 0.0) -> pd.DataFrame:
    """Population-weighted demands (gravity model without distance decay).

    ``target_ij = total_bps * P_i * P_j / sum_{k<l} P_k * P_l`` over the unordered pairs of chosen sites.

    Parameters
    ----------
    sites : geopandas.GeoDataFrame
        Sites with ``id`` and Point geometry.
    total_bps : float
        Sum of all targets, bit/s.
    ids : sequence of str, optional
        Sites to connect; default: the sites of ``kind == "datacenter"``.
    population : str or mapping or array_like, optional
        Site weights: a column name of ``sites``, a mapping id -> population, or an array aligned with
        ``sites``. Default: :func:`site_populations` from the bundled GeoNames cities.
    cities : geopandas.GeoDataFrame, optional
        Cities for :func:`site_populations` (default: bundled GeoNames subset).
    catchment_km : float
        Catchment radius for :func:`site_populations`.
    max_pairs : int, optional
        Keep only the heaviest pairs, then rescale to ``total_bps``.
    min_bps : float
        Drop pairs below this target, then rescale to ``total_bps``.

    Returns
    -------
    pandas.DataFrame
        ``source, target, target_bps``, heaviest first.

    Raises
    ------
    qtopo.errors.InputError
        No positive total, unknown ids, fewer than two chosen sites with positive population.
    """
    if not (np.isfinite(total_bps) and total_bps > 0):
        raise InputError([Problem("total_bps", f"{total_bps!r} is not a positive rate",
                                  "give the total key rate in bit/s")], _HEADER)
    chosen = _chosen(sites, ids)
    ids_all = sites["id"].astype(str).to_numpy()
    if population is None:
        w_all = site_populations(sites, cities, catchment_km)
    elif isinstance(population, str):
        if population not in sites.columns:
            raise InputError([Problem("sites", f"no column {population!r}", "name an existing column")], _HEADER)
        w_all = pd.to_numeric(sites[population], errors="coerce").fillna(0).to_numpy(float)
    elif isinstance(population, dict):
        w_all = np.array([float(population.get(i, 0.0)) for i in ids_all])
    else:
        w_all = np.asarray(population, float)
    w = pd.Series(w_all, index=ids_all).reindex(chosen).fillna(0).to_numpy()
    zero = chosen[w <= 0]
    if (w > 0).sum() < 2:
        raise InputError([Problem("sites", f"fewer than 2 chosen sites have a positive population "
                                  f"(zero: {', '.join(map(str, zero[:10]))})",
                                  f"the bundled cities cover Europe only; pass population=... or a larger "
                                  f"catchment (now {catchment_km:g} km)")], _HEADER)
    i, j = np.triu_indices(len(chosen), k=1)
    g = w[i] * w[j]
    keep = g > 0
    df = pd.DataFrame({"source": chosen[i][keep], "target": chosen[j][keep], "weight": g[keep]})
    df = df.sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)
    df["target_bps"] = total_bps * df["weight"] / df["weight"].sum()
    if max_pairs is not None:
        df = df.head(int(max_pairs))
    if min_bps > 0:
        df = df[df["target_bps"] >= min_bps]
    if df.empty:
        raise InputError([Problem("demands", "no pair is left after max_pairs/min_bps",
                                  "lower min_bps or raise max_pairs")], _HEADER)
    df["target_bps"] = total_bps * df["weight"] / df["weight"].sum()
    return df[DEMAND_COLUMNS].reset_index(drop=True)


__all__ = ["all_pairs", "gravity", "cloud_regions", "load_cities", "site_populations", "data_dir"]
