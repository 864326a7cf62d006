"""Any MILP solver Pyomo supports, by name (``[solver] name``): the path for solvers other than HiGHS.

HiGHS (``name = "highs"``, the default) goes through the fast back-end :mod:`qtopo.highs`. Every other name is
resolved by :mod:`qtopo.solver_names` to one Pyomo interface: its newer solver interface (``pyomo.contrib.solver``:
``gurobi`` -> ``gurobi_direct``, ``scip`` -> ``scip_direct``, ...), else the legacy ``SolverFactory`` (``cplex``,
``cbc``, ``glpk``, ``xpress``, ``mosek``... as executables or Python bindings), else APPSI (``appsi_cbc``...). So an
architect with a Gurobi or CPLEX licence uses it without code changes. The outcome is normalised into the same
:class:`~qtopo.contract.Status` as the HiGHS path (:func:`qtopo.solve.solve` wraps it into its ``SolveResult``),
and the plan records the solver's name and version.

Not available on this path (HiGHS-only): the LP bound solved alongside the MIP, ``root_lp``; a MIP start is
passed where the interface supports one (legacy interfaces that report ``warm_start_capable``).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from .contract import Status
from .errors import SolverError
from .numeric import finite_or_none
from .solver_names import Resolved, check_name, resolve

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """A Pyomo solve, normalised (``solver`` and ``version`` name what produced it)."""

    status: Status
    termination: str
    objective: float | None
    bound: float | None
    solver: str
    version: str
    options: dict = field(default_factory=dict)
    solve_s: float = 0.0
    sizes: dict = field(default_factory=dict)


def version(resolved: Resolved, opt=None) -> str:
    try:
        if opt is None:
            opt = _make(resolved)
        v = opt.version()
        if isinstance(v, tuple):
            return ".".join(str(x) for x in v if x is not None)
        return str(v) if v is not None else "unknown"
    except Exception:
        return "unknown"


def _make(resolved: Resolved):
    if resolved.interface == "contrib":
        from pyomo.contrib.solver.common.factory import SolverFactory

        return SolverFactory(resolved.factory_name)
    import pyomo.environ as pyo

    return pyo.SolverFactory(resolved.factory_name)


def solve(model, name: str, time_limit_s: float = 120.0, mip_gap: float = 1e-4, threads: int = 1,
          log_file: str | None = None, warmstart: bool = False, stream: bool = False) -> Outcome:
    """Solve ``model`` with the Pyomo solver ``name`` and load the best solution, if any (never raises on
    infeasibility or a limit; a crash becomes :class:`~qtopo.errors.SolverError`)."""
    resolved = resolve(name)
    if resolved is None:
        raise SolverError(check_name(name) or f"solver {name!r} is not available")
    opt = _make(resolved)
    options = {"time_limit_s": time_limit_s, "mip_gap": mip_gap, "threads": threads, "warmstart": warmstart,
               "interface": f"{resolved.interface}:{resolved.factory_name}"}
    t0 = time.perf_counter()
    try:
        if resolved.interface == "contrib":
            status, term, obj, bound = _solve_contrib(opt, model, time_limit_s, mip_gap, threads, log_file, stream)
            options["warmstart"] = False  # pyomo.contrib.solver interfaces take no MIP start (pyomo 6.10)
        else:
            ws = bool(warmstart) and bool(getattr(opt, "warm_start_capable", lambda: False)())
            options["warmstart"] = ws
            status, term, obj, bound = _solve_legacy(opt, resolved, model, time_limit_s, mip_gap, threads,
                                                     log_file, stream, ws)
    except KeyboardInterrupt:
        raise
    except SolverError:
        raise
    except Exception as e:
        raise SolverError(f"{name} failed: {type(e).__name__}: {e}") from e
    if status.has_plan and bound is None and status is Status.OPTIMAL:
        bound = obj
    return Outcome(status=status, termination=term, objective=obj, bound=bound, solver=resolved.name,
                   version=version(resolved, opt), options=options, solve_s=time.perf_counter() - t0,
                   sizes=_sizes(model))


def _solve_contrib(opt, model, time_limit_s, mip_gap, threads, log_file, stream):
    """pyomo.contrib.solver: ``load_solutions=False``, no exception on a non-optimal result (FIELD-NOTES)."""
    import contextlib
    import sys

    from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition as TC


    kw = dict(load_solutions=False, raise_exception_on_nonoptimal_result=False, threads=int(threads),
              rel_gap=float(mip_gap))
    if time_limit_s and time_limit_s > 0:
        kw["time_limit"] = float(time_limit_s)
    with contextlib.ExitStack() as stack:
        tee = []
        if log_file:
            tee.append(stack.enter_context(open(log_file, "w", encoding="utf-8")))
        if stream:
            tee.append(sys.stdout)
        if tee:
            kw["tee"] = tee if len(tee) > 1 else tee[0]
        res = opt.solve(model, **kw)
    tc, ss = res.termination_condition, res.solution_status
    has_sol = ss in (SolutionStatus.optimal, SolutionStatus.feasible)
    if tc == TC.convergenceCriteriaSatisfied and has_sol:
        status = Status.OPTIMAL
    elif tc in (TC.provenInfeasible, TC.infeasibleOrUnbounded, TC.locallyInfeasible):
        status = Status.INFEASIBLE
    elif tc in (TC.maxTimeLimit, TC.iterationLimit, TC.interrupted, TC.objectiveLimit, TC.minStepLength):
        status = Status.FEASIBLE if has_sol else Status.NO_SOLUTION
    else:
        status = Status.FEASIBLE if has_sol else Status.ERROR
    obj = bound = None
    if status.has_plan:
        res.solution_loader.load_vars()
        obj = finite_or_none(res.incumbent_objective)
        bound = finite_or_none(res.objective_bound)
    return status, tc.name, obj, bound


def _solve_legacy(opt, resolved, model, time_limit_s, mip_gap, threads, log_file, stream, warmstart):
    """The legacy ``SolverFactory`` (and APPSI through it): the common option names per solver family."""
    import pyomo.environ as pyo
    from pyomo.opt import SolverStatus, TerminationCondition as TC


    fam = resolved.name
    gap_key = {"cbc": "ratio", "glpk": "mipgap", "cplex": "mipgap", "gurobi": "MIPGap", "xpress": "miprelstop",
               "scip": "limits/gap"}.get(fam)
    time_key = {"cbc": "sec", "glpk": "tmlim", "cplex": "timelimit", "gurobi": "TimeLimit", "xpress": "maxtime",
                "scip": "limits/time"}.get(fam)
    thread_key = {"cbc": "threads", "cplex": "threads", "gurobi": "Threads", "xpress": "threads"}.get(fam)
    if resolved.interface == "appsi":
        opt.config.time_limit = float(time_limit_s) if time_limit_s and time_limit_s > 0 else None
        opt.config.mip_gap = float(mip_gap)
        opt.config.load_solution = False
        kw = {}
    else:
        if gap_key:
            opt.options[gap_key] = float(mip_gap)
        if time_key and time_limit_s and time_limit_s > 0:
            opt.options[time_key] = int(math.ceil(time_limit_s)) if fam == "glpk" else float(time_limit_s)
        if thread_key:
            opt.options[thread_key] = int(threads)
        kw = {"load_solutions": False, "tee": bool(stream)}
        if log_file:
            kw["logfile"] = str(log_file)
        if warmstart:
            kw["warmstart"] = True
    res = opt.solve(model, **kw)
    if resolved.interface == "appsi":
        from pyomo.contrib.appsi.base import TerminationCondition as ATC

        tc = res.termination_condition
        obj = finite_or_none(res.best_feasible_objective)
        bound = finite_or_none(res.best_objective_bound)
        if tc == ATC.optimal:
            status = Status.OPTIMAL
        elif tc in (ATC.infeasible, ATC.infeasibleOrUnbounded):
            status = Status.INFEASIBLE
        elif obj is not None:
            status = Status.FEASIBLE
        else:
            status = Status.NO_SOLUTION if tc in (ATC.maxTimeLimit, ATC.interrupted) else Status.ERROR
        if status.has_plan:
            res.solution_loader.load_vars()
        return status, str(getattr(tc, "name", tc)), obj, bound
    tc = res.solver.termination_condition
    n_sol = len(res.solution) if getattr(res, "solution", None) is not None else 0
    if tc == TC.optimal and n_sol:
        status = Status.OPTIMAL
    elif tc in (TC.infeasible, TC.infeasibleOrUnbounded):
        status = Status.INFEASIBLE
    elif tc in (TC.maxTimeLimit, TC.maxIterations, TC.userInterrupt, TC.maxEvaluations) or (
            res.solver.status == SolverStatus.aborted):
        status = Status.FEASIBLE if n_sol else Status.NO_SOLUTION
    else:
        status = Status.FEASIBLE if n_sol else Status.ERROR
    obj = bound = None
    if status.has_plan:
        model.solutions.load_from(res)
        objs = list(model.component_data_objects(pyo.Objective, active=True))
        obj = float(pyo.value(objs[0])) if objs else None
        prob = res.problem[0] if len(res.problem) else None
        if prob is not None and obj is not None:
            lb, ub = finite_or_none(prob.lower_bound), finite_or_none(prob.upper_bound)
            bound = lb if objs[0].sense == pyo.minimize else ub
    return status, str(tc), obj, bound


def _sizes(model) -> dict:
    try:
        import pyomo.environ as pyo

        nv = sum(1 for _ in model.component_data_objects(pyo.Var, active=True))
        nc = sum(1 for _ in model.component_data_objects(pyo.Constraint, active=True))
        return {"variables": nv, "constraints": nc}
    except Exception:  # pragma: no cover
        return {}
