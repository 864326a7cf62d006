"""Every number in README.md comes from a script (issue 15): the generated blocks match fresh runs, and every
number outside them is one this file knows the source of (a code constant it checks, or an input the reader
types). Regenerate with ``python docs/readme_examples.py`` (``--all`` for the slow blocks)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
try:
    import readme_demo as rd
    import readme_examples as rx
finally:
    sys.path.pop(0)

README = (ROOT / "README.md").read_text(encoding="utf-8")
FAST = [n for n, (_, slow) in rx.BLOCKS.items() if not slow and n != "demo"]  # demo: tests/test_readme_demo.py
HINT = "README.md is stale: run `python docs/readme_examples.py` (see its docstring)"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """One scratch folder per module: the demo plan is made once and shared by the blocks that show it."""
    return rx.Work(tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("name", FAST)
def test_readme_block_matches_a_fresh_run(name, work):
    diffs = rx.compare(rx.block(README, name), rx.BLOCKS[name][0](work))
    assert not diffs, f"{HINT}\n[{name}] " + "\n".join(diffs)


def test_every_block_is_in_the_readme_once():
    for name in [*rx.BLOCKS, *rx.OTHER_GENERATED]:
        assert README.count(f"<!-- {name}:start -->") == 1 and README.count(f"<!-- {name}:end -->") == 1, name


def test_compare_catches_drift_and_ignores_timings():
    a = "`$Q plan x` is optimal at\n2,588,824 EUR (about 7 s), with 32/32 kept; gap 0.98%\n"
    assert rx.compare(a, a.replace("about 7 s", "about 19 s")) == []
    assert rx.compare(a, a.replace("2,588,824", "2,590,000")) == []            # within 0.5 %
    assert rx.compare(a, a.replace("2,588,824", "2,700,000"))                  # a different cost
    assert rx.compare(a, a.replace("32/32", "31/32"))                          # counts are exact
    assert rx.compare(a, a.replace("0.98%", "2.5%"))                           # more than a point
    assert rx.compare(a, a.replace("optimal", "feasible"))                     # words are exact


# ------------------------------------------------------------------------------------------------- slow blocks
def test_budget_block_prefix_matches_a_short_run():
    """The budget-mode block (a 120 s solve, regenerated with --all): what happens before the solve is
    deterministic and checked here with a short time limit; the solve itself in the slow test below."""
    text, _ = rd.run_plan(rd.BUDGET_SETS, "out/budget", time_limit="5")
    pre = lambda t: "\n".join(ln for ln in t.splitlines() if re.search(r"\] (read|hops|budget|heuristic):", ln))  # noqa: E731
    assert not rx.compare(pre(rx.block(README, "budget")), pre(text)), HINT


@pytest.mark.slow
def test_budget_block_solve_within_its_gap():
    text, _ = rd.run_plan(rd.BUDGET_SETS, "out/budget", time_limit="120")
    pat = r"weighted delivered rate ([\d,]+) bit/s .*gap ([\d.]+)%"
    (r0, g0), (r1, _) = (re.search(pat, t).groups() for t in (rx.block(README, "budget"), text))
    r0, r1, g0 = float(r0.replace(",", "")), float(r1.replace(",", "")), float(g0) / 100
    assert r0 * (1 - g0) - 1e-6 <= r1 <= r0 / (1 - g0) + 1e-6, HINT


def test_sweep_block_names_the_bundled_sweep():
    """The sweep's outcome (a 5-minute run, regenerated with --all) is not rerun; its size and limit are checked."""
    n, tl = rx.sweep_facts()
    body = rx.block(README, "sweep")
    assert f"{n}-scenario" in body and f"{tl:g} s limit" in body, HINT
    m = re.search(r"`(\d+) scenarios: ([^`]*?)(?: in [\d.]+ s)?`", body)
    assert m and int(m.group(1)) == n and sum(int(x) for x in re.findall(r"(\d+) \w+", m.group(2))) == n


# --------------------------------------------------------------------------------- numbers outside the blocks
def _checks() -> list[tuple[str, object]]:
    """(regular expression of a README phrase with a number, check that the number is right or why it is typed)."""
    import tomllib

    from qtopo.candidates import MIN_CAPACITY_SHARE
    from qtopo.cli._common import (EXIT_INFEASIBLE, EXIT_INPUT, EXIT_INTERRUPT, EXIT_OK, EXIT_SOLVER,
                                   EXIT_TERMINATED, EXIT_VERIFY)
    from qtopo.contract import SCHEMA_VERSION
    from qtopo.etsi import SPECIFICATIONS
    from qtopo.solve import IPM_FROM_NONZEROS, LP_BOUND_FROM_NONZEROS

    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    feat = (ROOT / "tests" / "test_optimizer_features.py").read_text()
    common = (ROOT / "qtopo" / "cli" / "_common.py").read_text()
    calib = (ROOT / "qtopo/keyrate/calibration.py").read_text()
    codes = {EXIT_OK, EXIT_INFEASIBLE, EXIT_SOLVER, EXIT_INPUT, EXIT_VERIFY, EXIT_INTERRUPT, EXIT_TERMINATED,
             *([70] if "sys.exit(70)" in common else [])}
    table = {int(x) for x in re.findall(r"^\| (\d+) \|", README, flags=re.M)}
    assert table == codes, f"the README's exit-code table lists {sorted(table)}, the CLI uses {sorted(codes)}"
    return [
        (r"Python >= (\d+\.\d+)", lambda m: py == f">={m.group(1)}"),
        (r"carry (\d+(?:\.\d+)?)% of the smallest target", lambda m: float(m.group(1)) / 100 == MIN_CAPACITY_SHARE),
        (r"From ([\d,]+) nonzeros HiGHS solves the root LP", lambda m: int(m.group(1).replace(",", "")) == IPM_FROM_NONZEROS),
        (r"From ([\d,]+) nonzeros the LP relaxation", lambda m: int(m.group(1).replace(",", "")) == LP_BOUND_FROM_NONZEROS),
        # a measurement made when root_lp was introduced (why interior point), not rerun: too slow for CI
        (r"a (100)-node instance after (120) s, which\s+left only the trivial bound; interior point solves it in "
         r"about (20) s", True),
        (r"`schema_version` (\d+)", lambda m: int(m.group(1)) == SCHEMA_VERSION),
        (r"\(draft (2020-12)", lambda m: "2020-12" in (ROOT / "qtopo/schemas/plan.schema.json").read_text()[:300]),
        (r"GS QKD 015 V(2\.1\.1), revision (2022-01-30)",
         lambda m: m.group(1) in SPECIFICATIONS["node_model"] and m.group(2) in SPECIFICATIONS["node_model"]),
        (r"^\| (\d+) \|", lambda m: int(m.group(1)) in codes),                         # the exit-code table
        (r"the same as (130)", lambda m: int(m.group(1)) == EXIT_INTERRUPT),
        (r"exit (4) and one line", lambda m: int(m.group(1)) == EXIT_INPUT),
        (r"Exit (0) only", lambda m: int(m.group(1)) == EXIT_OK),
        (r"(5) for violations", lambda m: int(m.group(1)) == EXIT_VERIFY),
        (r"(2) \(infeasible\) or (3) \(no solution", lambda m: (int(m.group(1)), int(m.group(2))) == (
            EXIT_INFEASIBLE, EXIT_SOLVER)),
        # inputs of the test the sentence names (tests/test_optimizer_features.py)
        (r"on a (\d+) km corridor two (50) kEUR repeaters beat one (300) kEUR trusted hut, and lose when a repeater "
         r"costs (1) MEUR", lambda m: all(x in feat for x in (f"length_km={m.group(1)}.0", '"repeaters.repeater_node_eur": 50_000.0',
                                                             "hut_cost=300_000.0", '"repeaters.repeater_node_eur": 1_000_000.0'))),
        # the calibration paragraph (physics): published values in qtopo/keyrate/calibration.py, its own tests
        (r"\(rate (0) beyond it\)", True),                                   # zero, not a figure
        (r"\((304) kbit/s at (14\.5) dB\)", lambda m: "304e3" in calib and "14.5" in calib),
        (r"the (3\.0) Mbit/s over (102\.4) km", lambda m: "3.0 Mbit/s over 102.4 km" in calib),
        (r"capped at their (64) Mbit/s", lambda m: "64e6" in calib),
        (r"by more than (30)% anywhere from (0) to (30) dB", lambda m: "ENVELOPE_RANGE_DB = (0.0, 30.0)" in calib),
        (r"\(< (3) min, run by CI", True),                                    # bench-smoke's budget (benchmarks/)
        (r"CC BY (4\.0)", True),                                              # licence names
    ]


def _outside_blocks(text: str) -> str:
    names = "|".join(re.escape(n) for n in [*rx.BLOCKS, *rx.OTHER_GENERATED, "api"])
    text = re.sub(rf"<!-- ({names}):start -->.*?<!-- \1:end -->", "", text, flags=re.S)
    text = re.sub(r"```(?:sh|python)\n.*?```", "", text, flags=re.S)   # commands and code a reader types
    text = re.sub(r"`[^`\n]*`(?! \d)", "``", text)                        # code spans: ids, options, paths
    text = re.sub(r"\[[^\]]*\]\([^)]*\)", "[]", text)                     # links
    # citations and standards' numbers: "PRL 94, 230504 (2005)", "et al. 2022", "RFC 7951", "ITU-T Y.3803"
    text = re.sub(r"[\w.]+ \d+, [\dA-Z]+ \(\d{4}\)|\(\d{4}\)|(?:et al\.|Shcherbina) \d{4}", "", text)
    text = re.sub(r"RFC \d+|Y\.\d+(?:-Y\.\d+)?|GS QKD \d+\b(?! V)|issue \d+|K!|1\+1|k-1|1-eta", "", text)
    return re.sub(r"\b(?!V\d)[A-Za-z]+\d+\w*", "", text)                      # names: BB84, log2


def test_every_number_outside_the_generated_blocks_is_known():
    text = _outside_blocks(README)
    for pat, check in _checks():
        found = list(re.finditer(pat, text, flags=re.M))
        assert found, f"README no longer says {pat!r}: update tests/test_readme_examples.py"
        for m in found:
            assert check is True or check(m), f"README's {m.group(0)!r} disagrees with the code"
        text = re.sub(pat, "", text, flags=re.M)
    stray = [ln.strip() for ln in text.splitlines() if re.search(r"\d", ln)]
    assert not stray, ("numbers in README.md that no script writes and no check covers (put them in a generated "
                       "block of docs/readme_examples.py, or add a check here):\n" + "\n".join(stray))
