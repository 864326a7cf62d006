"""Failure analysis (qtopo.failures): single node, fibre and corridor failures on hand-checked instances."""
from __future__ import annotations

import hashlib
import json
import math

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from conftest import APD_188KM_TOML, SURFNET, write_scenario
from qtopo.errors import InputError
from qtopo.failures import analyse_failures, availability_model, write_failures
from qtopo.planner import plan as run_plan
from qtopo.scenario import load_scenario

DEV = '[devices.apd]\npreset = "apd-bb84"\npair_cost_eur = 100000.0\nmax_pairs_per_link = 4\n' + APD_188KM_TOML


def _scenario(folder, points: dict, routes: list, demands: list, kinds=None, capex=None, **sections):
    """Sites at ``points`` (id -> (lon, lat)); routes (id, [point ids or (lon, lat)], surveyed km or None)."""
    ids = list(points)
    sites = gpd.GeoDataFrame(
        {"id": ids, "kind": [(kinds or {}).get(i, "datacenter") for i in ids],
         "capex_eur": [(capex or {}).get(i, float("nan")) for i in ids]},
        geometry=[shapely.Point(*points[i]) for i in ids], crs="EPSG:4326")
    geoms = [shapely.LineString([points[v] if isinstance(v, str) else v for v in r[1]]) for r in routes]
    rt = {"id": [r[0] for r in routes]}
    if any(r[2] is not None for r in routes):
        rt["length_km"] = [r[2] for r in routes]
    routes_gdf = gpd.GeoDataFrame(rt, geometry=geoms, crs="EPSG:4326")
    dem = pd.DataFrame(demands, columns=["source", "target", "target_bps"])
    sec = {"network": {"route_factor": 1.0, "node_tolerance_m": 10.0, "snap_tolerance_m": 50.0,
                       "hut_spacing_km": 0.0},
           "fibre": {"attenuation_db_per_km": 0.2, "connector_loss_db": 1.0, "splice_loss_db_per_km": 0.0},
           "costs": {"trusted_node_eur": 1e5, "hut_node_eur": 3e5, "fibre_eur_per_km": 0.0},
           "solver": {"time_limit_s": 30.0, "mip_gap": 1e-6, "threads": 1}}
    sec.update(sections)
    return write_scenario(folder, sites, routes_gdf, dem, DEV, **sec)


def _hand_plan(toml, nodes, links, demands):
    """A typed plan: ``links`` as (from, to, fibre path, capacity); ``demands`` as (s, t, target, [(route, rate)])."""
    from planfactory import demand, link, node, plan
    from qtopo.contract import ScenarioRef

    return plan([node(n, "trusted") for n in nodes],
                [link(a, b, capacity_bps=float(c), fibre_path=list(fp), id=f"{a}--{b}") for a, b, fp, c in links],
                [demand(s, t, x, rts) for s, t, x, rts in demands],
                scenario=ScenarioRef(name="test", path=str(toml)))


def _comp(res, cid):
    return next(c for c in res["components"] if c["component"] == cid)


def _seg(scen, u, v) -> str:
    """Component id ``e:<i>`` of the fibre segment between nodes u and v."""
    from qtopo.planner import read_network

    net, _ = read_network(scen)
    e = net.edges
    hit = [i for i in range(len(e)) if {e.u.iat[i], e.v.iat[i]} == {u, v}]
    assert len(hit) == 1
    return f"e:{hit[0]}"


# ------------------------------------------------------------------------------------------------------
# chain A - J - B - C: J a junction passed optically (capex prohibitive), B the only possible trusted node
# ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """apd-bb84 reaches 38.6 dB: A-B = 120 km (25 dB with 1 dB connectors) and B-C = 100 km (21 dB) are
    reachable, A-C = 220 km (45 dB) is not; J (capex 1e9) is never opened, so the plan relays at B."""
    f = tmp_path_factory.mktemp("chain")
    P = {"A": (5.0, 52.0), "J": (5.5, 52.0), "B": (6.0, 52.0), "C": (6.5, 52.0)}
    toml = _scenario(f, P, [("AJ", ["A", "J"], 60.0), ("JB", ["J", "B"], 60.0), ("BC", ["B", "C"], 100.0)],
                     [("A", "C", 1000.0)], kinds={"J": "pop", "B": "pop"}, capex={"J": 1e9})
    p = run_plan(toml, write_outputs=False)
    assert p.status == "optimal"
    p.to_json(f / "plan.json")
    return toml, p


def test_chain_trusted_node_and_cuts_break_the_demand(chain):
    toml, p = chain
    scen = load_scenario(toml)
    assert [r.nodes for r in p.demands[0].routes] == [["A", "B", "C"]]
    res = analyse_failures(p, scen)
    ids = {c["component"]: c["kind"] for c in res["components"]}
    segs = [_seg(scen, "A", "J"), _seg(scen, "J", "B"), _seg(scen, "B", "C")]
    assert ids == {"n:A": "node", "n:B": "node", "n:C": "node", "n:J": "node",
                   segs[0]: "fibre", segs[1]: "fibre", segs[2]: "fibre"}
    assert "passed optically" in _comp(res, "n:J")["label"]
    assert _comp(res, "n:J")["failed_links"] == ["A--B:apd"]
    assert _comp(res, "n:B")["failed_links"] == ["A--B:apd", "B--C:apd"]
    for cid in ["n:B", "n:J"] + segs:
        d = _comp(res, cid)["demands"]["A->C"]
        assert d == {"kept_static_bps": 0.0, "kept_reroute_bps": 0.0, "target_bps": 1000.0, "survives": False}
    sm = res["summary"]["A->C"]
    assert sm["single_failures"] == 5 and sm["survives"] == 0
    assert set(sm["breaking"]) == {"n:B", "n:J", *segs}
    assert set(sm["endpoint_failures"]) == {"n:A", "n:C"}
    assert sm["worst_kept_static_bps"] == 0.0


def test_chain_availability_matches_hand_computation(chain):
    toml, p = chain
    av = {"node": 0.9999, "bypass_node": 0.99999, "fibre_per_km_unavailability": 2e-6}
    res = analyse_failures(p, load_scenario(toml), availability=av)
    sm = res["summary"]["A->C"]
    # every component breaks A->C: three trusted nodes, J passed optically, 60 + 60 + 100 km of fibre
    U = 3 * 1e-4 + 1e-5 + 2e-6 * 220.0
    assert sm["availability"] == pytest.approx(1 - U, rel=1e-12)
    assert sm["availability_excl_endpoints"] == pytest.approx(1 - (1e-4 + 1e-5 + 2e-6 * 220.0), rel=1e-12)
    assert sm["downtime_min_per_year"] == pytest.approx(U * 365.25 * 24 * 60)
    assert "independent" in res["availability_model"]["approximation"]
    # cuts per km-year x repair time in years gives the same per-km figure
    m = availability_model({"fibre_cuts_per_km_year": 1 / 300, "fibre_repair_h": 12.0, "node": 0.9999})
    assert m["fibre_per_km_unavailability"] == pytest.approx(12.0 / 300 / (365.25 * 24))
    assert m["bypass_node"] == 0.9999
    with pytest.raises(InputError):
        availability_model({"node": 1.5})


def test_cli_and_failures_json(chain, tmp_path):
    from qtopo.cli import main

    toml, p = chain
    plan_json = toml.parent / "plan.json"
    before = hashlib.sha256(plan_json.read_bytes()).hexdigest()
    r = CliRunner().invoke(main, ["failures", str(toml.parent), "--node-availability", "0.9999"])
    assert r.exit_code == 0, r.output
    assert "A->C" in r.output and "0/5" in r.output
    r = CliRunner().invoke(main, ["failures", str(plan_json), "--format", "json", "--out", str(tmp_path / "f.json")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["summary"]["A->C"]["survives"] == 0
    assert json.loads((tmp_path / "f.json").read_text())["counts"] == {"node": 4, "fibre": 3, "corridor": 0}
    out = write_failures(toml.parent)
    assert out == toml.parent / "failures.json" and json.loads(out.read_text())["summary"]["A->C"]
    assert hashlib.sha256(plan_json.read_bytes()).hexdigest() == before  # plan.json untouched


# ------------------------------------------------------------------------------------------------------
# ring A - B - C - D: two disjoint routes A-B-C and A-D-C
# ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    f = tmp_path_factory.mktemp("ring")
    P = {"A": (5.0, 52.0), "B": (5.5, 52.0), "C": (5.5, 52.3), "D": (5.0, 52.3)}
    toml = _scenario(f, P, [("AB", ["A", "B"], None), ("BC", ["B", "C"], None), ("CD", ["C", "D"], None),
                            ("DA", ["D", "A"], None)], [("A", "C", 1000.0)])
    links = [("A", "B", "AB", 5000), ("B", "C", "BC", 5000), ("A", "D", "AD", 5000), ("D", "C", "DC", 5000)]
    return toml, "ABCD", links


def test_ring_two_disjoint_full_rate_routes_survive_every_single_failure(ring):
    toml, nodes, links = ring
    plan = _hand_plan(toml, nodes, links, [("A", "C", 1000.0, [("ABC", 1000.0), ("ADC", 1000.0)])])
    d0 = plan.demands[0]
    d0.k_routes, d0.protection, d0.disjoint = 2, "1+1", "node"
    res = analyse_failures(plan, load_scenario(toml))
    assert res["counts"] == {"node": 4, "fibre": 4, "corridor": 0}
    sm = res["summary"]["A->C"]
    assert sm["single_failures"] == 6 and sm["survives"] == 6 and sm["breaking"] == []
    assert sm["protection"] == "1+1" and sm["worst_component"] is None
    assert set(sm["endpoint_failures"]) == {"n:A", "n:C"}
    for c in res["components"]:
        d = c["demands"]["A->C"]
        if c["component"] in ("n:A", "n:C"):
            assert d["kept_static_bps"] == d["kept_reroute_bps"] == 0.0
        else:
            assert d["kept_static_bps"] == 1000.0 and d["survives"]
    # availability: only the end nodes can break it (to first order)
    res = analyse_failures(plan, load_scenario(toml), availability={"node": 0.999, "fibre_per_km_unavailability": 1e-5})
    assert res["summary"]["A->C"]["availability"] == pytest.approx(1 - 2 * 1e-3)
    assert res["summary"]["A->C"]["availability_excl_endpoints"] == 1.0


def test_ring_split_routes_static_loses_half_reroute_restores(ring):
    """Two routes of 500 bit/s each: a cut keeps 500 on the plan's routes; the other side's links have
    5000 bit/s of capacity, so rerouting (ignoring other demands) restores the full 1000."""
    toml, nodes, links = ring
    plan = _hand_plan(toml, nodes, links, [("A", "C", 1000.0, [("ABC", 500.0), ("ADC", 500.0)])])
    res = analyse_failures(plan, load_scenario(toml))
    for cid in ("n:B", "n:D") + tuple(c["component"] for c in res["components"] if c["kind"] == "fibre"):
        d = _comp(res, cid)["demands"]["A->C"]
        assert d["kept_static_bps"] == 500.0 and d["kept_reroute_bps"] == 1000.0 and not d["survives"]
    assert res["summary"]["A->C"]["survives"] == 0


# ------------------------------------------------------------------------------------------------------
# corridor: two "disjoint" routes A-M1-B and A-M2-B whose fibres run 100 m apart
# ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corridor_pair(tmp_path_factory):
    f = tmp_path_factory.mktemp("srg")
    dlat = 100.0 / 111_250.0  # 100 m north
    P = {"A": (5.0, 52.0), "M1": (5.15, 52.0), "M2": (5.15, 52.0 + dlat), "B": (5.3, 52.0)}
    toml = _scenario(f, P, [("r1", ["A", "M1"], None), ("r2", ["M1", "B"], None),
                            ("r3", ["A", (5.0, 52.0 + dlat), "M2"], None),
                            ("r4", ["M2", (5.3, 52.0 + dlat), "B"], None)], [("A", "B", 1000.0)])
    links = [("A", "M1", ["A", "M1"], 5000), ("M1", "B", ["M1", "B"], 5000),
             ("A", "M2", ["A", "M2"], 5000), ("M2", "B", ["M2", "B"], 5000)]
    plan = _hand_plan(toml, ["A", "M1", "M2", "B"], links, [("A", "B", 1000.0, [(["A", "M1", "B"], 1000.0),
                                                                              (["A", "M2", "B"], 1000.0)])])
    return toml, plan


def test_corridor_group_takes_both_routes_down(corridor_pair):
    toml, plan = corridor_pair
    scen = load_scenario(toml)
    res0 = analyse_failures(plan, scen)  # no [risk]: corridor groups off
    assert res0["counts"]["corridor"] == 0 and res0["summary"]["A->B"]["breaking"] == []
    res = analyse_failures(plan, scen, risk={"srg_buffer_m": 500.0},
                           availability={"node": 0.9999, "fibre_per_km_unavailability": 0.0, "corridor": 0.9995})
    cor = [c for c in res["components"] if c["kind"] == "corridor"]
    pairs = {frozenset(c["failed_links"]) for c in cor}
    assert pairs == {frozenset({"A--M1", "A--M2"}), frozenset({"M1--B", "M2--B"})}
    for c in cor:
        assert c["demands"]["A->B"] == {"kept_static_bps": 0.0, "kept_reroute_bps": 0.0, "target_bps": 1000.0,
                                        "survives": False}
    sm = res["summary"]["A->B"]
    assert sorted(sm["breaking"]) == sorted(c["component"] for c in cor)
    assert sm["single_failures"] == 2 + 4 + 2  # M1, M2; four segments; two corridor groups
    # end nodes A, B and the two corridor groups break it: 2 x 1e-4 + 2 x 5e-4
    assert sm["availability"] == pytest.approx(1 - 2e-4 - 1e-3)


def test_risk_section_from_the_scenario(corridor_pair):
    toml, plan = corridor_pair
    t2 = toml.parent / "scenario_risk.toml"
    t2.write_text(toml.read_text() + "\n[risk]\nsrg_buffer_m = 500.0\nsrg_min_overlap_km = 1.0\n")
    res = analyse_failures(plan, load_scenario(t2))
    assert res["counts"]["corridor"] == 2 and res["risk"]["srg_buffer_m"] == 500.0
    assert len(res["summary"]["A->B"]["breaking"]) == 2


def test_availability_section_from_the_scenario(corridor_pair):
    """Once the scenario schema has an [availability] section, it is read from the file."""
    toml, plan = corridor_pair
    t2 = toml.parent / "scenario_av.toml"
    t2.write_text(toml.read_text() + "\n[risk]\nsrg_buffer_m = 500.0\n\n[availability]\nnode = 0.9999\n"
                  "fibre_per_km_unavailability = 0.0\ncorridor = 0.9995\n")
    try:
        scen = load_scenario(t2)
    except InputError:
        pytest.skip("scenario schema has no [availability] section yet")
    res = analyse_failures(plan, scen)
    assert res["summary"]["A->B"]["availability"] == pytest.approx(1 - 2e-4 - 1e-3)


# ------------------------------------------------------------------------------------------------------
# bundled plan: properties
# ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def surfnet():
    # threads = 1 like every test scenario: HiGHS fixes its thread pool per process (see qtopo.solve)
    p = run_plan(SURFNET, write_outputs=False, overrides={"solver.threads": 1})
    assert p.has_plan, (p.status, p.termination, p.solver, p.diagnosis)
    return p


def test_bundled_plan_properties(surfnet):
    p = surfnet
    res = analyse_failures(p, load_scenario(SURFNET), risk={"srg_buffer_m": 500.0},
                           availability={"node": 0.9999, "fibre_per_km_unavailability": 2e-6, "corridor": 0.99999})
    comps = {c["component"]: c for c in res["components"]}
    p = p.to_dict()  # the plan as stored
    for n in p["nodes"]:  # every open node analysed
        assert f"n:{n['id']}" in comps
    for L in p["links"]:  # every link fails under some fibre cut
        assert any(L["id"] in c["failed_links"] for c in res["components"] if c["kind"] == "fibre")
    for d in p["demands"]:
        key = f"{d['source']}->{d['target']}"
        route_links = {L["id"] for L in p["links"] for r in d["routes"]
                       for a, b in zip(r["nodes"][:-1], r["nodes"][1:]) if {a, b} == {L["from"], L["to"]}}
        sm = res["summary"][key]
        assert sm["planned_bps"] == pytest.approx(d["target_bps"], rel=1e-6)
        assert sm["single_failures"] + len(sm["endpoint_failures"]) == len(comps)
        assert 0.0 < sm["availability"] <= sm["availability_excl_endpoints"] <= 1.0
        for cid, c in comps.items():
            x = c["demands"][key]
            tgt = x["target_bps"]
            assert 0.0 <= x["kept_static_bps"] <= tgt and x["kept_reroute_bps"] <= tgt
            assert x["kept_reroute_bps"] >= x["kept_static_bps"] - 1e-9 * tgt  # rerouting never loses
            hit_nodes = {cid[2:]} if c["kind"] == "node" else set()
            on_route = {x_ for r in d["routes"] for x_ in r["nodes"]}
            if not (set(c["failed_links"]) & route_links) and not (hit_nodes & on_route):
                assert x["survives"]  # a failure touching none of its routes never breaks it
            if not x["survives"]:
                assert cid in sm["breaking"] or cid in sm["endpoint_failures"]
        # the first-order availability: sum over exactly the breaking components
        U = sum(comps[c]["unavailability"] for c in sm["breaking"] + sm["endpoint_failures"]
                if not comps[c]["demands"][key]["survives"])
        assert sm["availability"] == pytest.approx(1 - U, rel=1e-12)
    assert all(math.isfinite(c["unavailability"]) for c in res["components"])


def test_partly_served_demand_judged_against_its_planned_rate(ring):
    """A budget-mode plan serving 600 of 1000 bit/s on two routes (300 each) and not serving a second demand:
    survival is judged against the 600 planned; the unserved demand gets no availability figure."""
    toml, nodes, links = ring
    plan = _hand_plan(toml, nodes, links, [("A", "C", 1000.0, [("ABC", 300.0), ("ADC", 300.0)]),
                                           ("B", "D", 500.0, [])])
    res = analyse_failures(plan, load_scenario(toml), availability={"node": 0.999, "fibre_per_km_unavailability": 0.0})
    sm = res["summary"]["A->C"]
    assert sm["planned_bps"] == 600.0 and sm["survives"] == 0  # every non-end failure halves it
    d = _comp(res, "n:B")["demands"]["A->C"]
    assert d["kept_static_bps"] == 300.0 and d["kept_reroute_bps"] == 1000.0
    assert res["summary"]["B->D"]["availability"] is None
    assert any("not served" in w for w in res["warnings"])


# ------------------------------------------------------------------------------------------------------
# a K=2 plan from the planner survives every single failure
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("disjoint", ["node", "link"])
def test_planner_k2_plan_survives_every_single_failure(tmp_path, disjoint):
    """Square ring of 150 km sides (A-C needs a trusted node: 300 km is beyond apd-bb84's 38.6 dB reach):
    K=2 disjoint routes A-B-C and A-D-C; no single failure but the end nodes' own can break A->C."""
    P = {"A": (5.0, 52.0), "B": (7.0, 52.0), "C": (7.0, 51.0), "D": (5.0, 51.0)}
    R = [("AB", ["A", "B"], 150.0), ("BC", ["B", "C"], 150.0), ("CD", ["C", "D"], 150.0), ("DA", ["D", "A"], 150.0)]
    toml = _scenario(tmp_path, P, R, [("A", "C", 100.0)], kinds=dict.fromkeys("ABCD", "pop"))
    dem = pd.read_csv(tmp_path / "demands.csv")
    dem["k_routes"], dem["disjoint"] = 2, disjoint
    dem.to_csv(tmp_path / "demands.csv", index=False)
    p = run_plan(toml, write_outputs=False)
    if p.status != "optimal" or p.demands[0].k_routes != 2:
        pytest.skip("planner without K-route survivability")
    res = analyse_failures(p, load_scenario(toml), availability={"node": 0.9999, "fibre_per_km_unavailability": 2e-6})
    sm = res["summary"]["A->C"]
    assert sm["single_failures"] == 2 + 4 and sm["survives"] == sm["single_failures"] and sm["breaking"] == []
    assert sm["availability"] == pytest.approx(1 - 2e-4)  # only the end nodes, to first order


def test_partly_served_1plus1_judged_against_its_guaranteed_rate(ring):
    """1+1 with routes of 300 bit/s each: the plan guarantees 300 (delivered_bps = the smaller route); a single
    failure leaves one route of 300, which is what was guaranteed."""
    toml, nodes, links = ring
    plan = _hand_plan(toml, nodes, links, [("A", "C", 1000.0, [("ABC", 300.0), ("ADC", 300.0)])])
    d0 = plan.demands[0]
    d0.delivered_bps, d0.k_routes, d0.protection = 300.0, 2, "1+1"
    sm = analyse_failures(plan, load_scenario(toml))["summary"]["A->C"]
    assert sm["planned_bps"] == 300.0 and sm["survives"] == sm["single_failures"] == 6
