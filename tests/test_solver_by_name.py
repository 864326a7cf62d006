"""Any solver Pyomo supports, by name ([solver] name): validation, the normalised result, and the bundled
scenario's optimum with HiGHS and with SCIP (pyscipopt from PyPI, in the dev extra)."""
from __future__ import annotations

from pathlib import Path

import pyomo.environ as pyo
import pytest

import qtopo
from qtopo.contract import Status
from qtopo.errors import InputError
from qtopo.solver_names import check_name, installed, resolve
from qtopo.solve import solve

ROOT = Path(__file__).resolve().parents[1]
SURFNET = ROOT / "data/surfnet/scenario.toml"

try:
    import pyscipopt  # noqa: F401
    HAVE_SCIP = resolve("scip") is not None
except ImportError:
    HAVE_SCIP = False
needs_scip = pytest.mark.skipif(not HAVE_SCIP, reason="pyscipopt (SCIP) is not installed: pip install pyscipopt")


def small_mip(infeasible: bool = False):
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), domain=pyo.Integers, bounds=(0, 3))
    m.c1 = pyo.Constraint(expr=2 * m.x[0] + 3 * m.x[1] + m.x[2] <= 5)
    m.c2 = pyo.Constraint(expr=4 * m.x[0] + m.x[1] + 2 * m.x[2] <= 11)
    m.c3 = pyo.Constraint(expr=3 * m.x[0] + 4 * m.x[1] + 2 * m.x[2] <= 8)
    if infeasible:
        m.c4 = pyo.Constraint(expr=m.x[0] + m.x[1] + m.x[2] >= 10)
    m.o = pyo.Objective(expr=-5 * m.x[0] - 4 * m.x[1] - 3 * m.x[2])  # optimum -13 (tests/test_highs_backend.py)
    return m


def test_unknown_solver_is_a_clear_scenario_error():
    with pytest.raises(InputError) as e:
        qtopo.load_scenario(SURFNET, {"solver.name": "no-such-solver"})
    msg = str(e.value)
    assert "[solver]" in msg and "'no-such-solver' is not a solver Pyomo knows" in msg and "installed: highs" in msg


def test_known_but_missing_solver_names_what_is_installed():
    missing = next((n for n in ("xpress", "mosek", "copt", "cplex", "gurobi") if resolve(n) is None), None)
    if missing is None:
        pytest.skip("every commercial solver is installed here")
    msg = check_name(missing)
    assert "is not available here" in msg and "installed:" in msg and "highs" in msg


def test_highs_is_the_default_and_always_listed():
    assert qtopo.load_scenario(SURFNET).solver["name"] == "highs"
    assert check_name("highs") is None and "highs" in installed()


@needs_scip
@pytest.mark.parametrize("name", ["highs", "scip"])
def test_small_mip_same_optimum(name):
    m = small_mip()
    r = solve(m, time_limit_s=30, mip_gap=0.0, threads=1, solver=name)
    assert r.status is Status.OPTIMAL and r.solver == name and r.solver_version not in ("", "unknown")
    assert r.objective == pytest.approx(-13.0) and pyo.value(m.o) == pytest.approx(-13.0)
    assert r.bound == pytest.approx(-13.0) and r.gap == pytest.approx(0.0, abs=1e-9)


@needs_scip
def test_infeasible_is_a_status_not_an_exception():
    r = solve(small_mip(infeasible=True), time_limit_s=30, solver="scip")
    assert r.status is Status.INFEASIBLE and r.objective is None


def _bundled_subset(folder: Path, n_demands: int) -> Path:
    """The bundled scenario with its first ``n_demands`` demands (network, devices and costs unchanged)."""
    import shutil

    shutil.copytree(SURFNET.parent, folder)
    dem = (folder / "demands.csv").read_text().splitlines()
    (folder / "demands.csv").write_text("\n".join(dem[: 1 + n_demands]) + "\n")
    return folder / SURFNET.name


def _same_optimum(scenario: Path, out: Path):
    plans = {n: qtopo.plan(scenario, out / n, overrides={"solver.name": n}) for n in ("highs", "scip")}
    cost = {}
    for n, p in plans.items():
        assert p.status == "optimal", (n, p.status)
        assert p.solver.name == n and p.solver.version not in ("", "unknown")
        assert p.verification.ok
        assert (out / n / f"{n}.log").stat().st_size > 0  # the solver's own log, named after it
        cost[n] = p.cost_eur
    gap = qtopo.load_scenario(scenario).solver["mip_gap"]
    assert abs(cost["highs"] - cost["scip"]) <= gap * max(cost.values()) + 1e-6


@needs_scip
def test_bundled_network_same_optimum_with_highs_and_scip(tmp_path):
    """The bundled network, both device types, its first three demands: both solvers prove an optimum within
    mip_gap, the costs agree within it, the plans verify, and each plan records which solver produced it.
    (All seven demands: the slow test below; SCIP needs more than the scenario's 300 s for them.)"""
    _same_optimum(_bundled_subset(tmp_path / "scen", 3), tmp_path)


@needs_scip
@pytest.mark.slow
def test_bundled_scenario_same_optimum_with_highs_and_scip(tmp_path):
    """The whole bundled scenario with both solvers (slow: SCIP takes minutes on it)."""
    _same_optimum(SURFNET, tmp_path)
