"""Scenario sweeps: many what-if variants of one scenario, run on Dask distributed.

A sweep file (TOML) names a base scenario and the overrides to vary::

    [sweep]
    scenario = "../surfnet/scenario.toml"   # relative to the sweep file
    mode = "grid"                            # grid (cartesian product) | list (one table per scenario)
    save_plans = false                       # also write each full plan under runs/<id>/
    solver_threads = 1                       # HiGHS threads per scenario (fixed per worker process)

    [fixed]                                  # overrides applied to every scenario
    "solver.time_limit_s" = 20

    [grid]                                   # dotted scenario keys -> list of values
    "costs.hut_node_eur" = [2e5, 4e5]
    "devices.apd.pair_cost_eur" = [6e4, 1.2e5]
    "demands.scale" = [0.5, 1, 2, 4]         # multiplies every demand target
    "demands.k_routes" = [1, 2]              # demands.<column> sets a demand-table column for every demand

    # mode = "list": one table per scenario, with an optional label
    # [[list]]
    # label = "cheap huts"
    # "costs.hut_node_eur" = 1e5

Keys starting with ``demands.`` change the demand table: each scenario that has them plans with a modified copy
of the demands CSV written into its working folder ``OUT/work/<id>/`` (``inputs.demands`` points there).
Every expanded scenario is validated up front (all problems at once). Each scenario has a stable id, a hash
of its sorted overrides, and a readable label. :func:`run_sweep` runs the pending scenarios on a Dask
``LocalCluster`` (one single-threaded worker process per core) or on an existing cluster, writes each result
once and atomically to ``OUT/runs/<id>.json`` and collects ``results.csv``, ``results.parquet`` and
``pareto.png``. Rerunning a sweep skips scenarios whose result file exists, so an interrupted sweep or a killed
worker loses nothing that finished. A scenario that raises is recorded with status ``error`` and its message.

Result files are written first-writer-wins (temporary file, then a hard link that fails if the file exists):
a task that dask runs again after its worker died can never replace a result with different content.
Workers and the process calling :func:`run_sweep` must see ``OUT`` on a shared file system.
"""
from __future__ import annotations

import contextlib
import copy
import difflib
import hashlib
import itertools
import json
import math
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping


from .contract import PLAN_STATUSES, Status
from .errors import InputError, Problem, ProblemCollector, QtopoError

SCALE_KEY = "demands.scale"
DEMANDS_PREFIX = "demands."
STATUSES = tuple(s.value for s in Status)
_SWEEP_KEYS = {
    "name": "short name of the sweep",
    "description": "free text",
    "scenario": "base scenario file, relative to the sweep file",
    "mode": "'grid' (cartesian product of [grid]) or 'list' (one [[list]] table per scenario)",
    "save_plans": "also write each full plan (plan.json, plan.gpkg, report) under runs/<id>/",
    "solver_threads": "HiGHS threads per scenario (HiGHS fixes its thread pool per process)",
    "failures": "single-failure analysis of each plan (survivability columns); default true",
}
_TABLES = {"sweep", "fixed", "grid", "list"}
MAX_SCENARIOS = 100_000


# ---------------------------------------------------------------------------------------------------------
# The sweep specification
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepRun:
    """One scenario of a sweep: its id, readable label and dotted-key overrides (``demands.scale`` included)."""

    id: str
    label: str
    overrides: Mapping[str, Any]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep. Build with :func:`load_sweep` or :func:`sweep_from_dict`."""

    scenario: Path
    runs: tuple[SweepRun, ...]
    mode: str = "grid"
    name: str = "sweep"
    description: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    varied: tuple[str, ...] = ()
    save_plans: bool = False
    solver_threads: int = 1
    failures: bool = True
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.runs]

    def table(self):
        """The scenarios as a DataFrame: id, label and one column per varied key."""
        import pandas as pd

        rows = [{"id": r.id, "label": r.label, **{k: r.overrides.get(k) for k in self.varied}} for r in self.runs]
        return pd.DataFrame(rows, columns=["id", "label", *self.varied])


def _canonical(value):
    """JSON-ready canonical form used for ids: ints and floats that are equal hash equal (1 == 1.0)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return str(value)


def scenario_id(overrides: Mapping[str, Any]) -> str:
    """Stable id of a scenario: the first 12 hex digits of SHA-256 over its sorted, canonical overrides."""
    text = json.dumps(_canonical(dict(overrides)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return f"{v:g}"
    if isinstance(v, str):
        return Path(v).name if ("/" in v or "\\" in v) else v
    return str(v)


def _short_names(keys: Iterable[str]) -> dict[str, str]:
    """Shortest dotted suffix of each key that is unique among ``keys`` (``devices.apd.pair_cost_eur`` ->
    ``pair_cost_eur``, or ``apd.pair_cost_eur`` when another device's price varies too)."""
    keys = list(keys)
    out = {}
    for k in keys:
        parts = k.split(".")
        for n in range(1, len(parts) + 1):
            suf = ".".join(parts[-n:])
            if sum(1 for o in keys if o == suf or o.endswith("." + suf)) == 1:
                out[k] = suf
                break
        else:
            out[k] = k
    out = {k: ("scale" if k == SCALE_KEY else v) for k, v in out.items()}
    return out


def make_label(overrides: Mapping[str, Any], keys: Iterable[str] | None = None) -> str:
    """A readable label from the overrides named by ``keys`` (default: all), e.g. ``hut_node_eur=200000, scale=2``."""
    keys = list(overrides) if keys is None else [k for k in keys if k in overrides]
    names = _short_names(keys)
    return ", ".join(f"{names[k]}={_fmt(overrides[k])}" for k in keys) or "base"


def _demand_columns() -> dict:
    """Optional demand-table columns a sweep may set for every demand (``demands.k_routes = 2``)."""
    try:
        from .requirements import COLUMNS
    except ImportError:  # pragma: no cover - requirements ship with the planner
        return {}
    return dict(COLUMNS)


def _check_demand_key(col: ProblemCollector, where: str, key: str, v) -> None:
    """``demands.scale`` must be a positive number; ``demands.<column>`` must name a demand-table column."""
    if key == SCALE_KEY:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            col.add(where, f"'{SCALE_KEY}' = {v!r} must be a positive number",
                    "e.g. 0.5, 1 or 2 (multiplies every demand target)")
        return
    name = key[len(DEMANDS_PREFIX):]
    known = ["scale", *_demand_columns()]
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        col.add(where, f"unknown key '{key}'", f"did you mean 'demands.{close[0]}'?" if close else
                f"demands.scale multiplies every target; demands.<column> sets a column for every demand "
                f"(columns: {', '.join(known[1:])})")
    elif not isinstance(v, (int, float, str)):
        col.add(where, f"'{key}' = {v!r} must be a number or a string", f"e.g. \"{key}\" = 2")


def _split_overrides(overrides: Mapping[str, Any]) -> tuple[dict, dict]:
    """(scenario overrides, demand overrides ``demands.*``)."""
    scen = {k: v for k, v in overrides.items() if not k.startswith(DEMANDS_PREFIX)}
    dem = {k: v for k, v in overrides.items() if k.startswith(DEMANDS_PREFIX)}
    return scen, dem


def apply_demand_overrides(demands, overrides: Mapping[str, Any]):
    """A copy of a demands table with ``demands.scale`` (multiplies ``target_bps``) and ``demands.<column>``
    (sets the column for every demand) applied."""
    import pandas as pd

    d = demands.copy()
    for k, v in overrides.items():
        name = k[len(DEMANDS_PREFIX):] if k.startswith(DEMANDS_PREFIX) else k
        if name == "scale":
            d["target_bps"] = pd.to_numeric(d["target_bps"], errors="raise").astype(float) * float(v)
        else:
            d[name] = v
    return d


def sweep_from_dict(raw: Mapping[str, Any], base_dir: str | Path = ".", path: str | Path | None = None) -> SweepSpec:
    """Validate a sweep given as nested dicts (as parsed from TOML); paths are relative to ``base_dir``.

    The steps: :func:`_sweep_table` (tables and ``[sweep]`` keys), :func:`_base_scenario`,
    :func:`_sweep_options`, :func:`_fixed_overrides`, :func:`_grid_entries` or :func:`_list_entries`,
    :func:`_expand_runs` (ids, labels, duplicates) and :func:`_check_runs` (every expanded scenario against the
    scenario schema).

    Raises
    ------
    InputError
        Listing every problem: unknown tables or keys (with the close match), a missing or unreadable base
        scenario, empty or malformed grids, duplicate scenarios, and every problem of every expanded scenario
        (found by validating each one with the scenario schema; repeated problems are reported once with the
        number of scenarios they affect).
    """
    fname = Path(path).name if path is not None else "sweep"
    col = ProblemCollector(f"invalid sweep file {path if path is not None else ''}".strip())
    sw = _sweep_table(raw, fname, col)
    scen_path, scen_raw = _base_scenario(raw, sw, Path(base_dir), fname, col)
    opts = _sweep_options(sw, path, fname, col)
    fixed = _fixed_overrides(raw, fname, col)
    entries: list[tuple[dict, str | None]] = []  # (varying overrides, explicit label)
    varied: list[str] = []
    if opts["mode"] == "grid":
        entries, varied = _grid_entries(raw, fixed, fname, col)
    elif opts["mode"] == "list":
        entries, varied = _list_entries(raw, fixed, fname, col)
    runs, n_dup = _expand_runs(entries, fixed, varied, opts, fname, col)
    if scen_raw is not None and runs:
        _check_runs(runs, scen_raw, scen_path, fname, col)
    if n_dup > 3:
        col.add(fname, f"and {n_dup - 3} more identical scenarios", "remove the duplicates")
    col.problems = list(dict.fromkeys(col.problems))  # each distinct problem once
    col.raise_if_any()
    return SweepSpec(scenario=scen_path, runs=tuple(runs), mode=opts["mode"], name=opts["name"],
                     description=opts["description"], fixed=dict(fixed), varied=tuple(varied),
                     save_plans=opts["save_plans"], solver_threads=opts["solver_threads"],
                     failures=opts["failures"], path=Path(path).resolve() if path is not None else None)


def _sweep_table(raw, fname: str, col: ProblemCollector) -> Mapping:
    """The ``[sweep]`` table (``{}`` if missing), after checking the table names and its keys."""
    if not isinstance(raw, Mapping):
        col.add(fname, "the sweep is not a table", "start it with [sweep] scenario = \"...\"")
        col.raise_if_any()
    for t in raw:
        if t not in _TABLES:
            close = difflib.get_close_matches(t, sorted(_TABLES), n=1, cutoff=0.5)
            col.add(f"{fname} [{t}]", f"unknown table [{t}]",
                    f"did you mean [{close[0]}]?" if close else "known tables: [sweep], [fixed], [grid], [[list]]")
    sw = raw.get("sweep")
    if not isinstance(sw, Mapping):
        col.add(f"{fname} [sweep]", "missing [sweep] table" if sw is None else "[sweep] must be a table",
                "add [sweep] with scenario = \"path/to/scenario.toml\" and mode = \"grid\" or \"list\"")
        sw = {}
    for k in sw:
        if k not in _SWEEP_KEYS:
            close = difflib.get_close_matches(k, list(_SWEEP_KEYS), n=1, cutoff=0.6)
            col.add(f"{fname} [sweep]", f"unknown key '{k}'",
                    f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(_SWEEP_KEYS)}")
    return sw


def _base_scenario(raw, sw: Mapping, base_dir: Path, fname: str, col: ProblemCollector):
    """``(path, parsed TOML)`` of the base scenario, or ``None`` parts where it is missing or unreadable."""
    from .scenario import tomllib

    where = f"{fname} [sweep]"
    if "scenario" not in sw:
        if isinstance(raw.get("sweep"), Mapping):
            col.add(where, "missing key 'scenario'",
                    "add scenario = \"path/to/scenario.toml\" (relative to the sweep file)")
        return None, None
    if not isinstance(sw["scenario"], str):
        col.add(where, f"'scenario' must be a string path, got {sw['scenario']!r}", "scenario = \"../scenario.toml\"")
        return None, None
    p = Path(sw["scenario"])
    scen_path = (p if p.is_absolute() else base_dir / p).resolve()
    if not scen_path.is_file():
        col.add(where, f"base scenario {scen_path} does not exist" if not scen_path.exists()
                else f"base scenario {scen_path} is not a file",
                "give the scenario TOML path relative to the sweep file")
        return None, None
    try:
        return scen_path, tomllib.loads(scen_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as e:
        col.add(str(scen_path), f"cannot read the base scenario: {e}", "fix it (qtopo validate SCENARIO)")
        return scen_path, None


def _sweep_options(sw: Mapping, path, fname: str, col: ProblemCollector) -> dict:
    """``mode`` (None if invalid), ``name``, ``description``, ``save_plans``, ``failures``, ``solver_threads``."""
    where = f"{fname} [sweep]"
    mode = sw.get("mode", "grid")
    if mode not in ("grid", "list"):
        col.add(where, f"mode = {mode!r} is not 'grid' or 'list'",
                "mode = \"grid\" (cartesian product of [grid]) or \"list\" (one [[list]] table per scenario)")
        mode = None
    name = sw.get("name", Path(path).stem if path is not None else "sweep")
    description = sw.get("description", "")
    for k, v in (("name", name), ("description", description)):
        if not isinstance(v, str):
            col.add(where, f"'{k}' must be a string, got {v!r}", f'{k} = "..."')
    save_plans = sw.get("save_plans", False)
    if not isinstance(save_plans, bool):
        col.add(where, f"'save_plans' must be true or false, got {save_plans!r}", "save_plans = true")
        save_plans = False
    failures = sw.get("failures", True)
    if not isinstance(failures, bool):
        col.add(where, f"'failures' must be true or false, got {failures!r}", "failures = true")
        failures = True
    threads = sw.get("solver_threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 256:
        col.add(where, f"'solver_threads' must be an integer from 1 to 256, got {threads!r}",
                "solver_threads = 1 (one HiGHS thread per worker process is usually fastest in a sweep)")
        threads = 1
    return {"mode": mode, "name": name, "description": description, "save_plans": save_plans,
            "failures": failures, "solver_threads": threads}


def _without_thread_key(table: str, d: Mapping, fname: str, col: ProblemCollector) -> dict:
    """``d`` without ``solver.threads``, which a sweep may not vary per scenario (reported)."""
    out = dict(d)
    if "solver.threads" in out:
        col.add(f"{fname} [{table}]", "'solver.threads' cannot be set per scenario: HiGHS fixes its thread "
                "pool per worker process", "set solver_threads in [sweep] instead")
        del out["solver.threads"]
    return out


def _fixed_overrides(raw, fname: str, col: ProblemCollector) -> dict:
    """The ``[fixed]`` overrides every scenario shares."""
    fixed = raw.get("fixed", {})
    if not isinstance(fixed, Mapping):
        col.add(f"{fname} [fixed]", "[fixed] must be a table of dotted keys", '[fixed] "solver.time_limit_s" = 20')
        fixed = {}
    fixed = _without_thread_key("fixed", fixed, fname, col)
    for k, v in fixed.items():
        if k.startswith(DEMANDS_PREFIX):
            _check_demand_key(col, f"{fname} [fixed]", k, v)
    return fixed


def _grid_entries(raw, fixed: Mapping, fname: str, col: ProblemCollector) -> tuple[list, list]:
    """Mode ``grid``: one entry per combination of the ``[grid]`` values, and the varied keys."""
    grid = raw.get("grid")
    if raw.get("list") is not None:
        col.add(f"{fname} [[list]]", "[[list]] tables are given but mode is 'grid'",
                "set mode = \"list\", or move the values into [grid]")
    if not isinstance(grid, Mapping) or not grid:
        col.add(f"{fname} [grid]", "missing or empty [grid] table",
                "add [grid] with dotted scenario keys and lists of values, e.g. \"costs.hut_node_eur\" = [2e5, 4e5]")
        grid = {}
    grid = _without_thread_key("grid", grid, fname, col)
    varied, values = [], []
    for k, v in grid.items():
        w = f"{fname} [grid] {k}"
        if k in fixed:
            col.add(w, f"'{k}' is both in [fixed] and in [grid]", "keep it in one of them")
        if not isinstance(v, list) or not v:
            col.add(w, f"'{k}' must be a non-empty list of values, got {v!r}",
                    f"write \"{k}\" = [value1, value2] (or move a single value to [fixed])")
            continue
        canon = [json.dumps(_canonical(x), sort_keys=True) for x in v]
        dups = sorted({_fmt(x) for x, c in zip(v, canon) if canon.count(c) > 1})
        if dups:
            col.add(w, f"repeated value(s) {', '.join(dups)}", "list each value once")
        if k.startswith(DEMANDS_PREFIX):
            for x in v:
                _check_demand_key(col, w, k, x)
        varied.append(k)
        values.append(v)
    n = math.prod(len(v) for v in values) if values else 0
    if n > MAX_SCENARIOS:
        col.add(f"{fname} [grid]", f"the grid expands to {n:,} scenarios (limit {MAX_SCENARIOS:,})",
                "split the sweep or use fewer values")
        return [], varied
    return [(dict(zip(varied, combo)), None) for combo in itertools.product(*values)] if values else [], varied


def _list_entries(raw, fixed: Mapping, fname: str, col: ProblemCollector) -> tuple[list, list]:
    """Mode ``list``: one entry (overrides, label) per ``[[list]]`` table, and the keys any of them varies."""
    lst = raw.get("list")
    if raw.get("grid") is not None:
        col.add(f"{fname} [grid]", "a [grid] table is given but mode is 'list'",
                "set mode = \"grid\", or write the scenarios as [[list]] tables")
    if not isinstance(lst, list) or not lst:
        col.add(f"{fname} [[list]]", "missing or empty [[list]]",
                "add one [[list]] table per scenario with its dotted-key overrides")
        lst = []
    entries, varied = [], []
    for i, entry in enumerate(lst, 1):
        w = f"{fname} [[list]] #{i}"
        if not isinstance(entry, Mapping):
            col.add(w, "must be a table of dotted keys", '[[list]] "costs.hut_node_eur" = 1e5')
            continue
        entry = dict(entry)
        label = entry.pop("label", None)
        if label is not None and not isinstance(label, str):
            col.add(w, f"'label' must be a string, got {label!r}", 'label = "cheap huts"')
            label = None
        entry = _without_thread_key(f"[list] #{i}", entry, fname, col)
        for k in entry:
            if k in fixed:
                col.add(w, f"'{k}' is both in [fixed] and in this entry", "keep it in one of them")
            if k not in varied:
                varied.append(k)
        for k, v in entry.items():
            if k.startswith(DEMANDS_PREFIX):
                _check_demand_key(col, w, k, v)
        entries.append((entry, label))
    return entries, varied


def _expand_runs(entries: list, fixed: Mapping, varied: list, opts: dict, fname: str,
                 col: ProblemCollector) -> tuple[list[SweepRun], int]:
    """The runs (id from the full overrides, label), and how many entries repeated an earlier one (the first
    three are reported)."""
    runs: list[SweepRun] = []
    seen: dict[str, int] = {}
    n_dup = 0
    for i, (ov, label) in enumerate(entries, 1):
        full = {**fixed, **ov, "solver.threads": opts["solver_threads"]}
        sid = scenario_id(full)
        if sid in seen:
            n_dup += 1
            if n_dup <= 3:
                col.add(f"{fname}", f"scenarios #{seen[sid]} and #{i} are identical ({make_label(ov)})",
                        "remove the duplicate")
            continue
        seen[sid] = i
        lab = label if label else make_label(ov, varied if opts["mode"] == "grid" else list(ov))
        runs.append(SweepRun(sid, lab, full))
    return runs, n_dup


def _check_runs(runs: list[SweepRun], scen_raw: Mapping, scen_path: Path, fname: str,
                col: ProblemCollector) -> None:
    """Validate every expanded scenario (and its demand table, when demands are overridden) against the
    schemas; each distinct problem is reported once with the number of scenarios it affects."""
    from .scenario import apply_overrides, scenario_from_dict

    found: dict[tuple, list[str]] = {}

    def note(problems, label):
        for p in problems:
            found.setdefault((p.where, p.what, p.fix), []).append(label)

    demand_cache: dict[str, Any] = {}
    for r in runs:
        ov, dov = _split_overrides(r.overrides)
        try:
            scenario_from_dict(apply_overrides(scen_raw, ov), path=scen_path)
        except InputError as e:
            note(e.problems, r.label)
        if dov:  # the demand table this scenario will plan with must be valid too
            dpath = str(_demands_path(scen_path, scen_raw, ov))
            try:
                if dpath not in demand_cache:
                    from .io import read_demands

                    demand_cache[dpath] = read_demands(dpath)
                try:
                    d = apply_demand_overrides(demand_cache[dpath], dov)
                except (TypeError, ValueError):  # a malformed demands.* value, already reported
                    continue
                from .requirements import parse_requirements

                parse_requirements(d, where=Path(dpath).name)
            except InputError as e:
                note(e.problems, r.label)
            except ImportError:  # pragma: no cover
                pass
    for (w, what, fix), labels in found.items():
        n = len(labels)
        scope = (f"all {n} scenarios" if n == len(runs) else
                 f"{n} scenario{'s' if n != 1 else ''}, e.g. [{labels[0]}]")
        col.add(f"{fname} ({scope}) {w}", what, fix)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep TOML file (see the module docstring for its format).

    Raises
    ------
    InputError
        With every problem found, including those of every expanded scenario.
    """
    from .scenario import tomllib

    p = Path(path)
    if not p.exists():
        raise InputError([Problem(str(p), "sweep file does not exist", "check the path")], "cannot read sweep")
    if p.is_dir():
        raise InputError([Problem(str(p), "is a directory", "pass the sweep .toml file")], "cannot read sweep")
    try:
        raw = tomllib.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise InputError([Problem(str(p), f"not UTF-8 text (byte {e.start})", "save it as UTF-8")],
                         "cannot read sweep") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError([Problem(str(p), f"not valid TOML: {e}", "fix the syntax at that line")],
                         "cannot read sweep") from None
    return sweep_from_dict(raw, base_dir=p.resolve().parent, path=p)


def _demands_path(scen_path: Path, scen_raw: Mapping, overrides: Mapping) -> Path:
    d = overrides.get("inputs.demands", (scen_raw.get("inputs") or {}).get("demands", "demands.csv"))
    p = Path(d)
    return p if p.is_absolute() else scen_path.parent / p


# ---------------------------------------------------------------------------------------------------------
# One scenario, run inside a worker process
# ---------------------------------------------------------------------------------------------------------
def _set_highs_threads(threads: int) -> None:
    """HiGHS fixes its thread pool per process: the back-end's thread policy resets it when the count changes."""
    from .highs import THREADS

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
    from .atomic import _json_default

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
    from .contract import Plan

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
        from .failures import analyse_failures

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

        from .planner import plan as _plan
        from .scenario import load_scenario

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
    from . import __version__

    summary["qtopo_version"] = __version__
    if res_path.exists():  # another attempt committed meanwhile: keep its result
        return {"skipped": True, "result": json.loads(res_path.read_text(encoding="utf-8"))}
    if task.get("save_plan") and plan_obj is not None:
        from .planner import read_network, write_plan

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


# ---------------------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------------------
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
    from .io import sha256_file
    from .scenario import tomllib

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


def result_path(out_dir: str | Path, sid: str) -> Path:
    return Path(out_dir) / "runs" / f"{sid}.json"


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


# ---------------------------------------------------------------------------------------------------------
# Collecting results
# ---------------------------------------------------------------------------------------------------------
_FIRST = ["id", "label", "status", "cost_eur", "gap", "best_bound"]
_LAST = ["delivered_total_bps", "target_total_bps", "min_rate_margin", "survivability", "demands_surviving_all",
         "availability_min", "n_demands",
         "n_trusted_nodes", "n_intermediate_nodes", "n_links", "device_pairs", "cost_nodes_eur",
         "cost_device_pairs_eur", "cost_devices_and_fibre_eur", "time_total_s", "time_solve_s", "wall_s",
         "verification_ok", "termination", "diagnosis", "error", "failures_error", "overrides", "host", "qtopo_version"]


def collect(out_dir: str | Path, spec: SweepSpec | None = None):
    """All result files of ``out_dir/runs`` (or only those of ``spec``, in its order) as a DataFrame.

    One row per scenario; one column per override key (dotted name) and per device type (``pairs.<name>``);
    scenarios of ``spec`` without a result file appear with an empty status.
    """
    import pandas as pd

    out_dir = Path(out_dir)
    if spec is not None:
        ids = spec.ids
        paths = [result_path(out_dir, i) for i in ids]
    else:
        paths = sorted(p for p in (out_dir / "runs").glob("*.json") if not p.name.startswith("."))
        ids = [p.stem for p in paths]
    rows, ov_keys, dev_keys = [], [], []
    runs = {r.id: r for r in spec.runs} if spec is not None else {}
    for sid, p in zip(ids, paths):
        if p.exists():
            d = json.loads(p.read_text(encoding="utf-8"))
        else:
            r = runs[sid]
            d = {"id": sid, "label": r.label, "overrides": dict(r.overrides), "status": None}
        row = {k: v for k, v in d.items() if k not in ("overrides", "device_pairs_by_type")}
        ov = d.get("overrides") or {}
        for k, v in ov.items():
            row[k] = v
            if k not in ov_keys:
                ov_keys.append(k)
        for k, v in (d.get("device_pairs_by_type") or {}).items():
            row[f"pairs.{k}"] = v
            if f"pairs.{k}" not in dev_keys:
                dev_keys.append(f"pairs.{k}")
        row["overrides"] = json.dumps(ov, sort_keys=True)
        rows.append(row)
    df = pd.DataFrame(rows)
    order = [c for c in _FIRST if c in df.columns] + ov_keys + sorted(dev_keys)
    order += [c for c in _LAST if c in df.columns and c not in order]
    order += [c for c in df.columns if c not in order]
    df = df.reindex(columns=order) if len(df) else pd.DataFrame(columns=order)
    return df


def _for_parquet(df):
    """Object columns mixing types become strings (Parquet columns have one type)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            types = {type(v) for v in out[c] if v is not None and not (isinstance(v, float) and math.isnan(v))}
            if len(types) > 1 or (types and not types <= {str, bool}):
                if types <= {int, float}:
                    out[c] = out[c].astype(float)
                else:
                    out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                                        else str(v))
    return out


def write_results(df, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.csv``, ``results.parquet`` (if pyarrow is installed) and ``pareto.png``, each atomically."""
    out_dir = Path(out_dir)
    paths = {}
    p = out_dir / "results.csv"
    _write_replace(p, df.to_csv(index=False))
    paths["csv"] = p
    try:
        import pyarrow  # noqa: F401

        p = out_dir / "results.parquet"
        fd, tmp = tempfile.mkstemp(prefix=".results.", suffix=".parquet.tmp", dir=out_dir)
        os.close(fd)
        try:
            _for_parquet(df).to_parquet(tmp, index=False)
            os.replace(tmp, p)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        paths["parquet"] = p
    except ImportError:  # pragma: no cover - optional dependency
        pass
    p = out_dir / "pareto.png"
    fd, tmp = tempfile.mkstemp(prefix=".pareto.", suffix=".png", dir=out_dir)
    os.close(fd)
    try:
        pareto_plot(df, tmp)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    paths["pareto"] = p
    return paths


def pareto_front(df, cost: str = "cost_eur", benefit: str = "delivered_total_bps"):
    """Boolean Series: rows with a plan that no other row beats (cost no higher and benefit no lower, one of
    them strictly). Rows without a plan (status not optimal/feasible) or with missing values are never on it."""
    import numpy as np
    import pandas as pd

    ok = df["status"].isin(sorted(PLAN_STATUSES)) if "status" in df else pd.Series(True, index=df.index)
    c = pd.to_numeric(df.get(cost), errors="coerce")
    b = pd.to_numeric(df.get(benefit), errors="coerce")
    ok = ok & c.notna() & b.notna()
    front = pd.Series(False, index=df.index)
    idx = np.flatnonzero(ok.to_numpy())
    cv, bv = c.to_numpy()[idx], b.to_numpy()[idx]
    for j, i in enumerate(idx):
        dominated = np.any((cv <= cv[j]) & (bv >= bv[j]) & ((cv < cv[j]) | (bv > bv[j])))
        front.iloc[i] = not dominated
    return front


def pareto_plot(df, path: str | Path | None = None, ax=None):
    """Plot cost versus delivered key rate (and versus survivability when the table has that column), with the
    Pareto front highlighted. Writes ``path`` when given; returns the matplotlib Figure."""
    import pandas as pd
    from matplotlib.figure import Figure

    panels = [("delivered_total_bps", "delivered key rate, all demands (bit/s)")]
    if "survivability" in df.columns and pd.to_numeric(df["survivability"], errors="coerce").notna().any():
        panels.append(("survivability", "survivability"))
    if ax is None and path is None:  # interactive (a notebook): a pyplot figure, shown by the backend
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(6.4 * len(panels), 4.6))
        axes = list(fig.subplots(1, len(panels), squeeze=False)[0])
    elif ax is None:  # a file: no pyplot, no global state, works with any backend
        fig = Figure(figsize=(6.4 * len(panels), 4.6))
        axes = list(fig.subplots(1, len(panels), squeeze=False)[0])
    else:
        axes, fig = [ax], ax.figure
        panels = panels[:1]
    has = df["status"].isin(sorted(PLAN_STATUSES)) if len(df) else pd.Series(dtype=bool)
    n_none = int((~has).sum()) if len(df) else 0
    for a, (col, xlabel) in zip(axes, panels):
        if len(df) and has.any():
            sub = df[has]
            x = pd.to_numeric(sub[col], errors="coerce")
            y = pd.to_numeric(sub["cost_eur"], errors="coerce") / 1e6
            opt = sub["status"] == "optimal"
            a.scatter(x[opt], y[opt], s=28, color="#4c72b0", alpha=0.7, label="optimal (within gap)")
            if (~opt).any():
                a.scatter(x[~opt], y[~opt], s=28, facecolor="none", edgecolor="#4c72b0",
                          label="feasible (time limit)")
            front = pareto_front(df, benefit=col)[has]
            fx, fy = x[front].to_numpy(), y[front].to_numpy()
            order = fx.argsort()
            # staircase: to get more than one front point's benefit, pay the next front point's cost
            a.step(fx[order], fy[order], where="pre", color="#c44e52", lw=1.5, zorder=3)
            a.scatter(fx, fy, s=60, color="#c44e52", zorder=4, label="Pareto front")
            if col == "delivered_total_bps" and x.max() > 0 and x[x > 0].min() > 0 and x.max() / x[x > 0].min() > 20:
                a.set_xscale("log")
        else:
            a.text(0.5, 0.5, "no plan to show", ha="center", va="center", transform=a.transAxes)
        a.set_xlabel(xlabel)
        a.set_ylabel("cost (million EUR)")
        a.grid(alpha=0.3)
        a.legend(loc="upper left", fontsize=8)
    title = f"{len(df)} scenarios"
    if n_none:
        title += f" ({n_none} without a plan not shown)"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, format="png")
    return fig


def summary_line(df) -> str:
    """``24 scenarios: 20 optimal, 2 feasible, 1 infeasible, 1 error`` (plus skipped and lost counts)."""
    c = df.attrs.get("sweep", {})
    parts = [f"{int((df['status'] == s).sum())} {s}" for s in STATUSES if len(df) and (df["status"] == s).any()]
    missing = int(df["status"].isna().sum()) if len(df) else 0
    if missing:
        parts.append(f"{missing} not finished")
    s = f"{len(df)} scenarios: " + (", ".join(parts) if parts else "none")
    if c.get("skipped"):
        s += f" ({c['skipped']} already done, skipped)"
    if "elapsed_s" in c:
        s += f" in {c['elapsed_s']:.1f} s"
    return s
