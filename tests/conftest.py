"""Shared fixtures: small scenarios written to temporary folders."""
from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SURFNET = DATA / "surfnet" / "scenario.toml"

os.environ.setdefault("MPLBACKEND", "Agg")


def write_scenario(folder: Path, sites: gpd.GeoDataFrame, routes: gpd.GeoDataFrame, demands: pd.DataFrame,
                   devices: str, **sections) -> Path:
    """Write sites.gpkg, routes.gpkg, demands.csv and scenario.toml into ``folder``; return the toml path."""
    folder.mkdir(parents=True, exist_ok=True)
    sites.to_file(folder / "sites.gpkg", driver="GPKG")
    routes.to_file(folder / "routes.gpkg", driver="GPKG")
    demands.to_csv(folder / "demands.csv", index=False)
    inputs = {"sites": "sites.gpkg", "routes": "routes.gpkg", "demands": "demands.csv", **sections.pop("inputs", {})}
    lines = ['[scenario]\nname = "test"\n', "[inputs]"] + [f'{k} = "{v}"' for k, v in inputs.items()] + [""]
    for sec, kv in sections.items():
        lines.append(f"[{sec}]")
        for k, v in kv.items():
            lines.append(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
        lines.append("")
    lines.append(devices)
    p = folder / "scenario.toml"
    p.write_text("\n".join(lines).replace("True", "true").replace("False", "false"))
    return p


def corridor(folder: Path, length_km=300.0, hut_spacing_km=50.0, target_bps=1.0, device="apd-bb84",
             pair_cost=100000.0, hut_cost=300000.0, site_cost=50000.0, fibre_eur_per_km=100.0,
             connector_loss_db=1.0, attenuation=0.2, max_pairs=8) -> Path:
    """Two sites joined by one route of surveyed length ``length_km`` (so lengths are exact)."""
    sites = gpd.GeoDataFrame({"id": ["A", "B"], "kind": ["datacenter", "datacenter"]},
                             geometry=[shapely.Point(5.0, 52.0), shapely.Point(9.4, 52.0)], crs="EPSG:4326")
    routes = gpd.GeoDataFrame({"id": ["r1"], "length_km": [length_km]},
                              geometry=[shapely.LineString([(5.0, 52.0), (9.4, 52.0)])], crs="EPSG:4326")
    demands = pd.DataFrame({"source": ["A"], "target": ["B"], "target_bps": [target_bps]})
    dev = (f'[devices.d1]\npreset = "{device}"\npair_cost_eur = {pair_cost}\nmax_pairs_per_link = {max_pairs}\n')
    return write_scenario(
        folder, sites, routes, demands, dev,
        network={"route_factor": 1.0, "node_tolerance_m": 100.0, "snap_tolerance_m": 1000.0,
                 "hut_spacing_km": hut_spacing_km},
        fibre={"attenuation_db_per_km": attenuation, "connector_loss_db": connector_loss_db,
               "splice_loss_db_per_km": 0.0},
        costs={"trusted_node_eur": site_cost, "hut_node_eur": hut_cost, "fibre_eur_per_km": fibre_eur_per_km},
        solver={"time_limit_s": 60.0, "mip_gap": 1e-6, "threads": 1},
    )


@pytest.fixture
def corridor_factory(tmp_path):
    def make(**kw):
        return corridor(tmp_path / f"c{len(list(tmp_path.iterdir()))}", **kw)
    return make


def _planned(tmp_path_factory, scenario: Path, name: str) -> Path:
    from qtopo.planner import plan

    out = tmp_path_factory.mktemp(name) / "plan"
    p = plan(scenario, out, overrides={"solver.threads": 1})
    assert p.has_plan, p.status
    return out


@pytest.fixture(scope="session")
def surfnet_plan_dir(tmp_path_factory) -> Path:
    """The bundled scenario planned once per test session: its output folder (plan.json, plan.gpkg, ...)."""
    return _planned(tmp_path_factory, SURFNET, "surfnet")


@pytest.fixture(scope="session")
def surfnet_k2_plan_dir(tmp_path_factory) -> Path:
    """The bundled K=2 scenario (two node-disjoint routes for three demands) planned once per session."""
    return _planned(tmp_path_factory, DATA / "surfnet" / "scenario_k2.toml", "surfnet_k2")


#: Device overrides that give ``apd-bb84`` the parameter set it had before its calibration to Sasaki et al. 2011
#: (receiver efficiency 20%, optical error 1%: reach 38.6 dB = 188 km at 0.2 dB/km with 1 dB connectors). The
#: optimiser tests in test_optimizer_features.py and test_failures.py derive their answers by hand from that
#: reach; they test the planner, not the device physics (tests/test_keyrate_calibration.py does that).
APD_188KM_TOML = "detector_efficiency = 0.2\nmisalignment_error = 0.01\nmax_loss_db = 40.0\n"
#: The same overrides as keyword arguments of ``get_device("apd-bb84", **APD_188KM)``.
APD_188KM = {"detector_efficiency": 0.2, "misalignment_error": 0.01, "max_loss_db": 40.0}
