"""Render benchmark JSON records into the results section of ``benchmarks/README.md``.

Usage::

    python -m benchmarks.render [RESULTS_DIR] [--readme benchmarks/README.md] [--stdout]

Everything between ``<!-- results:start -->`` and ``<!-- results:end -->`` is regenerated from the JSON files
of ``RESULTS_DIR`` (default ``benchmarks/results``): the targets of issue 5 with met / not met computed from
the data, one row per (instance, variant), failures with their phase, infeasible plans with the planner's
diagnosis (an infeasible ``k2`` instance is a result, not a failure), and the machine the runs were made on.
Never edit that section by hand.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.registry import BENCH_DIR, INSTANCES, SUITES, TARGETS, VARIANTS, build_share

START = "<!-- results:start -->"
END = "<!-- results:end -->"
#: Markers of the targets summary in the project README (same records, same table as the results section).
TARGETS_START = "<!-- bench-targets:start -->"
TARGETS_END = "<!-- bench-targets:end -->"


def load_records(results_dir: Path) -> dict:
    """``{(instance, variant): record}`` of every ``*.json`` in ``results_dir`` (unreadable files skipped)."""
    out = {}
    for p in sorted(Path(results_dir).glob("*.json")):
        try:
            r = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            print(f"render: skipping {p}: {e}", file=sys.stderr)
            continue
        if isinstance(r, dict) and "instance" in r and "variant" in r:
            out[(r["instance"], r["variant"])] = r
    return out


def _order(key):
    inst, var = key
    names = list(INSTANCES)
    vars_ = list(VARIANTS)
    return (names.index(inst) if inst in names else len(names), inst,
            vars_.index(var) if var in vars_ else len(vars_), var)


def _n(x, fmt=",d"):
    if x is None:
        return "-"
    try:
        return format(x, fmt)
    except (TypeError, ValueError):
        return str(x)


def _s(x):
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def _pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def _met(v):
    return {True: "**met**", False: "**not met**", None: "undecided"}[v]


def _esc(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    out += ["| " + " | ".join(_esc(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _rows(records: dict):
    return [records[k] for k in sorted(records, key=_order)]


def _ran(r) -> bool:
    return r.get("run_status") not in ("not_implemented", "unavailable")


def outcome_table(records: dict) -> str:
    """One row per run: outcome, objective, bound, gap, verification, end-to-end time, peak memory."""
    head = ["instance", "variant", "run", "status", "objective (EUR)", "bound (EUR)", "gap", "verified",
            "solver limit s", "total s", "peak MB"]
    rows = []
    for r in _rows(records):
        rows.append([r["instance"], r["variant"], r.get("run_status") or "-", r.get("status") or "-",
                     _n(r.get("objective"), ",.0f"), _n(r.get("bound"), ",.0f"), _pct(r.get("gap")),
                     {True: "yes", False: "**NO**", None: "-"}[r.get("verify_ok")],
                     _n(r.get("time_limit_s"), ".0f") if _ran(r) else "-",
                     _s((r.get("phases_s") or {}).get("total")), _n(r.get("peak_memory_mb"), ",.0f")])
    return _table(head, rows)


def phases_table(records: dict) -> str:
    """Seconds per phase of every run that ran."""
    head = ["instance", "variant", "read", "hops", "heuristic", "build", "hand-off", "solve", "extract", "verify",
            "total", "build + hand-off share"]
    rows = []
    for r in _rows(records):
        if not _ran(r):
            continue
        ph = r.get("phases_s") or {}
        sh = build_share(r)
        rows.append([r["instance"], r["variant"]] + [_s(ph.get(k)) for k in
                    ("read", "hops", "heuristic", "build", "handoff", "solve", "extract", "verify", "total")]
                    + ["-" if sh is None else f"{100 * sh:.0f}%"])
    return _table(head, rows)


def sizes_table(records: dict) -> str:
    """Instance and model sizes (after exact bound pruning in parentheses where it removed something)."""
    head = ["instance", "variant", "fibre nodes", "fibre edges", "candidates", "hops", "hop-device options",
            "demands", "commodities", "variables", "constraints", "nonzeros"]
    rows = []
    for r in _rows(records):
        s = r.get("sizes") or {}
        if not _ran(r) or all(v is None for v in s.values()):
            continue

        def pair(a, b):
            if s.get(a) is None:
                return "-"
            if s.get(b) is None or s.get(b) == s.get(a):
                return _n(s.get(a))
            return f"{_n(s.get(a))} ({_n(s.get(b))})"

        rows.append([r["instance"], r["variant"], _n(s.get("fibre_nodes")), _n(s.get("fibre_edges")),
                     pair("candidates", "candidates_after_bound"), pair("hops", "hops_after_bound"),
                     pair("hop_devices", "hop_devices_after_bound"), _n(s.get("demands")),
                     _n(s.get("commodities")), _n(s.get("variables")), _n(s.get("constraints")),
                     _n(s.get("nonzeros"))])
    return _table(head, rows)


def instances_table() -> str:
    """The registry, for reference next to the results (generated, so it cannot drift from the code)."""
    head = ["instance", "family", "suites", "variants", "solver limit s (smoke / full)", "MIP gap", "description"]
    rows = []
    for i in INSTANCES.values():
        suites = [s for s in ("test", "smoke", "full") if s in i.suites]
        lim = " / ".join(f"{i.limit(s):.0f}" if s in i.suites else "-" for s in ("smoke", "full"))
        variants = [v if set(i.variant_suites.get(v, i.suites)) == set(i.suites)
                    else f"{v} ({', '.join(s for s in SUITES if s in i.variant_suites[v])})" for v in i.variants]
        rows.append([i.name, i.family, ", ".join(suites), ", ".join(variants), lim, f"{i.mip_gap:g}",
                     i.description])
    return _table(head, rows)


def targets_table(records: dict) -> str:
    lines = ["| target (issue 5) | result | evidence |", "|---|---|---|"]
    for t in TARGETS:
        try:
            met, ev = t.check(records)
        except Exception as e:  # a malformed record must not hide the rest of the table
            met, ev = None, f"could not evaluate: {type(e).__name__}: {e}"
        lines.append(f"| {_esc(t.text)} | {_met(met)} | {_esc(ev)} |")
    return "\n".join(lines)


def diagnosis(r: dict) -> tuple[int, list]:
    """``(count, first entries)`` of the planner's diagnosis stored in a record's notes (``(0, [])`` if none)."""
    for n in r.get("notes") or []:
        if isinstance(n, dict) and isinstance(n.get("diagnosis"), list):
            return int(n.get("diagnosis_count") or len(n["diagnosis"])), n["diagnosis"]
    return 0, []


def problems_section(records: dict) -> str:
    bad = [(k, r) for k, r in sorted(records.items(), key=lambda kv: _order(kv[0]))
           if r.get("run_status") in ("failed", "timeout") or r.get("error")]
    infeasible = [(k, r) for k, r in sorted(records.items(), key=lambda kv: _order(kv[0]))
                  if r.get("run_status") == "ok" and r.get("status") == "infeasible"]
    other = [(k, r) for k, r in sorted(records.items(), key=lambda kv: _order(kv[0]))
             if r.get("run_status") in ("not_implemented", "unavailable")]
    out = []
    if bad:
        out.append("**Failures** (full traceback in the JSON):\n")
        for (i, v), r in bad:
            e = r.get("error") or {}
            out.append(f"- `{i}` / `{v}`: {r.get('run_status')} in phase `{e.get('phase')}` after "
                       f"{_s(r.get('wall_s'))} s: {e.get('type')}: {_esc((e.get('message') or '')[:300])}")
    if infeasible:
        out.append("\n**Infeasible** (a result, not a failure; the planner's diagnosis, first entry):\n")
        for (i, v), r in infeasible:
            n, diag = diagnosis(r)
            first = diag[0] if diag and isinstance(diag[0], dict) else {}
            what = (f"{first.get('source')}-{first.get('target')}: {first.get('reason')}: {first.get('detail')}"
                    if first else "no diagnosis recorded")
            out.append(f"- `{i}` / `{v}`: {n} diagnosed demand(s); {_esc(what[:300])}")
    if other:
        out.append("\n**Not run** (recorded, not faked):\n")
        seen = {}
        for (i, v), r in other:
            why = "; ".join(n for n in r.get("notes", []) if isinstance(n, str)) or r.get("run_status")
            seen.setdefault((v, why), []).append(i)
        for (v, why), insts in seen.items():
            out.append(f"- `{v}` on {', '.join(f'`{i}`' for i in insts)}: {_esc(why)}")
    return "\n".join(out)


_NESTED_KEYS = ("status", "objective", "bound", "n_repeaters", "build_s", "solve_s", "total_s")


def _scalars(d: dict, nested: bool = False) -> list[str]:
    """``key = value`` for the scalar items of ``d`` (and of its dict items, for a few keys, when ``nested``)."""
    def fmt(k, val):
        return f"{k} = {val:,.4g}" if isinstance(val, float) else f"{k} = {val}"
    out = [fmt(k, val) for k, val in d.items() if isinstance(val, (int, float, str, bool)) or val is None]
    if nested:
        for k, sub in d.items():
            if isinstance(sub, dict):
                out += [fmt(f"{k}.{kk}", sub[kk]) for kk in _NESTED_KEYS
                        if kk in sub and (isinstance(sub[kk], (int, float, str, bool)) or sub[kk] is None)]
    return out


def external_section(records: dict) -> str:
    """Scalar top-level results of runs delegated to other benchmark modules (repeater, key-rate)."""
    out = []
    for (i, v), r in sorted(records.items(), key=lambda kv: _order(kv[0])):
        res = r.get("result")
        if not isinstance(res, dict):
            continue
        out.append(f"- `{i}` / `{v}`: " + _esc("; ".join(_scalars(res))[:1500]))
        for sub in res.get("records") or []:  # bench_repeaters: one record per instance, fast vs baseline
            if isinstance(sub, dict):
                out.append(f"  - `{sub.get('instance', '?')}`: " + _esc("; ".join(_scalars(sub, nested=True))[:1500]))
    return "\n".join(out)


def machine_section(records: dict) -> str:
    if not records:
        return ""
    rs = list(records.values())
    m = next((r.get("machine") for r in rs if r.get("machine")), {}) or {}
    v = next((r.get("versions") for r in rs if r.get("versions")), {}) or {}
    stamps = sorted(r.get("timestamp") for r in rs if r.get("timestamp"))
    loads = [x for r in rs for x in ((r.get("load_avg") or {}).get("start") or [])[:1]
             + ((r.get("load_avg") or {}).get("end") or [])[:1] if x is not None]
    suites = sorted({r.get("suite") for r in rs if r.get("suite")})
    commits = sorted({str(((r.get("machine") or {}).get("git") or {}).get("commit"))[:10] for r in rs})
    vs = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    parts = [f"Suite {', '.join(suites)}; {len(rs)} runs between {stamps[0] if stamps else '?'} and "
             f"{stamps[-1] if stamps else '?'}; commit(s) {', '.join(commits)}.",
             f"Machine: {m.get('cpu_count')} cores ({m.get('cpu_model')}), {_n(m.get('mem_total_mb'))} MB RAM, "
             f"{m.get('platform')}.", f"Versions: {vs}."]
    if loads:
        parts.append(f"1-minute load average at the start/end of the runs: {min(loads):.1f} to {max(loads):.1f} "
                     f"on {m.get('cpu_count')} cores (other engineers' jobs shared the machine: times are upper "
                     f"bounds).")
    return " ".join(parts)


def render(records: dict) -> str:
    """The Markdown of the results section (without the markers)."""
    if not records:
        return "_No results yet: run `make bench` (or `python -m benchmarks.run --suite full --out " \
               "benchmarks/results`) and then `python -m benchmarks.render`._"
    return "\n\n".join(x for x in [
        "_Generated by `python -m benchmarks.render` from the JSON files in the results folder; do not edit._",
        "### Targets", targets_table(records),
        "### Runs",
        "`total` is the end-to-end time inside the worker (`plan.data[\"timings_s\"][\"total\"]`, without Python "
        "start-up and instance generation); peak MB is the worker's peak resident memory (`ru_maxrss` of that "
        "child from `os.wait4`, so also known for killed runs).",
        outcome_table(records), problems_section(records),
        ("**Delegated benchmarks** (scalar results; the full result is in the JSON):\n\n" + external_section(records))
        if external_section(records) else "",
        "### Time per phase (s)", phases_table(records),
        "### Sizes",
        "Hop-device options are (hop, device type) pairs with a positive key rate; in parentheses what is left "
        "after the exact bound pruning against the heuristic plan (the model is built on that).",
        sizes_table(records),
        "### Machine", machine_section(records),
        "### Instances", instances_table(),
    ] if x)


def update_readme(readme: Path, section: str, start: str = START, end: str = END) -> None:
    """Replace the text between the markers in ``readme`` (which must contain both, in order)."""
    text = readme.read_text(encoding="utf-8")
    a, b = text.find(start), text.find(end)
    if a < 0 or b < 0 or b < a:
        raise SystemExit(f"{readme}: markers {start} ... {end} not found (in that order)")
    new = text[:a + len(start)] + "\n" + section.rstrip() + "\n" + text[b:]
    if new != text:
        tmp = readme.with_name(f".{readme.name}.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(readme)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.render", description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?", type=Path, default=BENCH_DIR / "results")
    ap.add_argument("--readme", type=Path, default=BENCH_DIR / "README.md")
    ap.add_argument("--project-readme", type=Path, default=None,
                    help=f"also write the targets table between {TARGETS_START} ... {TARGETS_END} of this file "
                         "(the project README)")
    ap.add_argument("--stdout", action="store_true", help="print the section instead of updating the README")
    a = ap.parse_args(argv)
    records = load_records(a.results)
    section = render(records)
    if a.stdout:
        print(section)
    else:
        update_readme(a.readme, section)
        print(f"render: {a.readme} updated from {a.results}")
        if a.project_readme is not None:
            when = sorted({str(r.get("timestamp", ""))[:10] for r in records.values() if r.get("timestamp")})
            summary = (f"Generated by `python -m benchmarks.render` from `{a.results.name}/` (runs of "
                       f"{', '.join(when) or 'unknown dates'}; 2 cores); details in "
                       f"[`benchmarks/README.md`](benchmarks/README.md).\n\n" + targets_table(records))
            update_readme(a.project_readme, summary, TARGETS_START, TARGETS_END)
            print(f"render: {a.project_readme} targets updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
