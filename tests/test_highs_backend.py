"""The one HiGHS back-end (qtopo.highs): status mapping, thread policy, compile paths, and the same optimum through
it for the trusted-node solve, repeater mode and the rollout schedule."""
from __future__ import annotations

import highspy
import numpy as np
import pytest
from scipy.sparse import csr_matrix

from qtopo import highs
from qtopo.contract import Status

M = highspy.HighsModelStatus


# a small knapsack-like MIP: min -5a - 4b - 3c  s.t. 2a + 3b + c <= 5, 4a + b + 2c <= 11, 3a + 4b + 2c <= 8,
# a, b, c in {0..3} integer. Optimum -13 at a=2, c=1 (enumerated in test_small_mip_optimum_by_enumeration).
C = np.array([-5.0, -4.0, -3.0])
A = csr_matrix(np.array([[2.0, 3.0, 1.0], [4.0, 1.0, 2.0], [3.0, 4.0, 2.0]]))
UB = np.array([5.0, 11.0, 8.0])


def _mip(options=None):
    return highs.from_arrays(C, np.zeros(3), np.full(3, 3.0), np.full(3, -np.inf), UB, A, np.ones(3, bool),
                             options=options)


def test_small_mip_optimum_by_enumeration():
    grid = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3)
    ok = (grid @ A.toarray().T <= UB).all(axis=1)
    best = (grid[ok] @ C).min()
    h = _mip()
    highs.run(h, 1)
    out = highs.outcome(h)
    assert out.status is Status.OPTIMAL and out.termination == "optimal"
    assert out.objective == pytest.approx(best) and out.bound == pytest.approx(best)
    assert out.values @ C == pytest.approx(best)


@pytest.mark.parametrize("ms, has_sol, expected", [
    (M.kOptimal, True, Status.OPTIMAL), (M.kModelEmpty, False, Status.OPTIMAL),
    (M.kInfeasible, False, Status.INFEASIBLE), (M.kUnboundedOrInfeasible, False, Status.INFEASIBLE),
    (M.kTimeLimit, True, Status.FEASIBLE), (M.kTimeLimit, False, Status.NO_SOLUTION),
    (M.kInterrupt, True, Status.FEASIBLE), (M.kIterationLimit, False, Status.NO_SOLUTION),
    (M.kSolutionLimit, True, Status.FEASIBLE),
    (M.kUnbounded, False, Status.ERROR), (M.kSolveError, False, Status.ERROR), (M.kLoadError, False, Status.ERROR),
    (M.kNotset, False, Status.ERROR),
])
def test_status_mapping(ms, has_sol, expected):
    assert highs.status_of(ms, has_sol) is expected


def test_every_highs_status_maps():
    for ms in M.__members__.values():
        for has_sol in (False, True):
            assert isinstance(highs.status_of(ms, has_sol), Status)


def test_real_infeasible_and_empty_models():
    h = highs.from_arrays([1.0], [0.0], [1.0], [2.0], [np.inf], csr_matrix(np.array([[1.0]])), [True])
    highs.run(h, 1)
    out = highs.outcome(h)
    assert out.status is Status.INFEASIBLE and out.values is None and out.objective is None
    h = highs.from_arrays([], [], [], [], [], csr_matrix((0, 0)))
    highs.run(h, 1)
    assert highs.outcome(h).status is Status.OPTIMAL


def test_time_limit_without_a_solution_is_no_solution():
    h = _mip({"time_limit": 0.0})
    highs.run(h, 1)
    out = highs.outcome(h)
    assert out.status in (Status.NO_SOLUTION, Status.FEASIBLE)  # HiGHS may find a plan in presolve
    assert (out.values is None) == (out.status is Status.NO_SOLUTION)


def test_thread_policy_resets_only_when_the_count_changes():
    """Changing the thread count between solves in one process gives the same optimum each time (without the
    reset HiGHS reports misleading statuses: FIELD-NOTES); the policy resets only on a change."""
    objs = []
    for n in (1, 2, 2, 1, 3):
        before = highs.THREADS.resets
        changed = highs.THREADS.threads != n
        h = _mip()
        highs.run(h, n)
        out = highs.outcome(h)
        assert out.status is Status.OPTIMAL
        objs.append(out.objective)
        assert highs.THREADS.threads == n
        assert highs.THREADS.resets == before + int(changed)
    assert objs == pytest.approx([objs[0]] * len(objs))


def test_threads_none_means_one():
    assert highs.ThreadPolicy().use(None) == 1


def test_no_banner_on_stdout(capfd):
    h = highs.new_highs()
    assert h is not None
    assert "HiGHS" not in capfd.readouterr().out


def test_trusted_solve_same_optimum_across_thread_counts():
    """qtopo.solve through the back-end's one compile path (standard form -> passModel), with the thread count
    changed between solves (the back-end's thread policy resets HiGHS's scheduler): the same optimum."""
    import importlib

    import pyomo.environ as pyo

    S = importlib.import_module("qtopo.solve")

    def model():
        m = pyo.ConcreteModel()
        m.x = pyo.Var(range(3), domain=pyo.Integers, bounds=(0, 3))
        m.c = pyo.Constraint(range(3), rule=lambda m, i: sum(A[i, j] * m.x[j] for j in range(3)) <= UB[i])
        m.r = pyo.Constraint(expr=pyo.inequality(0, m.x[0] - m.x[1], 2))  # a ranged row (merged back into one)
        m.o = pyo.Objective(expr=sum(C[j] * m.x[j] for j in range(3)))
        return m

    res = []
    for threads in (1, 2, 2, 1):
        m = model()
        r = S.solve(m, time_limit_s=30, mip_gap=0, threads=threads)
        assert r.status is Status.OPTIMAL
        assert pyo.value(m.o) == pytest.approx(r.objective)
        res.append(r.objective)
    assert res == pytest.approx([-13.0] * 4)


def test_rollout_same_schedule_with_another_thread_count():
    from qtopo.rollout import schedule_rollout

    from planfactory import demand, link, node, plan as make_plan

    plan = make_plan([node("A", "trusted", 100.0), node("B", "trusted", 50.0)], [link("A", "B", 30.0, id="A-B")],
                     [demand("A", "B", 10.0, [(["A", "B"], 10.0)])])
    a = schedule_rollout(plan, [100.0, 100.0], threads=1)
    b = schedule_rollout(plan, [100.0, 100.0], threads=2)
    assert a.status == b.status == "optimal"
    assert a.stages == b.stages
    assert [s.served_bps for s in a.stages] == [0.0, 10.0]  # 180 EUR fits only the 200 EUR cumulative budget


def test_repeater_mode_runs_without_pyomo(tmp_path):
    """Repeater mode builds its model as arrays and reaches HiGHS through the back-end: ``qtopo repeaters`` on a
    GraphML file imports no Pyomo (it was 1 s of the command's start-up)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import sys\nfrom qtopo.cli import main\n"
            f"try:\n    main(['repeaters', {str(root / 'data/zoo/Abilene.graphml')!r}, '--out', "
            f"{str(tmp_path / 'r')!r}, '--end-nodes', 'New York,Sunnyvale,Houston', '--l-max-km', '2000', "
            "'--n-max', '4', '--time-limit', '30'])\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    cp = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert cp.returncode == 0, cp.stderr
    mods = set(eval(cp.stdout.strip().splitlines()[-1]))
    assert "highspy" in mods and not mods & {"pyomo", "pandas", "geopandas"}
    res = json.loads((tmp_path / "r" / "repeaters.json").read_text())
    assert res["status"] == "optimal" and res["verification"]["ok"]
