"""Any MILP solver Pyomo supports, by name (``[solver] name``): the path for solvers other than HiGHS.

HiGHS (``name = "highs"``, the default) goes through the fast back-end :mod:`qtopo.highs`. Every other name is
resolved through Pyomo: first its newer solver interface (``pyomo.contrib.solver``: ``gurobi`` ->
``gurobi_direct``, ``scip`` -> ``scip_direct``, ...), then the legacy ``SolverFactory`` (``cplex``, ``cbc``,
``glpk``, ``xpress``, ``mosek``... as executables or Python bindings), then APPSI (``appsi_cbc``...). So an
architect with a Gurobi or CPLEX licence uses it without code changes. The outcome is normalised into the same
:class:`~qtopo.contract.Status` and :class:`~qtopo.solve.SolveResult` as the HiGHS path, and the plan records
the solver's name and version.

Not available on this path (HiGHS-only): the LP bound solved alongside the MIP, ``root_lp``; a MIP start is
passed where the interface supports one (legacy interfaces that report ``warm_start_capable``).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Names checked (and listed in error messages) when looking for installed solvers.
KNOWN = ("highs", "gurobi", "cplex", "scip", "xpress", "mosek", "cbc", "glpk", "copt")


@dataclass(frozen=True)
class Resolved:
    """A solver name resolved to one Pyomo interface."""

    name: str          # as the scenario spells it (lower case)
    interface: str     # "contrib" (pyomo.contrib.solver), "legacy" (SolverFactory) or "appsi"
    factory_name: str  # the name registered with that interface


def _candidates(name: str) -> list[tuple[str, str]]:
    n = name.lower()
    return [("contrib", n), ("contrib", f"{n}_direct"), ("contrib", f"{n}_persistent"), ("legacy", n),
            ("legacy", f"{n}_direct"), ("appsi", f"appsi_{n}")]


def _is_available(interface: str, factory_name: str) -> bool:
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            if interface == "contrib":
                from pyomo.contrib.solver.common.factory import SolverFactory

                if factory_name not in SolverFactory._cls:
                    return False
                return bool(SolverFactory(factory_name).available())
            import pyomo.environ as pyo

            if factory_name not in pyo.SolverFactory._cls:
                return False
            opt = pyo.SolverFactory(factory_name)
            return bool(opt.available(exception_flag=False))
    except Exception:  # a missing binding, licence or executable: not available
        return False


def resolve(name: str) -> Resolved | None:
    """The first available Pyomo interface for ``name`` (None if none is available)."""
    for interface, fname in _candidates(name):
        if _is_available(interface, fname):
            return Resolved(name.lower(), interface, fname)
    return None


def installed() -> list[str]:
    """The names of :data:`KNOWN` that resolve to an available solver here."""
    out = []
    for n in KNOWN:
        if n == "highs":
            from . import highs

            if highs.available():
                out.append(n)
        elif resolve(n) is not None:
            out.append(n)
    return out


def check_name(name) -> str | None:
    """None if ``name`` can be used here; else what is wrong, naming the installed solvers."""
    if not isinstance(name, str) or not name.strip():
        return f"name = {name!r} is not a solver name"
    n = name.strip().lower()
    if n == "highs":
        from . import highs

        return None if highs.available() else "HiGHS (highspy) is not available: pip install highspy"
    if resolve(n) is not None:
        return None
    known = _known_to_pyomo(n)
    what = "is not available here" if known else "is not a solver Pyomo knows"
    return f"name = {name!r} {what}; installed: {', '.join(installed()) or 'none'}"


def _known_to_pyomo(n: str) -> bool:
    try:
        import pyomo.environ as pyo
        from pyomo.contrib.solver.common.factory import SolverFactory as NewFactory
    except Exception:  # pragma: no cover
        return False
    names = set(pyo.SolverFactory._cls) | set(NewFactory._cls)
    return any(fname in names for _, fname in _candidates(n))


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
          log_file: str | None = None, warmstart: bool = False, stream: bool = False):
    """Solve ``model`` with the Pyomo solver ``name``; a :class:`~qtopo.solve.SolveResult` (never raises on
    infeasibility or a limit; a crash becomes :class:`~qtopo.errors.SolverError`)."""
    from .errors import SolverError
    from .solve import SolveResult, relative_gap

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
    t_solve = time.perf_counter() - t0
    if status.has_plan and bound is None and status.value == "optimal":
        bound = obj
    gap = relative_gap(obj, bound) if status.has_plan else None
    timings = {"handoff": 0.0, "solve": t_solve}  # Pyomo's interfaces hand off inside solve()
    if hasattr(model, "_qtimings"):
        model._qtimings.update(timings)
    return SolveResult(status=status, termination=term, objective=obj, bound=bound, gap=gap, timings_s=timings,
                       solver=resolved.name, solver_version=version(resolved, opt), options=options,
                       sizes=_sizes(model))


def _finite(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _solve_contrib(opt, model, time_limit_s, mip_gap, threads, log_file, stream):
    """pyomo.contrib.solver: ``load_solutions=False``, no exception on a non-optimal result (FIELD-NOTES)."""
    import contextlib
    import sys

    from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition as TC

    from .contract import Status

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
        obj = _finite(res.incumbent_objective)
        bound = _finite(res.objective_bound)
    return status, tc.name, obj, bound


def _solve_legacy(opt, resolved, model, time_limit_s, mip_gap, threads, log_file, stream, warmstart):
    """The legacy ``SolverFactory`` (and APPSI through it): the common option names per solver family."""
    import pyomo.environ as pyo
    from pyomo.opt import SolverStatus, TerminationCondition as TC

    from .contract import Status

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
        obj = _finite(res.best_feasible_objective)
        bound = _finite(res.best_objective_bound)
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
            lb, ub = _finite(prob.lower_bound), _finite(prob.upper_bound)
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
