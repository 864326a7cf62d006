"""Kept libraries instead of hand-written code: TOML via tomli-w, UTM zones via GeoPandas."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from qtopo.geo import local_metric_crs
from qtopo.importers import scenario_toml
from qtopo.scenario import tomllib, toml_value


def test_local_metric_crs_is_geopandas_utm_estimate():
    rng = np.random.default_rng(7)
    for _ in range(25):
        lon, lat = rng.uniform(-179, 179, 3), rng.uniform(-79, 83, 3)
        g = gpd.GeoDataFrame(geometry=[shapely.Point(x, y) for x, y in zip(lon, lat)], crs="EPSG:4326")
        assert local_metric_crs(g) == g.estimate_utm_crs(datum_name="WGS 84")
    # the bundled Dutch network lies in UTM 31N / 32N; the same answer in a projected CRS
    nl = gpd.GeoDataFrame(geometry=[shapely.Point(4.9, 52.4), shapely.Point(6.6, 53.2)], crs="EPSG:4326")
    assert local_metric_crs(nl).to_epsg() == 32631
    assert local_metric_crs(nl.to_crs("EPSG:3035")).to_epsg() == 32631


def test_scenario_template_values_are_written_by_tomli_w():
    name = 'Köln "Nord"\\ \n\ttab'
    text = scenario_toml(name, "a\nb", route_factor=1.25, sites="my sites.gpkg", time_limit_s=7)
    doc = tomllib.loads(text)
    assert doc["scenario"] == {"name": name, "description": "a\nb"}
    assert doc["inputs"]["sites"] == "my sites.gpkg"
    assert doc["network"]["route_factor"] == 1.25 and doc["solver"]["time_limit_s"] == 7.0
    assert "# " in text  # the template keeps its comments
    assert toml_value(np.float64(0.5)) == "0.5" and toml_value(np.int64(3)) == "3" and toml_value(True) == "true"
