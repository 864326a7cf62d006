"""Pyomo -> HiGHS hand-off paths on qtopo's own MILP: wall time, memory, and whether each path hands HiGHS the
same model.

Usage::

    python -m benchmarks.bench_handoff [--instances syn-100-20,syn-200-30] [--out benchmarks/results/handoff.json]
                                       [--paths appsi,contrib_solver,lp_file,mps_file,standard_form]
                                       [--repeat N] [--lp-check auto|on|off] [--gc-enabled] [--tmpdir DIR]

For each instance the Pyomo model is built once (``qtopo.model.build_model`` on ``build_inputs`` of the instance's
scenario; no heuristic and no bound pruning against a heuristic plan, so the sizes can differ a little from the
``benchmarks/run.py`` records) and handed to HiGHS by every path in turn. A path is timed from the built Pyomo
model to a ``highspy.Highs`` object that holds the model, ready to ``run()``:

``appsi``
    ``pyomo.contrib.appsi.solvers.Highs()`` + ``set_instance(m)``: what ``qtopo/solve.py`` did before ``standard_form`` (its former
    ``handoff="appsi"``, since removed); the reference the other paths are compared with.
``contrib_solver``
    the new solver interface: ``pyomo.contrib.solver.common.factory.SolverFactory('highs')`` (class
    ``pyomo.contrib.solver.solvers.highs.Highs``) + its public ``set_instance(m)`` (a separate load step; no
    solve needed).
``lp_file`` / ``mps_file``
    ``m.write(path, format=ProblemFormat.cpxlp | mps)`` (Pyomo's LP writer v2 / its older MPS writer), then
    ``highspy.Highs().readModel(path)``. The file is written to ``--tmpdir`` (default: the system temporary
    folder) and deleted afterwards (not timed).
``standard_form``
    ``pyomo.repn.plugins.standard_form.LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=None)``
    (scipy CSC matrix ``A``, objective row ``c``, ``rhs``, one ``RowEntry(constraint, bound_type)`` per row), column
    bounds and integrality read from the compiler's ``columns`` (``VarData.lb``, ``.ub``, ``.is_integer()``), then
    the array form of ``highspy.Highs().passModel(num_col, num_row, num_nz, a_format=kColwise, sense, offset,
    col_cost, col_lower, col_upper, row_lower, row_upper, a_start, a_index, a_value, integrality)``. Mixed form
    keeps every row's sign and adds no slack or split columns; a ranged constraint comes out as two rows
    (``bound_type`` 1 then -1, same coefficients) and is merged back into one HiGHS row with both bounds. The
    compiler drops fixed variables (moving them to the right-hand side) and columns that appear nowhere; qtopo's
    model has neither (the record counts its fixed variables).

Every path is timed with the garbage collector disabled (after a ``gc.collect()``), as ``qtopo.model.build_model``
does; ``--gc-enabled`` times them the way ``qtopo/solve.py`` runs ``set_instance`` today (collector on). Before the
first instance every path runs once, untimed, on a three-variable model, so lazy imports and first-call set-up are
not timed. The peak resident memory of a path is measured by resetting the kernel's high-water mark
(``/proc/self/clear_refs`` = 5) before it and reading ``VmHWM`` after it; ``null`` where the kernel does not allow
that.

Equivalence (not timed): each HiGHS model is read back with ``Highs.getLp()`` and its columns and rows are mapped to
Pyomo variables and constraints (APPSI / contrib: their var/con maps; files: the writer's symbol map and HiGHS's
column/row names; standard form: the compiler's ``columns`` / ``rows``). Columns or rows that belong to no Pyomo
component (the LP/MPS writers' ``ONE_VAR_CONSTANT`` column that carries the objective constant, and in MPS the
row that fixes it to 1) are reported as ``writer_extras`` and left out of the ``model_*`` counts. Every path's
model is then compared entry by entry with the reference (``appsi``, else the first path that worked) after
permuting rows and columns into the reference's order: costs, objective offset (including the extras'
contribution), column bounds, integrality, row bounds and every matrix coefficient (``compare``). With
``--lp-check on`` (``auto``: instances below 100,000 nonzeros) every path's HiGHS object also solves the LP
relaxation (HiGHS option ``solve_relaxation``, 1 thread) and the objectives are compared.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import re
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PATHS = ("appsi", "contrib_solver", "lp_file", "mps_file", "standard_form")
#: The API each path uses (recorded in the JSON).
PATH_API = {
    "appsi": "pyomo.contrib.appsi.solvers.Highs().set_instance(m)",
    "contrib_solver": "pyomo.contrib.solver.common.factory.SolverFactory('highs').set_instance(m)",
    "lp_file": "m.write(f, format=ProblemFormat.cpxlp) + highspy.Highs().readModel(f)",
    "mps_file": "m.write(f, format=ProblemFormat.mps) + highspy.Highs().readModel(f)",
    "standard_form": ("LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=None) + column bounds/"
                      "integrality from VarData + highspy.Highs().passModel(arrays, kColwise)"),
}
DEFAULT_INSTANCES = ("syn-100-20", "syn-200-30")
DEFAULT_OUT = "benchmarks/results/handoff.json"
#: ``--lp-check auto`` solves the LP relaxation below this many nonzeros (the tiny instance only).
LP_CHECK_MAX_NNZ = 100_000
#: Relative tolerance for "same model" / "same LP objective".
RTOL = 1e-9
LP_RTOL = 1e-6
SCHEMA_VERSION = 1


# ------------------------------------------------------------------------------------------------ helpers
def _quiet_highs():
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def _proc_status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class Handoff:
    """A HiGHS object holding the model and how its columns / rows map to Pyomo components."""

    highs: object
    col_keys: list | None = None      # per HiGHS column: id(VarData) or None (not a model variable)
    row_keys: list | None = None      # per HiGHS row: id(ConstraintData) or None
    extra_names: dict = field(default_factory=dict)   # {"columns": [...], "rows": [...]} of unmapped ones
    sub_s: dict = field(default_factory=dict)         # sub-phase times
    notes: dict = field(default_factory=dict)
    keep: list = field(default_factory=list)          # objects that must outlive the timing (solver wrappers)


# ------------------------------------------------------------------------------------------------ paths
def _appsi(m, ctx) -> Handoff:
    from pyomo.contrib.appsi.solvers import Highs

    opt = Highs()
    opt.set_instance(m)
    return Handoff(opt._solver_model, keep=[opt])


def _appsi_maps(ho: Handoff) -> None:
    opt = ho.keep[0]
    ho.col_keys = _invert(opt._pyomo_var_to_solver_var_map, ho.highs.getNumCol(), key=lambda k: k)
    ho.row_keys = _invert(opt._pyomo_con_to_solver_con_map, ho.highs.getNumRow(), key=id)


def _contrib(m, ctx) -> Handoff:
    from pyomo.contrib.solver.common.factory import SolverFactory

    opt = SolverFactory("highs")
    opt.set_instance(m)
    return Handoff(opt._solver_model, keep=[opt],
                   notes={"class": f"{type(opt).__module__}.{type(opt).__qualname__}"})


def _invert(mapping: dict, n: int, key) -> list:
    out = [None] * n
    for k, i in mapping.items():
        out[int(i)] = key(k)
    return out


def _file(m, ctx, fmt_name: str) -> Handoff:
    import highspy
    from pyomo.opt import ProblemFormat

    fmt = ProblemFormat.cpxlp if fmt_name == "lp" else ProblemFormat.mps
    path = Path(ctx["tmpdir"]) / f"qtopo-handoff-{os.getpid()}.{fmt_name}"
    t0 = time.perf_counter()
    _, smap_id = m.write(str(path), format=fmt)
    t1 = time.perf_counter()
    h = _quiet_highs()
    status = h.readModel(str(path))
    t2 = time.perf_counter()
    if status == highspy.HighsStatus.kError:
        raise RuntimeError(f"readModel returned {status}")
    ho = Handoff(h, sub_s={"write": t1 - t0, "read": t2 - t1})
    ho.keep = [path, smap_id]
    return ho


def _file_maps(ho: Handoff, m, ctx) -> None:
    """Map a file path's columns / rows to Pyomo components through the writer's symbol map; delete the file and
    detach the symbol map that ``Block.write`` stored on the model."""
    path, smap_id = ho.keep
    ho.keep = []
    try:
        ho.notes["file_mb"] = round(path.stat().st_size / 1e6, 3)
        path.unlink()
    except OSError:
        pass
    try:
        _map_by_names(ho, m.solutions.symbol_map[smap_id].bySymbol, ctx)
    finally:
        m.solutions.delete_symbol_map(smap_id)


def _map_by_names(ho: Handoff, by_symbol: dict, ctx) -> None:
    lp = ho.highs.getLp()
    col_keys, extra_c = [], []
    for name in lp.col_names_:
        obj = by_symbol.get(name)
        if obj is not None and id(obj) in ctx["var_ids"]:
            col_keys.append(id(obj))
        else:
            col_keys.append(None)
            extra_c.append(getattr(obj, "name", None) or name)
    row_keys, extra_r = [], []
    pat = re.compile(r"^[cr]_[ule]_(.+)_$")
    for name in lp.row_names_:
        obj = by_symbol.get(name)
        if obj is None:
            mt = pat.match(name)
            obj = by_symbol.get(mt.group(1)) if mt else None
            if obj is None and mt:  # LP writer: the ranged row r_u_X_ pairs with the symbol r_l_X_
                obj = by_symbol.get("r_l_" + mt.group(1) + "_")
        if obj is not None and id(obj) in ctx["con_ids"]:
            row_keys.append(id(obj))
        else:
            row_keys.append(None)
            extra_r.append(name)
    ho.col_keys, ho.row_keys = col_keys, row_keys
    ho.extra_names = {"columns": extra_c[:10], "rows": extra_r[:10]}


def _remove_files(ctx) -> None:
    """Remove LP / MPS files a failed file path may have left behind."""
    for f in Path(ctx["tmpdir"]).glob(f"qtopo-handoff-{os.getpid()}.*"):
        try:
            f.unlink()
        except OSError:
            pass


def _lp_file(m, ctx):
    return _file(m, ctx, "lp")


def _mps_file(m, ctx):
    return _file(m, ctx, "mps")


def _standard_form(m, ctx) -> Handoff:
    import importlib

    compile_ = importlib.import_module("qtopo.solve")._compile  # what qtopo.solve uses (qtopo.solve is also a function)
    details: dict = {}
    h, cols = compile_(m, details)
    ho = Handoff(h, sub_s=details["sub_s"])
    ho.notes = {"ranged_rows_merged": details["ranged_rows_merged"], "eliminated_vars": details["eliminated_vars"]}
    ho.keep = [cols, details["row_constraint_ids"]]
    return ho


def _standard_form_maps(ho: Handoff) -> None:
    cols, con_ids = ho.keep
    ho.keep = []
    ho.col_keys = [id(v) for v in cols]
    ho.row_keys = [int(i) for i in con_ids]


PATH_FUNCS = {"appsi": _appsi, "contrib_solver": _contrib, "lp_file": _lp_file, "mps_file": _mps_file,
              "standard_form": _standard_form}


def _attach_maps(path: str, ho: Handoff, m, ctx) -> None:
    if path in ("appsi", "contrib_solver"):
        _appsi_maps(ho)  # both interfaces keep _pyomo_var_to_solver_var_map / _pyomo_con_to_solver_con_map
    elif path in ("lp_file", "mps_file"):
        _file_maps(ho, m, ctx)
    else:
        _standard_form_maps(ho)


# ------------------------------------------------------------------------------------------------ comparison
def lp_arrays(h) -> dict:
    """The model HiGHS holds, as NumPy / scipy arrays (``A`` as CSR)."""
    import highspy
    from scipy import sparse

    lp = h.getLp()
    nr, nc = int(lp.num_row_), int(lp.num_col_)
    a = lp.a_matrix_
    start, index, value = np.asarray(a.start_), np.asarray(a.index_), np.asarray(a.value_)
    if int(a.format_) == int(highspy.MatrixFormat.kRowwise):
        A = sparse.csr_array((value, index, start), shape=(nr, nc))
    else:
        A = sparse.csc_array((value, index, start), shape=(nr, nc)).tocsr()
    A.sum_duplicates()
    integ = [int(t) for t in lp.integrality_]
    return {"n_row": nr, "n_col": nc, "A": A, "cost": np.asarray(lp.col_cost_, float),
            "col_lower": np.asarray(lp.col_lower_, float), "col_upper": np.asarray(lp.col_upper_, float),
            "integrality": np.asarray(integ, np.int8) if integ else np.zeros(nc, np.int8),
            "row_lower": np.asarray(lp.row_lower_, float), "row_upper": np.asarray(lp.row_upper_, float),
            "offset": float(lp.offset_), "sense": int(lp.sense_)}


def canonical(ho: Handoff) -> dict:
    """The model in component terms: mapped columns / rows only (duplicate rows of one constraint merged by
    intersecting their bounds), the unmapped ones summarised, the objective constant of unmapped fixed columns
    folded into ``offset``."""
    d = lp_arrays(ho.highs)
    A = d["A"]
    ck = np.array([-1 if k is None else k for k in ho.col_keys], np.int64)
    rk = np.array([-1 if k is None else k for k in ho.row_keys], np.int64)
    cmask, rmask = ck >= 0, rk >= 0
    # values of unmapped columns: fixed by bounds, or by an unmapped single-entry equality row (MPS ONE_VAR_CONSTANT)
    extra_cols = np.flatnonzero(~cmask)
    extra_offset, unknown = 0.0, []
    Acsc = A.tocsc()
    for j in extra_cols:
        lo, up = d["col_lower"][j], d["col_upper"][j]
        val = lo if lo == up else None
        if val is None:
            col = Acsc[:, [j]].tocoo()
            for i, a in zip(col.row, col.data):
                if not rmask[i] and d["row_lower"][i] == d["row_upper"][i] and A[[i], :].nnz == 1:
                    val = d["row_lower"][i] / a
        if val is None:
            unknown.append(int(j))
        else:
            extra_offset += d["cost"][j] * val
    extra_in_model_rows = int(Acsc[:, extra_cols][rmask, :].nnz) if len(extra_cols) else 0
    # rows: first occurrence per constraint carries the coefficients, bounds are intersected over duplicates
    rows_idx = np.flatnonzero(rmask)
    keys, first_pos, inverse = np.unique(rk[rows_idx], return_index=True, return_inverse=True)
    first_rows = rows_idx[first_pos]
    lower = np.full(len(keys), -np.inf)
    upper = np.full(len(keys), np.inf)
    np.maximum.at(lower, inverse, d["row_lower"][rows_idx])
    np.minimum.at(upper, inverse, d["row_upper"][rows_idx])
    dup_rows = np.setdiff1d(rows_idx, first_rows)
    dup_mismatch = 0
    if len(dup_rows):
        partner = first_rows[inverse[np.searchsorted(rows_idx, dup_rows)]]
        dup_mismatch = int((A[dup_rows, :] != A[partner, :]).nnz)
    cols_idx = np.flatnonzero(cmask)
    return {"col_keys": ck[cols_idx], "row_keys": keys, "A": A[first_rows, :][:, cols_idx].tocsr(),
            "cost": d["cost"][cols_idx], "col_lower": d["col_lower"][cols_idx],
            "col_upper": d["col_upper"][cols_idx], "integrality": d["integrality"][cols_idx],
            "row_lower": lower, "row_upper": upper, "offset": d["offset"] + extra_offset,
            "offset_unknown_columns": unknown, "sense": d["sense"],
            "raw": {"rows": d["n_row"], "cols": d["n_col"], "nonzeros": int(A.nnz)},
            "extras": {"columns": int(len(extra_cols)), "rows": int((~rmask).sum()),
                       "duplicate_rows": int(len(dup_rows)), "duplicate_rows_differing_entries": dup_mismatch,
                       "extra_column_entries_in_model_rows": extra_in_model_rows,
                       "objective_constant_from_extra_columns": extra_offset}}


def model_counts(cm: dict) -> dict:
    return {"rows": int(len(cm["row_keys"])), "cols": int(len(cm["col_keys"])), "nonzeros": int(cm["A"].nnz)}


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| where they differ (equal infinities count as equal); inf where one is infinite alone."""
    if a.shape != b.shape:
        return float("inf")
    neq = a != b
    if not neq.any():
        return 0.0
    return float(np.max(np.abs(a[neq] - b[neq])))


def compare(ref: dict, cand: dict) -> dict:
    """Entry-by-entry comparison of two canonical models after permuting ``cand`` into ``ref``'s order."""
    out = {"same_columns": False, "same_rows": False}
    cpos = {int(k): i for i, k in enumerate(ref["col_keys"])}
    ci = np.array([cpos.get(int(k), -1) for k in cand["col_keys"]], np.int64)
    rpos = {int(k): i for i, k in enumerate(ref["row_keys"])}
    ri = np.array([rpos.get(int(k), -1) for k in cand["row_keys"]], np.int64)
    out["same_columns"] = bool(len(ci) == len(ref["col_keys"]) and (ci >= 0).all()
                               and len(np.unique(ci)) == len(ci))
    out["same_rows"] = bool(len(ri) == len(ref["row_keys"]) and (ri >= 0).all() and len(np.unique(ri)) == len(ri))
    if not (out["same_columns"] and out["same_rows"]):
        out.update(equivalent=False, exact=False)
        return out
    # cand in ref order: ref column j is cand column cinv[j]
    cinv = np.empty_like(ci)
    cinv[ci] = np.arange(len(ci))
    rinv = np.empty_like(ri)
    rinv[ri] = np.arange(len(ri))
    A = cand["A"][rinv, :][:, cinv].tocsr()
    D = (ref["A"] - A).tocoo()
    diffs = {
        "matrix": float(np.max(np.abs(D.data))) if D.nnz else 0.0,
        "cost": _max_diff(ref["cost"], cand["cost"][cinv]),
        "col_lower": _max_diff(ref["col_lower"], cand["col_lower"][cinv]),
        "col_upper": _max_diff(ref["col_upper"], cand["col_upper"][cinv]),
        "row_lower": _max_diff(ref["row_lower"], cand["row_lower"][rinv]),
        "row_upper": _max_diff(ref["row_upper"], cand["row_upper"][rinv]),
        "offset": abs(ref["offset"] - cand["offset"]),
    }
    out["max_abs_diff"] = diffs
    out["matrix_pattern_same"] = bool(((ref["A"] != 0) != (A != 0)).nnz == 0)
    out["integrality_same"] = bool(np.array_equal(ref["integrality"], cand["integrality"][cinv]))
    out["sense_same"] = ref["sense"] == cand["sense"]
    scale = max(1.0, float(np.max(np.abs(ref["A"].data))) if ref["A"].nnz else 1.0,
                float(np.max(np.abs(ref["cost"]))) if len(ref["cost"]) else 1.0, abs(ref["offset"]))
    ok_flags = out["integrality_same"] and out["sense_same"] and not cand["offset_unknown_columns"]
    out["exact"] = bool(ok_flags and all(v == 0.0 for v in diffs.values()))
    out["equivalent"] = bool(ok_flags and all(v <= RTOL * scale for v in diffs.values()))
    return out


def lp_relaxation(h, time_limit_s: float = 120.0) -> dict:
    """Solve the LP relaxation of the model ``h`` holds (HiGHS option ``solve_relaxation``, 1 thread)."""
    h.setOptionValue("output_flag", False)
    from qtopo.highs import run

    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("solve_relaxation", True)
    t0 = time.perf_counter()
    run(h, 1)  # through the back-end's thread policy (HiGHS's scheduler is per process)
    return {"status": h.modelStatusToString(h.getModelStatus()),
            "objective": float(h.getInfo().objective_function_value),
            "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------------------ running
def _toy_model():
    import pyomo.environ as pyo

    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2], domain=pyo.NonNegativeReals)
    m.y = pyo.Var(domain=pyo.Binary)
    m.c = pyo.Constraint(expr=m.x[1] + 2 * m.x[2] >= 1)
    m.d = pyo.Constraint(expr=m.x[1] - 3 * m.y <= 0)
    m.r = pyo.Constraint(expr=(0, m.x[2] + m.y, 3))
    m.o = pyo.Objective(expr=m.x[1] + m.x[2] + 5 * m.y + 7)
    return m


def _component_ids(m) -> dict:
    import pyomo.environ as pyo

    vars_ = list(m.component_data_objects(pyo.Var, descend_into=True))
    cons = list(m.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    return {"var_ids": {id(v) for v in vars_}, "con_ids": {id(c) for c in cons},
            "variables": len(vars_), "constraints": len(cons), "fixed_variables": sum(bool(v.fixed) for v in vars_),
            "ranged_constraints": sum(bool(c.has_lb() and c.has_ub() and not c.equality) for c in cons)}


def run_path(path: str, m, ctx: dict, *, repeat: int = 1, gc_enabled: bool = False,
             reference: dict | None = None, lp_check: bool = False) -> tuple[dict, dict | None]:
    """Hand ``m`` to HiGHS by ``path`` ``repeat`` times; returns its record and its canonical model (for use as a
    reference). A failure is recorded, never raised."""
    rec = {"path": path, "api": PATH_API[path], "status": "ok", "seconds": None, "seconds_all": [], "sub_s": {},
           "peak_rss_increase_mb": None, "rss_held_mb": None, "rows": None, "cols": None, "nonzeros": None,
           "model_rows": None, "model_cols": None, "model_nonzeros": None, "writer_extras": None, "notes": {},
           "vs_reference": None, "lp_relaxation": None, "error": None,
           "check_error": None}
    canon = None
    for k in range(max(1, repeat)):
        ho = None
        gc.collect()
        rss0 = _proc_status_kb("VmRSS")
        reset = _reset_peak_rss()
        try:  # the timed hand-off
            if not gc_enabled:
                gc.disable()
            try:
                t0 = time.perf_counter()
                ho = PATH_FUNCS[path](m, ctx)
                dt = time.perf_counter() - t0
            finally:
                gc.enable()
        except Exception as e:
            rec.update(status="unavailable" if isinstance(e, ImportError) else "failed",
                       error={"type": type(e).__name__, "message": str(e)[:2000],
                              "traceback": traceback.format_exc()[-4000:]})
            _remove_files(ctx)
            break
        hwm, rss1 = _proc_status_kb("VmHWM"), _proc_status_kb("VmRSS")
        rec["seconds_all"].append(dt)
        if dt <= min(rec["seconds_all"]):
            rec["sub_s"] = ho.sub_s  # sub-phases of the fastest hand-off
        try:  # untimed: sizes, mapping, comparison, LP relaxation (first hand-off only)
            if k == 0:
                if reset and hwm is not None and rss0 is not None:
                    rec["peak_rss_increase_mb"] = round((hwm - rss0) / 1024, 1)
                if rss0 is not None and rss1 is not None:
                    rec["rss_held_mb"] = round((rss1 - rss0) / 1024, 1)
                h = ho.highs
                rec["rows"], rec["cols"], rec["nonzeros"] = int(h.getNumRow()), int(h.getNumCol()), int(h.getNumNz())
                _attach_maps(path, ho, m, ctx)
                rec["notes"].update(ho.notes)
                canon = canonical(ho)
                mc = model_counts(canon)
                rec["model_rows"], rec["model_cols"], rec["model_nonzeros"] = mc["rows"], mc["cols"], mc["nonzeros"]
                rec["writer_extras"] = {**canon["extras"], **({"names": ho.extra_names} if ho.extra_names else {})}
                if reference is not None:
                    rec["vs_reference"] = compare(reference, canon)
                if lp_check:
                    rec["lp_relaxation"] = lp_relaxation(h)
            else:
                _attach_maps(path, ho, m, ctx)  # deletes the file / symbol map of a file path
        except Exception as e:  # the hand-off worked, its check did not: keep the timing, record the error
            rec["check_error"] = {"type": type(e).__name__, "message": str(e)[:2000],
                                  "traceback": traceback.format_exc()[-4000:]}
            _remove_files(ctx)
            break
        finally:
            del ho
            gc.collect()
    if rec["seconds_all"]:
        rec["seconds"] = min(rec["seconds_all"])
    return rec, canon


def warm_up(paths, tmpdir: str) -> dict:
    """Run every path once on a toy model (imports, first-call set-up); returns the errors, if any."""
    m = _toy_model()
    ctx = {"tmpdir": tmpdir, **_component_ids(m)}
    errors = {}
    for p in paths:
        rec, _ = run_path(p, m, ctx)
        if rec["status"] != "ok":
            errors[p] = rec["error"]
    return errors


def load_model(name: str):
    """Build the Pyomo model of a benchmark instance (generated into ``$QTOPO_BENCH_CACHE`` on first use)."""
    from benchmarks import registry
    from benchmarks.instances import scenario_path
    from qtopo.candidates import build_inputs
    from qtopo.model import build_model
    from qtopo.planner import read_network
    from qtopo.scenario import load_scenario

    t0 = time.perf_counter()
    scen = load_scenario(scenario_path(registry.INSTANCES[name]))
    t1 = time.perf_counter()
    net, dem = read_network(scen)
    inputs = build_inputs(net, dem, scen)
    t2 = time.perf_counter()
    m = build_model(inputs, scen)
    return m, {"prepare_s": t1 - t0, "inputs_s": t2 - t1, "build_s": m._qtimings["build"]}


def bench_instance(name: str, paths=PATHS, *, repeat: int = 1, lp_check: str = "auto", gc_enabled: bool = False,
                   tmpdir: str | None = None) -> dict:
    m, times = load_model(name)
    ctx = {"tmpdir": tmpdir or tempfile.gettempdir(), **_component_ids(m)}
    out = {"instance": name, "pyomo_model": {k: ctx[k] for k in ("variables", "constraints", "fixed_variables",
                                                                   "ranged_constraints")},
           "phases_s": times, "paths": [], "reference": None}
    order = sorted(paths, key=lambda p: p != "appsi")  # APPSI first: the reference
    ref = None
    do_lp = None if lp_check == "auto" else (lp_check == "on")
    for p in order:
        rec, canon = run_path(p, m, ctx, repeat=repeat, gc_enabled=gc_enabled, reference=ref,
                              lp_check=bool(do_lp) if do_lp is not None else False)
        if ref is None and canon is not None:
            ref, out["reference"] = canon, p
            if do_lp is None:
                do_lp = model_counts(canon)["nonzeros"] < LP_CHECK_MAX_NNZ
                if do_lp:
                    # the reference's own LP relaxation: one more untimed hand-off
                    r2, _ = run_path(p, m, ctx, lp_check=True)
                    rec["lp_relaxation"] = r2["lp_relaxation"]
        out["paths"].append(rec)
        del canon
    ok = [r for r in out["paths"] if r["status"] == "ok"]
    counts = {(r["model_rows"], r["model_cols"], r["model_nonzeros"]) for r in ok}
    out["model_sizes_agree"] = len(counts) == 1
    out["all_equivalent"] = all(r["path"] == out["reference"]
                                or bool(r["vs_reference"] and r["vs_reference"]["equivalent"]) for r in ok)
    objs = [r["lp_relaxation"]["objective"] for r in ok if r["lp_relaxation"]]
    if objs:
        o0 = objs[0]
        out["lp_relaxation_agree"] = all(abs(o - o0) <= LP_RTOL * max(1.0, abs(o0)) for o in objs)
    if ok:
        fastest = min(ok, key=lambda r: r["seconds"])
        out["fastest"] = fastest["path"]
        appsi = next((r for r in ok if r["path"] == "appsi"), None)
        if appsi:
            out["speedup_vs_appsi"] = {r["path"]: appsi["seconds"] / r["seconds"] for r in ok if r["seconds"]}
    return out


def run(instances=DEFAULT_INSTANCES, paths=PATHS, *, repeat: int = 1, lp_check: str = "auto",
        gc_enabled: bool = False, tmpdir: str | None = None) -> dict:
    """Measure every path on every instance; returns the whole record (see the module docstring)."""
    from benchmarks.run import _versions, load_avg, machine_info

    unknown = [p for p in paths if p not in PATH_FUNCS]
    if unknown:
        raise ValueError(f"unknown path(s) {unknown}; choose from {list(PATHS)}")
    tmpdir = tmpdir or tempfile.gettempdir()
    rec = {"schema_version": SCHEMA_VERSION, "benchmark": "handoff",
           "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine_info(), "versions": _versions(), "load_avg": {"start": load_avg()},
           "settings": {"paths": list(paths), "repeat": repeat, "lp_check": lp_check,
                        "gc_during_timing": "enabled" if gc_enabled else "disabled", "tmpdir": tmpdir,
                        "seconds": "min over repeats, from the built Pyomo model to a highspy.Highs holding it"},
           "apis": {p: PATH_API[p] for p in paths}}
    try:
        from pyomo.contrib.appsi.cmodel import cmodel_available

        rec["versions"]["appsi_cmodel"] = bool(cmodel_available)
    except Exception:
        rec["versions"]["appsi_cmodel"] = None
    t0 = time.perf_counter()
    rec["warm_up_errors"] = warm_up(paths, tmpdir)
    rec["instances"] = [bench_instance(n, paths, repeat=repeat, lp_check=lp_check, gc_enabled=gc_enabled,
                                       tmpdir=tmpdir) for n in instances]
    rec["wall_s"] = time.perf_counter() - t0
    rec["load_avg"]["end"] = load_avg()
    return rec


# ------------------------------------------------------------------------------------------------ output
def _fmt_s(x):
    return "-" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def render_markdown(rec: dict) -> str:
    lines = [f"Hand-off paths, Pyomo {rec['versions'].get('pyomo')} -> highspy {rec['versions'].get('highspy')} "
             f"(gc {rec['settings']['gc_during_timing']} while timing; seconds = min over {rec['settings']['repeat']}"
             f" run(s)); load average {rec['load_avg'].get('start')} -> {rec['load_avg'].get('end')}.", "",
             "| instance | path | s | x APPSI | sub-phases s | peak RSS +MB | rows | cols | nonzeros | writer extras |"
             " same model as reference | LP relaxation | error |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for inst in rec["instances"]:
        sp = inst.get("speedup_vs_appsi", {})
        for r in inst["paths"]:
            ex = r["writer_extras"] or {}
            extras = (f"+{ex['columns']} col, +{ex['rows']} row" if ex.get("columns") or ex.get("rows") else "")
            vs = r["vs_reference"]
            same = ("reference" if r["path"] == inst["reference"] else
                    "-" if vs is None else ("exact" if vs["exact"] else "equivalent" if vs["equivalent"] else "NO"))
            lpr = r["lp_relaxation"]
            err = "" if not r["error"] else f"{r['status']}: {r['error']['type']}: {r['error']['message'][:80]}"
            if r.get("check_error"):
                err += f" check failed: {r['check_error']['type']}: {r['check_error']['message'][:80]}"
            fmt_n = lambda v: "-" if v is None else f"{v:,}"
            speed = f"{sp[r['path']]:.2f}" if r["path"] in sp else "-"
            subs = ", ".join(f"{k} {v:.3f}" for k, v in r["sub_s"].items())
            rss = "-" if r["peak_rss_increase_mb"] is None else str(r["peak_rss_increase_mb"])
            lp_txt = f"{lpr['objective']:.9g} ({lpr['status']})" if lpr else ""
            lines.append(f"| {inst['instance']} | {r['path']} | {_fmt_s(r['seconds'])} | {speed} | {subs} | {rss} | "
                         f"{fmt_n(r['model_rows'])} | {fmt_n(r['model_cols'])} | {fmt_n(r['model_nonzeros'])} | "
                         f"{extras} | {same} | {lp_txt} | {err} |")
    lines.append("")
    for inst in rec["instances"]:
        pm = inst["pyomo_model"]
        lines.append(f"- {inst['instance']}: Pyomo model {pm['variables']:,} variables, {pm['constraints']:,} "
                     f"constraints (fixed {pm['fixed_variables']}, ranged {pm['ranged_constraints']}); build "
                     f"{inst['phases_s']['build_s']:.2f} s; fastest path {inst.get('fastest')}; model sizes agree "
                     f"{inst['model_sizes_agree']}; all equivalent to {inst['reference']} {inst['all_equivalent']}"
                     + (f"; LP relaxations agree {inst['lp_relaxation_agree']}" if "lp_relaxation_agree" in inst
                        else ""))
    lines.append("")
    lines.append("rows / cols / nonzeros: the model's own (HiGHS's counts minus the writer extras: the LP / MPS "
                 "writers' ONE_VAR_CONSTANT column for the objective constant, and in MPS its fixing row).")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_handoff", description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", default=",".join(DEFAULT_INSTANCES),
                    help="comma-separated instance names (default: %(default)s)")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma-separated paths (default: all)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="JSON output (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=1, help="hand-offs per path; the minimum is reported")
    ap.add_argument("--lp-check", choices=("auto", "on", "off"), default="auto",
                    help=f"solve each path's LP relaxation (auto: below {LP_CHECK_MAX_NNZ:,} nonzeros)")
    ap.add_argument("--gc-enabled", action="store_true",
                    help="keep the garbage collector on while timing (as qtopo/solve.py runs set_instance today)")
    ap.add_argument("--tmpdir", default=None, help="folder for the LP / MPS files (default: system temp)")
    a = ap.parse_args(argv)
    instances = [s.strip() for s in a.instances.split(",") if s.strip()]
    paths = [s.strip() for s in a.paths.split(",") if s.strip()]
    rec = run(instances, paths, repeat=a.repeat, lp_check=a.lp_check, gc_enabled=a.gc_enabled, tmpdir=a.tmpdir)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=1, default=str), encoding="utf-8")
    print(render_markdown(rec))
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
