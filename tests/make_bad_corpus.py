"""Regenerate the malformed-input corpus in ``tests/data/bad/`` (deterministically).

    .venv/bin/python tests/make_bad_corpus.py

Every case is a small scenario folder copied from one tiny valid base (three sites in the Netherlands, two
fibre routes, two demands, one device) with ONE defect, except the ``multi_*`` cases that combine several.
Each folder holds ``expected.txt``:

    # exit 4
    # <what is wrong>
    <fragment that must appear in the CLI output>
    <another fragment>

Lines starting with ``#`` are metadata (the first is the expected exit code of ``qtopo plan``); every other line
is a fragment that must appear verbatim in the combined output. ``tests/test_bad_inputs.py`` runs them all.
Inputs are GeoJSON (small, readable diffs) unless the case is about another format. Binary files are written
with fixed timestamps so that rerunning this script reproduces the same bytes.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "bad"

# ----------------------------------------------------------------------------------------------------------
# the valid base
# ----------------------------------------------------------------------------------------------------------
SITES = [
    ("alpha", "datacenter", [5.0, 52.0]),
    ("bravo", "pop", [5.5, 52.0]),
    ("charlie", "datacenter", [5.5, 52.3]),
]
ROUTES = [
    ("r1", [[5.0, 52.0], [5.25, 52.01], [5.5, 52.0]]),
    ("r2", [[5.5, 52.0], [5.5, 52.3]]),
]
DEMANDS = "source,target,target_bps\nalpha,charlie,1000\nalpha,bravo,500\n"
SCENARIO = """\
[scenario]
name = "bad-input base"

[inputs]
sites = "sites.geojson"
routes = "routes.geojson"
demands = "demands.csv"

[network]
route_factor = 1.2
node_tolerance_m = 200.0
snap_tolerance_m = 1000.0
hut_spacing_km = 0.0

[fibre]
attenuation_db_per_km = 0.2
connector_loss_db = 1.0

[costs]
trusted_node_eur = 100000.0
hut_node_eur = 300000.0
fibre_eur_per_km = 100.0

[devices.apd]
preset = "apd-bb84"
pair_cost_eur = 100000.0
max_pairs_per_link = 4

[solver]
time_limit_s = 10.0
mip_gap = 0.0001
threads = 1
"""


def feature(props: dict, geometry) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def point(xy) -> dict:
    return {"type": "Point", "coordinates": list(xy)}


def line(coords) -> dict:
    return {"type": "LineString", "coordinates": [list(c) for c in coords]}


@dataclass
class Base:
    """Mutable copy of the base; a case edits it, then it is written out."""

    sites: list = field(default_factory=lambda: [feature({"id": i, "kind": k}, point(xy)) for i, k, xy in SITES])
    routes: list = field(default_factory=lambda: [feature({"id": i}, line(c)) for i, c in ROUTES])
    demands: str = DEMANDS
    scenario: str = SCENARIO
    sites_crs: str | None = None      # extra "crs" member in the GeoJSON (old-style, still read by GDAL)
    routes_crs: str | None = None
    write_sites: bool = True
    write_routes: bool = True
    write_demands: bool = True
    after: list = field(default_factory=list)  # callables(folder) for binary / special files

    def site(self, sid: str) -> dict:
        return next(f for f in self.sites if f["properties"].get("id") == sid)

    def route(self, rid: str) -> dict:
        return next(f for f in self.routes if f["properties"].get("id") == rid)

    def set(self, section: str, key: str, value: str) -> None:
        """Set ``key = value`` (value as TOML text) in ``[section]`` of the scenario text."""
        lines = self.scenario.splitlines()
        start = lines.index(f"[{section}]")
        for j in range(start + 1, len(lines)):
            if lines[j].startswith("["):
                break
            if lines[j].split("=")[0].strip() == key:
                lines[j] = f"{key} = {value}"
                self.scenario = "\n".join(lines) + "\n"
                return
        lines.insert(start + 1, f"{key} = {value}")
        self.scenario = "\n".join(lines) + "\n"


def _fc(features, crs: str | None) -> str:
    obj = {"type": "FeatureCollection"}
    if crs:
        obj["crs"] = {"type": "name", "properties": {"name": crs}}
    obj["features"] = features
    # one feature per line: readable diffs; NaN/Infinity are written as JSON5-style literals, which GDAL reads
    body = ",\n".join(json.dumps(f, allow_nan=True) for f in features)
    head = json.dumps({k: v for k, v in obj.items() if k != "features"})[:-1]
    return f'{head}, "features": [\n{body}\n]}}\n'


CASES: dict[str, tuple[int, str, list[str], Callable[[Base], None]]] = {}


def case(name: str, exit_code: int, what: str, *fragments: str):
    def deco(fn):
        assert name not in CASES, name
        CASES[name] = (exit_code, what, list(fragments), fn)
        return fn
    return deco


# ----------------------------------------------------------------------------------------------------------
# helpers for binary formats (fixed timestamps: reproducible bytes)
# ----------------------------------------------------------------------------------------------------------
def _gdf(features, crs):
    import geopandas as gpd
    import shapely

    geoms = [shapely.geometry.shape(f["geometry"]) if f["geometry"] else None for f in features]
    props = [f["properties"] for f in features]
    return gpd.GeoDataFrame(props, geometry=geoms, crs=crs)


def _write_gpkg(gdf, path: Path) -> None:
    import pyogrio

    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2024-01-01T00:00:00.000Z"})
    try:
        gdf.to_file(path, driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def _write_shp(gdf, path: Path) -> None:
    gdf.to_file(path, driver="ESRI Shapefile", engine="pyogrio")
    dbf = path.with_suffix(".dbf")
    b = bytearray(dbf.read_bytes())
    b[1:4] = bytes([124, 1, 1])  # dBase "last update" date -> 2024-01-01 (reproducible)
    dbf.write_bytes(bytes(b))


# ----------------------------------------------------------------------------------------------------------
# CRS and coordinates
# ----------------------------------------------------------------------------------------------------------
@case("sites_missing_crs", 4, "sites as FlatGeobuf without any CRS",
      "sites layer has no CRS", "assign one")
def _(b: Base):
    b.scenario = b.scenario.replace('sites = "sites.geojson"', 'sites = "sites.fgb"')
    b.write_sites = False

    def fgb(folder):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "'crs' was not provided": that is the point
            _gdf(b.sites, None).to_file(folder / "sites.fgb", driver="FlatGeobuf", engine="pyogrio")
    b.after.append(fgb)


@case("shapefile_without_prj", 4, "routes as a Shapefile whose .prj was lost",
      "shapefile has no .prj file", "routes.shp")
def _(b: Base):
    b.scenario = b.scenario.replace('routes = "routes.geojson"', 'routes = "routes.shp"')
    b.write_routes = False

    def shp(folder):
        _write_shp(_gdf(b.routes, "EPSG:4326"), folder / "routes.shp")
        (folder / "routes.prj").unlink()
        (folder / "routes.cpg").unlink(missing_ok=True)
    b.after.append(shp)


def _rd_new(xy):
    import pyproj

    t = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    x, y = t.transform(*xy)
    return [round(x, 1), round(y, 1)]


@case("sites_projected_declared_4326", 4,
      "site coordinates in metres (Dutch RD New, EPSG:28992) in a GeoJSON, which is read as lon/lat (EPSG:4326)",
      "outside lon [-180,180] / lat [-90,90]", "look like metres of a projected CRS", "id='alpha'",
      "id='charlie'")
def _(b: Base):
    for f in b.sites:
        f["geometry"]["coordinates"] = _rd_new(f["geometry"]["coordinates"])


@case("routes_projected_declared_4326", 4, "route vertices in metres (EPSG:28992) declared as lon/lat",
      "routes.geojson, row 0 (id='r1')", "outside lon [-180,180] / lat [-90,90]", "projected CRS")
def _(b: Base):
    b.route("r1")["geometry"]["coordinates"] = [_rd_new(c) for c in b.route("r1")["geometry"]["coordinates"]]


@case("sites_lonlat_swapped_out_of_range", 4,
      "sites near Tokyo written as [lat, lon]: latitude 139.7 is impossible",
      "outside lon [-180,180] / lat [-90,90]", "swapped lon/lat", "id='alpha'")
def _(b: Base):
    # the whole base moved to Tokyo, then the sites swapped
    for f in b.sites:
        x, y = f["geometry"]["coordinates"]
        f["geometry"]["coordinates"] = [y - 52.0 + 35.7, x - 5.0 + 139.7]
    for f in b.routes:
        f["geometry"]["coordinates"] = [[x - 5.0 + 139.7, y - 52.0 + 35.7] for x, y in f["geometry"]["coordinates"]]


@case("sites_lonlat_swapped_in_range", 4,
      "Dutch sites written as [lat, lon]: still a valid position (off Somalia), so they are far from every route",
      "beyond snap_tolerance_m = 1000 m", "site 'alpha'", "site 'charlie'", "lon/lat look swapped")
def _(b: Base):
    for f in b.sites:
        x, y = f["geometry"]["coordinates"]
        f["geometry"]["coordinates"] = [y, x]


@case("site_nan_coordinates", 4, "a site with NaN longitude", "sites.geojson, row 1 (id='bravo')",
      "coordinates (nan, 52) are not finite")
def _(b: Base):
    b.site("bravo")["geometry"]["coordinates"] = [float("nan"), 52.0]


@case("site_all_nan_coordinates", 4, "a site at (NaN, NaN), which GEOS reads as an empty point",
      "sites.geojson, row 1 (id='bravo')", "empty geometry", "NaN")
def _(b: Base):
    b.site("bravo")["geometry"]["coordinates"] = [float("nan"), float("nan")]


@case("route_infinite_coordinates", 4, "a route vertex at infinity",
      "routes.geojson, row 1 (id='r2')", "NaN or infinite coordinates")
def _(b: Base):
    b.route("r2")["geometry"]["coordinates"][1] = [5.5, float("inf")]


@case("route_nan_coordinates", 4, "a route vertex with NaN longitude",
      "routes.geojson, row 0 (id='r1')", "NaN or infinite coordinates")
def _(b: Base):
    b.route("r1")["geometry"]["coordinates"][1] = [float("nan"), 52.01]


# ----------------------------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------------------------
@case("route_null_geometry", 4, "a route feature without geometry",
      "routes.geojson, row 1 (id='r2')", "empty geometry")
def _(b: Base):
    b.route("r2")["geometry"] = None


@case("route_empty_linestring", 4, "a route LineString with no vertices",
      "routes.geojson, row 0 (id='r1')", "empty geometry")
def _(b: Base):
    b.route("r1")["geometry"] = {"type": "LineString", "coordinates": []}


@case("site_null_geometry", 4, "a site without geometry", "sites.geojson, row 2 (id='charlie')", "empty geometry")
def _(b: Base):
    b.site("charlie")["geometry"] = None


@case("route_single_vertex", 4, "a LineString with one vertex (unreadable as a line)",
      "routes.geojson, row 1 (id='r2')", "invalid geometry")
def _(b: Base):
    b.route("r2")["geometry"]["coordinates"] = [[5.5, 52.0]]


@case("route_invalid_repeated_point", 4, "a LineString whose two vertices are the same point",
      "routes.geojson, row 1 (id='r2')", "invalid line geometry", "Too few points")
def _(b: Base):
    b.route("r2")["geometry"]["coordinates"] = [[5.5, 52.0], [5.5, 52.0]]


@case("route_self_intersecting", 4,
      "a route that crosses itself (valid for shapely, is_simple False): qtopo treats it as an error because a "
      "duct that crosses itself is almost always a digitising mistake and its length is then wrong",
      "routes.geojson, row 1 (id='r2')", "crosses itself or doubles back")
def _(b: Base):
    b.route("r2")["geometry"]["coordinates"] = [[5.5, 52.0], [5.5, 52.2], [5.6, 52.1], [5.45, 52.1], [5.5, 52.3]]


@case("route_zero_length", 4, "an extra route whose two vertices are 0.1 mm apart",
      "routes.geojson, row 2 (id='r3')", "zero-length line")
def _(b: Base):
    b.routes.append(feature({"id": "r3"}, line([[5.5, 52.3], [5.5, 52.3 + 1e-9]])))


@case("route_is_polygon", 4, "a Polygon in the routes layer",
      "routes.geojson, row 1 (id='r2')", "geometry is Polygon, not a LineString")
def _(b: Base):
    b.route("r2")["geometry"] = {"type": "Polygon",
                                 "coordinates": [[[5.5, 52.0], [5.6, 52.0], [5.6, 52.3], [5.5, 52.3], [5.5, 52.0]]]}


@case("route_is_point", 4, "a Point in the routes layer", "routes.geojson, row 0 (id='r1')",
      "geometry is Point, not a LineString")
def _(b: Base):
    b.route("r1")["geometry"] = point([5.0, 52.0])


@case("routes_mixed_geometry_types", 4, "routes layer mixing LineString, Point and GeometryCollection",
      "row 2 (id='r3')", "geometry is Point, not a LineString", "row 3 (id='r4')",
      "geometry is GeometryCollection, not a LineString")
def _(b: Base):
    b.routes.append(feature({"id": "r3"}, point([5.2, 52.1])))
    b.routes.append(feature({"id": "r4"}, {"type": "GeometryCollection", "geometries": [
        line([[5.0, 52.0], [5.1, 52.1]]), point([5.1, 52.1])]}))


@case("sites_mixed_geometry_types", 4, "a LineString among the sites", "sites.geojson, row 1 (id='bravo')",
      "geometry is LineString, not Point")
def _(b: Base):
    b.site("bravo")["geometry"] = line([[5.5, 52.0], [5.51, 52.0]])


@case("sites_no_features", 4, "sites layer with no features", "sites layer has no features")
def _(b: Base):
    b.sites = []


# ----------------------------------------------------------------------------------------------------------
# ids
# ----------------------------------------------------------------------------------------------------------
@case("sites_duplicate_id", 4, "two sites share an id", "duplicate site id 'bravo'", "rows [1, 2]")
def _(b: Base):
    b.site("charlie")["properties"]["id"] = "bravo"


@case("sites_duplicate_id_whitespace", 4, "ids 'bravo' and ' bravo ' (the same once trimmed)",
      "duplicate site id 'bravo'")
def _(b: Base):
    b.site("charlie")["properties"]["id"] = " bravo "


@case("sites_missing_id", 4, "a site with a null id", "sites.geojson, row 1", "missing id")
def _(b: Base):
    b.site("bravo")["properties"]["id"] = None


@case("sites_no_id_column", 4, "sites with 'name' but no 'id' column", "sites layer has no 'id' column")
def _(b: Base):
    for f in b.sites:
        f["properties"]["name"] = f["properties"].pop("id")


@case("routes_duplicate_id", 4, "two routes share an id", "routes.geojson, rows [0, 1]", "duplicate route id 'r1'")
def _(b: Base):
    b.route("r2")["properties"]["id"] = "r1"


@case("sites_negative_capex", 4, "a site with a negative capex", "id='bravo'", "capex_eur -5 is not a cost >= 0")
def _(b: Base):
    b.site("bravo")["properties"]["capex_eur"] = -5


# ----------------------------------------------------------------------------------------------------------
# demands
# ----------------------------------------------------------------------------------------------------------
@case("demand_unknown_site", 4, "a demand on a misspelt site id", "demands.csv, line 2",
      "target 'charlei' is not a site id", "did you mean 'charlie'?")
def _(b: Base):
    b.demands = b.demands.replace("alpha,charlie", "alpha,charlei")


@case("demand_self", 4, "a demand from a site to itself", "demands.csv, line 3", "self-demand 'bravo' -> 'bravo'")
def _(b: Base):
    b.demands = b.demands.replace("alpha,bravo", "bravo,bravo")


@case("demand_zero_target", 4, "target 0 bit/s", "demands.csv, line 2", "target_bps 0 must be > 0")
def _(b: Base):
    b.demands = b.demands.replace("charlie,1000", "charlie,0")


@case("demand_negative_target", 4, "negative target", "demands.csv, line 3", "target_bps -500 must be > 0")
def _(b: Base):
    b.demands = b.demands.replace("bravo,500", "bravo,-500")


@case("demand_nan_target", 4, "target NaN", "demands.csv, line 2", "is not a finite number")
def _(b: Base):
    b.demands = b.demands.replace("charlie,1000", "charlie,NaN")


@case("demand_infinite_target", 4, "target inf", "demands.csv, line 2", "is not a finite number")
def _(b: Base):
    b.demands = b.demands.replace("charlie,1000", "charlie,inf")


@case("demand_huge_target", 4, "target 1e15 bit/s (a unit mistake)", "demands.csv, line 3",
      "above 1 Tbit/s", "check the unit")
def _(b: Base):
    b.demands = b.demands.replace("bravo,500", "bravo,1e15")


@case("demand_text_target", 4, "target 'fast'", "demands.csv, line 3", "target_bps 'fast' is not a finite number")
def _(b: Base):
    b.demands = b.demands.replace("bravo,500", "bravo,fast")


@case("demand_missing_source", 4, "a row with an empty source", "demands.csv, line 3", "missing source")
def _(b: Base):
    b.demands = b.demands.replace("alpha,bravo,500", ",bravo,500")


@case("demands_missing_column", 4, "header says 'rate' instead of 'target_bps'", "missing column(s) ['target_bps']",
      "source,target,target_bps")
def _(b: Base):
    b.demands = b.demands.replace("target_bps", "rate")


@case("demands_header_only", 4, "a demands file with a header and no rows", "no demands")
def _(b: Base):
    b.demands = "source,target,target_bps\n"


@case("demands_empty_file", 4, "a 0-byte demands file", "demands file is empty")
def _(b: Base):
    b.demands = ""


@case("demands_duplicate_pair", 4, "the same pair twice (in both directions)",
      "pair 'alpha'-'charlie' appears more than once")
def _(b: Base):
    b.demands += "charlie,alpha,200\n"


@case("demands_not_utf8", 4, "demands CSV saved as Latin-1 (a site named 'zürich')", "demands.csv",
      "not UTF-8 text", "save the file as UTF-8")
def _(b: Base):
    b.write_demands = False

    def latin1(folder):
        (folder / "demands.csv").write_bytes((b.demands + "alpha,z\u00fcrich,100\n").encode("latin-1"))
    b.after.append(latin1)


# ----------------------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------------------
@case("routes_file_missing", 4, "the routes file named in the scenario does not exist",
      "routes file does not exist", "routes.geojson")
def _(b: Base):
    b.write_routes = False


@case("sites_path_is_directory", 4, "sites names a folder", "sites path is a directory, not a file")
def _(b: Base):
    b.write_sites = False
    # a file inside keeps the folder in git (git does not track empty folders)
    b.after.append(lambda folder: ((folder / "sites.geojson").mkdir(),
                                   (folder / "sites.geojson" / "README.txt").write_text("a folder, not a file\n")))


@case("sites_unsupported_extension", 4, "sites given as a CSV file", "unsupported extension '.csv'")
def _(b: Base):
    b.scenario = b.scenario.replace('sites = "sites.geojson"', 'sites = "demands.csv"')


@case("routes_truncated_gpkg", 4, "a GeoPackage cut in half (interrupted copy)", "cannot read routes file",
      "not truncated")
def _(b: Base):
    b.scenario = b.scenario.replace('routes = "routes.geojson"', 'routes = "routes.gpkg"')
    b.write_routes = False

    def gpkg(folder):
        p = folder / "routes.gpkg"
        _write_gpkg(_gdf(b.routes, "EPSG:4326"), p)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    b.after.append(gpkg)


@case("routes_not_a_gpkg", 4, "a text file with a .gpkg name", "cannot read routes file")
def _(b: Base):
    b.scenario = b.scenario.replace('routes = "routes.geojson"', 'routes = "routes.gpkg"')
    b.write_routes = False
    b.after.append(lambda folder: (folder / "routes.gpkg").write_text("id,wkt\nr1,LINESTRING(5 52, 5.5 52)\n"))


@case("sites_truncated_geojson", 4, "a GeoJSON cut in the middle", "cannot read sites file")
def _(b: Base):
    b.write_sites = False
    b.after.append(lambda folder: (folder / "sites.geojson").write_text(_fc(b.sites, None)[:200]))


@case("scenario_not_utf8", 4, "scenario saved as Latin-1 (description with an accent)", "not UTF-8 text",
      "save the scenario as UTF-8")
def _(b: Base):
    b.scenario = b.scenario.replace('name = "bad-input base"', 'name = "bad-input base"\ndescription = "r\u00e9seau"')
    text = b.scenario

    def latin1(folder):
        (folder / "scenario.toml").write_bytes(text.encode("latin-1"))
    b.after.append(latin1)


@case("scenario_toml_syntax", 4, "a TOML syntax error", "not valid TOML", "line")
def _(b: Base):
    b.scenario = b.scenario.replace("route_factor = 1.2", "route_factor = 1.2 km")


# ----------------------------------------------------------------------------------------------------------
# scenario values
# ----------------------------------------------------------------------------------------------------------
@case("scenario_typo_key", 4, "attenuation misspelt", "unknown key 'atenuation_db_per_km'",
      "did you mean 'attenuation_db_per_km'?")
def _(b: Base):
    b.scenario = b.scenario.replace("attenuation_db_per_km = 0.2", "atenuation_db_per_km = 0.2")


@case("scenario_typo_section", 4, "[fiber] instead of [fibre]", "unknown key 'fiber'", "did you mean 'fibre'?")
def _(b: Base):
    b.scenario = b.scenario.replace("[fibre]", "[fiber]")


@case("scenario_string_for_number", 4, "a quoted number", "'attenuation_db_per_km' must be a number, got str '0.2'")
def _(b: Base):
    b.set("fibre", "attenuation_db_per_km", '"0.2"')


@case("scenario_float_for_integer", 4, "threads = 1.5", "'threads' must be an integer, got float 1.5")
def _(b: Base):
    b.set("solver", "threads", "1.5")


@case("scenario_negative_loss", 4, "negative connector loss", "'connector_loss_db' = -1.0 is below its minimum 0.0")
def _(b: Base):
    b.set("fibre", "connector_loss_db", "-1.0")


@case("scenario_route_factor_below_one", 4, "route_factor 0.5 (fibre shorter than the geodesic)",
      "'route_factor' = 0.5 is below its minimum 1.0")
def _(b: Base):
    b.set("network", "route_factor", "0.5")


@case("scenario_nan_value", 4, "hut_spacing_km = nan", "'hut_spacing_km' is nan", "finite number")
def _(b: Base):
    b.set("network", "hut_spacing_km", "nan")


@case("scenario_missing_input_key", 4, "[inputs] without demands", "missing required key 'demands'")
def _(b: Base):
    b.scenario = b.scenario.replace('demands = "demands.csv"\n', "")


@case("scenario_no_devices", 4, "no [devices.*] table", "no device types given")
def _(b: Base):
    head, _, tail = b.scenario.partition("[devices.apd]")
    b.scenario = head + "[solver]" + tail.partition("[solver]")[2]


@case("scenario_log_file_escapes", 4, "the solver log would be written outside --out",
      "log_file = '../../tmp/x.log' must stay inside the output directory")
def _(b: Base):
    b.set("solver", "log_file", '"../../tmp/x.log"')


# ----------------------------------------------------------------------------------------------------------
# devices
# ----------------------------------------------------------------------------------------------------------
@case("device_unknown_preset", 4, "preset misspelt", "unknown device preset", "apd-bb84")
def _(b: Base):
    b.set("devices.apd", "preset", '"apd-bb48"')


@case("device_unknown_protocol", 4, "protocol override misspelt", "unknown protocol 'bb84-decoys'", "bb84-decoy")
def _(b: Base):
    b.set("devices.apd", "protocol", '"bb84-decoys"')


@case("device_efficiency_above_one", 4, "detector efficiency 150 %", "'detector_efficiency'", "1.5 is outside (0, 1]")
def _(b: Base):
    b.set("devices.apd", "detector_efficiency", "1.5")


@case("device_negative_dark_counts", 4, "negative dark-count probability", "'dark_count_prob'", "-1e-06 is outside [0, 1)")
def _(b: Base):
    b.set("devices.apd", "dark_count_prob", "-1e-6")


@case("device_negative_max_loss", 4, "negative operating loss limit", "'max_loss_db'", "-3.0 is outside (0, inf)")
def _(b: Base):
    b.set("devices.apd", "max_loss_db", "-3.0")


@case("device_unknown_parameter", 4, "a misspelt device parameter", "detector_eficiency", "detector_efficiency")
def _(b: Base):
    b.set("devices.apd", "detector_eficiency", "0.2")


@case("device_string_cost", 4, "pair cost as text", "'pair_cost_eur' must be a number, got str")
def _(b: Base):
    b.set("devices.apd", "pair_cost_eur", '"100k"')


@case("device_zero_pairs", 4, "max_pairs_per_link = 0", "'max_pairs_per_link' = 0 is below its minimum 1")
def _(b: Base):
    b.set("devices.apd", "max_pairs_per_link", "0")


@case("device_all_disabled", 4, "the only device type is disabled", "every device type is disabled")
def _(b: Base):
    b.set("devices.apd", "enabled", "false")


@case("network_hut_spacing_tiny", 4, "huts every 10 m: thousands of candidates, would hang the planner",
      "would create", "in-line hut candidates", "use hut_spacing_km >= 1")
def _(b: Base):
    b.set("network", "hut_spacing_km", "0.01")


@case("demands_semicolon_separated", 4, "demands saved by a spreadsheet with ';' as separator",
      "missing column(s)", "looks semicolon-separated")
def _(b: Base):
    b.demands = b.demands.replace(",", ";")


# ----------------------------------------------------------------------------------------------------------
# routes attributes
# ----------------------------------------------------------------------------------------------------------
@case("route_negative_length", 4, "surveyed length_km -3", "routes.geojson, row 0 (id='r1')",
      "length_km -3 is not a positive number")
def _(b: Base):
    b.route("r1")["properties"]["length_km"] = -3
    b.route("r2")["properties"]["length_km"] = 40.0


@case("route_negative_attenuation", 4, "per-route attenuation -0.2 dB/km", "routes.geojson, row 1 (id='r2')",
      "attenuation_db_per_km must be within [0, 10] dB/km")
def _(b: Base):
    b.route("r1")["properties"]["attenuation_db_per_km"] = 0.2
    b.route("r2")["properties"]["attenuation_db_per_km"] = -0.2


# ----------------------------------------------------------------------------------------------------------
# network: snapping, connectivity, reach (the last three are infeasible, exit 2, not bad input)
# ----------------------------------------------------------------------------------------------------------
@case("site_beyond_snap_tolerance", 4, "a site 5.5 km from the nearest route node",
      "site 'charlie'", "km from the nearest route node", "beyond snap_tolerance_m = 1000 m")
def _(b: Base):
    b.site("charlie")["geometry"]["coordinates"] = [5.58, 52.3]


@case("sites_snap_to_same_node", 4, "two demand endpoints 300 m apart snap to one fibre node",
      "both sites snap to the same fibre node", "demand alpha->bravo")
def _(b: Base):
    b.site("bravo")["geometry"]["coordinates"] = [5.004, 52.0]
    b.route("r2")["geometry"]["coordinates"] = [[5.5, 52.0], [5.5, 52.3]]


@case("infeasible_disconnected", 2, "charlie's route does not touch the others: different fibre components",
      "infeasible", "alpha -> charlie", "disconnected", "different fibre components")
def _(b: Base):
    b.route("r2")["geometry"]["coordinates"] = [[5.6, 52.0], [5.5, 52.3]]
    b.site("bravo")["geometry"]["coordinates"] = [5.5, 52.0]


@case("infeasible_target_above_capacity", 2, "1 Gbit/s: beyond 4 device pairs on any hop chain",
      "infeasible", "alpha -> charlie", "capacity", "exceeds the")
def _(b: Base):
    b.demands = b.demands.replace("charlie,1000", "charlie,1e9")


@case("infeasible_no_hop_chain", 2, "a 480 km route without huts: longer than any device can bridge",
      "infeasible", "alpha -> charlie", "no_hop_chain", "hut_spacing_km")
def _(b: Base):
    b.route("r2")["geometry"]["coordinates"] = [[5.5, 52.0], [5.5, 56.3]]
    b.site("charlie")["geometry"]["coordinates"] = [5.5, 56.3]


# ----------------------------------------------------------------------------------------------------------
# several problems at once
# ----------------------------------------------------------------------------------------------------------
@case("multi_three_files", 4, "one defect in each input file: all three are listed together",
      "duplicate site id 'bravo'", "geometry is Polygon, not a LineString", "target_bps -1 must be > 0")
def _(b: Base):
    b.site("charlie")["properties"]["id"] = "bravo"
    b.route("r2")["geometry"] = {"type": "Polygon",
                                 "coordinates": [[[5.5, 52.0], [5.6, 52.0], [5.6, 52.3], [5.5, 52.3], [5.5, 52.0]]]}
    b.demands = b.demands.replace("bravo,500", "bravo,-1")


@case("multi_scenario", 4, "four defects in the scenario file: all are listed together",
      "4 problems", "unknown key 'atenuation_db_per_km'", "'threads' must be an integer", "unknown device preset",
      "'mip_gap' = 2.0 is above its maximum 1.0")
def _(b: Base):
    b.scenario = b.scenario.replace("attenuation_db_per_km = 0.2", "atenuation_db_per_km = 0.2")
    b.set("solver", "threads", '"two"')
    b.set("solver", "mip_gap", "2.0")
    b.set("devices.apd", "preset", '"apd-bb48"')


@case("multi_rows_one_file", 4, "several bad rows in the demands file: each is listed",
      "3 problems", "line 2", "line 3", "line 4")
def _(b: Base):
    b.demands = "source,target,target_bps\nalpha,charlie,0\nalpha,bravo,NaN\nbravo,delta,10\n"


@case("multi_scenario_and_files", 4, "a scenario typo and a bad demands row: both should be listed",
      "unknown key 'atenuation_db_per_km'", "target_bps -1 must be > 0")
def _(b: Base):
    b.scenario = b.scenario.replace("attenuation_db_per_km = 0.2", "atenuation_db_per_km = 0.2")
    b.demands = b.demands.replace("bravo,500", "bravo,-1")


# ----------------------------------------------------------------------------------------------------------
# issue 15: silent acceptance, internal errors and misleading messages found by an adversarial pass
# ----------------------------------------------------------------------------------------------------------
def _existing(b: Base, text: str) -> None:
    b.set("inputs", "existing_links", '"existing.csv"')
    b.after.append(lambda folder: (folder / "existing.csv").write_text(text, encoding="utf-8"))


@case("demand_excluded_node_misspelt", 4, "excluded_nodes names a site that does not exist (typo): it would exclude "
      "nothing", "excluded_nodes names 'brav', which is not a site or fibre node id", "did you mean 'bravo'")
def _(b: Base):
    b.demands = "source,target,target_bps,excluded_nodes\nalpha,charlie,1000,brav\nalpha,bravo,500,\n"


@case("demand_column_near_miss", 4, "a k_route column (typo of k_routes) would be ignored",
      "unknown column 'k_route' (did you mean 'k_routes'?)")
def _(b: Base):
    b.demands = "source,target,target_bps,k_route\nalpha,charlie,1000,2\nalpha,bravo,500,1\n"


@case("route_length_km_absurd", 4, "length_km 0.001 on a route whose drawn geodesic length is ~34 km (metres?)",
      "length_km 0.001 is less than 2% of the route's drawn geodesic length", "(the geodesic length is a lower bound)")
def _(b: Base):
    b.route("r1")["properties"]["length_km"] = 0.001


@case("scenario_log_file_is_plan_json", 4, "log_file = plan.json would overwrite the plan with the solver log",
      "log_file = 'plan.json' is not a log file name")
def _(b: Base):
    b.set("solver", "log_file", '"plan.json"')


@case("scenario_log_file_is_a_directory", 4, "log_file = './' names a directory (was an internal error)",
      "log_file = './' is not a log file name")
def _(b: Base):
    b.set("solver", "log_file", '"./"')


@case("sites_ids_differ_by_case", 4, "site ids 'alpha' and 'Alpha' name one place twice",
      "differ only by letter case")
def _(b: Base):
    b.sites.append(feature({"id": "Alpha", "kind": "pop"}, point([5.2, 52.0])))


@case("sites_ids_differ_by_unicode_form", 4, "'zürich' composed (NFC) and decomposed (NFD) are one id",
      "duplicate site id 'zürich'", "differ only in Unicode normal form")
def _(b: Base):
    import unicodedata

    b.sites.append(feature({"id": unicodedata.normalize("NFC", "zürich"), "kind": "pop"}, point([5.2, 52.0])))
    b.sites.append(feature({"id": unicodedata.normalize("NFD", "zürich"), "kind": "pop"}, point([5.3, 52.0])))


@case("costs_absurd", 4, "a node costing 1e300 EUR (every other cost vanishes in the solver's tolerances)",
      "'trusted_node_eur' = 1e+300 is above its plausible maximum 1e+10")
def _(b: Base):
    b.set("costs", "trusted_node_eur", "1e300")


@case("demand_target_absurdly_small", 4, "a target of 1e-300 bit/s",
      "target_bps 1e-300 is below 0.001 bit/s")
def _(b: Base):
    b.demands = b.demands.replace("bravo,500", "bravo,1e-300")


@case("existing_pairs_above_max", 4, "brownfield pairs above the device's max_pairs_per_link",
      "pairs 9 is above max_pairs_per_link = 4 of device 'apd'")
def _(b: Base):
    _existing(b, "from,to,device,pairs\nalpha,bravo,apd,9\n")


@case("existing_pairs_inf", 4, "brownfield pairs = inf (was an internal error)",
      "pairs inf must be a whole number >= 1")
def _(b: Base):
    _existing(b, "from,to,device,pairs\nalpha,bravo,apd,inf\n")


@case("existing_duplicate_rows", 4, "one hop and device listed twice (once in each direction)",
      "hop bravo-alpha with device 'apd' is listed again (first in row 1 of the table)")
def _(b: Base):
    _existing(b, "from,to,device,pairs\nalpha,bravo,apd,1\nbravo,alpha,apd,1\n")


@case("existing_links_semicolon_separated", 4, "brownfield table saved with ';' as separator",
      "looks semicolon-separated")
def _(b: Base):
    _existing(b, "from;to;device;pairs\nalpha;bravo;apd;1\n")


@case("network_node_tolerance_at_max", 4, "node_tolerance_m at its allowed maximum merges every route into a loop "
      "(was an internal error)", "merges both ends of every route into one node")
def _(b: Base):
    b.set("network", "node_tolerance_m", "100000.0")


@case("sites_geojson_utf16", 4, "sites GeoJSON saved as UTF-16 (GDAL: 'not recognized as a supported format')",
      "it is encoded as UTF-16 (little-endian, with byte-order mark); GeoJSON must be UTF-8")
def _(b: Base):
    b.write_sites = False
    b.after.append(lambda folder: (folder / "sites.geojson").write_text(_fc(b.sites, None), encoding="utf-16"))


@case("demands_utf16", 4, "demands CSV saved as 'Unicode text' (UTF-16)",
      "the demands file is encoded as UTF-16", "save the file as UTF-8")
def _(b: Base):
    b.write_demands = False
    b.after.append(lambda folder: (folder / "demands.csv").write_text(b.demands, encoding="utf-16"))


@case("demand_country_name_for_iso_code", 4, "allowed_countries holds a country name, not its ISO code",
      "'Netherlands' is a country name, not an ISO 3166-1 alpha-2 code: use the ISO code NL")
def _(b: Base):
    b.demands = "source,target,target_bps,allowed_countries\nalpha,charlie,1000,Netherlands\nalpha,bravo,500,\n"


@case("sites_country_name_for_iso_code", 4, "a site's country column holds a name, not its ISO code",
      "country 'the Netherlands' is not an ISO 3166-1 alpha-2 country code")
def _(b: Base):
    b.site("bravo")["properties"]["country"] = "the Netherlands"


@case("infeasible_span_beyond_reach", 2, "a 190 km span without a candidate: the message gives the span's total "
      "loss with its connectors, the number compared with the reach",
      "dB fibre + 1 dB connectors), beyond the best device's reach of")
def _(b: Base):
    b.site("charlie")["geometry"]["coordinates"] = [5.5, 53.7]
    b.route("r2")["geometry"]["coordinates"] = [[5.5, 52.0], [5.5, 53.7]]


# ----------------------------------------------------------------------------------------------------------
def write_case(name: str, folder: Path) -> None:
    exit_code, what, fragments, fn = CASES[name]
    b = Base()
    fn(b)
    folder.mkdir(parents=True)
    (folder / "scenario.toml").write_text(b.scenario, encoding="utf-8")
    if b.write_sites:
        (folder / "sites.geojson").write_text(_fc(b.sites, b.sites_crs), encoding="utf-8")
    if b.write_routes:
        (folder / "routes.geojson").write_text(_fc(b.routes, b.routes_crs), encoding="utf-8")
    if b.write_demands:
        (folder / "demands.csv").write_text(b.demands, encoding="utf-8")
    for f in b.after:
        f(folder)
    lines = [f"# exit {exit_code}", f"# {what}", *fragments]
    (folder / "expected.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_base(folder: Path) -> None:
    """The valid base itself (used by the tests to check that it plans)."""
    b = Base()
    folder.mkdir(parents=True)
    (folder / "scenario.toml").write_text(b.scenario, encoding="utf-8")
    (folder / "sites.geojson").write_text(_fc(b.sites, None), encoding="utf-8")
    (folder / "routes.geojson").write_text(_fc(b.routes, None), encoding="utf-8")
    (folder / "demands.csv").write_text(b.demands, encoding="utf-8")


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    write_base(OUT / "_base")
    rows = []
    for name in sorted(CASES):
        write_case(name, OUT / name)
        rows.append(f"| `{name}` | {CASES[name][0]} | {CASES[name][1]} |")
    (OUT / "README.md").write_text(
        "# Malformed-input corpus\n\nGenerated by `tests/make_bad_corpus.py` (do not edit by hand). `_base` is the "
        "valid scenario every case starts from; each case has one defect (the `multi_*` cases several) and an "
        "`expected.txt` (first line: expected exit code of `qtopo plan`; then message fragments). Checked by "
        "`tests/test_bad_inputs.py`.\n\n| case | exit | defect |\n|---|---|---|\n" + "\n".join(rows) + "\n",
        encoding="utf-8")
    print(f"{len(CASES)} cases written to {OUT}")


if __name__ == "__main__":
    main()
