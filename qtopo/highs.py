"""The HiGHS back-end: the one module of qtopo that talks to ``highspy``.

The trusted-node solve (:mod:`qtopo.solve`, hence also the rollout schedule of :mod:`qtopo.rollout`) and repeater
mode (:mod:`qtopo.repeaters`) reach HiGHS only through this module, which owns

- **one compile path**: a Pyomo model -> Pyomo's linear standard-form compiler -> NumPy arrays -> ``passModel``
  (:func:`compile_pyomo`, the fastest hand-off measured by ``benchmarks/bench_handoff.py``), or NumPy arrays built
  by the caller -> ``passModel`` (:func:`from_arrays`, repeater mode: no Pyomo at all);
- **one status mapping**: HiGHS's model status -> the contract's :class:`~qtopo.contract.Status` (:func:`status_of`, :func:`outcome`);
- **one thread policy** (:data:`THREADS`): HiGHS runs every solve of a process on one task scheduler, sized by the
  ``threads`` option of the first solve; a later solve with another count then fails with misleading statuses
  unless the scheduler is reset first (FIELD-NOTES). :meth:`ThreadPolicy.use` is called before every solve
  (:func:`run`, :class:`SideRun`) and resets only when the count changes;
- **LPs and their duals**: the cut-set bound (:mod:`qtopo.cutbound`) and the LP relaxation solved alongside the
  MIP (:mod:`qtopo.solve`) are built and read here too (:func:`pass_arrays`, :func:`add_rows`,
  :func:`relaxation`, :class:`SideRun`, :func:`safe_lp_bound`).

Importing this module imports neither ``highspy`` nor Pyomo (``qtopo repeaters`` starts without Pyomo).
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

from .contract import Status  # the plan contract's status enum: the back-end maps onto it
from .errors import SolverError


def available() -> bool:
    """True when ``highspy`` imports."""
    try:
        import highspy  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str:
    """HiGHS's version as ``major.minor.patch`` (``unknown`` if it cannot be read)."""
    try:
        import highspy

        return f"{highspy.Highs.versionMajor()}.{highspy.Highs.versionMinor()}.{highspy.Highs.versionPatch()}"
    except Exception:  # pragma: no cover
        try:
            from importlib.metadata import version as _v

            return _v("highspy")
        except Exception:
            return "unknown"


# ------------------------------------------------------------------------------------------------------------
# Thread policy
# ------------------------------------------------------------------------------------------------------------
class ThreadPolicy:
    """Owner of HiGHS's per-process task scheduler.

    HiGHS sizes one global scheduler at the first solve of a process; a later solve with another ``threads``
    value misbehaves unless ``Highs.resetGlobalScheduler(True)`` runs first. :meth:`use` does that reset when
    the requested count differs from the one the scheduler was last set up for (and once at the first use,
    since code outside qtopo may have started the scheduler with another count). Not for calling while a
    solve runs on another thread.
    """

    def __init__(self) -> None:
        self.threads: int | None = None     # the count of the last solve started through this policy
        self.resets = 0                      # how many times the scheduler was reset (tests read it)
        self._lock = threading.Lock()

    def use(self, threads: int | None) -> int:
        """Prepare the scheduler for a solve with ``threads`` (None or < 1: 1). Returns the count to set."""
        n = max(1, int(threads or 1))
        with self._lock:
            if self.threads != n:
                self.reset()
                self.threads = n
        return n

    def reset(self) -> None:
        """Reset HiGHS's scheduler now (the next solve sets it up again with its own ``threads``)."""
        try:
            import highspy

            highspy.Highs.resetGlobalScheduler(True)
            self.resets += 1
        except Exception as e:  # pragma: no cover - older highspy
            raise SolverError(f"cannot reset HiGHS's thread scheduler ({e}); keep [solver] threads constant "
                              "within one process") from e


#: The process's one :class:`ThreadPolicy` (the scheduler it guards is per process too).
THREADS = ThreadPolicy()


# ------------------------------------------------------------------------------------------------------------
# Creating a HiGHS instance and handing it a model
# ------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1 (HiGHS's C++ banner on creation bypasses ``sys.stdout``)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a replaced sys.stdout (pytest capture, notebooks)
        fd = 1
    try:
        sys.stdout.flush()
    except Exception:  # pragma: no cover
        pass
    try:
        saved = os.dup(fd)
    except OSError:  # pragma: no cover - no stdout at all
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


#: The message of the error raised where HiGHS is needed and ``highspy`` does not import.
NOT_AVAILABLE = "HiGHS (highspy) is not available: pip install highspy"


def new_highs(options: dict | None = None):
    """A silent ``highspy.Highs`` (no banner, ``output_flag`` off, ``random_seed`` 0) with ``options`` set."""
    if not available():
        raise SolverError(NOT_AVAILABLE)
    import highspy

    with _quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    for k, v in (options or {}).items():
        h.setOptionValue(k, v)
    return h


def from_arrays(col_cost, col_lower, col_upper, row_lower, row_upper, A, integrality=None, offset: float = 0.0,
                maximize: bool = False, options: dict | None = None):
    """A new HiGHS instance (see :func:`new_highs`) holding ``min/max c'x + offset : row_lower <= A x <= row_upper,
    col_lower <= x <= col_upper`` with ``x_j`` integer where ``integrality[j]``; ``A`` is any SciPy sparse matrix,
    infinite bounds are ``+-inf``."""
    h = new_highs(options)
    pass_arrays(h, col_cost, col_lower, col_upper, row_lower, row_upper, A, integrality, offset=offset,
                maximize=maximize)
    return h


def _finite_or_inf(x) -> np.ndarray:
    """``x`` as a float64 vector with infinities as HiGHS's infinity."""
    import highspy

    inf = highspy.kHighsInf
    return np.clip(np.asarray(x, dtype=np.float64).reshape(-1), -inf, inf)


def pass_arrays(h, col_cost, col_lower, col_upper, row_lower, row_upper, A, integrality=None, offset: float = 0.0,
                maximize: bool = False) -> None:
    """Hand the model of :func:`from_arrays` to the existing instance ``h`` (replacing its model). For a caller
    that keeps HiGHS's clock running from an instance created earlier (:mod:`qtopo.cutbound`)."""
    import highspy

    A = A.tocsc()
    A.sort_indices()
    n_col, n_row = A.shape[1], A.shape[0]
    integ = (np.zeros(n_col, np.int32) if integrality is None
             else np.asarray(integrality, dtype=bool).astype(np.int32))
    arr = _finite_or_inf
    status = h.passModel(n_col, n_row, int(A.nnz), int(highspy.MatrixFormat.kColwise),
                         int(highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize),
                         float(offset), arr(col_cost), arr(col_lower), arr(col_upper), arr(row_lower),
                         arr(row_upper), A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32),
                         A.data.astype(np.float64), integ)
    if status == highspy.HighsStatus.kError:
        raise SolverError(f"HiGHS rejected the model (passModel returned {status})")


def add_rows(h, row_lower, row_upper, starts, index, value) -> None:
    """Append rows ``row_lower <= A_new x <= row_upper`` to ``h``'s model; ``A_new`` row-wise (``starts`` of each
    row into ``index``/``value``); infinite sides are ``+-inf``. A re-run starts from the current basis."""
    lo, up = _finite_or_inf(row_lower), _finite_or_inf(row_upper)
    index = np.asarray(index, dtype=np.int32)
    h.addRows(len(lo), lo, up, len(index), np.asarray(starts, dtype=np.int32), index,
              np.asarray(value, dtype=np.float64))


def relaxation(h, col_upper=None, options: dict | None = None):
    """A new instance (see :func:`new_highs`, ``options`` set) holding the LP relaxation of ``h``'s model
    (integrality dropped), with the column upper bounds lowered to ``col_upper`` where that is smaller."""
    lp = h.getLp()
    lp.integrality_ = []
    if col_upper is not None:
        lp.col_upper_ = np.minimum(np.asarray(lp.col_upper_, dtype=float), col_upper)
    r = new_highs(options)
    r.passModel(lp)
    return r


def is_minimize(h) -> bool:
    """True when ``h``'s model minimises."""
    import highspy

    return h.getObjectiveSense()[1] == highspy.ObjSense.kMinimize


def compile_pyomo(model, details: dict | None = None, options: dict | None = None):
    """Pyomo model -> a ``highspy.Highs`` holding it, via the linear standard-form compiler (mixed form: rows keep
    their sense, no slack or split columns). Returns ``(highs, columns)``; ``columns[j]`` is column j's VarData.

    Fixed variables are folded into the right-hand side by the compiler (their values stay on the model);
    a ranged row comes out as two rows (bound_type 1 then -1) and is merged back into one. ``details``, if given,
    receives ``sub_s`` (compile / columns / pass seconds), ``row_constraint_ids`` (id of each HiGHS row's
    constraint), ``ranged_rows_merged`` and ``eliminated_vars`` (used by benchmarks/bench_handoff.py).
    """
    import time

    from pyomo.common.enums import ObjectiveSense
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    t0 = time.perf_counter()
    info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    t1 = time.perf_counter()
    A = info.A
    cols = list(info.columns)
    n_col = len(cols)
    col_lower = np.fromiter((-math.inf if v.lb is None else v.lb for v in cols), np.float64, n_col)
    col_upper = np.fromiter((math.inf if v.ub is None else v.ub for v in cols), np.float64, n_col)
    integrality = np.fromiter((v.is_integer() for v in cols), bool, n_col)
    t2 = time.perf_counter()
    rows = info.rows
    n_row = len(rows)
    bt = np.fromiter((r.bound_type for r in rows), np.int8, n_row)
    rhs = np.asarray(info.rhs, dtype=np.float64).reshape(-1) if n_row else np.zeros(0)
    row_lower = np.where(bt == 1, -math.inf, rhs)
    row_upper = np.where(bt == -1, math.inf, rhs)
    con_ids = np.fromiter((id(r.constraint) for r in rows), np.int64, n_row)
    second = np.zeros(n_row, bool)
    if n_row > 1:
        second[1:] = con_ids[1:] == con_ids[:-1]
    if second.any():
        first = np.flatnonzero(second) - 1
        row_lower[first] = rhs[second]
        keep = ~second
        A = A[keep, :]
        row_lower, row_upper, con_ids = row_lower[keep], row_upper[keep], con_ids[keep]
    if len(info.objectives) != 1:
        raise SolverError(f"expected one active objective, got {len(info.objectives)}")
    col_cost = np.zeros(n_col)
    c0 = info.c[[0], :].tocoo()
    col_cost[c0.col] = c0.data
    h = from_arrays(col_cost, col_lower, col_upper, row_lower, row_upper, A, integrality,
                    offset=float(info.c_offset[0]), maximize=info.objectives[0].sense == ObjectiveSense.maximize,
                    options=options)
    if details is not None:
        details.update(sub_s={"compile": t1 - t0, "columns": t2 - t1, "pass": time.perf_counter() - t2},
                       row_constraint_ids=con_ids, ranged_rows_merged=int(second.sum()),
                       eliminated_vars=len(info.eliminated_vars))
    return h, cols


def set_start(h, values) -> None:
    """Give HiGHS ``values`` (one per column) as a MIP start."""
    import highspy

    sol = highspy.HighsSolution()
    sol.col_value = np.asarray(values, dtype=np.float64)
    sol.value_valid = True
    sol.dual_valid = False
    h.setSolution(sol)


def set_threads(h, threads: int | None) -> int:
    """Set ``h``'s ``threads`` option to ``threads`` (None: 1) under the thread policy; returns the count."""
    n = THREADS.use(threads)
    h.setOptionValue("threads", n)
    return n


def run(h, threads: int | None) -> None:
    """``h.run()`` with ``threads`` threads (None: 1) under the thread policy, with Ctrl-C handed to HiGHS (it
    stops at once); the interrupt is then raised again (:func:`qtopo.signals.raise_if_interrupted`)."""
    from .signals import raise_if_interrupted, received

    set_threads(h, threads)
    h.HandleKeyboardInterrupt = True
    before = received()
    h.run()
    # an interrupt aborts the run (exit 130/143, previous output intact); it is never a plan with a status
    import highspy

    interrupted = h.getModelStatus() == highspy.HighsModelStatus.kInterrupt
    if interrupted or received() != before:
        raise_if_interrupted(solver_interrupted=True)


class SideRun:
    """``h.run()`` on a thread of its own at the lowest CPU priority, beside a solve in the main thread (the LP
    bound of :mod:`qtopo.solve`): it takes the core the main solve leaves idle, never the main solve's own
    (measured: without the priority syn-100-20's MIP found a worse plan). The thread count goes through the
    thread policy here, in the calling thread, before the side thread starts HiGHS's scheduler; use the count of
    the main solve. Ctrl-C is the main solve's: :meth:`finish` with ``cancel`` stops this run."""

    def __init__(self, h, threads: int | None, name: str = "qtopo-highs-side"):
        self.h = h
        set_threads(h, threads)
        h.HandleUserInterrupt = True  # cancelSolve() stops it through HiGHS's interrupt callbacks
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:  # Linux nice values are per thread
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            pass
        self.h.run()

    def finish(self, cancel: bool) -> "Outcome":
        """Stop the run (if ``cancel``) or wait for its end; its :func:`outcome`."""
        if cancel:
            self.h.cancelSolve()
        self.thread.join()
        return outcome(self.h)


# ------------------------------------------------------------------------------------------------------------
# One status mapping
# ------------------------------------------------------------------------------------------------------------
def status_of(model_status, has_solution: bool) -> Status:
    """HiGHS's ``HighsModelStatus`` -> :class:`Status`: optimal (also an empty model), infeasible (also
    infeasible-or-unbounded, which a bounded qtopo model can only be by being infeasible), feasible or
    no_solution at a limit or interruption (by whether a solution exists), error for everything else."""
    import highspy

    M = highspy.HighsModelStatus
    limits = {M.kTimeLimit, M.kIterationLimit, M.kInterrupt, M.kObjectiveBound, M.kObjectiveTarget,
              getattr(M, "kSolutionLimit", M.kTimeLimit), getattr(M, "kHighsInterrupt", M.kInterrupt)}
    if model_status in (M.kOptimal, M.kModelEmpty):
        return Status.OPTIMAL
    if model_status in (M.kInfeasible, M.kUnboundedOrInfeasible):
        return Status.INFEASIBLE
    if model_status in limits:
        return Status.FEASIBLE if has_solution else Status.NO_SOLUTION
    return Status.ERROR


def termination_name(h, model_status) -> str:
    """HiGHS's model status as the termination names Pyomo's APPSI reports (what plans recorded before the APPSI
    hand-off was removed, so ``solver.termination`` reads as it did)."""
    import highspy

    M = highspy.HighsModelStatus
    names = {M.kOptimal: "optimal", M.kInfeasible: "infeasible", M.kUnboundedOrInfeasible: "infeasibleOrUnbounded",
             M.kUnbounded: "unbounded", M.kObjectiveBound: "objectiveLimit", M.kObjectiveTarget: "objectiveLimit",
             M.kTimeLimit: "maxTimeLimit", M.kIterationLimit: "maxIterations", M.kInterrupt: "interrupted"}
    return names.get(model_status, h.modelStatusToString(model_status))


@dataclass
class Outcome:
    """What a HiGHS run left: normalised status, HiGHS's objective and bound, the solution."""

    status: Status
    termination: str
    objective: float | None = None      # HiGHS's objective value of ``values`` (None without a solution)
    bound: float | None = None          # MIP dual bound (the objective for a solved LP or a root-solved MIP)
    values: np.ndarray | None = None    # column values (None without a solution)
    col_dual: np.ndarray | None = None  # reduced costs, when HiGHS has valid duals (LPs)
    row_dual: np.ndarray | None = None  # row multipliers, when HiGHS has valid duals (LPs; for safe_lp_bound)
    highs_status: str = ""              # HiGHS's own name of its model status ("Optimal", "Time limit reached")
    time_limit: bool = False            # HiGHS stopped at its time limit


def outcome(h) -> Outcome:
    """Read the result of the last run of ``h`` through the one status mapping."""
    import highspy

    ms = h.getModelStatus()
    info = h.getInfo()
    has_sol = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
    status = status_of(ms, has_sol)
    out = Outcome(status=status, termination=termination_name(h, ms), highs_status=h.modelStatusToString(ms),
                  time_limit=ms == highspy.HighsModelStatus.kTimeLimit)
    sol = h.getSolution()
    if sol.dual_valid:
        out.col_dual = np.asarray(sol.col_dual, dtype=float)
        out.row_dual = np.asarray(sol.row_dual, dtype=float)
    if not (has_sol and status.has_plan):
        return out
    out.values = np.asarray(sol.col_value, dtype=float)
    out.objective = float(info.objective_function_value)
    bound = float(info.mip_dual_bound) if int(info.mip_node_count) != -1 else None
    if bound is not None and not math.isfinite(bound):
        bound = None
    if bound is None and status is Status.OPTIMAL:
        bound = out.objective
    out.bound = bound
    return out


def is_optimal(h) -> bool:
    """True when HiGHS proved the last run of ``h`` optimal (a MIP: it closed its gap)."""
    import highspy

    return h.getModelStatus() == highspy.HighsModelStatus.kOptimal


# ------------------------------------------------------------------------------------------------------------
# A rigorous bound from any LP duals
# ------------------------------------------------------------------------------------------------------------
def safe_lp_bound(lp, row_dual) -> float | None:
    """A lower bound on ``min c'x : L <= Ax <= U, l <= x <= u`` (a ``highspy.HighsLp``) from *any* row
    multipliers ``row_dual``.

    Lagrangian duality with the box kept: ``c'x = (c - A'y)'x + y'(Ax) >= sum_j min(d_j l_j, d_j u_j) +
    sum_i min(y_i L_i, y_i U_i)``, valid for every ``y`` (Neumaier & Shcherbina 2004, "Safe bounds in linear
    and mixed-integer linear programming", Math. Program. 99). So an approximate interior-point dual, without
    crossover, still gives a rigorous bound; multipliers whose side is infinite are set to zero first. None if a
    column needs an infinite bound (the model gives every variable a finite one) or the LP is not a minimisation.
    """
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


def safe_bound(h, row_dual) -> float | None:
    """:func:`safe_lp_bound` of ``h``'s current model (as handed over, not presolved) at ``row_dual``."""
    return safe_lp_bound(h.getLp(), row_dual)
