"""Tests of qtopo.importers, the bundled data and ``data/build_data.py``."""
from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from qtopo.errors import InputError
from qtopo.importers import read_zoo, scenario_toml, write_project
from qtopo.importers.csvnet import read_csv_network
from qtopo.importers.sndlib import read_sndlib

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
FIX = Path(__file__).resolve().parent / "data" / "importers"
SHARED_CANDIDATES = [Path("/work/shared/data"), REPO.parent / "shared" / "data"]
SHARED = next((p for p in SHARED_CANDIDATES if (p / "SOURCES.md").is_file()), None)
GEOD = Geod(ellps="WGS84")


def haversine_km(lon1, lat1, lon2, lat2, r_km=6371.0088):
    """Great-circle distance on the mean-radius sphere (IUGG mean Earth radius), an independent check."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat, dlon = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * r_km * np.arcsin(np.sqrt(a))


def problems_text(exc: InputError) -> str:
    return "\n".join(str(p) for p in exc.problems)


# ---------------------------------------------------------------------------------------------- Topology Zoo
def test_zoo_abilene_real_file():
    sites, routes, report = read_zoo(DATA / "zoo" / "Abilene.graphml")
    assert len(sites) == 11 and len(routes) == 14          # Topology Zoo INDEX: Abilene 11 nodes, 14 edges
    assert sites.crs.to_epsg() == 4326 and routes.crs.to_epsg() == 4326
    assert sites["id"].is_unique and {"new-york", "chicago", "los-angeles"} <= set(sites["id"])
    assert (sites["country"] == "US").all()
    assert report.skipped_nodes == [] and report.dropped_links == []
    # route endpoints are exactly the site points
    xy = sites.set_index("id").geometry
    first = shapely.get_point(routes.geometry.values, 0)
    last = shapely.get_point(routes.geometry.values, -1)
    assert shapely.equals(first, xy.reindex(routes["from_pop"]).values).all()
    assert shapely.equals(last, xy.reindex(routes["to_pop"]).values).all()
    # geodesic lengths agree with a spherical great circle to within the ellipsoid effect (< 0.6 %)
    fa, ta = xy.reindex(routes["from_pop"]), xy.reindex(routes["to_pop"])
    ref = haversine_km(fa.x.to_numpy(), fa.y.to_numpy(), ta.x.to_numpy(), ta.y.to_numpy())
    np.testing.assert_allclose(routes["geodesic_km"].to_numpy(), ref, rtol=6e-3)
    # densified: no segment longer than 5 km (plus rounding), and the polyline length equals the geodesic
    coords = shapely.get_coordinates(routes.geometry.values)
    n = shapely.get_num_coordinates(routes.geometry.values)
    seg_same = np.repeat(np.arange(len(routes)), n)[1:] == np.repeat(np.arange(len(routes)), n)[:-1]
    _, _, d = GEOD.inv(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
    assert d[seg_same].max() <= 5000.0 + 1.0
    poly_km = np.bincount(np.repeat(np.arange(len(routes)), n)[1:][seg_same], weights=d[seg_same]) / 1000
    np.testing.assert_allclose(poly_km, routes["geodesic_km"].to_numpy(), rtol=1e-6)


def test_zoo_gzip_and_unlocated_nodes():
    sites, routes, report = read_zoo(DATA / "zoo" / "Kdl.graphml.gz")
    # INDEX_zoo_stats.tsv: 726 of 754 nodes located; of those, PoPs left without any link (isolated, or
    # linked only to co-located PoPs) are left out and listed too
    unlinked = [s for s in report.skipped_nodes if "no link" in s]
    assert len(sites) == 726 - len(unlinked)
    assert len(report.skipped_nodes) == 754 - 726 + len(unlinked)
    assert set(routes["from_pop"]) | set(routes["to_pop"]) == set(sites["id"])
    assert (routes["geodesic_km"] >= 0.05).all()
    assert sites["id"].is_unique
    assert routes["from_pop"].isin(sites["id"]).all() and routes["to_pop"].isin(sites["id"]).all()


def test_zoo_fixture_multigraph_selfloop_external_duplicates():
    sites, routes, report = read_zoo(FIX / "zoo_small.graphml", datacenters=["delft-2"])
    assert list(sites["id"]) == ["den-haag", "delft", "delft-2", "antwerpen"]
    assert list(sites["country"]) == ["NL", "NL", "NL", "BE"]
    assert list(sites["internal"]) == [True, True, True, False]
    assert report.external_nodes == ["antwerpen"]
    assert list(sites["kind"]) == ["pop", "pop", "datacenter", "pop"]
    assert any("4 (Nowhere)" in s for s in report.skipped_nodes)
    assert any("self-loop" in s for s in report.dropped_links)
    assert any("without coordinates" in s for s in report.dropped_links)
    pair = routes[(routes["from_pop"] == "den-haag") & (routes["to_pop"] == "delft")]
    assert len(pair) == 1 and int(pair["multiplicity"].iloc[0]) == 2
    assert len(routes) == 3 and routes["multiplicity"].sum() == 4
    assert "Nowhere" in str(report)


@pytest.mark.parametrize("fname, needle", [
    ("zoo_nocoords.graphml", "none of the 5 nodes has Latitude/Longitude"),
    ("zoo_truncated.graphml", "malformed XML"),
    ("does_not_exist.graphml", "not found"),
    ("sndlib_benelux4.txt", "malformed XML"),
])
def test_zoo_errors(fname, needle):
    with pytest.raises(InputError) as ei:
        read_zoo(FIX / fname)
    assert needle in problems_text(ei.value)
    assert fname in problems_text(ei.value)


def test_zoo_truncated_names_line():
    with pytest.raises(InputError) as ei:
        read_zoo(FIX / "zoo_truncated.graphml")
    assert ", line " in ei.value.problems[0].where


def test_zoo_unknown_datacenter_lists_all():
    with pytest.raises(InputError) as ei:
        read_zoo(FIX / "zoo_small.graphml", datacenters=["nope", "delft", "zilch"])
    assert len(ei.value.problems) == 2


def test_zoo_edge_to_undeclared_node(tmp_path):
    text = (FIX / "zoo_small.graphml").read_text().replace('<edge source="2" target="3" />',
                                                           '<edge source="2" target="99" />')
    f = tmp_path / "bad.graphml"
    f.write_text(text)
    with pytest.raises(InputError) as ei:
        read_zoo(f)
    msg = problems_text(ei.value)
    assert "undeclared node(s) 99" in msg and "line" in msg


# ---------------------------------------------------------------------------------------------- SNDlib
def test_sndlib_native_and_xml_agree():
    s1, r1, d1, rep1 = read_sndlib(FIX / "sndlib_benelux4.txt", datacenters=["Amsterdam", "Luxembourg"])
    s2, r2, d2, rep2 = read_sndlib(FIX / "sndlib_benelux4.xml", datacenters=["Amsterdam", "Luxembourg"])
    assert list(s1["id"]) == ["Amsterdam", "Brussels", "Luxembourg", "Rotterdam"]
    pd.testing.assert_frame_equal(pd.DataFrame(s1.drop(columns="geometry")),
                                  pd.DataFrame(s2.drop(columns="geometry")))
    assert s1.geom_equals(s2).all() and r1.geom_equals_exact(r2, 1e-12).all()
    pd.testing.assert_frame_equal(d1, d2)
    assert rep1.network == "benelux4"
    assert len(r1) == 4 and r1["multiplicity"].max() == 2       # L1 and L4 are parallel
    assert list(d1["demand_value"]) == [12.0, 3.5]
    ams_rtm = r1[(r1["from_pop"] == "Amsterdam") & (r1["to_pop"] == "Rotterdam")]["geodesic_km"].iloc[0]
    assert ams_rtm == pytest.approx(haversine_km(4.90, 52.37, 4.48, 51.92), rel=6e-3)


@pytest.mark.parametrize("fname, needles", [
    ("sndlib_pixel.txt", ["pixel", "N1 (120 340)"]),
    ("sndlib_pixel.xml", ['coordinatesType="pixel"']),
    ("sndlib_nocoords.txt", ["none of the 2 nodes has coordinates"]),
    ("sndlib_bad.txt", ["line 7: cannot read node line", "line 12, link L2: unknown node(s) 'Z'",
                        "line 16, demand D1: unknown node(s) 'Y'"]),
    ("missing.txt", ["not found"]),
    ("csv_nodes.csv", ["not an SNDlib file"]),
])
def test_sndlib_errors(fname, needles):
    with pytest.raises(InputError) as ei:
        read_sndlib(FIX / fname)
    msg = problems_text(ei.value)
    for n in needles:
        assert n in msg


def test_package_exports_all_readers():
    import qtopo.importers as imp

    assert imp.read_sndlib is read_sndlib and imp.read_csv_network is read_csv_network


def test_sndlib_explicit_pixel_refused_even_if_in_range():
    with pytest.raises(InputError, match="pixel"):
        read_sndlib(FIX / "sndlib_benelux4.txt", coordinates="pixel")


# ---------------------------------------------------------------------------------------------- CSV
def test_csv_network():
    sites, routes, report = read_csv_network(FIX / "csv_nodes.csv", FIX / "csv_links.csv", datacenters=["utr"])
    assert list(sites["id"]) == ["ams", "utr", "rtm", "ein"]
    assert list(sites["kind"]) == ["datacenter", "datacenter", "datacenter", "pop"]
    assert len(routes) == 4
    lk = routes["length_km"].to_numpy()
    assert lk[0] == 45.2 and np.isnan(lk[1:]).all()
    assert (routes["geodesic_km"] > 0).all()


def test_csv_bad_nodes_lists_every_problem():
    with pytest.raises(InputError) as ei:
        read_csv_network(FIX / "csv_nodes_bad.csv", FIX / "csv_links.csv")
    msg = problems_text(ei.value)
    for n in ["line 4, id 'a': duplicate id", "line 3, id 'b': lon 'north' is not a number",
              "line 5, id 'c': lon 200 out of range", "line 5, id 'c': lat 95 out of range",
              "line 6, id 'd': lon is missing"]:
        assert n in msg


def test_csv_bad_links():
    with pytest.raises(InputError) as ei:
        read_csv_network(FIX / "csv_nodes.csv", FIX / "csv_links_bad.csv")
    msg = problems_text(ei.value)
    assert "line 3: unknown node id(s) 'xyz'" in msg
    assert "line 4: length_km '-3' is not a positive number" in msg


def test_csv_missing_and_malformed(tmp_path):
    with pytest.raises(InputError) as ei:
        read_csv_network(tmp_path / "n.csv", tmp_path / "l.csv")
    assert len(ei.value.problems) == 2
    (tmp_path / "n.csv").write_text('id,lon,lat\n"a,1,2\nb,3\n')
    (tmp_path / "l.csv").write_text("from,to\n")
    with pytest.raises(InputError):
        read_csv_network(tmp_path / "n.csv", tmp_path / "l.csv")
    (tmp_path / "n.csv").write_text("name,x_m\nA,1\n")
    with pytest.raises(InputError, match="missing column 'id'"):
        read_csv_network(tmp_path / "n.csv", tmp_path / "l.csv")


def test_csv_self_loop_dropped(tmp_path):
    (tmp_path / "l.csv").write_text("from,to\nams,ams\nams,utr\n")
    _, routes, report = read_csv_network(FIX / "csv_nodes.csv", tmp_path / "l.csv")
    assert len(routes) == 1 and "self-loop" in report.dropped_links[0]


# ---------------------------------------------------------------------------------------------- demands
def test_all_pairs_and_gravity():
    from qtopo.importers.demands import all_pairs, gravity

    sites, _, _ = read_csv_network(FIX / "csv_nodes.csv", FIX / "csv_links.csv")
    d = all_pairs(sites, ids=["ams", "utr", "rtm", "ein"], target_bps=2000)
    assert len(d) == 6 and (d["target_bps"] == 2000).all()
    assert all_pairs(sites).shape[0] == 1                     # the two datacenters of the file
    pop = {"ams": 4.0, "utr": 1.0, "rtm": 2.0, "ein": 1.0}
    g = gravity(sites, total_bps=1e4, ids=list(pop), population=pop)
    assert g["target_bps"].sum() == pytest.approx(1e4)
    t = {(a, b): v for a, b, v in g.itertuples(index=False)}
    assert t[("ams", "rtm")] / t[("ams", "utr")] == pytest.approx(2.0)   # P_rtm / P_utr
    assert t[("ams", "rtm")] == pytest.approx(1e4 * 8 / (4 + 8 + 4 + 2 + 2 + 1))
    g2 = gravity(sites, total_bps=1e4, ids=list(pop), population=pop, max_pairs=2)
    assert len(g2) == 2 and g2["target_bps"].sum() == pytest.approx(1e4)
    with pytest.raises(InputError):
        all_pairs(sites, ids=["ams", "nope"])


def test_gravity_with_bundled_cities():
    from qtopo.importers.demands import gravity, site_populations

    sites = gpd.read_file(DATA / "surfnet" / "sites.gpkg")
    pops = pd.Series(site_populations(sites), index=sites["id"])
    # GeoNames: Amsterdam alone has 741,636 inhabitants, so its catchment holds at least that
    assert pops["amsterdam"] >= 741_636 and pops["groningen"] > 0
    g = gravity(sites, total_bps=2e4)
    assert len(g) == 10 and g["target_bps"].sum() == pytest.approx(2e4)


def test_cloud_regions():
    from qtopo.importers.demands import cloud_regions

    c = cloud_regions()
    assert c["id"].is_unique and c.crs.to_epsg() == 4326 and (c["kind"] == "datacenter").all()
    assert {"aws", "azure", "gcp"} <= set(c["provider"])
    nl = cloud_regions(providers=["gcp"], countries=["NL"])
    assert list(nl["id"]) == ["gcp-europe-west4"]
    with pytest.raises(InputError, match="unknown provider"):
        cloud_regions(providers=["nope"])


# ---------------------------------------------------------------------------------------------- write_project
def test_write_project(tmp_path):
    sites, routes, _ = read_zoo(DATA / "zoo" / "Abilene.graphml", datacenters=["new-york", "chicago"])
    dem = pd.DataFrame({"source": ["new-york"], "target": ["chicago"], "target_bps": [5e3]})
    out = write_project(sites, routes, dem, tmp_path / "proj", route_factor=1.4, name="abilene")
    assert sorted(p.name for p in out.iterdir()) == ["demands.csv", "routes.gpkg", "scenario.toml", "sites.gpkg"]
    assert [p.name for p in tmp_path.iterdir()] == ["proj"]      # no temporary folder left behind
    sc = tomllib.loads((out / "scenario.toml").read_text())
    assert sc["network"]["route_factor"] == 1.4 and sc["scenario"]["name"] == "abilene"
    assert sc["inputs"] == {"sites": "sites.gpkg", "routes": "routes.gpkg", "demands": "demands.csv"}
    back = gpd.read_file(out / "routes.gpkg")
    assert back.crs.to_epsg() == 4326 and len(back) == 14
    with pytest.raises(InputError, match="not empty"):
        write_project(sites, routes, dem, out)
    write_project(sites, routes, None, out, overwrite=True)
    assert pd.read_csv(out / "demands.csv").empty
    with pytest.raises(InputError, match="unknown site id"):
        write_project(sites, routes, dem.assign(target="nowhere"), tmp_path / "p2")
    assert not (tmp_path / "p2").exists()


def test_scenario_template_matches_schema():
    sc = tomllib.loads(scenario_toml("x"))
    assert set(sc) == {"scenario", "inputs", "network", "fibre", "costs", "devices", "solver"}
    assert set(sc["devices"]) == {"apd", "snspd"}
    assert set(sc["network"]) == {"route_factor", "node_tolerance_m", "snap_tolerance_m", "hut_spacing_km"}


# ---------------------------------------------------------------------------------------------- bundled data
def test_bundled_surfnet():
    sites = gpd.read_file(DATA / "surfnet" / "sites.gpkg")
    routes = gpd.read_file(DATA / "surfnet" / "routes.gpkg")
    dem = pd.read_csv(DATA / "surfnet" / "demands.csv")
    assert list(sites.columns) == ["id", "name", "kind", "country", "geometry"]
    assert list(routes.columns) == ["id", "from_pop", "to_pop", "operator", "geodesic_km", "multiplicity",
                                    "geometry"]
    assert list(dem.columns) == ["source", "target", "target_bps"]
    assert sites.crs.to_epsg() == 4326 and routes.crs.to_epsg() == 4326
    assert len(sites) == 50 and sites["id"].is_unique and (sites.geom_type == "Point").all()
    assert len(routes) == 68 and routes["multiplicity"].sum() == 73    # zoo: 73 edges, 5 doubled pairs
    assert (routes.geom_type == "LineString").all() and (routes["operator"] == "SURFnet").all()
    assert "length_km" not in routes.columns                            # lengths come from route_factor
    dcs = set(sites.loc[sites["kind"] == "datacenter", "id"])
    assert dcs == {"amsterdam", "rotterdam", "utrecht", "eindhoven", "groningen"}
    assert set(dem["source"]) | set(dem["target"]) <= dcs
    assert 5 <= len(dem) <= 8 and dem["target_bps"].between(2e3, 1e4).all()
    sc = tomllib.loads((DATA / "surfnet" / "scenario.toml").read_text())
    assert sc["scenario"]["name"] == "surfnet-datacenters" and sc["network"]["route_factor"] == 1.3
    if importlib.util.find_spec("qtopo.scenario") is not None:
        from qtopo.scenario import load_scenario
        load_scenario(DATA / "surfnet" / "scenario.toml")


def test_bundled_reference_data():
    ne = gpd.read_file(DATA / "naturalearth" / "countries.gpkg")
    assert len(ne) == 177 and {"name", "iso_a2", "iso_a3", "continent"} <= set(ne.columns)
    assert set(ne.loc[ne["name"].isin(["France", "Norway"]), "iso_a2"]) == {"FR", "NO"}
    eu = gpd.read_file(DATA / "naturalearth" / "countries_europe_10m.gpkg")
    assert {"NL", "BE", "DE", "FR", "GB", "CY"} <= set(eu["iso_a2"]) and eu.is_valid.all()
    assert (DATA / "naturalearth" / "countries_europe_10m.gpkg").stat().st_size < 1.5e6
    cities = pd.read_csv(DATA / "geonames" / "cities_europe.csv", keep_default_na=False)
    assert list(cities.columns) == ["geonameid", "name", "country", "lat", "lon", "population"]
    assert (cities["population"] >= 15000).all() and {"NL", "BE", "DE", "LU", "FR", "GB"} <= set(cities["country"])
    regions = pd.read_csv(DATA / "cloud" / "regions.csv", keep_default_na=False)
    assert list(regions.columns) == ["provider", "region", "city", "country", "lat", "lon"]
    for name in ["Abilene", "Nsfnet", "Sprint", "Surfnet", "Geant2012", "Dfn", "Colt", "Cogentco", "UsCarrier",
                 "Bellcanada"]:
        assert (DATA / "zoo" / f"{name}.graphml").is_file()
    assert (DATA / "zoo" / "Kdl.graphml.gz").is_file() and (DATA / "zoo" / "LICENSE").is_file()
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 5e6
    readme = (DATA / "README.md").read_text()
    for s in ["CC BY 4.0", "Knight", "Natural Earth", "GeoNames", "MIT"]:
        assert s in readme


def _load_build_module():
    spec = importlib.util.spec_from_file_location("qtopo_build_data", DATA / "build_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(SHARED is None, reason="raw public data (../shared/data) not available in this checkout")
def test_build_data_is_reproducible(tmp_path):
    mod = _load_build_module()
    mod.build_all(SHARED, tmp_path)
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert files, "build produced nothing"
    for rel in files:
        new, old = tmp_path / rel, DATA / rel
        assert old.is_file(), f"{rel} is built but not bundled"
        if rel.suffix == ".gpkg":
            a, b = gpd.read_file(new), gpd.read_file(old)
            pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                          pd.DataFrame(b.drop(columns="geometry")))
            assert a.geom_equals_exact(b, 1e-9).all() and a.crs == b.crs
        else:
            assert new.read_bytes() == old.read_bytes(), f"{rel} differs from the bundled file"


def test_build_data_missing_shared(tmp_path):
    mod = _load_build_module()
    with pytest.raises(SystemExit, match="not found"):
        mod.build_all(tmp_path / "nowhere", tmp_path / "out")


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_import(tmp_path):
    from click.testing import CliRunner

    from qtopo.cli.importers import import_group

    r = CliRunner().invoke(import_group, ["zoo", str(DATA / "zoo" / "Abilene.graphml"), "--out",
                                          str(tmp_path / "a"), "--datacenters", "new-york,chicago,seattle",
                                          "--target-bps", "3000", "--route-factor", "1.25"])
    assert r.exit_code == 0, r.output
    dem = pd.read_csv(tmp_path / "a" / "demands.csv")
    assert len(dem) == 3 and (dem["target_bps"] == 3000).all()
    assert tomllib.loads((tmp_path / "a" / "scenario.toml").read_text())["network"]["route_factor"] == 1.25

    r = CliRunner().invoke(import_group, ["sndlib", str(FIX / "sndlib_benelux4.xml"), "--out",
                                          str(tmp_path / "s"), "--demands", "file"])
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(tmp_path / "s" / "demands.csv")) == 2

    r = CliRunner().invoke(import_group, ["csv", str(FIX / "csv_nodes.csv"), str(FIX / "csv_links.csv"),
                                          "--out", str(tmp_path / "c"), "--demands", "gravity"])
    assert r.exit_code == 0, r.output

    r = CliRunner().invoke(import_group, ["sndlib", str(FIX / "sndlib_pixel.txt"), "--out", str(tmp_path / "p")])
    assert isinstance(r.exception, InputError) and "pixel" in str(r.exception)
    r = CliRunner().invoke(import_group, ["zoo", str(DATA / "zoo" / "Abilene.graphml"), "--out",
                                          str(tmp_path / "b"), "--route-factor", "0.8"])
    assert isinstance(r.exception, InputError) and "route-factor" in str(r.exception)
    assert not (tmp_path / "p").exists() and not (tmp_path / "b").exists()
