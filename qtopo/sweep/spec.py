"""Sweep files: the specification, scenario ids and labels, validation of every expanded scenario."""
from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..contract import Status
from ..errors import InputError, Problem, ProblemCollector

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
        from ..requirements import COLUMNS
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
    from ..scenario import tomllib

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
    from ..scenario import apply_overrides, scenario_from_dict

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
                    from ..io import read_demands

                    demand_cache[dpath] = read_demands(dpath)
                try:
                    d = apply_demand_overrides(demand_cache[dpath], dov)
                except (TypeError, ValueError):  # a malformed demands.* value, already reported
                    continue
                from ..requirements import parse_requirements

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
    from ..scenario import tomllib

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


