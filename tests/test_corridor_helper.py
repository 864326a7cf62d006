"""qtopo.corridor: a two-city corridor written as a scenario, planned, and read back along the route.

Expected plans are derived here from first principles: with a target small enough that one device pair serves
any hop within reach, and free fibre, the cheapest corridor is the fewest hops between the hut grid points
(hut_spacing splits the route into N = ceil(L / spacing) equal segments), each hop no longer than the
distance R at which the device still gives the target rate.
"""
from __future__ import annotations

import math
import tomllib

import numpy as np
import pandas as pd
import pytest

import qtopo
from qtopo.corridor import corridor_length_km, corridor_nodes, make_corridor, to_toml
from qtopo.keyrate import get_device, secret_key_rate_bps

from conftest import DATA

CITIES = pd.read_csv(DATA / "geonames" / "cities_europe.csv")


def city(name):
    r = CITIES[CITIES["name"] == name].iloc[0]
    return (float(r["lon"]), float(r["lat"]), name)


GRONINGEN, MAASTRICHT = city("Groningen"), city("Maastricht")
AMSTERDAM, DUSSELDORF = city("Amsterdam"), city("Düsseldorf")
SITE, HUT, PAIR = 100_000.0, 300_000.0, 100_000.0
COSTS = {"trusted_node_eur": SITE, "hut_node_eur": HUT, "relay_node_eur": 50_000.0, "fibre_eur_per_km": 0.0}
FIBRE = {"attenuation_db_per_km": 0.2, "connector_loss_db": 1.0, "splice_loss_db_per_km": 0.0}
APD = {"apd": {"preset": "apd-bb84", "pair_cost_eur": PAIR, "max_pairs_per_link": 1}}  # one pair: reach = R(target)
SOLVER = {"time_limit_s": 10.0, "mip_gap": 1e-6, "threads": 1}


def reach_km(device, target_bps, att=0.2, conn=1.0):
    """Longest hop (km) whose key rate still meets ``target_bps`` (bisection on the rate, which falls with loss)."""
    dev = get_device(device)
    lo, hi = 0.0, 2000.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        ok = float(secret_key_rate_bps(np.array([att * mid + conn]), dev)[0]) >= target_bps
        lo, hi = (mid, hi) if ok else (lo, mid)
    return lo


def plan_corridor(tmp_path, tag, a=GRONINGEN, b=MAASTRICHT, **kw):
    kw = {"devices": APD, "costs": COSTS, "fibre": FIBRE, "solver": SOLVER, "target_bps": 1.0, **kw}
    return qtopo.plan(make_corridor(tmp_path / tag, a=a, b=b, **kw))


def test_toml_round_trip_with_device_tables():
    doc = {"scenario": {"name": 'Köln "Nord"\n', "seed": 3},
           "network": {"route_factor": 1.3, "hut_spacing_km": 25, "flag": True, "xs": [1.0, 2.5]},
           "devices": {"apd": {"preset": "apd-bb84", "pair_cost_eur": 1e5, "detector_efficiency": 0.25},
                       "two words": {"preset": "mdi-snspd", "enabled": False}}}
    text = to_toml(doc)
    assert "[devices.apd]" in text and '[devices."two words"]' in text
    assert tomllib.loads(text) == doc
    with pytest.raises(TypeError):
        to_toml({"x": {"y": object()}})


def test_make_corridor_writes_a_valid_scenario(tmp_path):
    devs = {"apd": {"preset": "apd-bb84", "pair_cost_eur": 80_000.0, "detector_efficiency": 0.25},
            "mdi": "mdi-snspd"}
    p = make_corridor(tmp_path / "c", a=GRONINGEN, b=MAASTRICHT, hut_spacing_km=40.0, devices=devs,
                      costs=COSTS, target_bps=500.0)
    assert {f.name for f in p.parent.iterdir()} >= {"sites.gpkg", "routes.gpkg", "demands.csv", "scenario.toml"}
    scen = qtopo.load_scenario(p)
    assert scen.network["route_factor"] == 1.3 and scen.network["hut_spacing_km"] == 40.0
    assert scen.solver["threads"] == 1
    assert scen.costs["hut_node_eur"] == HUT
    by_name = {d.name: d for d in scen.devices}
    assert by_name["apd"].pair_cost_eur == 80_000.0 and by_name["apd"].device().detector_efficiency == 0.25
    assert by_name["mdi"].preset == "mdi-snspd"
    net, demands = qtopo.read_network(scen)
    assert list(demands["source"]) == ["Groningen"] and list(demands["target"]) == ["Maastricht"]
    assert float(demands["target_bps"].iloc[0]) == 500.0
    # the fibre is the great-circle line x route factor; 40 km huts split it into ceil(L / 40) equal segments
    L = corridor_length_km(GRONINGEN, MAASTRICHT, 1.3)
    assert net.edges["length_km"].sum() == pytest.approx(L, rel=1e-3)
    assert len(net.edges) == math.ceil(L / 40.0)
    assert (net.edges["length_km"] <= 40.0 + 1e-9).all()


def test_make_corridor_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="different names"):
        make_corridor(tmp_path / "a", a=(5.0, 52.0, "X"), b=(6.0, 51.0, "X"))
    with pytest.raises(ValueError, match="out of range"):
        make_corridor(tmp_path / "b", a=(52.0, 95.0, "X"), b=(6.0, 51.0, "Y"))
    with pytest.raises(qtopo.InputError):
        make_corridor(tmp_path / "c", a=GRONINGEN, b=MAASTRICHT, devices={"x": {"preset": "no-such-device"}})


def test_corridor_nodes_lie_along_the_corridor(tmp_path):
    plan = plan_corridor(tmp_path, "s25", hut_spacing_km=25.0, target_bps=1000.0)
    assert plan.status == "optimal" and plan.verification.ok
    df = corridor_nodes(plan)
    L = corridor_length_km(GRONINGEN, MAASTRICHT, 1.3)
    assert list(df["id"].iloc[[0, -1]]) == ["Groningen", "Maastricht"]
    assert df["distance_km"].iloc[0] == 0.0
    # spans between consecutive key-holding nodes add up to the corridor length, and each is a planned link
    assert df["span_km"].sum() == pytest.approx(df["distance_km"].iloc[-1])
    assert df["distance_km"].iloc[-1] == pytest.approx(L, rel=1e-3)
    link_km = sorted(round(float(x.length_km), 6) for x in plan.links)
    assert sorted(round(x, 6) for x in df["span_km"].iloc[1:]) == link_km
    # every hop is within reach, so at least ceil(L / R) - 1 trusted nodes, and they are the plan's
    R = reach_km("apd-bb84", 1000.0)
    assert (df["span_km"] <= R + 1e-6).all()
    trusted = df[df["kind"] == "trusted"]
    assert len(trusted) >= math.ceil(L / R) - 1
    assert set(trusted["id"]) == set(plan.demands[0].intermediate_trusted_nodes)
    assert df["distance_km"].is_monotonic_increasing


@pytest.mark.parametrize("n_seg", [4, 8, 16])
def test_corridor_cost_matches_first_principles(tmp_path, n_seg):
    L = corridor_length_km(GRONINGEN, MAASTRICHT, 1.3)
    plan = plan_corridor(tmp_path, f"n{n_seg}", hut_spacing_km=L / n_seg * (1 + 1e-6))
    assert plan.status == "optimal" and plan.verification.ok
    R = reach_km("apd-bb84", 1.0)
    step = L / n_seg
    hops = math.ceil(n_seg / math.floor(R / step))       # fewest hops between grid points, each <= R
    assert plan.cost_eur == pytest.approx(2 * SITE + (hops - 1) * HUT + hops * PAIR)
    assert (corridor_nodes(plan)["kind"] == "trusted").sum() == hops - 1


def test_finer_hut_grids_never_cost_more_and_never_beat_free_placement(tmp_path):
    L = corridor_length_km(AMSTERDAM, city("Frankfurt am Main"), 1.3)
    R = reach_km("apd-bb84", 1.0)
    # nodes placed anywhere along the route: ceil(L / R) hops, one pair each (target 1 bit/s, free fibre)
    free_hops = math.ceil(L / R)
    free_optimum = 2 * SITE + (free_hops - 1) * HUT + free_hops * PAIR
    costs = {}
    # nested grids: each contains the previous one's hut positions; the coarsest already allows ceil(L / R) hops
    # (L ~ 475 km, R ~ 145 km for the calibrated apd-bb84: 4 hops)
    for n_seg in (4, 8, 16, 32):
        plan = plan_corridor(tmp_path, f"g{n_seg}", a=AMSTERDAM, b=city("Frankfurt am Main"),
                             hut_spacing_km=L / n_seg * (1 + 1e-6))
        assert plan.status == "optimal"
        costs[n_seg] = plan.cost_eur
    seq = [costs[n] for n in sorted(costs)]
    assert all(b <= a + 1e-6 for a, b in zip(seq, seq[1:])), costs
    assert min(seq) >= free_optimum - 1e-6
    assert seq[-1] == pytest.approx(free_optimum)   # 32 segments of ~15 km leave no slack at 4 hops


def test_relay_bridges_the_corridor_without_a_trusted_node(tmp_path):
    # Amsterdam - Duesseldorf is ~238 km of fibre: beyond apd-bb84 (~145 km), within MDI with a middle relay
    kw = dict(a=AMSTERDAM, b=DUSSELDORF, hut_spacing_km=20.0, target_bps=10.0)
    trusted_only = plan_corridor(tmp_path, "t", **kw)
    mdi = {**APD, "mdi": {"preset": "mdi-snspd", "pair_cost_eur": 150_000.0, "max_pairs_per_link": 4}}
    with_relay = plan_corridor(tmp_path, "r", devices=mdi, **kw)
    assert trusted_only.status == with_relay.status == "optimal"
    assert with_relay.verification.ok
    # one more device option can only enlarge the feasible set
    assert with_relay.cost_eur <= trusted_only.cost_eur + 1e-6
    t_nodes, r_nodes = corridor_nodes(trusted_only), corridor_nodes(with_relay)
    assert (t_nodes["kind"] == "trusted").sum() == 1 and (t_nodes["kind"] == "relay").sum() == 0
    # by hand: trusted hut + 2 APD pairs (700k) vs relay in a hut (costs hut_node_eur) + 1 MDI pair (650k)
    assert trusted_only.cost_eur == pytest.approx(2 * SITE + HUT + 2 * PAIR)
    assert with_relay.cost_eur == pytest.approx(2 * SITE + HUT + 150_000.0)
    (relay,) = r_nodes[r_nodes["kind"] == "relay"].itertuples()
    assert (r_nodes["kind"] == "trusted").sum() == 0
    assert relay.id not in with_relay.demands[0].trusted_nodes
    (link,) = with_relay.links
    assert link.relay == relay.id and link.protocol == "mdi-qkd"
    # the relay sits at the hut nearest the middle of the link's loss: within half a hut step of the middle
    step = link.length_km / math.ceil(link.length_km / 20.0)
    assert abs(relay.span_km - link.length_km / 2) <= step / 2 + 1e-3
    assert relay.distance_km == pytest.approx(relay.span_km)
    sites = r_nodes[r_nodes["kind"] == "site"]
    assert 0 < relay.distance_km < sites["distance_km"].max()
    assert sites["span_km"].sum() == pytest.approx(link.length_km)


def test_infeasible_corridor_gives_an_empty_table(tmp_path):
    # 475 km and no huts: no apd-bb84 hop reaches
    plan = plan_corridor(tmp_path, "x", a=AMSTERDAM, b=city("Frankfurt am Main"), hut_spacing_km=0.0)
    assert plan.status == "infeasible"
    df = corridor_nodes(plan)
    assert df.empty and list(df.columns) == ["id", "kind", "distance_km", "span_km", "lon", "lat", "cost_eur"]
