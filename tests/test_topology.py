"""Noding, snapping, huts, loss and hop pruning: unit tests on hand-made geometries."""
from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import qtopo
from qtopo.candidates import _prune_blocks, edge_loss_db, prune_by_bound
from qtopo.geo import geodesic_length_km
from qtopo.topology import build_fibre_network


def _routes(lines, **cols):
    g = gpd.GeoDataFrame({"id": [f"r{i}" for i in range(len(lines))], **cols},
                         geometry=[shapely.LineString(c) for c in lines], crs="EPSG:4326")
    g["geodesic_km"] = geodesic_length_km(g.geometry.values)
    return g


def _sites(pts):
    return gpd.GeoDataFrame({"id": list(pts), "kind": "pop"}, geometry=[shapely.Point(*v) for v in pts.values()],
                            crs="EPSG:4326")


def test_geodesic_length_matches_pyproj_reference():
    # 1 degree of longitude on the equator is 111.3195 km on WGS84 (a = 6378137 m: 2 pi a / 360)
    (L,) = geodesic_length_km([shapely.LineString([(0, 0), (1, 0)])])
    assert L == pytest.approx(2 * np.pi * 6378.137 / 360, rel=1e-9)


def test_endpoints_within_tolerance_merge_and_crossings_do_not_connect():
    # r0 and r1 meet within ~50 m at (5, 52); r2 crosses r0 without a shared endpoint
    lines = [[(5.0, 52.0), (6.0, 52.0)], [(5.0005, 52.0), (5.0, 53.0)], [(5.5, 51.5), (5.5, 52.5)]]
    net = build_fibre_network(_routes(lines), None, node_tolerance_m=100.0)
    G = net.graph()
    assert G.number_of_nodes() == 5  # merged corner + 2 ends of r0/r1 + 2 ends of r2
    assert nx.number_connected_components(G) == 2  # the crossing line stays separate
    net2 = build_fibre_network(_routes(lines), None, node_tolerance_m=10.0)
    assert net2.graph().number_of_nodes() == 6  # 35 m apart: not merged at 10 m


def test_t_junction_splits_the_through_route():
    lines = [[(5.0, 52.0), (7.0, 52.0)], [(6.0, 52.0), (6.0, 53.0)]]
    net = build_fibre_network(_routes(lines), None, node_tolerance_m=100.0)
    G = net.graph()
    assert G.number_of_nodes() == 4 and G.number_of_edges() == 3
    total = sum(d["length_km"] for *_, d in G.edges(data=True))
    assert total == pytest.approx(geodesic_length_km([shapely.LineString(lines[0])])[0]
                                  + geodesic_length_km([shapely.LineString(lines[1])])[0], rel=1e-3)


def test_route_factor_and_surveyed_length():
    r = _routes([[(5.0, 52.0), (6.0, 52.0)], [(6.0, 52.0), (7.0, 52.0)]], length_km=[np.nan, 100.0])
    net = build_fibre_network(r, None, route_factor=1.3)
    L = dict(zip(net.edges.route_id, net.edges.length_km))
    assert L["r0"] == pytest.approx(1.3 * r.geodesic_km.iloc[0])
    assert L["r1"] == pytest.approx(100.0)  # surveyed length wins, no route factor


def test_huts_split_edges_evenly():
    r = _routes([[(5.0, 52.0), (6.0, 52.0)]], length_km=[130.0])
    net = build_fibre_network(r, None, hut_spacing_km=50.0)
    assert (net.nodes.kind == "hut").sum() == 2  # ceil(130 / 50) = 3 segments
    assert np.allclose(net.edges.length_km, 130.0 / 3)


def test_snapping_names_nodes_and_reports_distance():
    r = _routes([[(5.0, 52.0), (6.0, 52.0)]])
    net = build_fibre_network(r, _sites({"A": (5.0, 52.0001), "B": (6.0, 52.0)}), snap_tolerance_m=100.0)
    assert net.site_node == {"A": "A", "B": "B"}
    with pytest.raises(qtopo.InputError, match=r"site 'C'.*is 36\.\d+ km from the nearest route node"):
        build_fibre_network(r, _sites({"A": (5.0, 52.0), "C": (5.5, 52.1)}), snap_tolerance_m=2000.0)


def test_edge_loss_formula():
    e = pd.DataFrame({"length_km": [10.0, 50.0], "attenuation_db_per_km": [np.nan, 0.3]})
    assert edge_loss_db(e, 0.2, 0.01) == pytest.approx([10 * 0.21, 50 * 0.31])


def test_dangling_blocks_are_pruned_only_when_not_cheaper():
    # terminals A and C on a path A-B-C, with a spur B-S and a hanging triangle C-X-Y-C
    G = nx.Graph([("A", "B"), ("B", "C"), ("B", "S"), ("C", "X"), ("X", "Y"), ("Y", "C"), ("P", "Q")])
    capex = {n: 10.0 for n in G}
    assert _prune_blocks(G, {"A", "C"}, capex) == {"S", "X", "Y", "P", "Q"}
    capex["S"] = 1.0  # a spur node cheaper than its cut vertex could be worth using: keep it
    assert "S" not in _prune_blocks(G, {"A", "C"}, capex)


def test_bound_pruning_keeps_the_optimum(tmp_path):
    """Planning with and without bound pruning gives the same optimal cost (SURFnet subset, APD only)."""
    from qtopo.heuristic import construct

    scen = qtopo.load_scenario(qtopo.__path__[0] + "/../data/surfnet/scenario.toml",
                               {"devices.snspd.enabled": False, "solver.threads": 1, "solver.mip_gap": 1e-6})
    net, dem = qtopo.read_network(scen)
    dem = dem.iloc[:3]
    inputs = qtopo.build_inputs(net, dem, scen)
    sol = construct(inputs, scen)
    pruned = prune_by_bound(inputs, sol.cost)
    assert len(pruned.hop_devices) < len(inputs.hop_devices)
    costs = []
    for inp in (inputs, pruned):
        m = qtopo.build_model(inp, scen)
        r = qtopo.solve(m, time_limit_s=120, mip_gap=1e-6, threads=1)
        assert r.status.value == "optimal"
        costs.append(r.objective)
    assert costs[0] == pytest.approx(costs[1], rel=1e-6)
    assert sol.cost >= costs[0] - 1e-6  # the heuristic is an upper bound
