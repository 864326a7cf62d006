"""Maps: projection policy, static PNG, folium layers and popups, offline HTML (no remote script or stylesheet)."""
from __future__ import annotations

import logging
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from qtopo import viz
from test_report import make_infeasible_plan, make_plan

PNG = b"\x89PNG\r\n\x1a\n"
REMOTE = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


def test_map_crs_policy():
    assert viz.map_crs([4.9, 6.6], [52.4, 53.2]).to_epsg() == 3035  # Netherlands: LAEA Europe
    us = viz.map_crs([-122.4, -74.0], [37.8, 40.7])
    assert us.to_epsg() is None and us.is_projected
    assert "Lambert Azimuthal Equal Area" in us.coordinate_operation.method_name

    def lon0(crs):
        return next(p.value for p in crs.coordinate_operation.params if "Longitude" in p.name)

    assert -100 < lon0(us) < -95  # between San Francisco and New York
    # the centre of a plan across the antimeridian lies near 180, not near 0
    assert abs(abs(lon0(viz.map_crs([178.0, -178.0], [-18.0, -17.0]))) - 180) < 1


def test_png_written_and_sized(tmp_path):
    p = viz.plan_map_png(make_plan(), tmp_path / "m.png")
    data = p.read_bytes()
    assert data[:8] == PNG
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert 800 < w < 2500 and 700 < h < 2500


@pytest.mark.parametrize("color_by", sorted(viz.COLOR_BY))
def test_png_color_by_and_no_outlines(tmp_path, color_by):
    p = viz.plan_map_png(make_plan(), tmp_path / "m.png", countries=False, color_by=color_by, dpi=60)
    assert p.read_bytes()[:8] == PNG


def test_png_bad_color_by(tmp_path):
    with pytest.raises(ValueError, match="color_by"):
        viz.plan_map_png(make_plan(), tmp_path / "m.png", color_by="speed")


def test_png_missing_outlines_is_graceful(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(viz, "NATURALEARTH", tmp_path / "nowhere")
    with caplog.at_level(logging.INFO, logger="qtopo.viz"):
        viz.plan_map_png(make_plan(), tmp_path / "m.png", dpi=60)
    assert "without them" in caplog.text


def test_png_with_network_and_infeasible(tmp_path):
    """A network's fibre is drawn; an infeasible plan (no nodes) shows the network's sites."""

    class Net:
        nodes = pd.DataFrame({"lon": [5.0, 6.2, 5.6], "lat": [52.0, 52.3, 51.3], "kind": ["datacenter"] * 3,
                              "site_ids": [("A",), ("B",), ()]}, index=["A", "B", "j1"])
        edges = gpd.GeoDataFrame({"u": ["A", "j1"], "v": ["j1", "B"], "length_km": [90.0, 110.0]},
                                 geometry=[shapely.LineString([(5.0, 52.0), (5.6, 51.3)]),
                                           shapely.LineString([(5.6, 51.3), (6.2, 52.3)])], crs="EPSG:4326")

    lines = viz._fibre_lines(make_plan(), Net())
    assert len(lines) == 2 and lines[0][1]["length_km"] == 90.0
    assert [n.id for n in viz._plan_nodes(make_infeasible_plan(), Net())] == ["A", "B"]
    assert viz.plan_map_png(make_infeasible_plan(), tmp_path / "inf.png", network=Net(), dpi=60).is_file()
    assert viz.plan_map_png(make_infeasible_plan(), tmp_path / "inf2.png", dpi=60).is_file()  # nothing to draw


def test_fibre_from_plan_gpkg(tmp_path):
    """A plan read from disk takes the fibre layer of the plan.gpkg beside it."""
    from qtopo.plan import Plan

    plan = make_plan()
    plan.to_json(tmp_path / "plan.json")
    fibre = gpd.GeoDataFrame({"u": ["A"], "v": ["B"], "length_km": [120.0], "route_id": ["r"]},
                             geometry=[shapely.LineString([(5.0, 52.0), (5.5, 52.5), (6.2, 52.3)])], crs="EPSG:4326")
    fibre.to_file(tmp_path / "plan.gpkg", layer="fibre", driver="GPKG")
    lines = viz._fibre_lines(Plan.from_json(tmp_path / "plan.json"))
    assert len(lines) == 1 and len(lines[0][0]) == 3


def _layer_names(m) -> list:
    import folium

    return [c.layer_name for c in m._children.values() if isinstance(c, folium.FeatureGroup)]


def test_folium_layers_and_popups():
    plan = make_plan()
    m = viz.plan_map_folium(plan)
    names = _layer_names(m)
    for n in ("Fibre routes", "QKD links", "Sites", "Trusted nodes", "Relays", "Demand: A - B", "Demand: A - C",
              "Demand: B - C"):
        assert n in names, n
    assert names[-1] in ("Sites", "Trusted nodes", "Relays")  # nodes on top
    html = m.get_root().render()
    # popups carry the plan's numbers, formatted as in link_popup_rows
    for L in plan.links:
        rows = dict(viz.link_popup_rows(L))
        assert rows["capacity"] == f"{L.capacity_bps:,.0f} bit/s"
        assert rows["cost"] == f"{L.cost_eur:,.0f} EUR"
        assert rows["capacity"] in html and rows["load"] in html and rows["loss"] in html
    assert "key relayed for" in html  # T1 relays key for all three demands
    assert "(log scale)" in html  # colour legend


def test_folium_many_demands_share_one_layer():
    m = viz.plan_map_folium(make_plan(), demand_layers=2)
    names = _layer_names(m)
    assert "Demand routes" in names and not any(n.startswith("Demand:") for n in names)


def test_save_map_html_offline(tmp_path):
    m = viz.plan_map_folium(make_plan())
    p = viz.save_map_html(m, tmp_path / "map.html")
    text = p.read_text()
    assert not REMOTE.search(text), REMOTE.search(text).group(0)
    assert not re.search(r"<script[^>]+src=", text)
    assert "Leaflet 1.9.4" in text and "jQuery v3.7.1" in text
    assert "url(images/" not in text and "data:image/png;base64," in text  # leaflet.css images inlined
    for name in ("Fibre routes", "QKD links", "Sites", "Trusted nodes", "Relays"):
        assert f'"{name}"' in text
    assert "Country outlines" in text  # bundled Natural Earth outlines stand in for tiles


def test_tiles_optional(tmp_path):
    text = viz.save_map_html(viz.plan_map_folium(make_plan(), tiles="OpenStreetMap"), tmp_path / "m.html").read_text()
    assert "tile.openstreetmap.org" in text  # base tiles need the network, by the user's choice
    assert not REMOTE.search(text)
    assert "Country outlines" not in text


def test_offline_html_keeps_unknown_remote_with_warning(caplog):
    page = ('<head><script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>'
            '<script src="https://example.org/plugin.js"></script>'
            '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css"/>'
            '</head>')
    with caplog.at_level(logging.WARNING, logger="qtopo.viz"):
        out = viz.offline_html(page)
    assert "Leaflet 1.9.4" in out and "bootstrap" not in out
    assert '<script src="https://example.org/plugin.js"></script>' in out
    assert "example.org/plugin.js" in caplog.text


def test_node_kind_styles():
    from planfactory import node

    assert viz.node_kind(node("H", "trusted", site_kind="hut")) == "trusted_hut"
    assert viz.node_kind(node("T", "trusted", site_kind="pop")) == "trusted"
    assert viz.node_kind(node("R", "repeater")) == "repeater"
    assert viz.node_kind(node("W", "weird")) == "other"
    assert set(np.unique([viz.KIND_STYLE[k][5] for k in viz.KIND_STYLE])) >= {"Sites", "Trusted nodes", "Relays"}
