"""Regenerate (or check) every number of README.md from real runs: one command for the whole README.

    .venv/bin/python docs/readme_examples.py            # every fast block (demo, examples, tables, excerpt)
    .venv/bin/python docs/readme_examples.py --all      # also the slow ones: budget mode (~2 min), sweep (~5 min)
    .venv/bin/python docs/readme_examples.py --only k2,brownfield
    .venv/bin/python docs/readme_examples.py --check    # compare instead of rewriting (exit 1 on drift)

Each block lives between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in README.md and is written by the
function registered for NAME in :data:`BLOCKS` from the output of the command it shows; nothing else of the
README is touched. ``tests/test_readme_examples.py`` re-runs the fast blocks and compares them with the README
(:func:`compare`: the words must be equal, counts exact, money and rates within 0.5 %, percentages within one
point, timings ignored), and checks that every number outside these blocks is one it knows the source of.

The demo block and the budget-mode block are written by ``docs/readme_demo.py`` (called from here), the
export excerpt by ``docs/export_excerpt.py`` (called from here), the benchmark targets by
``python -m benchmarks.render`` (from stored benchmark results; not rerun here).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
SCENARIO = "data/surfnet/scenario.toml"
K2 = "data/surfnet/scenario_k2.toml"
BROWN_SETS = ["--set", "inputs.existing_links=existing_links.csv"]
ROLLOUT_SETS = ["--set", "devices.snspd.enabled=false"]
ROLLOUT_BUDGETS = "6e5,4e5,4e5,4e5"
REPEATER_ARGS = ["--rate-target-bps", "100", "--fidelity-target", "0.8"]
INFEASIBLE_SETS = ["--set", "network.hut_spacing_km=0", "--set", "devices.snspd.enabled=false",
                   "--set", "network.route_factor=5"]
SWEEP = "data/sweeps/surfnet_sensitivity.toml"

#: What each file of a plan folder is (the demo's file table). A file the demo writes that is not described
#: here fails the generation: describe it.
FILES = {
    "plan.json": "status, cost, bound, gap; opened nodes; links with fibre path, length, loss, protocol, device "
                 "pairs, rate per pair, capacity, load; every demand's routes and the nodes that hold its key; input "
                 "hashes, versions, timings, verification ([schema](qtopo/schemas/plan.schema.json), below)",
    "plan.gpkg": "layers {layers} (opens in QGIS)",
    "map.png": "static map over Natural Earth outlines",
    "map.html": "interactive Leaflet map that works offline",
    "report.md": "costs (capex, opex, per demand, per key bit), routes and margins, trusted nodes per demand, "
                 "failure impact, solver status, assumptions, inputs",
    "report.html": "the report as a web page",
    "failures.json": "every single node failure, fibre cut and corridor group: the key rate each demand keeps",
    "demands.png": "key rate per demand: target and delivered (a figure of the report)",
    "highs.log": "the solver's log (name: `[solver] log_file`)",
}
#: Files of the folder that are not outputs a user reads (not listed in the table).
HIDDEN = {".qtopo-output"}


# ------------------------------------------------------------------------------------------------------------
# running qtopo
# ------------------------------------------------------------------------------------------------------------
def qtopo(*args: str, ok=(0,)) -> tuple[int, str]:
    """Run ``qtopo ARGS`` from the repository root (this checkout's code); exit code and stderr + stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "qtopo", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=3600)
    if p.returncode not in ok:
        raise SystemExit(f"qtopo {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}{p.stdout}")
    text = "\n".join(ln for ln in (p.stderr + p.stdout).splitlines()
                     if ln.strip() and not ln.startswith(("WARNING", "Running HiGHS")))
    return p.returncode, text


class Work:
    """A scratch folder and the plans made in it (each command runs once per generation or test session)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._done: dict = {}

    def plan(self, name: str, scenario: str, *extra: str) -> Path:
        if name not in self._done:
            out = self.path / name
            t0 = time.perf_counter()
            text = qtopo("plan", scenario, "--out", out, *extra)[1]
            self._done[name] = (out, text.replace(str(out), f"out/{name}"), time.perf_counter() - t0)
        return self._done[name][0]

    def output(self, name: str) -> str:
        return self._done[name][1]

    def wall(self, name: str) -> float:
        return self._done[name][2]

    def demo(self) -> Path:
        return self.plan("demo", SCENARIO)


def _plan(folder: Path) -> dict:
    return json.loads((folder / "plan.json").read_text(encoding="utf-8"))


def _wrap(text: str, width: int = 112) -> str:
    """A paragraph wrapped like the README's prose (never inside a link or code span: those hold no spaces)."""
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)) + "\n"


def _eur(x: float) -> str:
    return f"{x:,.0f}"


# ------------------------------------------------------------------------------------------------------------
# the blocks
# ------------------------------------------------------------------------------------------------------------
def block_demo_intro(w: Work) -> str:
    """The demo scenario in one sentence, every figure read from its inputs and the demo's output."""
    import tomllib

    import pandas as pd
    import pyogrio

    scen = tomllib.loads((ROOT / SCENARIO).read_text(encoding="utf-8"))
    folder = (ROOT / SCENARIO).parent
    sites = pyogrio.read_dataframe(folder / scen["inputs"]["sites"])
    dem = pd.read_csv(folder / scen["inputs"]["demands"])
    dcs = sorted(sites.loc[sites["kind"] == "datacenter", "name" if "name" in sites.columns else "id"])
    w.demo()
    read = re.search(r"read: (\d+) fibre nodes", w.output("demo"))
    devs = [f"`{d['preset']}`" for d in scen["devices"].values() if d.get("enabled", True)]
    n_pop = int((sites["kind"] == "pop").sum()) if "kind" in sites.columns else len(sites)
    return _wrap(f"The demo plans [`{SCENARIO}`]({SCENARIO}): the SURFnet research network "
            f"(Internet Topology Zoo, {len(sites)} sites: {n_pop} points of presence and {len(dcs)} data centers; routes = "
            f"great-circle length x route factor {scen['network']['route_factor']:g}, candidate huts every "
            f"{scen['network']['hut_spacing_km']:g} km: {read.group(1)} fibre nodes), data centers in "
            f"{', '.join(dcs)}; {len(dem)} demands of {dem['target_bps'].min() / 1e3:g}-"
            f"{dem['target_bps'].max() / 1e3:g} kbit/s; {len(devs)} device types ({' and '.join(devs)} presets). "
            "Output of `make demo` on the 2-core development machine:")


def block_demo_files(w: Work) -> str:
    """The table of what the demo's output folder holds, from the folder itself."""
    import pyogrio

    out = w.demo()
    names = sorted(p.name for p in out.iterdir() if p.name not in HIDDEN)
    unknown = [n for n in names if n not in FILES]
    if unknown:
        raise SystemExit(f"the demo writes {unknown}, which docs/readme_examples.py FILES does not describe")
    layers = ", ".join(f"`{name}`" for name, _ in pyogrio.list_layers(out / "plan.gpkg"))
    rows, done = [], set()
    for a, b in (("map.png", "map.html"), ("report.md", "report.html")):  # pairs share a row
        if a in names and b in names:
            rows.append((f"`{a}`, `{b}`", f"{FILES[a]}; {FILES[b]}"))
            done |= {a, b}
    order = ["plan.json", "plan.gpkg", "map.png", "report.md", "demands.png", "failures.json", "highs.log"]
    body = [r for n in order for r in ([(f"`{n}`", FILES[n].format(layers=layers))] if n in names and n not in done
                                       else [x for x in rows if x[0].startswith(f"`{n}`")])]
    body += [(f"`{n}`", FILES[n].format(layers=layers)) for n in names if n not in done and n not in order]
    return ("`out/demo/` then holds:\n\n| file | what |\n|---|---|\n"
            + "".join(f"| {a} | {b} |\n" for a, b in body))


def block_k2(w: Work) -> str:
    import tomllib

    import pandas as pd

    scen = tomllib.loads((ROOT / K2).read_text(encoding="utf-8"))
    dem = pd.read_csv((ROOT / K2).parent / scen["inputs"]["demands"])
    prot = dem[dem["k_routes"] > 1]
    ks = sorted(set(prot["k_routes"].astype(int)))
    kinds = sorted(set(prot["disjoint"].dropna()))
    mt = sorted(set(prot["max_trusted_nodes"].dropna().astype(int)))
    countries = sorted(set(prot["allowed_countries"].dropna()))
    intro = (f"**Survivability, jurisdiction, trusted-node limits.** [`{K2}`]({K2}) "
             f"gives {len(prot)} demands {'/'.join(map(str, ks))} {'/'.join(kinds)}-disjoint routes, at most "
             f"{'-'.join(map(str, (mt[0], mt[-1]) if len(mt) > 1 else mt))} trusted nodes per route, trusted nodes in "
             f"{', '.join(countries)} only, and {scen['risk']['srg_buffer_m']:g} m corridor shared-risk groups. ")
    out = w.plan("k2", K2)
    p = _plan(out)
    _, fail = qtopo("failures", out)
    table = [ln for ln in fail.splitlines() if not ln.startswith(("failure analysis of", "->"))]
    d = next(x for x in p["demands"] if len(x["routes"]) > 1)
    routes = " and ".join("`" + " - ".join(r["nodes"]) + "`" for r in d["routes"])
    wall = w.wall("k2")
    return (_wrap(intro + f"`$Q plan {K2} --out out/k2` is {p['status']} at {_eur(p['cost_eur'])} EUR (about "
                  f"{wall:.0f} s wall), and `$Q failures out/k2` shows what each demand keeps under every single "
                  "failure:") + "\n```\n"
            + "\n".join(table) + "\n```\n\n"
            f"Routes of `{d['source']}->{d['target']}`: {routes};\n"
            "the report lists, per demand, every node that holds its key.\n")


def block_brownfield(w: Work) -> str:
    demo = _plan(w.demo())["cost_breakdown"]
    import pandas as pd

    out = w.plan("brown", SCENARIO, *BROWN_SETS)
    cb = _plan(out)["cost_breakdown"]
    ex = pd.read_csv((ROOT / SCENARIO).parent / BROWN_SETS[1].split("=", 1)[1])
    pairs = " and ".join(f"{a.title()}-{b.title()}" + (f" ({k} pairs)" if k > 1 else "")
                         for a, b, k in zip(ex["from"], ex["to"], ex["pairs"]))
    return _wrap(f"**Brownfield.** `$Q plan {SCENARIO} --out out/brown {' '.join(BROWN_SETS)}` "
                 f"(installed pairs {pairs}; nodes holding them count as built): "
                 f"{_eur(cb['total_eur'])} EUR of new spending instead of {_eur(demo['total_eur'])}, with "
                 f"{_eur(cb['sunk_brownfield_eur'])} EUR reported as sunk.")


def block_rollout(w: Work) -> str:
    out = w.plan("rollout", SCENARIO, *ROLLOUT_SETS)
    _, text = qtopo("rollout", out, "--budgets", ROLLOUT_BUDGETS)
    lines = [ln for ln in text.splitlines() if not ln.startswith("->")]
    budgets = ", ".join(f"{float(x):.0f}" for x in ROLLOUT_BUDGETS.split(","))
    return (f"**Staged rollout.** `{' '.join(ROLLOUT_SETS)} --set 'rollout.budgets_eur=[{budgets}]'`\n"
            f"(or `$Q rollout PLAN --budgets {ROLLOUT_BUDGETS}`):\n\n```\n" + "\n".join(lines) + "\n```\n")


def block_repeater_mode(w: Work) -> str:
    out = w.path / "rep"
    _, text = qtopo("repeaters", SCENARIO, "--out", out, *REPEATER_ARGS)
    text = text.replace(str(out), "out/rep")
    text = re.sub(r"(repeaters at (?:[^,]+, ){3})[^;]*?(gap )", r"\1..., \2", text)  # the first three stations
    return f"```\n$Q repeaters {SCENARIO} --out out/rep {' '.join(REPEATER_ARGS)}\n{text}\n```\n"


def block_infeasible(w: Work) -> str:
    out = w.path / "infeasible"
    code, text = qtopo("plan", SCENARIO, "--out", out, "-q", *INFEASIBLE_SETS, ok=(2,))
    lines = [ln for ln in text.replace(str(out), "out/x").splitlines() if not ln.startswith("[")]
    wrapped = []
    for ln in lines:
        indent = len(ln) - len(ln.lstrip())
        wrapped += textwrap.wrap(ln, 110, subsequent_indent=" " * (indent + 2), break_on_hyphens=False) or [ln]
    return (f"**Infeasibility is a diagnosis.** `{' '.join(INFEASIBLE_SETS)}`\nexits {code} with:\n\n```\n"
            + "\n".join(wrapped) + "\n```\n")


def block_presets(w: Work) -> str:
    sys.path.insert(0, str(ROOT))
    try:
        from qtopo.keyrate import FIBRE_TYPES, list_presets
    finally:
        sys.path.pop(0)
    names = [p["name"] if isinstance(p, dict) else getattr(p, "name", str(p)) for p in list_presets()]
    fibres = ", ".join(f"`{k}` ({f.attenuation_db_per_km:g} dB/km)" for k, f in FIBRE_TYPES.items())
    text = (f"Device presets (`qtopo rates --list`): {', '.join(f'`{n}`' for n in names)}; fibre types {fibres}. "
            "Scenarios pick presets and override fields.")
    return "\n".join(textwrap.wrap(text, 112, break_on_hyphens=False)) + "\n"


def block_export(w: Work) -> str:
    sys.path.insert(0, str(DOCS))
    try:
        import export_excerpt
    finally:
        sys.path.pop(0)
    return export_excerpt.build(w.demo(), w.path / "export")


def block_demo(w: Work) -> str:
    sys.path.insert(0, str(DOCS))
    try:
        import readme_demo as rd
    finally:
        sys.path.pop(0)
    w.demo()
    return rd.demo_block(w.output("demo"), w.wall("demo"))


def block_budget(w: Work) -> str:
    sys.path.insert(0, str(DOCS))
    try:
        import readme_demo as rd
    finally:
        sys.path.pop(0)
    text, _ = rd.run_plan(rd.BUDGET_SETS, "out/budget", time_limit="120")
    return rd.budget_block(text)


def sweep_facts() -> tuple[int, float]:
    """Scenarios of the bundled sweep and their time limit (s), from the sweep file (cheap: no run)."""
    sys.path.insert(0, str(ROOT))
    try:
        from qtopo.sweep import load_sweep
    finally:
        sys.path.pop(0)
    spec = load_sweep(ROOT / SWEEP)
    return len(spec), float(spec.fixed["solver.time_limit_s"])


def sweep_block_text(summary: str) -> str:
    n, tl = sweep_facts()
    return (f"The bundled\n{n}-scenario sensitivity sweep (hut capex x APD price x demand scale x attenuation, "
            f"{tl:g} s limit each) printed\n`{summary}` on the 2-core development machine while other jobs were "
            "running:\n")


def block_sweep(w: Work) -> str:
    out = w.path / "sweep"
    _, text = qtopo("sweep", SWEEP, "--out", out)
    summary = next(ln for ln in reversed(text.splitlines()) if re.match(r"\d+ scenarios:", ln))
    return sweep_block_text(summary.strip())


#: name -> (function, slow). Slow blocks are regenerated with --all and checked by slow tests only.
BLOCKS = {
    "demo-intro": (block_demo_intro, False),
    "demo": (block_demo, False),
    "demo-files": (block_demo_files, False),
    "presets": (block_presets, False),
    "k2": (block_k2, False),
    "brownfield": (block_brownfield, False),
    "rollout": (block_rollout, False),
    "repeater-mode": (block_repeater_mode, False),
    "infeasible": (block_infeasible, False),
    "export": (block_export, False),
    "budget": (block_budget, True),
    "sweep": (block_sweep, True),
}
#: Blocks written by other scripts (their numbers are generated too; see the module docstring).
OTHER_GENERATED = {"bench-targets"}


# ------------------------------------------------------------------------------------------------------------
# README blocks and comparison
# ------------------------------------------------------------------------------------------------------------
def replace_block(readme: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    i, j = readme.find(start), readme.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"README.md has no {start.strip()} ... {end} block")
    return readme[:i + len(start)] + body + readme[j:]


def block(readme: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    return readme[readme.index(start) + len(start):readme.index(end)]


_TIMING = re.compile(r"\[\s*[\d.]+s\]|\([\d.]+ s(?:; hand-off [\d.]+ s)?\)|\([\d.]+ s[^)]*\)|about [\d.]+ s"
                     r"|in [\d.]+ s\b|[\d.]+ s wall|\d{4}-\d{2}-\d{2}")
NUM = "<#>"  # a number in a block's shape
_NUMBER = re.compile(r"(?<![\w.-])-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?%?")


def _shape(text: str) -> tuple[list[str], list[str]]:
    """The block's words with every number as ``#`` (line breaks ignored: wrapping may move), and its numbers."""
    text = _TIMING.sub("<t>", text)
    return _NUMBER.sub(NUM, text).split(), _NUMBER.findall(text)


def _close(x: str, y: str) -> bool:
    if x.endswith("%") or y.endswith("%"):
        return abs(float(x.rstrip("%").replace(",", "")) - float(y.rstrip("%").replace(",", ""))) <= 1.0
    fx, fy = float(x.replace(",", "")), float(y.replace(",", ""))
    if "," not in x + y and "." not in x + y and abs(fx) < 1e5:
        return fx == fy                                   # counts, years, exit codes: exact
    return abs(fx - fy) <= 5e-3 * max(abs(fx), abs(fy), 1.0)


def compare(expected: str, got: str) -> list[str]:
    """Differences between a README block and a fresh one: equal words, numbers as in :func:`_close`."""
    (wa, na), (wb, nb) = _shape(expected), _shape(got)
    if wa != wb:
        import difflib

        diff = difflib.unified_diff(wa, wb, "README", "now", lineterm="", n=3)
        return [f"the text differs (words; numbers shown as {NUM}):\n" + "\n".join(diff)]
    out, k = [], 0
    for i, w in enumerate(wa):  # report each differing number with the words around it
        for _ in range(w.count(NUM)):
            if not _close(na[k], nb[k]):
                out.append(f"...{' '.join(wa[max(0, i - 6):i + 3])}...: README says {na[k]}, now {nb[k]}")
            k += 1
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of rewriting")
    ap.add_argument("--all", action="store_true", help="also the slow blocks (budget mode, sweep)")
    ap.add_argument("--only", default="", help="comma list of block names: " + ", ".join(BLOCKS))
    a = ap.parse_args(argv)
    names = [n for n in a.only.split(",") if n] or [n for n, (_, slow) in BLOCKS.items() if a.all or not slow]
    bad = [n for n in names if n not in BLOCKS]
    if bad:
        raise SystemExit(f"unknown block(s) {bad}; known: {', '.join(BLOCKS)}")
    readme = README.read_text(encoding="utf-8")
    drift = []
    with tempfile.TemporaryDirectory(prefix="qtopo-readme-") as d:
        w = Work(Path(d))
        for n in names:
            body = BLOCKS[n][0](w)
            if a.check:
                drift += [f"[{n}] {x}" for x in compare(block(readme, n), body)]
            else:
                readme = replace_block(readme, n, body)
            print(f"{n}: {'checked' if a.check else 'regenerated'}", file=sys.stderr)
        shutil.rmtree(w.path, ignore_errors=True)
    if a.check:
        print("\n".join(drift) or "README.md is up to date")
        return 1 if drift else 0
    README.write_text(readme, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
