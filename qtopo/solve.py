"""Solving with HiGHS, behind one function.

:func:`solve` never raises on infeasibility or a time limit: it returns a :class:`SolveResult` whose
``status`` is one of :class:`Status`. Only a crash of the solver itself becomes :class:`qtopo.errors.SolverError`.
The model reaches HiGHS in memory through the back-end's one compile path (:func:`qtopo.highs.compile_pyomo`:
Pyomo's linear standard-form compiler and ``highspy.Highs.passModel``, the fastest hand-off measured by
``benchmarks/bench_handoff.py``; no LP file), with the MIP start passed as a HiGHS solution.
On large models the LP relaxation is solved alongside the MIP on its own thread and gives a rigorous bound
(:data:`LP_BOUND_FROM_NONZEROS`, :func:`safe_lp_bound`) where HiGHS's MIP root does not finish in time.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field

import pyomo.environ as pyo

from . import highs as _highs
from .contract import Status  # noqa: F401  (re-exported: the status enum is part of the plan contract)
from .errors import SolverError
from .highs import THREADS

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
#: rigorous bound from that LP's duals (:func:`safe_lp_bound`). On networks with huts HiGHS's MIP root (interior
#: point *with* crossover) does not finish in 300 s, leaving only the trivial bound, while the LP alone does:
#: Geant2012 (1.5 M nonzeros) 23.0 M in ~140 s on one thread against a plan of 34.1 M (gap 96 % -> 32 %).
#: HiGHS's branch and bound is mostly serial, so the LP runs on the core it leaves idle.
LP_BOUND_FROM_NONZEROS = 100_000


def safe_lp_bound(lp, row_dual) -> float | None:
    """A lower bound on ``min c'x : L <= Ax <= U, l <= x <= u`` from *any* row multipliers ``row_dual``.

    Lagrangian duality with the box kept: ``c'x = (c - A'y)'x + y'(Ax) >= sum_j min(d_j l_j, d_j u_j) +
    sum_i min(y_i L_i, y_i U_i)``, valid for every ``y`` (Neumaier & Shcherbina 2004, "Safe bounds in linear
    and mixed-integer linear programming", Math. Program. 99). So an approximate interior-point dual, without
    crossover, still gives a rigorous bound; multipliers whose side is infinite are set to zero first. None if a
    column needs an infinite bound (the model gives every variable a finite one) or the LP is not a minimisation.
    """
    import numpy as np
    from scipy.sparse import csc_matrix

    if int(lp.sense_) != 1:  # ObjSense.kMinimize
        return None
    n, m = int(lp.num_col_), int(lp.num_row_)
    y = np.asarray(row_dual, dtype=float).copy()
    L, U = np.asarray(lp.row_lower_, dtype=float), np.asarray(lp.row_upper_, dtype=float)
    y[(y > 0) & ~np.isfinite(L)] = 0.0
    y[(y < 0) & ~np.isfinite(U)] = 0.0
    am = lp.a_matrix_
    A = csc_matrix((np.asarray(am.value_, float), np.asarray(am.index_), np.asarray(am.start_)), shape=(m, n))
    d = np.asarray(lp.col_cost_, dtype=float) - A.T @ y
    lo, up = np.asarray(lp.col_lower_, dtype=float), np.asarray(lp.col_upper_, dtype=float)
    pos, neg = d > 0, d < 0
    if not (np.isfinite(lo[pos]).all() and np.isfinite(up[neg]).all()):
        return None
    cols = (d[pos] * lo[pos]).sum() + (d[neg] * up[neg]).sum()
    rows = (y[y > 0] * L[y > 0]).sum() + (y[y < 0] * U[y < 0]).sum()
    b = float(lp.offset_) + float(cols) + float(rows)
    return b - 1e-9 * abs(b) if math.isfinite(b) else None


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
    """The LP relaxation of a HiGHS MIP, solved on a thread of its own by interior point without crossover."""

    def __init__(self, h, threads: int, time_limit_s: float | None, implied_ub=None):
        import highspy
        import numpy as np
        from pyomo.common.tee import capture_output

        self.t0 = time.perf_counter()
        self.lp = h.getLp()
        self.lp.integrality_ = []
        if implied_ub is not None:  # bounds that hold at some optimum (the model's ``_lp_implied_ub``)
            self.lp.col_upper_ = np.minimum(np.asarray(self.lp.col_upper_, dtype=float), implied_ub)
        with capture_output(capture_fd=True):
            self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.passModel(self.lp)
        # the same thread count as the MIP: HiGHS's scheduler is per process (see qtopo.highs.THREADS)
        for k, v in {"solver": "ipm", "run_crossover": "off", "threads": int(threads), "random_seed": 0}.items():
            self.h.setOptionValue(k, v)
        if time_limit_s and time_limit_s > 0:
            self.h.setOptionValue("time_limit", float(time_limit_s))
        self.h.HandleUserInterrupt = True  # cancelSolve() stops it through HiGHS's interrupt callbacks
        self.thread = threading.Thread(target=self._run, name="qtopo-lp-bound", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        # lowest CPU priority for this thread only (Linux nice values are per thread): the LP takes the core the
        # MIP leaves idle, never the MIP's own (measured: without it syn-100-20's MIP found a worse plan)
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            pass
        self.h.run()

    def finish(self, cancel: bool) -> dict:
        """Stop (if ``cancel``) or wait for the LP; ``{"status", "bound", "seconds"}``."""
        import highspy

        if cancel:
            self.h.cancelSolve()
        self.thread.join()
        ms = self.h.getModelStatus()
        out = {"status": self.h.modelStatusToString(ms), "bound": None,
               "seconds": round(time.perf_counter() - self.t0, 3)}
        sol = self.h.getSolution()
        if ms == highspy.HighsModelStatus.kOptimal and sol.dual_valid:
            out["bound"] = safe_lp_bound(self.lp, sol.row_dual)
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
    return _solve_highspy(model, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads, log_file=log_file,
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
    """Pyomo model -> ``(highspy.Highs, columns)`` through the back-end's one compile path
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


def _solve_highspy(model, time_limit_s, mip_gap, threads, log_file, warmstart, stream, extra_options,
                   root_lp, lp_bound: bool = True, before_run=None) -> SolveResult:
    """:func:`solve` through the back-end (:mod:`qtopo.highs`): compile, options, MIP start, the LP bound on its
    own thread for large models, run, one status mapping."""
    if not _highs_available():
        raise SolverError("HiGHS (highspy) is not available: pip install highspy")
    import highspy

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
        if lp_bound and nnz >= LP_BOUND_FROM_NONZEROS and h.getObjectiveSense()[1] == highspy.ObjSense.kMinimize:
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
            done = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
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
