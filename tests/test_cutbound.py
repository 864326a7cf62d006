"""The cut-set LP bound (qtopo.cutbound): never above a proven optimum, exact where the cuts are, used by the planner.

Optima come from the MILP solved to a zero gap (HiGHS), not from the code under test.
"""
from __future__ import annotations

import numpy as np
import pytest

from qtopo.candidates import build_inputs
from qtopo.cutbound import cutset_bound
from qtopo.model import build_model
from qtopo.planner import load_scenario_and_inputs, read_network
from qtopo.solve import Status, solve


def _inputs(path, **over):
    scen = load_scenario_and_inputs(path, over or None)
    net, demands = read_network(scen)
    return scen, build_inputs(net, demands, scen)


def _optimum(scen, inputs) -> float:
    res = solve(build_model(inputs, scen), time_limit_s=120.0, mip_gap=0.0, threads=1)
    assert res.status is Status.OPTIMAL, res
    return float(res.objective)


def test_two_pairs_needed_on_one_span_is_found_exactly(corridor_factory):
    # one 60 km span (no huts) whose target is 1.5x a pair's rate: the optimum buys two pairs. The plain cut-set
    # row allows 1.5 pairs; its Chvatal-Gomory rounding (lam just below 1/0.667) asks for 2.
    path = corridor_factory(length_km=60.0, hut_spacing_km=0.0, target_bps=1.0)
    scen, inputs = _inputs(path)
    rate = float(inputs.hop_devices["rate_bps_per_pair"].max())
    path = corridor_factory(length_km=60.0, hut_spacing_km=0.0, target_bps=1.5 * rate)
    scen, inputs = _inputs(path)
    opt = _optimum(scen, inputs)
    cb = cutset_bound(inputs, time_limit_s=30.0)
    assert cb.status == "converged"
    assert cb.bound_eur == pytest.approx(opt, rel=1e-6)
    cpp = float(inputs.hop_devices["cost_per_pair_eur"].iloc[0])
    assert opt == pytest.approx(float(inputs.nodes["capex_eur"].sum()) + 2 * cpp, rel=1e-9)


def test_corridor_with_huts_bound_below_optimum(corridor_factory):
    # 300 km with candidate huts every 50 km: the span needs trusted huts; the bound counts them (it is not
    # just the endpoints' capex) and stays below the optimum
    path = corridor_factory(length_km=300.0, hut_spacing_km=50.0, target_bps=1000.0)
    scen, inputs = _inputs(path)
    opt = _optimum(scen, inputs)
    cb = cutset_bound(inputs, time_limit_s=30.0)
    terminals = float(inputs.nodes.loc[inputs.nodes["terminal"], "capex_eur"].sum())
    assert cb.bound_eur <= opt * (1 + 1e-9)
    assert cb.bound_eur > terminals + 1.0  # at least one pair and a hut are counted


@pytest.mark.parametrize("seed", [1, 2, 3, 6, pytest.param(4, marks=pytest.mark.slow),
                                  pytest.param(5, marks=pytest.mark.slow)])  # 4, 5: 20-60 s to a zero gap
def test_bound_never_exceeds_the_optimum_on_random_networks(tmp_path, monkeypatch, seed):
    # random geographic networks (Gabriel graphs, as in the benchmark's synthetic family) with demands large
    # enough that capacity matters: the bound is a relaxation, so it never exceeds the proven optimum
    from benchmarks.instances import scenario_path
    from benchmarks.registry import InstanceSpec

    rng = np.random.default_rng(seed)
    n, e = int(rng.integers(8, 14)), int(rng.integers(2, 5))
    target = float(rng.choice([5e3, 2e5, 2e6]))
    monkeypatch.setenv("QTOPO_BENCH_CACHE", str(tmp_path))
    spec = InstanceSpec(f"t-{seed}", "synthetic", "test", {"n": n, "e": e, "seed": seed, "target_bps": target},
                        frozenset({"test"}))
    scen, inputs = _inputs(scenario_path(spec, tmp_path), **{"network.hut_spacing_km": 40.0})
    if inputs.diagnosis:
        pytest.skip(f"instance infeasible at the precheck: {inputs.diagnosis[0]['reason']}")
    opt = _optimum(scen, inputs)
    cb = cutset_bound(inputs, time_limit_s=30.0)
    assert cb.bound_eur is not None
    assert cb.bound_eur <= opt * (1 + 1e-9) + 1e-6, (cb.to_dict(), opt)
    terminals = float(inputs.nodes.loc[inputs.nodes["terminal"], "capex_eur"].sum())
    assert cb.bound_eur >= terminals - 1e-6


def test_stops_at_a_known_plan_cost(corridor_factory):
    path = corridor_factory(length_km=60.0, hut_spacing_km=0.0, target_bps=1.0)
    scen, inputs = _inputs(path)
    opt = _optimum(scen, inputs)
    cb = cutset_bound(inputs, time_limit_s=30.0, upper_bound_eur=opt)
    assert cb.status == "converged" and cb.bound_eur == pytest.approx(opt, rel=1e-6)


def test_budget_mode_has_no_cost_bound(corridor_factory):
    path = corridor_factory(length_km=60.0, hut_spacing_km=0.0, target_bps=1.0)
    scen, inputs = _inputs(path, **{"objective.mode": "max_rate", "objective.budget_eur": 1e6})
    cb = cutset_bound(inputs)
    assert cb.bound_eur is None and cb.status.startswith("not applicable")


def test_planner_reports_the_cut_bound_and_its_method(corridor_factory):
    # forced on (cut_bound = "on") with a zero-second MILP budget left after it would be silly: give both time
    import qtopo

    path = corridor_factory(length_km=300.0, hut_spacing_km=50.0, target_bps=1000.0)
    p = qtopo.plan(path, overrides={"solver.cut_bound": "on"}, write_outputs=False)
    cb = p.cut_bound
    assert cb.bound_eur is not None and cb.rounds >= 1
    # the solver proved optimality here, so its bound is at least as good and stays the reported one
    assert p.solver.options["bound_method"] in ("milp", "cut-set LP")
