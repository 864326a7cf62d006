"""Optimizer depth on small instances whose answer is derived by hand in each test.

Networks are given as nodes (lon, lat) and edges with surveyed lengths, so losses are exact:
loss = 0.2 dB/km x length + 1 dB connectors per hop. Device: ``apd-bb84`` (reach about 38.6 dB = 188 km).
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import qtopo
from conftest import write_scenario

SITE, HUT, PAIR, FIBRE = 100_000.0, 300_000.0, 50_000.0, 0.0


def network(folder, nodes: dict, edges: list, demands: list, extra_site_cols=None, device="apd-bb84",
            sections=None, extra_devices="", demand_cols=None):
    ids = list(nodes)
    cols = {"id": ids, "kind": ["pop"] * len(ids)}
    for c, vals in (extra_site_cols or {}).items():
        cols[c] = [vals.get(i, None) for i in ids]
    sites = gpd.GeoDataFrame(cols, geometry=[shapely.Point(*nodes[i]) for i in ids], crs="EPSG:4326")
    routes = gpd.GeoDataFrame({"id": [f"r{k}" for k in range(len(edges))], "length_km": [e[2] for e in edges]},
                              geometry=[shapely.LineString([nodes[a], nodes[b]]) for a, b, _ in edges],
                              crs="EPSG:4326")
    dem = pd.DataFrame(demands, columns=["source", "target", "target_bps"])
    for c, vals in (demand_cols or {}).items():
        dem[c] = vals
    secs = {"network": {"route_factor": 1.0, "node_tolerance_m": 50.0, "snap_tolerance_m": 500.0,
                        "hut_spacing_km": 0.0},
            "fibre": {"attenuation_db_per_km": 0.2, "connector_loss_db": 1.0, "splice_loss_db_per_km": 0.0},
            "costs": {"trusted_node_eur": SITE, "hut_node_eur": HUT, "fibre_eur_per_km": FIBRE,
                      "relay_node_eur": 20000.0},
            "solver": {"time_limit_s": 60.0, "mip_gap": 1e-6, "threads": 1}}
    for k, v in (sections or {}).items():
        secs.setdefault(k, {}).update(v)
    dev = f'[devices.d1]\npreset = "{device}"\npair_cost_eur = {PAIR}\nmax_pairs_per_link = 4\n' + extra_devices
    return write_scenario(folder, sites, routes, dem, dev, **secs)


def trusted(plan):
    return sorted(n.id for n in plan.nodes if n.kind == "trusted")


# a square ring A-B-C-D-A, 150 km sides: A-C needs one trusted node (300 km > reach)
RING = {"A": (5.0, 52.0), "B": (7.0, 52.0), "C": (7.0, 51.0), "D": (5.0, 51.0)}
RING_E = [("A", "B", 150.0), ("B", "C", 150.0), ("C", "D", 150.0), ("D", "A", 150.0)]


def test_ring_k2_uses_both_sides(tmp_path):
    p = network(tmp_path / "k1", RING, RING_E, [("A", "C", 100.0)])
    plan1 = qtopo.plan(p)
    # by hand: K=1 -> one node (B or D) + 2 pairs; sites A, C always open
    assert plan1.cost_eur == pytest.approx(3 * SITE + 2 * PAIR)
    assert len(trusted(plan1)) == 1
    p2 = network(tmp_path / "k2", RING, RING_E, [("A", "C", 100.0)], demand_cols={"k_routes": [2]})
    plan2 = qtopo.plan(p2)
    # K=2 node-disjoint: both B and D, four pairs
    assert plan2.status == "optimal"
    assert trusted(plan2) == ["B", "D"]
    assert plan2.cost_eur == pytest.approx(4 * SITE + 4 * PAIR)
    d = plan2.demands[0]
    assert len(d.routes) == 2 and d.delivered_bps == pytest.approx(100.0)
    assert {r.nodes[1] for r in d.routes} == {"B", "D"}
    assert plan2.verification.ok


def test_k2_on_a_tree_is_diagnosed(tmp_path):
    nodes = {"A": (5.0, 52.0), "B": (6.0, 52.0), "C": (7.0, 52.0)}
    p = network(tmp_path, nodes, [("A", "B", 100.0), ("B", "C", 100.0)], [("A", "C", 100.0)],
                demand_cols={"k_routes": [2]})
    plan = qtopo.plan(p)
    assert plan.status == "infeasible"
    (diag,) = plan.diagnosis
    assert diag.reason == "disjoint_routes" and "B" in diag.detail


# two parallel ways from A to C: via X (Belgium, cheap) or via Y (Netherlands, dear)
JUR = {"A": (5.10, 52.09), "X": (5.57, 50.63), "Y": (5.48, 51.44), "C": (5.69, 50.85)}
JUR_E = [("A", "X", 130.0), ("X", "C", 130.0), ("A", "Y", 140.0), ("Y", "C", 140.0)]
CAPEX = {"X": 50_000.0, "Y": 200_000.0, "A": SITE, "C": SITE}


def test_jurisdiction_forbids_the_cheap_node(tmp_path):
    base = network(tmp_path / "free", JUR, JUR_E, [("A", "C", 100.0)], extra_site_cols={"capex_eur": CAPEX})
    p0 = qtopo.plan(base)
    assert trusted(p0) == ["X"]
    assert p0.cost_eur == pytest.approx(2 * SITE + CAPEX["X"] + 2 * PAIR)
    gov = network(tmp_path / "nl", JUR, JUR_E, [("A", "C", 100.0)], extra_site_cols={"capex_eur": CAPEX},
                  demand_cols={"allowed_countries": ["NL"]})
    p1 = qtopo.plan(gov)
    assert trusted(p1) == ["Y"]
    assert p1.cost_eur == pytest.approx(2 * SITE + CAPEX["Y"] + 2 * PAIR)
    assert p1.demands[0].trusted_nodes == ["A", "C", "Y"]
    assert p1.verification.ok
    excl = network(tmp_path / "ex", JUR, JUR_E, [("A", "C", 100.0)], extra_site_cols={"capex_eur": CAPEX},
                   demand_cols={"excluded_nodes": ["X"]})
    assert trusted(qtopo.plan(excl)) == ["Y"]


def test_jurisdiction_with_no_way_is_diagnosed(tmp_path):
    p = network(tmp_path, JUR, JUR_E, [("A", "C", 100.0)], demand_cols={"allowed_countries": ["DE"]})
    plan = qtopo.plan(p)
    assert plan.status == "infeasible"
    assert plan.diagnosis[0].reason == "governance"


def test_brownfield_node_saves_exactly_its_capex(tmp_path):
    p0 = qtopo.plan(network(tmp_path / "g", JUR, JUR_E, [("A", "C", 100.0)], extra_site_cols={"capex_eur": CAPEX}))
    p1 = qtopo.plan(network(tmp_path / "b", JUR, JUR_E, [("A", "C", 100.0)], extra_site_cols={
        "capex_eur": CAPEX, "existing": {"X": True}}))
    assert trusted(p1) == ["X"]
    assert p0.cost_eur - p1.cost_eur == pytest.approx(CAPEX["X"])
    assert p1.cost_breakdown.sunk_brownfield_eur == pytest.approx(CAPEX["X"])


def test_brownfield_pairs_are_sunk(tmp_path):
    folder = tmp_path / "bp"
    p = network(folder, JUR, JUR_E, [("A", "C", 100.0)], extra_site_cols={"capex_eur": CAPEX},
                sections={"inputs": {"existing_links": "existing.csv"}})
    (folder / "existing.csv").write_text("from,to,device,pairs\nA,Y,d1,1\n")
    plan = qtopo.plan(p)
    # an installed pair A-Y means A and Y are built (capex sunk): via Y one new pair (Y-C) = 50k;
    # via X: capex X + two pairs = 150k -> Y; C's capex remains
    assert trusted(plan) == ["Y"]
    assert plan.cost_eur == pytest.approx(SITE + PAIR)
    (folder / "existing.csv").write_text("from,to,device,pairs\nA,Y,d1,1\nY,C,d1,1\n")
    plan2 = qtopo.plan(p)  # both Y links exist: nothing new to buy
    assert trusted(plan2) == ["Y"]
    assert plan2.cost_eur == pytest.approx(0.0)
    assert plan2.cost_breakdown.sunk_brownfield_eur == pytest.approx(2 * SITE + CAPEX["Y"] + 2 * PAIR)
    assert plan2.verification.ok


def test_max_trusted_nodes(tmp_path):
    nodes = {"A": (5.0, 52.0), "H1": (6.0, 52.0), "H2": (7.0, 52.0), "C": (8.0, 52.0), "M": (6.5, 52.5)}
    edges = [("A", "H1", 100.0), ("H1", "H2", 100.0), ("H2", "C", 100.0), ("A", "M", 170.0), ("M", "C", 170.0)]
    capex = {"H1": 10_000.0, "H2": 10_000.0, "M": 400_000.0, "A": SITE, "C": SITE}
    free = qtopo.plan(network(tmp_path / "f", nodes, edges, [("A", "C", 10.0)], extra_site_cols={"capex_eur": capex}))
    assert trusted(free) == ["H1", "H2"]  # two cheap nodes
    lim = qtopo.plan(network(tmp_path / "l", nodes, edges, [("A", "C", 10.0)], extra_site_cols={"capex_eur": capex},
                             demand_cols={"max_trusted_nodes": [1]}))
    assert trusted(lim) == ["M"]
    assert lim.cost_eur == pytest.approx(2 * SITE + capex["M"] + 2 * PAIR)
    zero = qtopo.plan(network(tmp_path / "z", nodes, edges, [("A", "C", 10.0)], demand_cols={"max_trusted_nodes": [0]}))
    assert zero.status == "infeasible" and zero.diagnosis[0].reason == "trusted_hop_limit"


def test_shared_risk_corridor_blocks_link_disjoint_routes(tmp_path):
    # A-B needs a trusted node (2 x 130 km > reach): via P or via Q, whose routes run 100 m apart in one
    # corridor, or via the dear detour node D
    nodes = {"A": (5.0, 52.0), "B": (7.0, 52.0), "P": (6.0, 52.2), "Q": (6.0, 52.2009), "D": (6.0, 51.0)}
    edges = [("A", "P", 130.0), ("P", "B", 130.0), ("A", "Q", 130.0), ("Q", "B", 130.0),
             ("A", "D", 150.0), ("D", "B", 150.0)]
    capex = {"A": SITE, "B": SITE, "P": SITE, "Q": SITE, "D": 300_000.0}
    dcols = {"k_routes": [2], "disjoint": ["link"]}
    plan_no = qtopo.plan(network(tmp_path / "no", nodes, edges, [("A", "B", 10.0)],
                                 extra_site_cols={"capex_eur": capex}, demand_cols=dcols))
    # without corridor groups the P and Q routes count as disjoint: P, Q and 4 pairs
    assert trusted(plan_no) == ["P", "Q"]
    assert plan_no.cost_eur == pytest.approx(4 * SITE + 4 * PAIR)
    plan_srg = qtopo.plan(network(tmp_path / "srg", nodes, edges, [("A", "B", 10.0)],
                                  extra_site_cols={"capex_eur": capex}, demand_cols=dcols,
                                  sections={"risk": {"srg_buffer_m": 500.0}}))
    # one corridor: the second route must take the detour via D
    t = trusted(plan_srg)
    assert "D" in t and len(t) == 2 and ("P" in t or "Q" in t)
    assert plan_srg.cost_eur == pytest.approx(3 * SITE + 300_000.0 + 4 * PAIR)
    assert plan_srg.verification.ok


def test_mdi_relay_bridges_a_span_no_trusted_device_can(tmp_path):
    # 260 km: beyond apd-bb84 (188 km) but within MDI with SNSPDs and a relay at the midpoint M
    nodes = {"A": (5.0, 52.0), "M": (6.0, 52.0), "C": (7.0, 52.0)}
    edges = [("A", "M", 130.0), ("M", "C", 130.0)]
    extra = f'[devices.mdi]\npreset = "mdi-snspd"\npair_cost_eur = {PAIR}\nmax_pairs_per_link = 4\n'
    capex = {"M": 1_000_000.0, "A": SITE, "C": SITE}
    plan = qtopo.plan(network(tmp_path, nodes, edges, [("A", "C", 10.0)], extra_site_cols={"capex_eur": capex},
                              extra_devices=extra))
    kinds = {(n.id, n.kind) for n in plan.nodes}
    # trusted node at M costs 1e6 + 2 pairs; a relay at M costs relay_node_eur (2e4) + 1 MDI pair
    assert ("M", "relay") in kinds and ("M", "trusted") not in kinds
    assert plan.cost_eur == pytest.approx(2 * SITE + 20_000.0 + PAIR)
    (link,) = plan.links
    assert link.protocol == "mdi-qkd" and link.relay == "M"
    assert plan.demands[0].trusted_nodes == ["A", "C"]  # the relay never holds the key
    assert plan.verification.ok


def budget_plan_serving_a_c(tmp_path, km_ab: float, km_ac: float, budget_eur: float):
    """Sites A, B, C; demands A-B (weight 1) and A-C (weight 3), 1000 bit/s each, in budget mode: the plan, checked
    to serve the heavier A-C in full and A-B not at all, and to verify."""
    nodes = {"A": (5.0, 52.0), "B": (6.0, 52.0), "C": (5.0, 53.0)}
    edges = [("A", "B", km_ab), ("A", "C", km_ac)]
    p = network(tmp_path, nodes, edges, [("A", "B", 1000.0), ("A", "C", 1000.0)],
                demand_cols={"weight": [1.0, 3.0]},
                sections={"objective": {"mode": "max_rate", "budget_eur": budget_eur}})
    plan = qtopo.plan(p)
    got = {(d.source, d.target): d.delivered_bps for d in plan.demands}
    assert got[("A", "C")] == pytest.approx(1000.0)
    assert got[("A", "B")] == pytest.approx(0.0, abs=1e-6)
    assert plan.verification.ok
    return plan


def test_budget_mode_serves_the_heavier_demand(tmp_path):
    # budget buys the three sites and one pair: the weight-3 demand A-C gets its full target
    plan = budget_plan_serving_a_c(tmp_path, 50.0, 50.0, 3 * SITE + PAIR)
    assert plan.cost_eur <= 3 * SITE + PAIR + 1e-6


def test_repeater_chain_versus_trusted_node(corridor_factory):
    """300 km corridor, huts every 50 km. Trusted design: one hut node (APD reach ~188 km) + 2 pairs.
    Repeater chain with L_max = 100 km: greedy repeaters at 100 and 200 km, one chain, no trusted node."""
    path = corridor_factory(length_km=300.0, hut_spacing_km=50.0, target_bps=10.0, pair_cost=100_000.0,
                            hut_cost=300_000.0, site_cost=50_000.0, fibre_eur_per_km=100.0)
    rep = {"repeaters.enabled": True, "repeaters.l_max_km": 100.0, "repeaters.n_max": 4,
           "repeaters.rate_bps": 100.0, "repeaters.repeater_node_eur": 50_000.0,
           "repeaters.chain_cost_eur": 100_000.0}
    plan = qtopo.plan(path, overrides=rep)
    kinds = sorted(n.kind for n in plan.nodes)
    assert kinds == ["repeater", "repeater", "site", "site"]
    assert plan.cost_eur == pytest.approx(2 * 50_000 + 2 * 50_000 + 100_000 + 300 * 100.0)
    (link,) = plan.links
    assert link.protocol == "repeater-chain" and len(link.repeaters) == 2
    assert plan.demands[0].trusted_nodes == ["A", "B"]  # repeaters never hold the key
    assert plan.verification.ok
    dear = qtopo.plan(path, overrides={**rep, "repeaters.repeater_node_eur": 1_000_000.0})
    assert sorted(n.kind for n in dear.nodes) == ["site", "site", "trusted"]
    assert dear.cost_eur == pytest.approx(2 * 50_000 + 300_000 + 2 * 100_000 + 300 * 100.0)
    short = qtopo.plan(path, overrides={**rep, "repeaters.n_max": 1})  # 2 repeaters needed: chain not allowed
    assert all(L.protocol != "repeater-chain" for L in short.links)
