"""Running a sweep: the Dask client, the lock and manifest of the output folder, progress, resume."""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Iterable

from ..errors import InputError, Problem, QtopoError
from .spec import STATUSES, SweepSpec, load_sweep
from .worker import _dumps, _write_replace, result_path, run_scenario
from .results import collect, write_results


class SweepLocked(QtopoError):
    """Another sweep is writing into the same output folder."""


@contextlib.contextmanager
def _quiet_logs(enabled: bool):
    """Keep Dask's INFO/WARNING chatter (worker start/stop, a restarted worker) off a cluster we own."""
    import logging

    names = ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core", "distributed.worker",
             "distributed.http.proxy")
    old = {n: logging.getLogger(n).level for n in names}
    if enabled:
        for n in names:
            logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        if enabled:
            for n, lvl in old.items():
                logging.getLogger(n).setLevel(lvl)


@contextlib.contextmanager
def _lock(out_dir: Path):
    import fcntl

    fh = open(out_dir / ".sweep.lock", "w")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SweepLocked(f"another sweep is writing into {out_dir}: wait for it or use another --out") from None
        yield
    finally:
        fh.close()


def _base_fingerprint(spec: SweepSpec) -> dict:
    """SHA-256 of the base scenario file and of the input files it names."""
    from ..io import sha256_file
    from ..scenario import tomllib

    files = {"scenario": spec.scenario}
    raw = tomllib.loads(spec.scenario.read_text(encoding="utf-8"))
    for k in ("sites", "routes", "demands"):
        v = (raw.get("inputs") or {}).get(k)
        if isinstance(v, str):
            p = Path(v)
            files[k] = p if p.is_absolute() else spec.scenario.parent / p
    return {k: {"path": str(p), "sha256": sha256_file(p) if Path(p).is_file() else None} for k, p in files.items()}


def _check_manifest(spec: SweepSpec, out_dir: Path) -> None:
    """Refuse to resume into a folder whose results come from different base inputs; record the manifest."""
    man_path = out_dir / "sweep.json"
    fp = _base_fingerprint(spec)
    if man_path.exists():
        try:
            old = json.loads(man_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        changed = [k for k, v in (old.get("base") or {}).items() if fp.get(k, {}).get("sha256") != v.get("sha256")]
        if changed and any((out_dir / "runs").glob("*.json")):
            raise InputError([Problem(str(out_dir), f"holds results of a sweep whose base {', '.join(changed)} "
                                      "file(s) differ from the current ones, so they cannot be resumed",
                                      "use a new --out folder (or delete this one)")], "cannot resume sweep")
        ids = list(dict.fromkeys([*(old.get("ids") or []), *spec.ids]))
    else:
        ids = spec.ids
    manifest = {"name": spec.name, "sweep_file": str(spec.path) if spec.path else None,
                "scenario": str(spec.scenario), "base": fp, "ids": ids}
    _write_replace(man_path, _dumps(manifest))


def _clean_temp(out_dir: Path) -> None:
    for p in (out_dir / "runs").glob(".*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()


def _tasks(spec: SweepSpec, out_dir: Path, ids: Iterable[str]) -> list[dict]:
    want = set(ids)
    return [{"id": r.id, "label": r.label, "overrides": dict(r.overrides), "scenario": str(spec.scenario),
             "out_dir": str(out_dir), "save_plan": spec.save_plans,
             "failures": spec.failures} for r in spec.runs if r.id in want]


class _Bar:
    """Rich progress bar with done / failed / remaining counts (a no-op when disabled)."""

    def __init__(self, total: int, skipped: int, enabled: bool, stderr: bool = True):
        self.total, self.done, self.failed, self.lost = total, skipped, 0, 0
        self.skipped = skipped
        self.p = None
        if enabled and total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.p = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
                              console=Console(stderr=stderr), transient=False)
            self.t = self.p.add_task("sweep", total=total, completed=skipped, counts=self._counts())

    def _counts(self) -> str:
        rem = self.total - self.done - self.failed - self.lost
        s = f"done {self.done} · failed {self.failed} · remaining {rem}"
        if self.skipped:
            s += f" · ({self.skipped} already done)"
        if self.lost:
            s += f" · lost {self.lost}"
        return s

    def __enter__(self):
        if self.p is not None:
            self.p.__enter__()
        return self

    def __exit__(self, *exc):
        if self.p is not None:
            self.p.__exit__(*exc)

    def update(self, kind: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if self.p is not None:
            self.p.update(self.t, completed=self.done + self.failed + self.lost, counts=self._counts())


def _client(scheduler, n_workers):
    """(client, objects to close afterwards: the client and cluster made here, in closing order).

    ``scheduler`` may be None (a new LocalCluster), an address, a Client or a cluster object."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - optional dependency
        raise QtopoError("qtopo sweep needs Dask distributed: pip install 'qtopo[sweep]'") from None
    import logging

    if scheduler is None:
        n = n_workers or _cores()
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.CRITICAL)  # workers: lost tasks are reported by the driver
        c = Client(cluster)
        return c, [c, cluster]
    if isinstance(scheduler, Client):
        return scheduler, []
    if hasattr(scheduler, "scheduler_address"):
        c = Client(scheduler)
        return c, [c]
    try:
        c = Client(str(scheduler), timeout="10s")
    except (OSError, TimeoutError) as e:
        raise QtopoError(f"cannot connect to the Dask scheduler at {scheduler}: {e}") from None
    return c, [c]


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_sweep(spec: SweepSpec | str | Path, out_dir: str | Path, scheduler=None, n_workers: int | None = None,
              progress: bool = True, retries: int = 1):
    """Run every pending scenario of a sweep on Dask and collect the results.

    Parameters
    ----------
    spec : SweepSpec or path of a sweep TOML file
    out_dir : path
        Results go to ``out_dir/runs/<id>.json`` (one per scenario, written once), ``results.csv``,
        ``results.parquet`` and ``pareto.png``. Scenarios whose result file exists are skipped (resume).
    scheduler : str, distributed.Client or cluster, optional
        An existing cluster (its scheduler address, a Client or a cluster object). By default a
        ``LocalCluster`` with one single-threaded worker process per core is started and closed afterwards.
    n_workers : int, optional
        Workers of the default LocalCluster (default: the cores available to this process).
    progress : bool
        Show a progress bar with done / failed / remaining counts.
    retries : int
        Dask retries of a task that raised (e.g. an I/O error writing its result). Tasks whose worker process
        died are rescheduled by the scheduler (``distributed.scheduler.allowed-failures``).

    Notes
    -----
    The default LocalCluster starts worker processes with ``spawn``: a script that calls this function needs the
    usual ``if __name__ == "__main__":`` guard (notebooks and the ``qtopo sweep`` command do not).

    Returns
    -------
    pandas.DataFrame
        One row per scenario of ``spec`` (see :func:`collect`); ``df.attrs["sweep"]`` holds the counts
        (``ran``, ``skipped``, ``lost`` and one per status) and ``lost_errors``. Scenarios that were lost (their
        worker died too often) have no result file and are picked up by the next run.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec)
    out_dir = Path(out_dir).absolute()  # workers may run in another working directory
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError([Problem(str(out_dir), "exists and is not a directory", "choose another --out")],
                         "cannot write sweep")
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    counts = {"ran": 0, "skipped": 0, "lost": 0}
    lost_errors: dict[str, str] = {}
    with _lock(out_dir), _quiet_logs(scheduler is None):
        _check_manifest(spec, out_dir)
        _clean_temp(out_dir)
        pending = [r.id for r in spec.runs if not result_path(out_dir, r.id).exists()]
        counts["skipped"] = len(spec.runs) - len(pending)
        if pending:
            client, owned = _client(scheduler, n_workers)
            futures = []
            try:
                from distributed import as_completed

                with _Bar(len(spec.runs), counts["skipped"], progress) as bar:
                    ids_of = {}
                    for t in _tasks(spec, out_dir, pending):
                        f = client.submit(run_scenario, t, key=f"qtopo-sweep-{t['id']}", retries=retries, pure=False)
                        futures.append(f)
                        ids_of[f.key] = t["id"]
                    for fut in as_completed(futures):
                        sid = ids_of.get(fut.key, str(fut.key))
                        try:
                            res = fut.result()
                        except Exception as e:  # KilledWorker, cancelled, lost connection: not a result
                            counts["lost"] += 1
                            lost_errors[sid] = f"{type(e).__name__}: {e}"
                            bar.update("lost")
                            continue
                        if res["skipped"]:
                            counts["skipped"] += 1
                        else:
                            counts["ran"] += 1
                        bar.update("failed" if res["result"].get("status") == "error" else "done")
                        fut.release()
            except BaseException:
                with contextlib.suppress(Exception):
                    client.cancel(futures)
                raise
            finally:
                for f in futures:
                    with contextlib.suppress(Exception):
                        f.release()
                for o in owned:
                    with contextlib.suppress(Exception):
                        o.close()
        df = collect(out_dir, spec)
        write_results(df, out_dir)
    for s in STATUSES:
        counts[s] = int((df["status"] == s).sum()) if len(df) else 0
    counts["missing"] = int(df["status"].isna().sum()) if len(df) else 0
    counts["elapsed_s"] = time.perf_counter() - t0
    df.attrs["sweep"] = counts
    df.attrs["lost_errors"] = lost_errors
    return df


