"""One sweep scenario, run inside a Dask worker process: plan, summarise, write its result once."""
from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError
from .spec import _split_overrides, apply_demand_overrides


def _set_highs_threads(threads: int) -> None:
    """HiGHS fixes its thread pool per process: the back-end's thread policy resets it when the count changes."""
    from ..highs import THREADS

    THREADS.use(threads)


def _write_new(path: Path, text: str) -> bool:
    """Create ``path`` with ``text`` atomically, only if it does not exist (first writer wins).

    Returns False (and leaves the existing file untouched) when the file already exists.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic and fails if ``path`` exists
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            if path.exists():
                return False
            os.replace(tmp, path)
            tmp = None
        return True
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _write_replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _dumps(obj) -> str:
    from ..atomic import _json_default

    return json.dumps(obj, indent=1, default=_json_default, allow_nan=False) + "\n"


def _modified_demands(src: Path, dst: Path, overrides: Mapping[str, Any]) -> Path:
    """Copy the demands CSV ``src`` to ``dst`` with the demand overrides applied (deterministic text)."""
    import pandas as pd

    df = pd.read_csv(src, dtype={"source": str, "target": str}, skipinitialspace=True, encoding="utf-8-sig")
    df.columns = [str(c).strip() for c in df.columns]
    df = apply_demand_overrides(df, overrides)
    _write_replace(dst, df.to_csv(index=False, float_format="%.17g"))
    return dst


def summarise_plan(plan) -> dict:
    """The numbers of one plan that a sweep table needs (``cost_eur`` and the achieved ``gap`` as in plan.json).

    Parameters
    ----------
    plan : qtopo.contract.Plan or dict
        A dict is ``plan.json`` content (migrated and validated).
    """
    from ..contract import Plan

    data = plan if isinstance(plan, Plan) else Plan.from_dict(plan, source="plan")
    out: dict[str, Any] = {
        "status": data.status.value, "termination": data.termination,
        "cost_eur": data.cost_eur, "gap": data.gap, "best_bound": data.best_bound,
    }
    dem = data.demands
    tgt = [d.target_bps for d in dem]
    dlv = [d.delivered_bps for d in dem]
    out["n_demands"] = len(dem)
    out["target_total_bps"] = sum(tgt)
    out["delivered_total_bps"] = sum(dlv) if data.links else 0.0
    margins = [(v - t) / t for v, t in zip(dlv, tgt) if t > 0]
    out["min_rate_margin"] = min(margins) if margins and data.links else None
    nodes = data.nodes
    links = data.links
    out["n_trusted_nodes"] = len(nodes)
    out["n_intermediate_nodes"] = sum(1 for n in nodes if n.kind != "site")
    out["n_links"] = len(links)
    pairs: dict[str, int] = {}
    for L in links:
        pairs[L.device] = pairs.get(L.device, 0) + L.device_pairs
    out["device_pairs"] = sum(pairs.values())
    out["device_pairs_by_type"] = dict(sorted(pairs.items()))
    cb = data.cost_breakdown
    out["cost_nodes_eur"] = cb.nodes_eur if cb else None
    out["cost_device_pairs_eur"] = cb.device_pairs_eur if cb else None
    out["cost_devices_and_fibre_eur"] = cb.devices_and_fibre_eur if cb else None
    T = data.timings_s
    out["time_total_s"] = T.get("total")
    out["time_solve_s"] = T.get("solve")
    out["verification_ok"] = data.verification.ok if data.verification is not None else None
    diag = data.diagnosis
    if diag:
        out["diagnosis"] = "; ".join(f"{d.source}-{d.target}: {d.reason}" for d in diag[:5]) + \
            (f"; and {len(diag) - 5} more" if len(diag) > 5 else "")
    return out


def summarise_failures(plan, scen) -> dict:
    """Single-failure figures of a plan (:func:`qtopo.failures.analyse_failures`).

    ``survivability``: mean over demands of the share of the single failures that can touch the plan (end
    nodes excluded) that the demand survives with its planned routes (1.0: every demand survives every single
    failure); ``demands_surviving_all``: demands that survive every one; ``availability_min``: lowest demand
    availability when the scenario gives ``[availability]`` figures. A failing analysis is recorded in
    ``failures_error`` and leaves the plan's result intact.
    """
    try:
        from ..failures import analyse_failures

        res = analyse_failures(plan, scen)
    except Exception as e:  # the analysis is extra information: never lose the plan's result over it
        return {"failures_error": f"{type(e).__name__}: {e}"[:2000]}
    shares, full, avail = [], 0, []
    for sm in (res.get("summary") or {}).values():
        n, ok = int(sm.get("single_failures") or 0), int(sm.get("survives") or 0)
        shares.append(ok / n if n else 1.0)
        full += int(ok == n)
        if sm.get("availability") is not None:
            avail.append(float(sm["availability"]))
    out = {"survivability": sum(shares) / len(shares) if shares else None, "demands_surviving_all": full}
    out["availability_min"] = min(avail) if avail else None
    return out


def run_scenario(task: Mapping[str, Any]) -> dict:
    """Plan one scenario of a sweep and commit its result file (runs inside a Dask worker process).

    ``task`` holds plain data only (id, label, overrides, scenario path, out_dir, save_plan, solver_threads):
    the scenario is loaded and the model built here, in the worker. Returns ``{"skipped": bool, "result":
    summary}``. Any exception of the planner is recorded in the result (status ``error``); only a failure to
    write the result propagates (so that dask retries the task).
    """
    out_dir = Path(task["out_dir"])
    runs = out_dir / "runs"
    res_path = runs / f"{task['id']}.json"
    if res_path.exists():
        return {"skipped": True, "result": json.loads(res_path.read_text(encoding="utf-8"))}
    t0 = time.perf_counter()
    summary: dict[str, Any] = {"id": task["id"], "label": task["label"], "overrides": dict(task["overrides"]),
                               "scenario": str(task["scenario"])}
    plan_obj = scen = None
    try:
        import warnings

        from ..planner import plan as _plan
        from ..scenario import load_scenario

        ov, dov = _split_overrides(task["overrides"])
        _set_highs_threads(int(ov.get("solver.threads", 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scen = load_scenario(task["scenario"], ov)
            if dov:  # a modified copy of the demands in this scenario's working folder
                dst = out_dir / "work" / task["id"] / "demands.csv"
                ov["inputs.demands"] = str(_modified_demands(scen.input_path("demands"), dst, dov).resolve())
                scen = load_scenario(task["scenario"], ov)
            plan_obj = _plan(scen, None, write_outputs=False)
            summary.update(summarise_plan(plan_obj))
            summary["error"] = None
            if summary.get("status") == "error":  # the solver itself failed: say how
                summary["error"] = f"solver: {plan_obj.termination}: {plan_obj.solver.message}".strip()
            if task.get("failures", True) and plan_obj.has_plan:
                summary.update(summarise_failures(plan_obj, scen))
    except Exception as e:  # any failure of this scenario is a result, not a crash of the sweep
        msg = str(e.format() if isinstance(e, InputError) else e).strip()
        summary.update({"status": "error", "error": f"{type(e).__name__}: {msg}"[:4000]})
    summary["wall_s"] = time.perf_counter() - t0
    summary["host"] = socket.gethostname()
    from .. import __version__

    summary["qtopo_version"] = __version__
    if res_path.exists():  # another attempt committed meanwhile: keep its result
        return {"skipped": True, "result": json.loads(res_path.read_text(encoding="utf-8"))}
    if task.get("save_plan") and plan_obj is not None:
        from ..planner import read_network, write_plan

        try:
            net = None
            with contextlib.suppress(Exception):  # only for the maps of the report
                net = read_network(scen)[0]
            write_plan(plan_obj, runs / task["id"], scen, net)
            summary["plan_dir"] = f"runs/{task['id']}"
        except Exception as e:
            summary["plan_error"] = f"{type(e).__name__}: {e}"
    if not _write_new(res_path, _dumps(_finite(summary))):
        return {"skipped": True, "result": json.loads(res_path.read_text(encoding="utf-8"))}
    return {"skipped": False, "result": summary}


def _finite(obj):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def result_path(out_dir: str | Path, sid: str) -> Path:
    return Path(out_dir) / "runs" / f"{sid}.json"
