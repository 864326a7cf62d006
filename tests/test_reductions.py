"""Exact reductions before the model (qtopo.candidates.dominated_options_keep): same optimum as the unreduced model.

Optima come from the MILP solved to a zero gap (HiGHS) on the reduced and on the unreduced option tables.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import qtopo
from qtopo import candidates
from qtopo.candidates import build_inputs, dominated_options_keep
from qtopo.model import build_model
from qtopo.planner import load_scenario_and_inputs, read_network
from qtopo.solve import Status, solve


def _both(scen, net, demands, monkeypatch):
    reduced = build_inputs(net, demands, scen)
    with monkeypatch.context() as m:
        m.setattr(candidates, "dominated_options_keep", lambda inp: np.ones(len(inp.hop_devices), bool))
        full = build_inputs(net, demands, scen)
    return reduced, full


def _optimum(scen, inputs) -> float:
    res = solve(build_model(inputs, scen), time_limit_s=600.0, mip_gap=0.0, threads=1)
    assert res.status is Status.OPTIMAL, res
    return float(res.objective)


class _Inp:  # the two tables the rule reads
    def __init__(self, hd, targets):
        self.hop_devices = hd
        self.demands = pd.DataFrame({"target_bps": targets, "k_routes": [1] * len(targets)})


def _hd(rows):
    return pd.DataFrame(rows, columns=["hop", "device", "rate_bps_per_pair", "cost_per_pair_eur", "max_pairs",
                                       "existing_pairs", "relay", "repeaters"])


def test_hand_derived_dominance():
    # hop 0: APD pair 40 kbit/s at 120 k, SNSPD pair 400 kbit/s at 300 k. Total demand 75 kbit/s: two APD pairs
    # (240 k) carry any load of the hop, cheaper than one SNSPD pair: SNSPD is dominated. At 130 kbit/s it takes
    # four APD pairs (480 k) > 300 k: both stay. An installed SNSPD pair is never dropped; a relay option is
    # dropped by a plain one but never dominates.
    rows = [(0, "apd", 4e4, 1.2e5, 8, 0, None, ()), (0, "snspd", 4e5, 3e5, 8, 0, None, ())]
    assert dominated_options_keep(_Inp(_hd(rows), [5e4, 2.5e4])).tolist() == [True, False]
    assert dominated_options_keep(_Inp(_hd(rows), [1e5, 3e4])).tolist() == [True, True]
    installed = [rows[0], (0, "snspd", 4e5, 3e5, 8, 1, None, ())]
    assert dominated_options_keep(_Inp(_hd(installed), [5e4, 2.5e4])).tolist() == [True, True]
    # pair limit: K = 2 pairs but only 1 allowed: APD cannot carry everything, nothing is dominated
    limited = [(0, "apd", 4e4, 1.2e5, 1, 0, None, ()), rows[1]]
    assert dominated_options_keep(_Inp(_hd(limited), [5e4, 2.5e4])).tolist() == [True, True]
    relay = [(0, "mdi", 1e6, 1e5, 8, 0, "r1", ()), rows[0], (0, "apd2", 4e4, 1.2e5, 8, 0, None, ())]
    # the relay option is cheaper per pair but pays a relay node: it may not dominate; equal plain twins: one kept
    assert dominated_options_keep(_Inp(_hd(relay), [5e3])).tolist() == [True, True, False]
    # options on other hops never interact
    two = [rows[0], (1, "snspd", 4e5, 3e5, 8, 0, None, ())]
    assert dominated_options_keep(_Inp(_hd(two), [5e4, 2.5e4])).tolist() == [True, True]


def test_same_optimum_on_the_bundled_network(monkeypatch):
    # SURFnet with both device types and 3 demands: the reduction drops options, the optimum is the same
    scen = qtopo.load_scenario(qtopo.__path__[0] + "/../data/surfnet/scenario.toml",
                               {"solver.threads": 1, "solver.mip_gap": 0.0})
    net, dem = read_network(scen)
    dem = dem.iloc[:3]
    reduced, full = _both(scen, net, dem, monkeypatch)
    assert reduced.stats["dominated_options"] > 0
    assert len(reduced.hop_devices) == len(full.hop_devices) - reduced.stats["dominated_options"]
    assert _optimum(scen, reduced) == pytest.approx(_optimum(scen, full), rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("seed", [1, 2, 3, 7])
def test_same_optimum_on_random_networks(tmp_path, monkeypatch, seed):
    # random geographic networks (Gabriel graphs, as the benchmark's synthetic family) with targets from tiny to
    # capacity-bound: the reduced and unreduced models have the same optimum
    from benchmarks.instances import scenario_path
    from benchmarks.registry import InstanceSpec

    rng = np.random.default_rng(seed)
    n, e = int(rng.integers(8, 13)), int(rng.integers(2, 5))
    target = float(rng.choice([5e3, 5e4, 2e5, 2e6]))
    monkeypatch.setenv("QTOPO_BENCH_CACHE", str(tmp_path))
    spec = InstanceSpec(f"r-{seed}", "synthetic", "test", {"n": n, "e": e, "seed": seed, "target_bps": target},
                        frozenset({"test"}))
    scen = load_scenario_and_inputs(scenario_path(spec, tmp_path), {"network.hut_spacing_km": 40.0})
    net, dem = read_network(scen)
    reduced, full = _both(scen, net, dem, monkeypatch)
    if reduced.diagnosis:
        pytest.skip(f"instance infeasible at the precheck: {reduced.diagnosis[0]['reason']}")
    assert _optimum(scen, reduced) == pytest.approx(_optimum(scen, full), rel=1e-9, abs=1e-6)
