"""Solving with HiGHS, behind one function.

:func:`solve` never raises on infeasibility or a time limit: it returns a :class:`SolveResult` whose
``status`` is one of :class:`Status`. Only a crash of the solver itself becomes :class:`qtopo.errors.SolverError`.
The model reaches HiGHS in memory through the back-end's one compile path (:func:`qtopo.highs.compile_pyomo`:
Pyomo's linear standard-form compiler and HiGHS's ``passModel``, the fastest hand-off measured by
``benchmarks/bench_handoff.py``; no LP file), with the MIP start passed as a HiGHS solution.
On large models the LP relaxation is solved alongside the MIP on its own thread and gives a rigorous bound
(:data:`LP_BOUND_FROM_NONZEROS`, :func:`qtopo.highs.safe_lp_bound`) where HiGHS's MIP root does not finish in time.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field

import pyomo.environ as pyo

from . import highs as _highs
from .contract import Status  # noqa: F401  (re-exported: the status enum is part of the plan contract)
from .errors import SolverError
from .highs import THREADS, safe_lp_bound  # noqa: F401  (safe_lp_bound: re-exported)

log = logging.getLogger(__name__)


@dataclass
class SolveResult:
    status: Status
    termination: str
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    timings_s: dict = field(default_factory=dict)
    solver: str = "highs"
    solver_version: str = ""
    options: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status.value
        return d


def relative_gap(obj: float | None, bound: float | None) -> float | None:
    """|obj - bound| / max(|obj|, 1); None where either is unknown.

    Relative to the objective, or to one unit (1 EUR, 1 bit/s) when the objective is smaller: a brownfield plan
    that costs nothing has an objective of about 1e-11 EUR (its cost less the sunk cost, cancelled in floating
    point), which must not read as a 1% gap to a bound of 0."""
    if obj is None or bound is None or not math.isfinite(obj) or not math.isfinite(bound):
        return None
    return abs(obj - bound) / max(abs(obj), 1.0)

def highs_version() -> str:
    return _highs.version()


#: ``root_lp="auto"`` uses interior point for the root LP from this many nonzeros on (see :func:`solve`).
IPM_FROM_NONZEROS = 100_000

#: From this many nonzeros, :func:`solve` also solves the LP relaxation alongside the MIP (interior point without
#: crossover, in a second HiGHS instance on its own thread) and reports the better of the MIP's bound and a
#: rigorous bound from that LP's duals (:func:`qtopo.highs.safe_lp_bound`). On networks with huts HiGHS's MIP root (interior
#: point *with* crossover) does not finish in 300 s, leaving only the trivial bound, while the LP alone does:
#: Geant2012 (1.5 M nonzeros) 23.0 M in ~140 s on one thread against a plan of 34.1 M (gap 96 % -> 32 %).
#: HiGHS's branch and bound is mostly serial, so the LP runs on the core it leaves idle.
LP_BOUND_FROM_NONZEROS = 100_000


def _implied_ub(model, cols):
    """Per column, the upper bound the model declares in ``model._lp_implied_ub`` (``{component name: array by
    index}``) for the LP bound only; inf elsewhere. None if the model declares none."""
    import numpy as np

    imp = getattr(model, "_lp_implied_ub", None)
    if not imp:
        return None
    ub = np.full(len(cols), np.inf)
    for j, v in enumerate(cols):
        arr = imp.get(v.parent_component().local_name)
        if arr is not None:
            ub[j] = arr[v.index()]
    return ub


class _LpBound:
    """The LP relaxation of a HiGHS MIP, solved on a thread of its own (:class:`qtopo.highs.SideRun`, the same
    thread count as the MIP) by interior point without crossover."""

    def __init__(self, h, threads: int, time_limit_s: float | None, implied_ub=None):
        self.t0 = time.perf_counter()
        options = {"solver": "ipm", "run_crossover": "off"}
        if time_limit_s and time_limit_s > 0:
            options["time_limit"] = float(time_limit_s)
        # implied_ub: bounds that hold at some optimum (the model's ``_lp_implied_ub``)
        self.h = _highs.relaxation(h, col_upper=implied_ub, options=options)
        self.run = _highs.SideRun(self.h, threads, name="qtopo-lp-bound")

    def finish(self, cancel: bool) -> dict:
        """Stop (if ``cancel``) or wait for the LP; ``{"status", "bound", "seconds"}``."""
        res = self.run.finish(cancel)
        out = {"status": res.highs_status, "bound": None, "seconds": round(time.perf_counter() - self.t0, 3)}
        if res.status is Status.OPTIMAL and res.row_dual is not None:
            out["bound"] = _highs.safe_bound(self.h, res.row_dual)
        return out


def solve(model, time_limit_s: float = 120.0, mip_gap: float = 1e-4, threads: int = 1,
          log_file: str | None = None, warmstart: bool = False, stream: bool = False,
          extra_options: dict | None = None, root_lp: str = "auto", solver: str = "highs",
          lp_bound: bool = True, before_run=None) -> SolveResult:
    """Solve ``model`` with HiGHS (or the Pyomo solver ``solver``) and load the best solution found, if any.

    Parameters
    ----------
    solver : str
        ``"highs"`` (default): the back-end :mod:`qtopo.highs`, with the options below. Any other name (``gurobi``,
        ``cplex``, ``scip``, ``cbc``, ``glpk``...) goes through Pyomo (:mod:`qtopo.pyomo_solvers`); there
        ``root_lp`` and ``extra_options`` do not apply.
    time_limit_s : float
        Wall-clock limit (HiGHS treats it as soft). 0 means no limit.
    mip_gap : float
        Relative gap at which HiGHS stops.
    threads : int
        Solver threads (HiGHS: its per-process scheduler is reset by the back-end's thread policy when this
        changes between solves).
    warmstart : bool
        Use the values currently set on the model's variables as a MIP start.
    root_lp : {"auto", "simplex", "ipm"}
        How HiGHS solves the root LP relaxation (its ``mip_lp_solver``): interior point with crossover, or dual
        simplex. ``auto`` picks interior point from :data:`IPM_FROM_NONZEROS` nonzeros: the multi-commodity flow
        LPs of this model are so degenerate that dual simplex had not finished the root after 120 s on a
        100-node instance that interior point solves in 20 s, and without a root LP the bound is trivial.
    lp_bound : bool
        Solve the LP relaxation alongside for a bound on large models (:data:`LP_BOUND_FROM_NONZEROS`); off for
        the sub-MIPs of :mod:`qtopo.lns`, whose bounds mean nothing for the full problem.
    before_run : callable, optional
        Called (no arguments) after the hand-off, just before HiGHS starts: the planner starts the search of
        :mod:`qtopo.lns` there, so that its Python work does not compete with the hand-off for the GIL (HiGHS
        itself runs without it). A solver other than HiGHS gets it before its solve.

    The model is handed to HiGHS by the back-end's one compile path (Pyomo standard form -> ``passModel``):
    ``benchmarks/bench_handoff.py`` measured it 3.1x (syn-100-20, 0.35M nonzeros) and 3.6x (syn-200-30, 1.2M)
    faster than Pyomo's APPSI interface, with an identical model (every coefficient, bound and integrality flag
    compared); the APPSI path was removed (issue 14: one compile path).
    """
    if (solver or "highs").lower() != "highs":
        if before_run is not None:
            before_run()
        return _solve_pyomo(model, solver, time_limit_s, mip_gap, threads, log_file, warmstart, stream)
    return _solve_highs(model, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads, log_file=log_file,
                          warmstart=warmstart, stream=stream, extra_options=extra_options, root_lp=root_lp,
                          lp_bound=lp_bound, before_run=before_run)


def _solve_pyomo(model, solver, time_limit_s, mip_gap, threads, log_file, warmstart, stream) -> SolveResult:
    """:func:`solve` with a solver other than HiGHS, through Pyomo (:mod:`qtopo.pyomo_solvers`)."""
    from . import pyomo_solvers

    out = pyomo_solvers.solve(model, solver, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads,
                              log_file=log_file, warmstart=warmstart, stream=stream)
    timings = {"handoff": 0.0, "solve": out.solve_s}  # Pyomo's interfaces hand the model off inside their solve
    if hasattr(model, "_qtimings"):
        model._qtimings.update(timings)
    gap = relative_gap(out.objective, out.bound) if out.status.has_plan else None
    return SolveResult(status=out.status, termination=out.termination, objective=out.objective, bound=out.bound,
                       gap=gap, timings_s=timings, solver=out.solver, solver_version=out.version,
                       options=out.options, sizes=out.sizes)


def _compile(model, details: dict | None = None):
    """Pyomo model -> ``(HiGHS instance, columns)`` through the back-end's one compile path
    (:func:`qtopo.highs.compile_pyomo`; ``details`` as there)."""
    return _highs.compile_pyomo(model, details)


def _trusted(model, status, obj, bound):
    """HiGHS's objective must be the objective of the solution it returned. On a fuzzed instance its presolve
    reported 30000 (and a bound of 30000) for a returned solution worth 20000: then neither number is trustworthy,
    so report the solution's own value and no bound. Returns ``(status, obj, bound, message)``."""
    objs = list(model.component_data_objects(pyo.Objective, active=True))
    if not (status.has_plan and objs and obj is not None):
        return status, obj, bound, ""
    own = float(pyo.value(objs[0].expr))
    if abs(own - obj) <= 1e-6 * max(1.0, abs(own)) + 1e-6:
        return status, obj, bound, ""
    log.warning("HiGHS reported objective %.6g for a solution worth %.6g: bound not trusted", obj, own)
    return (Status.FEASIBLE, own, None, f"HiGHS reported objective {obj:.6g} for a solution worth {own:.6g} "
            "(numerical trouble); its bound is not trusted")


def _use_ipm(root_lp: str, nnz: int) -> bool:
    return root_lp == "ipm" or (root_lp == "auto" and nnz >= IPM_FROM_NONZEROS)


def _highs_available() -> bool:
    return _highs.available()


def _run_highs(h) -> None:
    """Run the MIP (the thread count was set through the back-end's thread policy); a hook for tests."""
    _highs.run(h, THREADS.threads)


def _highs_options(time_limit_s, mip_gap, threads, log_file, stream, use_ipm, extra_options) -> dict:
    """HiGHS options of the trusted-node MIP (logging on only where a log file or the console wants it)."""
    opts = {"output_flag": True, "log_to_console": bool(stream), "threads": int(threads), "random_seed": 0,
            "mip_rel_gap": float(mip_gap)}
    if time_limit_s and time_limit_s > 0:
        opts["time_limit"] = float(time_limit_s)
    if log_file:
        opts["log_file"] = str(log_file)
    if use_ipm:
        opts["mip_lp_solver"] = "ipm"
    opts.update(extra_options or {})
    if not log_file and not stream:
        opts["output_flag"] = False
    return opts


def _compile_gc_off(model):
    """:func:`_compile` with the garbage collector paused (millions of small objects: it halves the time)."""
    import gc

    gc_was = gc.isenabled()
    gc.disable()
    try:
        return _compile(model)
    finally:
        if gc_was:
            gc.enable()


def _apply_lp_bound(options: dict, status: Status, obj, bound):
    """The bound from the LP solved alongside (if any) where it beats the MIP's; returns the bound."""
    lb = (options.get("lp_bound") or {}).get("bound")
    if lb is None or status not in (Status.FEASIBLE, Status.NO_SOLUTION):
        return bound
    if obj is not None and lb > obj + 1e-6 * max(1.0, abs(obj)):
        log.warning("LP bound %.6g above the plan's cost %.6g: ignored", lb, obj)
        options["lp_bound"]["ignored"] = True
    elif bound is None or lb > bound:
        bound = min(lb, obj) if obj is not None else lb
        options["lp_bound"]["used"] = True
    return bound


def _solve_highs(model, time_limit_s, mip_gap, threads, log_file, warmstart, stream, extra_options,
                   root_lp, lp_bound: bool = True, before_run=None) -> SolveResult:
    """:func:`solve` through the back-end (:mod:`qtopo.highs`): compile, options, MIP start, the LP bound on its
    own thread for large models, run, one status mapping."""
    if not _highs_available():
        raise SolverError(_highs.NOT_AVAILABLE)

    threads = THREADS.use(threads)  # before the LP-bound thread starts HiGHS's scheduler
    options = {"time_limit_s": time_limit_s, "mip_gap": mip_gap, "threads": threads, "warmstart": warmstart,
               "handoff": "standard_form", **(extra_options or {})}
    t0 = time.perf_counter()
    try:
        h, cols = _compile_gc_off(model)
        t_handoff = time.perf_counter() - t0
        nnz = int(h.getNumNz())
        use_ipm = _use_ipm(root_lp, nnz)
        options["root_lp"] = "ipm" if use_ipm else "simplex"
        for k, v in _highs_options(time_limit_s, mip_gap, threads, log_file, stream, use_ipm,
                                   extra_options).items():
            h.setOptionValue(k, v)
        lpb = None
        if lp_bound and nnz >= LP_BOUND_FROM_NONZEROS and _highs.is_minimize(h):
            lpb = _LpBound(h, int(threads), time_limit_s, _implied_ub(model, cols))
        if warmstart and cols:
            _highs.set_start(h, [v.value if v.value is not None else 0.0 for v in cols])
        if before_run is not None:
            before_run()
        t0 = time.perf_counter()
        try:
            _run_highs(h)
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): stop the LP too, do not wait for it
            if lpb is not None:
                lpb.finish(cancel=True)
            raise
        if lpb is not None:  # wait for the LP (it has the same time limit) unless the MIP closed its gap
            done = _highs.is_optimal(h)
            options["lp_bound"] = lpb.finish(cancel=done)
        t_solve = time.perf_counter() - t0
    except KeyboardInterrupt:
        raise
    except SolverError:
        raise
    except Exception as e:  # HiGHS or the compiler crashed: a clear error, status kept
        raise SolverError(f"HiGHS failed: {type(e).__name__}: {e}") from e
    out = _highs.outcome(h)
    status, obj, bound = out.status, out.objective, out.bound
    if status.has_plan:
        for v, x in zip(cols, out.values):
            v.set_value(float(x), skip_validation=True)
    status, obj, bound, message = _trusted(model, status, obj, bound)
    bound = _apply_lp_bound(options, status, obj, bound)
    gap = relative_gap(obj, bound) if status.has_plan else None
    sizes = {"variables": int(h.getNumCol()), "constraints": int(h.getNumRow()), "nonzeros": nnz}
    timings = {"handoff": t_handoff, "solve": t_solve}
    if hasattr(model, "_qtimings"):
        model._qtimings.update(timings)
    return SolveResult(status=status, termination=out.termination, objective=obj, bound=bound, gap=gap,
                       timings_s=timings, solver_version=highs_version(), options=options, sizes=sizes,
                       message=message)
