"""Commodities: ``auto`` keeps one flow per demand while that model is small, aggregates by source above
:data:`qtopo.candidates.PER_DEMAND_MAX_FLOW_COLUMNS`; both forms have the same optimum (aggregation is exact)."""
from __future__ import annotations

import pytest

import qtopo.candidates as cand
from qtopo.candidates import build_inputs
from qtopo.model import build_model
from qtopo.planner import load_scenario_and_inputs, read_network
from qtopo.solve import Status, solve

from conftest import SURFNET


def _inputs(**over):
    scen = load_scenario_and_inputs(SURFNET, over or None)
    net, demands = read_network(scen)
    return scen, net, demands


def test_auto_is_per_demand_below_the_size_limit():
    scen, net, demands = _inputs()
    inp = build_inputs(net, demands, scen)
    flow_columns = len(inp.demands) * 2 * len(inp.hops)
    assert flow_columns <= cand.PER_DEMAND_MAX_FLOW_COLUMNS
    assert not inp.params["aggregate"]
    assert inp.demands["commodity"].nunique() == len(inp.demands)


def test_auto_aggregates_above_the_size_limit(monkeypatch):
    scen, net, demands = _inputs()
    monkeypatch.setattr(cand, "PER_DEMAND_MAX_FLOW_COLUMNS", 1000)
    inp = build_inputs(net, demands, scen)
    assert inp.params["aggregate"]
    assert inp.demands["commodity"].nunique() < len(inp.demands)
    # an explicit choice is kept whatever the size
    scen_d, _, _ = _inputs(**{"solver.commodities": "demand"})
    assert not build_inputs(net, demands, scen_d).params["aggregate"]


def test_aggregated_and_per_demand_models_have_the_same_optimum(corridor_factory):
    # three sites on a line, all pairs (two demands share a source): the two forms give one optimum
    import geopandas as gpd
    import pandas as pd
    import shapely

    from conftest import write_scenario

    sites = gpd.GeoDataFrame({"id": ["A", "B", "C"], "kind": ["datacenter"] * 3},
                             geometry=[shapely.Point(5.0, 52.0), shapely.Point(6.0, 52.0), shapely.Point(7.5, 52.0)],
                             crs="EPSG:4326")
    routes = gpd.GeoDataFrame({"id": ["r1", "r2"]},
                              geometry=[shapely.LineString([(5.0, 52.0), (6.0, 52.0)]),
                                        shapely.LineString([(6.0, 52.0), (7.5, 52.0)])], crs="EPSG:4326")
    demands = pd.DataFrame({"source": ["A", "A", "B"], "target": ["B", "C", "C"], "target_bps": [5e4, 2e5, 1e5]})
    folder = corridor_factory().parent / "three"
    path = write_scenario(folder, sites, routes, demands,
                          '[devices.d1]\npreset = "apd-bb84"\npair_cost_eur = 100000.0\nmax_pairs_per_link = 8\n',
                          network={"route_factor": 1.3, "node_tolerance_m": 100.0, "snap_tolerance_m": 1000.0,
                                   "hut_spacing_km": 20.0},
                          costs={"trusted_node_eur": 50000.0, "hut_node_eur": 300000.0, "fibre_eur_per_km": 100.0},
                          solver={"time_limit_s": 60.0, "mip_gap": 0.0, "threads": 1})
    opt = {}
    for mode in ("demand", "source"):
        scen = load_scenario_and_inputs(path, {"solver.commodities": mode})
        net, dem = read_network(scen)
        inp = build_inputs(net, dem, scen)
        assert inp.params["aggregate"] is (mode == "source")
        res = solve(build_model(inp, scen), time_limit_s=60.0, mip_gap=0.0, threads=1)
        assert res.status is Status.OPTIMAL
        opt[mode] = res.objective
    assert opt["demand"] == pytest.approx(opt["source"], rel=1e-9)
