"""Large-neighbourhood search (qtopo.lns): never worse than its start, its plans are feasible points of the full
MILP, a neighbourhood covering every node reproduces the MILP optimum, and it is deterministic for a seed."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

from qtopo import lns
from qtopo.candidates import build_inputs
from qtopo.heuristic import construct, set_mip_start
from qtopo.model import build_model
from qtopo.planner import read_network
from qtopo.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_mip_start import violated_rows  # noqa: E402

SURFNET = ROOT / "data" / "surfnet" / "scenario.toml"


def _inputs(path, overrides=None):
    scen = load_scenario(path, overrides or {})
    net, dem = read_network(scen)
    return scen, build_inputs(net, dem, scen)


def _syn(tmp_path, monkeypatch, name="syn-30-5"):
    monkeypatch.setenv("QTOPO_BENCH_CACHE", str(tmp_path))
    from benchmarks import registry
    from benchmarks.instances import scenario_path

    return scenario_path(registry.INSTANCES[name])


def _check_feasible(scen, inputs, sol):
    """The solution satisfies every row of the full model and its cost is the model's objective there."""
    model = build_model(inputs, scen)
    set_mip_start(model, inputs, sol)
    for v in model.component_data_objects(pyo.Var):
        if v.value is None:
            v.value = 0.0
    assert violated_rows(model) == []
    assert pyo.value(model.obj) == pytest.approx(sol.cost, rel=1e-9)


def _padded(inputs, sol):
    """``sol`` made dearer but still feasible: one more device pair on a hop it does not use, with that hop's
    non-terminal ends opened (the pair carries nothing)."""
    from qtopo.heuristic import HeuristicSolution

    hd = inputs.hop_devices
    h = hd["hop"].to_numpy(int)
    i = int(np.flatnonzero(sol.pairs == 0)[0])
    ends = {inputs.hops.u.iat[h[i]], inputs.hops.v.iat[h[i]]}
    term = set(inputs.nodes.index[inputs.nodes["terminal"].to_numpy()])
    pairs = sol.pairs.copy()
    pairs[i] = 1
    out = HeuristicSolution(set(sol.open_nodes) | (ends - term), set(sol.relays), pairs, dict(sol.routes),
                            0.0, 0.0)
    return out


def _optimum(scen, inputs) -> float:
    from qtopo.solve import solve

    res = solve(build_model(inputs, scen), time_limit_s=60.0, mip_gap=1e-9, threads=1)
    assert res.status.value == "optimal"
    return res.objective


def test_never_worse_and_finds_the_optimum_from_a_padded_start(tmp_path, monkeypatch):
    scen, inputs = _inputs(_syn(tmp_path, monkeypatch, "syn-12-3"))
    good = construct(inputs, scen, time_budget_s=0.0)
    bad = _padded(inputs, good)
    bad.cost = lns.solution_cost(inputs, scen, bad.open_nodes, bad.relays, bad.pairs)
    assert bad.cost > good.cost + 1.0
    _check_feasible(scen, inputs, bad)  # the padded start is a feasible point of the MILP
    best, rec = lns.improve(inputs, scen, bad, 60.0, seed=1, max_iterations=3, size=4, others=[])
    assert rec.iterations == 3 and rec.improvements >= 1
    assert best.cost < bad.cost - 1.0
    assert rec.start_cost_eur == pytest.approx(bad.cost) and rec.cost_eur == pytest.approx(best.cost)
    assert [c for _, c in rec.history] == sorted((c for _, c in rec.history), reverse=True)
    _check_feasible(scen, inputs, best)
    assert best.cost == pytest.approx(_optimum(scen, inputs), rel=1e-6)  # every node of the start was free


def test_never_worse_when_the_start_is_optimal(tmp_path, monkeypatch):
    scen, inputs = _inputs(_syn(tmp_path, monkeypatch, "syn-12-3"))
    start = construct(inputs, scen, time_budget_s=0.0)
    best, rec = lns.improve(inputs, scen, start, 60.0, seed=2, max_iterations=3, size=5)
    assert best.cost <= start.cost + 1e-6
    _check_feasible(scen, inputs, best)


def test_whole_network_neighbourhood_is_the_milp_optimum(tmp_path, monkeypatch):
    """A neighbourhood of every candidate makes the sub-MIP the full MILP: one iteration gives its optimum."""
    scen, inputs = _inputs(_syn(tmp_path, monkeypatch, "syn-12-3"))
    start = _padded(inputs, construct(inputs, scen, time_budget_s=0.0))
    start.cost = lns.solution_cost(inputs, scen, start.open_nodes, start.relays, start.pairs)
    best, rec = lns.improve(inputs, scen, start, 60.0, seed=0, max_iterations=1, size=len(inputs.nodes), others=[])
    assert best.cost == pytest.approx(_optimum(scen, inputs), rel=1e-6)
    _check_feasible(scen, inputs, best)


def test_deterministic_for_a_seed(tmp_path, monkeypatch):
    scen, inputs = _inputs(_syn(tmp_path, monkeypatch, "syn-12-3"))
    runs = []
    for _ in range(2):
        start = _padded(inputs, construct(inputs, scen, time_budget_s=0.0))
        start.cost = lns.solution_cost(inputs, scen, start.open_nodes, start.relays, start.pairs)
        best, rec = lns.improve(inputs, scen, start, 60.0, seed=7, max_iterations=4, size=3, others=[])
        runs.append((round(best.cost, 6), sorted(best.open_nodes), best.pairs.tolist(),
                     [c for _, c in rec.history], rec.iterations))
    assert runs[0] == runs[1]


def test_restrict_keeps_only_allowed_nodes():
    scen, inputs = _inputs(SURFNET)
    term = set(inputs.nodes.index[inputs.nodes["terminal"].to_numpy()])
    others = sorted(set(inputs.nodes.index) - term)[:3]
    sub = lns.restrict(inputs, set(others))
    assert set(sub.nodes.index) <= term | set(others)
    ends = set(sub.hops.u) | set(sub.hops.v)
    assert ends <= term | set(others)
    assert term <= set(sub.nodes.index)


def test_planner_records_the_method():
    import qtopo

    p = qtopo.plan(SURFNET, overrides={"solver.lns": "on", "solver.time_limit_s": 20.0}, write_outputs=False)
    assert p.verification.ok
    opts = p.solver.options
    assert opts["plan_method"] in ("heuristic", "lns", "highs")
    assert opts["lns"]["cost_eur"] <= opts["lns"]["start_cost_eur"] + 1e-6
    assert p.cost_eur <= opts["lns"]["cost_eur"] + 0.01  # (the record keeps cents)
    assert p.heuristic_cost_eur == pytest.approx(opts["lns"]["start_cost_eur"])


def test_bad_lns_value_is_an_input_error():
    from qtopo.errors import InputError

    with pytest.raises(InputError, match="lns"):
        load_scenario(SURFNET, {"solver.lns": "sometimes"})
