"""Run the benchmark suite: one fresh subprocess per (instance, variant), one JSON file per run.

Usage::

    python -m benchmarks.run --suite smoke|full|test --out DIR [--only NAME[,NAME...]] [--threads N]
                             [--time-limit S] [--list]

Every run happens in its own Python process (HiGHS fixes its thread pool per process, and memory must not leak
from one instance into the next). The parent waits for it with :func:`os.wait4`, which returns the resource
usage of *that* child: its ``ru_maxrss`` is the run's peak resident memory, also for a run that had to be
killed. A run that exceeds its wall-clock allowance (:meth:`InstanceSpec.wall_timeout_s`) is killed and
recorded with ``run_status = "timeout"`` and the phase it was in. An exception is recorded with the phase,
its type, message and traceback. Variants that cannot run in this checkout (a delegated module that does not
exist) are recorded as ``unavailable``, never faked.

The ``k2`` variant plans a derived copy of the instance in which every demand asks for two node-disjoint
routes with 1+1 protection (:func:`benchmarks.instances.variant_scenario_path`), exactly like ``trusted``. An
instance on which that cannot be met (an endpoint with a single fibre neighbour, say) gives ``run_status = "ok"``
with ``status = "infeasible"`` and the planner's diagnosis under ``notes``: a result, not a failure.

Each JSON holds :data:`RECORD_FIELDS` (see ``benchmarks/README.md`` for their meaning).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import inspect
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks.registry import (INSTANCES, PHASES, PROGRESS_PHASES, ROOT, VARIANTS, InstanceSpec, VariantSpec,
                                 result_name, select)

SCHEMA_VERSION = 1

#: Top-level keys of every run record.
RECORD_FIELDS = ("schema_version", "instance", "variant", "suite", "family", "description", "run_status",
                 "status", "sizes", "phases_s", "peak_memory_mb", "objective", "bound", "gap", "verify_ok",
                 "heuristic_cost", "time_limit_s", "mip_gap", "threads", "wall_s", "timestamp", "machine",
                 "versions", "load_avg", "error", "notes", "progress")
#: Keys of ``sizes``.
SIZE_FIELDS = ("fibre_nodes", "fibre_edges", "candidates", "candidates_after_bound", "hops", "hops_after_bound",
               "hop_devices", "hop_devices_after_bound", "demands", "commodities", "variables", "constraints",
               "nonzeros")
#: Keys of ``phases_s`` (``prepare``: generating the instance folder, not part of ``total``).
PHASE_FIELDS = ("prepare",) + PHASES + ("total",)

#: ``not_implemented`` is no longer written (it marked ``k2`` before the planner had K routes); kept so that older
#: records stay valid.
RUN_STATUSES = ("ok", "failed", "timeout", "not_implemented", "unavailable")


# ----------------------------------------------------------------------------------------------- machine
def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for pkg in ("qtopo", "pyomo", "highspy", "numpy", "scipy", "networkx", "pandas", "geopandas", "shapely",
                "pyproj", "pyogrio"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _git() -> dict:
    def g(*a):
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return ""
    return {"commit": g("rev-parse", "HEAD") or None,
            "dirty_files": len([ln for ln in g("status", "--porcelain", "--untracked-files=no").splitlines() if ln])}


def machine_info() -> dict:
    """Cores, memory, CPU model, platform, Python and the git commit of the checkout."""
    import platform

    info = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        info["cpus_usable"] = None
    info["cpu_model"] = None
    info["mem_total_mb"] = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["mem_total_mb"] = round(int(line.split()[1]) / 1024)
                break
    except OSError:
        pass
    info["git"] = _git()
    return info


def load_avg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _maxrss_mb(kb: int) -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes
    return round(kb / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0), 1)


def _jsonable(x):
    """Plain JSON types (NumPy scalars, paths, enums, non-finite floats -> None)."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set)):
        return [_jsonable(v) for v in x]
    if np is not None and isinstance(x, np.generic):
        x = x.item()
    if np is not None and isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if hasattr(x, "value") and isinstance(getattr(x, "value"), (str, int)):
        return x.value
    if hasattr(x, "to_dict"):
        try:
            return _jsonable(x.to_dict())
        except Exception:
            pass
    return str(x)


def blank_record(inst: InstanceSpec, var: VariantSpec, suite: str) -> dict:
    """A record with every field present (None where unknown)."""
    return {
        "schema_version": SCHEMA_VERSION, "instance": inst.name, "variant": var.name, "suite": suite,
        "family": inst.family, "description": inst.description, "run_status": None, "status": None,
        "sizes": {k: None for k in SIZE_FIELDS}, "phases_s": {k: None for k in PHASE_FIELDS},
        "peak_memory_mb": None, "objective": None, "bound": None, "gap": None, "verify_ok": None,
        "heuristic_cost": None, "time_limit_s": inst.limit(suite, var.name), "mip_gap": inst.mip_gap, "threads": None,
        "wall_s": None, "timestamp": _now(), "machine": None, "versions": None,
        "load_avg": {"start": load_avg(), "end": None}, "error": None, "notes": [], "progress": [],
    }


# ----------------------------------------------------------------------------------------------- worker
_PHASE_TIME = re.compile(r"\((\d+(?:\.\d+)?) s(?:; hand-off (\d+(?:\.\d+)?) s)?\)\s*$")


class _Progress:
    """Collects ``qtopo.plan`` progress lines with time stamps and the peak memory so far; mirrors them to a file."""

    def __init__(self, path: str | None):
        import resource

        self._res = resource
        self.t0 = time.perf_counter()
        self.lines: list[dict] = []
        self.path = path

    def __call__(self, line: str) -> None:
        rss = _maxrss_mb(self._res.getrusage(self._res.RUSAGE_SELF).ru_maxrss)
        phase = line.split(":", 1)[0].strip()
        ent = {"t_s": round(time.perf_counter() - self.t0, 3), "phase": phase, "peak_memory_mb": rss,
               "line": line}
        self.lines.append(ent)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(ent) + "\n")

    def done(self) -> list[str]:
        return [e["phase"] for e in self.lines]

    def timings(self) -> dict:
        """Phase times parsed from the progress lines (fallback when the plan object is lost)."""
        out = {}
        for e in self.lines:
            m = _PHASE_TIME.search(e["line"])
            if m and e["phase"] in PROGRESS_PHASES:
                out[e["phase"]] = float(m.group(1))
                if e["phase"] == "solve" and m.group(2):
                    out["handoff"] = float(m.group(2))
        return out


def failed_phase(done: list[str]) -> str:
    """The phase that was running when ``done`` (phases with a progress line, in order) were finished."""
    order = [p for p in PROGRESS_PHASES]
    last = max((order.index(d) for d in done if d in order), default=-1)
    nxt = order[last + 1] if last + 1 < len(order) else "write"
    if nxt == "heuristic":  # qtopo.plan prints no heuristic line when the heuristic finds no plan
        return "heuristic/build"
    if nxt == "verify":
        return "extract/verify"
    return nxt


def _fill_from_plan(rec: dict, data: dict) -> None:
    st = data.get("stats") or {}
    sz = (data.get("solver") or {}).get("sizes") or {}
    s = rec["sizes"]
    for k in ("fibre_nodes", "fibre_edges", "candidates", "hops", "hop_devices", "demands", "commodities"):
        s[k] = st.get(k)
    s["candidates_after_bound"] = st.get("candidates_after_bound", st.get("candidates"))
    s["hops_after_bound"] = st.get("hops_after_bound", st.get("hops"))
    if st.get("hop_devices") is not None:
        s["hop_devices_after_bound"] = st["hop_devices"] - st.get("bound_pruned_options", 0)
    for k in ("variables", "constraints", "nonzeros"):
        s[k] = sz.get(k)
    for k, v in (data.get("timings_s") or {}).items():
        rec["phases_s"][k] = v
    rec["status"] = data.get("status")
    rec["objective"] = data.get("cost_eur")  # plan.json schema 2 (qtopo.contract): the plan's cost in EUR
    rec["bound"] = data.get("best_bound")
    rec["gap"] = data.get("gap")  # achieved; the requested tolerance is rec["mip_gap"]
    rec["heuristic_cost"] = data.get("heuristic_cost_eur")
    ver = data.get("verification") or {}
    rec["verify_ok"] = ver.get("ok")
    if ver.get("violations"):
        rec["notes"].append({"verify_violations": ver["violations"][:20]})
    rec["notes"] += [n for n in data.get("notes", []) if isinstance(n, str)]
    if data.get("diagnosis"):  # why an infeasible plan is infeasible (first 20 demands, and how many in all)
        rec["notes"].append({"diagnosis": data["diagnosis"][:20], "diagnosis_count": len(data["diagnosis"])})
    if data.get("termination"):
        rec["notes"].append(f"solver termination: {data['termination']}")
    lpb = ((data.get("solver") or {}).get("options") or {}).get("lp_bound")
    if lpb:  # the LP relaxation solved alongside the MIP (qtopo.solve.LP_BOUND_FROM_NONZEROS)
        rec["notes"].append({"lp_bound": lpb})
    if data.get("cut_bound"):  # the cut-set LP bound (qtopo.cutbound), and which bound the plan reports
        rec["notes"].append({"cut_bound": data["cut_bound"],
                             "bound_method": ((data.get("solver") or {}).get("options") or {}).get("bound_method")})


def _run_trusted(inst: InstanceSpec, rec: dict, scen_path: Path, threads: int, prog: _Progress) -> None:
    import qtopo
    from qtopo.errors import VerificationError

    overrides = {"solver.time_limit_s": rec["time_limit_s"], "solver.mip_gap": inst.mip_gap,
                 "solver.threads": threads}
    rec["notes"].append({"overrides": overrides, "scenario": str(scen_path)})
    try:
        p = qtopo.plan(scen_path, overrides=overrides, progress=prog, write_outputs=False)
    except VerificationError as e:
        rec["phases_s"].update(prog.timings())
        rec["verify_ok"] = False
        rec["run_status"] = "failed"
        rec["error"] = {"phase": "verify", "type": type(e).__name__, "message": str(e)[:4000],
                        "traceback": traceback.format_exc()[-8000:]}
        return
    _fill_from_plan(rec, p.to_dict())
    rec["run_status"] = "ok"


def _call_external(var: VariantSpec, inst: InstanceSpec, rec: dict, scen_path: Path | None, threads: int,
                   out_dir: Path) -> None:
    """Call ``benchmarks.<module>.run(...)`` with the keyword arguments its signature accepts."""
    import importlib

    mod = importlib.import_module(f"benchmarks.{var.module}")
    fn = getattr(mod, "run", None)
    if fn is None:
        rec["run_status"] = "unavailable"
        rec["error"] = {"phase": "setup", "type": "AttributeError",
                        "message": f"benchmarks.{var.module} has no run(...) function", "traceback": None}
        return
    network = inst.params.get("file")
    offer = {
        "instance": inst.name, "name": inst.name, "scenario": str(scen_path) if scen_path else None,
        "scenario_path": str(scen_path) if scen_path else None,
        "network": str(ROOT / network) if network else None, "graphml": str(ROOT / network) if network else None,
        "path": str(ROOT / network) if network else None,
        "time_limit_s": rec["time_limit_s"], "time_limit": rec["time_limit_s"], "threads": threads,
        "mip_gap": inst.mip_gap, "suite": rec["suite"], "smoke": rec["suite"] in ("smoke", "test"),
        "quick": rec["suite"] in ("smoke", "test"), "out": str(out_dir), "out_dir": str(out_dir),
    }
    sig = inspect.signature(fn)
    kwargs, missing = {}, []
    accepts_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    for name, prm in sig.parameters.items():
        if prm.kind in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD):
            continue
        if name in offer and offer[name] is not None:
            kwargs[name] = offer[name]
        elif prm.default is prm.empty:
            missing.append(name)
    if missing:
        rec["run_status"] = "failed"
        rec["error"] = {"phase": "setup", "type": "TypeError",
                        "message": f"cannot call benchmarks.{var.module}.run{sig}: no value for {missing}",
                        "traceback": None}
        return
    del accepts_kw
    rec["notes"].append({"called": f"benchmarks.{var.module}.run", "kwargs": {k: str(v) for k, v in kwargs.items()}})
    t = time.perf_counter()
    res = fn(**kwargs)
    rec["phases_s"]["total"] = time.perf_counter() - t
    res = _jsonable(res)
    rec["result"] = res
    if isinstance(res, dict):
        for k in ("status", "objective", "bound", "gap", "verify_ok"):
            if k in res and not isinstance(res[k], (dict, list)):
                rec[k] = res[k]
        if isinstance(res.get("sizes"), dict):
            for k, v in res["sizes"].items():
                if k in rec["sizes"]:
                    rec["sizes"][k] = v
        if isinstance(res.get("phases_s"), dict):
            rec["phases_s"].update({k: v for k, v in res["phases_s"].items() if isinstance(v, (int, float))})
    rec["run_status"] = "ok"


def worker(instance: str, variant: str, suite: str, result_path: str, progress_path: str | None,
           threads: int, time_limit_s: float | None) -> int:
    """Run one (instance, variant) in this process and write its record to ``result_path``."""
    import gc
    import resource

    inst, var = INSTANCES[instance], VARIANTS[variant]
    rec = blank_record(inst, var, suite)
    if time_limit_s is not None:
        rec["time_limit_s"] = float(time_limit_s)
    rec["threads"] = threads
    rec["versions"] = _versions()
    prog = _Progress(progress_path)
    phase = "prepare"
    try:
        scen_path = None
        if inst.family != "micro":
            from benchmarks.instances import variant_scenario_path

            t = time.perf_counter()
            scen_path = variant_scenario_path(inst, var.name)
            rec["phases_s"]["prepare"] = time.perf_counter() - t
        gc.collect()
        phase = "run"
        if var.name in ("trusted", "k2"):  # k2: scen_path is the derived K=2 scenario
            _run_trusted(inst, rec, scen_path, threads, prog)
        elif var.module:
            _call_external(var, inst, rec, scen_path, threads, Path(result_path).parent)
        else:  # pragma: no cover
            raise ValueError(f"no runner for variant {var.name!r}")
    except Exception as e:
        done = prog.done()
        rec["phases_s"].update(prog.timings())
        rec["run_status"] = "failed"
        rec["error"] = {"phase": failed_phase(done) if phase == "run" and var.name in ("trusted", "k2") else phase,
                        "type": type(e).__name__, "message": str(e)[:4000],
                        "traceback": traceback.format_exc()[-8000:]}
    rec["progress"] = prog.lines
    rec["peak_memory_mb"] = _maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    rec["load_avg"]["end"] = load_avg()
    Path(result_path).write_text(json.dumps(_jsonable(rec), indent=1), encoding="utf-8")
    return 0


# ----------------------------------------------------------------------------------------------- parent
def _read_progress(path: Path) -> list[dict]:
    out = []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    except OSError:
        pass
    return out


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _kill_group(pid: int) -> None:
    """SIGTERM then SIGKILL the worker's own process group (it was started in a new session)."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        t = time.monotonic()
        while time.monotonic() - t < wait:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] != 0:
                    return
            except ChildProcessError:
                return
            time.sleep(0.1)


def run_one(inst: InstanceSpec, var: VariantSpec, suite: str, out_dir: Path, *, threads: int = 2,
            time_limit_s: float | None = None, machine: dict | None = None, say=print) -> dict:
    """Run one (instance, variant) in a fresh subprocess; write and return its record."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / result_name(inst.name, var.name)
    machine = machine or machine_info()
    ok, why = var.availability()
    if not ok:
        rec = blank_record(inst, var, suite)
        rec.update(run_status="unavailable", machine=machine,
                   versions=_versions(), wall_s=0.0, threads=threads)
        rec["notes"].append(why)
        rec["load_avg"]["end"] = load_avg()
        dest.write_text(json.dumps(_jsonable(rec), indent=1), encoding="utf-8")
        say(f"{inst.name:22s} {var.name:9s} {rec['run_status']}: {why}")
        return rec
    with tempfile.TemporaryDirectory(prefix="qtopo-bench-") as tmp:
        tmp = Path(tmp)
        res_p, prog_p, log_p = tmp / "result.json", tmp / "progress.jsonl", tmp / "worker.log"
        cmd = [sys.executable, "-m", "benchmarks.run", "--worker", inst.name, var.name, "--suite", suite,
               "--result", str(res_p), "--progress", str(prog_p), "--threads", str(threads)]
        if time_limit_s is not None:
            cmd += ["--time-limit", str(time_limit_s)]
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("MPLBACKEND", "Agg")
        timeout = inst.wall_timeout_s(suite, var.name) if time_limit_s is None else 2.0 * time_limit_s + 600.0
        start_la = load_avg()
        t0 = time.perf_counter()
        with open(log_p, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            timed_out = False
            ru = None
            status = 0
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid != 0:
                    break
                if time.perf_counter() - t0 > timeout:
                    timed_out = True
                    _kill_group(proc.pid)
                    try:
                        pid, status, ru = os.wait4(proc.pid, 0)
                    except ChildProcessError:
                        ru = None
                    break
                time.sleep(0.2)
            proc.returncode = os.waitstatus_to_exitcode(status) if ru is not None else -9
        wall = time.perf_counter() - t0
        if res_p.is_file() and not timed_out:
            rec = json.loads(res_p.read_text(encoding="utf-8"))
        else:
            rec = _jsonable(blank_record(inst, var, suite))
            rec["load_avg"]["start"] = start_la
            if time_limit_s is not None:
                rec["time_limit_s"] = float(time_limit_s)
            rec["threads"] = threads
            rec["versions"] = _versions()
            prog = _read_progress(prog_p)
            rec["progress"] = prog
            p = _Progress(None)
            p.lines = prog
            rec["phases_s"].update(p.timings())
            phase = failed_phase(p.done()) if var.name in ("trusted", "k2") else "run"
            if timed_out:
                rec["run_status"] = "timeout"
                rec["error"] = {"phase": phase, "type": "Timeout",
                                "message": f"killed after {wall:.0f} s (wall allowance {timeout:.0f} s, solver "
                                           f"limit {rec['time_limit_s']:.0f} s) while in phase {phase!r}",
                                "traceback": _tail(log_p)}
            else:
                rec["run_status"] = "failed"
                rec["error"] = {"phase": phase, "type": "WorkerDied",
                                "message": f"worker exited with code {proc.returncode} without a result "
                                           f"(signal 9 usually means the kernel OOM killer)",
                                "traceback": _tail(log_p)}
            rec["load_avg"]["end"] = load_avg()
    rec["wall_s"] = round(wall, 3)
    if ru is not None:
        rec["peak_memory_mb"] = _maxrss_mb(ru.ru_maxrss)
        rec["cpu_s"] = round(ru.ru_utime + ru.ru_stime, 2)
    rec["machine"] = machine
    rec = _jsonable(rec)
    dest.write_text(json.dumps(rec, indent=1), encoding="utf-8")
    say(summary_line(rec))
    return rec


def summary_line(r: dict) -> str:
    ph = r.get("phases_s") or {}
    tot = ph.get("total")
    gap = r.get("gap")
    obj = r.get("objective")
    parts = [f"{r['instance']:22s} {r['variant']:9s} {r.get('run_status') or '-':8s}",
             f"status={r.get('status') or '-'}",
             f"obj={'-' if obj is None else format(obj, ',.0f')}",
             f"gap={'-' if gap is None else format(100 * gap, '.2f') + '%'}",
             f"total={'-' if tot is None else format(tot, '.1f') + 's'}",
             f"wall={r.get('wall_s') or 0:.1f}s",
             f"peak={'-' if r.get('peak_memory_mb') is None else format(r['peak_memory_mb'], ',.0f') + 'MB'}",
             f"verify={r.get('verify_ok')}"]
    if r.get("error"):
        parts.append(f"ERROR in {r['error'].get('phase')}: {r['error'].get('type')}: "
                     f"{(r['error'].get('message') or '')[:160]}")
    return " ".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", choices=("test", "smoke", "full"), default="smoke")
    ap.add_argument("--out", type=Path, default=None, help="results folder (one JSON per run)")
    ap.add_argument("--only", default="", help="comma-separated instance / variant / instance:variant names")
    ap.add_argument("--threads", type=int, default=2, help="HiGHS threads per run (default 2)")
    ap.add_argument("--time-limit", type=float, default=None, help="override every instance's solver limit (s)")
    ap.add_argument("--list", action="store_true", help="list the selected runs and exit")
    ap.add_argument("--worker", nargs=2, metavar=("INSTANCE", "VARIANT"), help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--progress", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return worker(a.worker[0], a.worker[1], a.suite, a.result, a.progress, a.threads, a.time_limit)
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = [o for o in only if o.split(":")[0] not in INSTANCES and o not in VARIANTS]
    if unknown:
        ap.error(f"unknown names in --only: {unknown}; see --list")
    runs = select(a.suite, only)
    if a.list:
        for inst, var in runs:
            ok, why = var.availability()
            print(f"{inst.name:22s} {var.name:9s} limit {inst.limit(a.suite, var.name):5.0f} s  gap {inst.mip_gap:g}"
                  + ("" if ok else f"  [{why}]"))
        return 0
    if a.out is None:
        ap.error("--out is required")
    machine = machine_info()
    print(f"benchmarks: suite {a.suite}, {len(runs)} run(s) -> {a.out} "
          f"({machine['cpu_count']} cores, load {load_avg()}, commit {str(machine['git']['commit'])[:10]})",
          flush=True)
    t0 = time.perf_counter()
    failures = 0
    for inst, var in runs:
        rec = run_one(inst, var, a.suite, a.out, threads=a.threads, time_limit_s=a.time_limit, machine=machine,
                      say=lambda s: print(s, flush=True))
        failures += rec.get("run_status") in ("failed", "timeout")
    print(f"benchmarks: {len(runs)} run(s) in {time.perf_counter() - t0:.1f} s, {failures} failed or timed out; "
          f"render with: python -m benchmarks.render {a.out}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
