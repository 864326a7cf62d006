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


def test_html_report_is_rendered_by_the_jinja2_template():
    from pathlib import Path

    from qtopo.report import Figure, KeyValues, Section, Table, render_html

    secs = [Section("Headline", [KeyValues([("Status", "**optimal**")]), "text with `code` and <script>x</script>"],
                    anchor="h"),
            Section("Links", [Table(["Link", "EUR"], [["a<b", "1,000"]], numeric=[False, True], caption="cap")],
                    anchor="l"),
            Section("Figures", [Figure("map.png", b"PNG", "a 'map'")], anchor="f")]
    html = render_html("Plan <1>", secs)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<title>Plan &lt;1&gt;</title>" in html
    assert "<nav><a href='#h'>Headline</a> <a href='#l'>Links</a> <a href='#f'>Figures</a></nav>" in html
    assert "<td><strong>optimal</strong></td>" in html and "<code>code</code>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<td>a&lt;b</td><td class=n>1,000</td>" in html and "<caption>cap</caption>" in html
    assert "src='data:image/png;base64,UE5H'" in html
    css = (Path(__import__("qtopo").__file__).parent / "templates" / "report.css").read_text()
    assert css.strip() in html
