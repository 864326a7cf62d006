"""Faults: solver limits and crashes, interruptions, unsafe paths and unsafe deserialisation.

Every fault must end in an honest state: a verified plan with its gap, or a clear message with the documented
exit code (3 solver, 5 verification, 130 interrupted, 70 internal error) and the previous output directory
exactly as it was.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import qtopo
import qtopo.atomic
import qtopo.io
import qtopo.planner
from qtopo.cli import main
from qtopo.atomic import atomic_output_dir, safe_child
from qtopo.solve import SolveResult, Status

from conftest import SURFNET

BASE = Path(__file__).resolve().parent / "data" / "bad" / "_base"
PKG = Path(qtopo.__file__).resolve().parent


@pytest.fixture
def base(tmp_path) -> Path:
    shutil.copytree(BASE, tmp_path / "scen")
    return tmp_path / "scen" / "scenario.toml"


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.fixture(scope="module")
def _first_plan(tmp_path_factory):
    """One successful plan, made once per module (planning and writing maps/reports takes seconds)."""
    d = tmp_path_factory.mktemp("first")
    shutil.copytree(BASE, d / "scen")
    r = _run("plan", d / "scen" / "scenario.toml", "--out", d / "out", "-q")
    assert r.exit_code == 0, r.output
    return d


@pytest.fixture
def previous(_first_plan, tmp_path, base):
    """A copy of a successful plan in tmp/out next to its scenario; returns (scenario, out, snapshot of out)."""
    shutil.copytree(_first_plan / "out", tmp_path / "out")
    out = tmp_path / "out"
    return tmp_path / "scen" / "scenario.toml", out, _snapshot(out)


def _assert_untouched(out: Path, snap: dict) -> None:
    assert _snapshot(out) == snap, "the previous output directory changed"
    assert _leftovers(out.parent) == []


# ----------------------------------------------------------------------------------------------------------
# time limits
# ----------------------------------------------------------------------------------------------------------
def test_tiny_time_limit_on_bundled_scenario_is_honest(tmp_path):
    """0.05 s for SURFnet: either a verified plan whose gap is reported consistently, or exit 3."""
    out = tmp_path / "out"
    r = _run("plan", SURFNET, "--out", out, "--time-limit", "0.05", "--threads", "1", "-q")
    assert "Traceback" not in r.output
    if r.exit_code == 3:
        assert "no plan within the limits" in r.output and "--time-limit" in r.output
        assert not (out / "plan.json").exists() or not json.loads((out / "plan.json").read_text()).get("links")
        return
    assert r.exit_code == 0, r.output
    p = json.loads((out / "plan.json").read_text())
    assert p["verification"]["ok"] is True
    assert p["status"] in ("optimal", "feasible")
    obj, bound, gap = p["cost_eur"], p["best_bound"], p["gap"]
    if p["status"] == "feasible":
        # not claimed optimal: the gap is either unknown (no bound yet) or consistent with obj and bound
        if gap is not None:
            assert bound is not None and bound <= obj * (1 + 1e-9)
            assert gap == pytest.approx((obj - bound) / obj, rel=1e-6, abs=1e-9)
            assert f"gap {gap:.2%}" in r.output
        else:
            assert "gap unknown" in r.output
    else:
        assert gap is None or gap <= 0.01 + 1e-9  # scenario mip_gap


def _fake_time_limit(bound):
    def fake_solve(model, **kw):
        return SolveResult(status=Status.NO_SOLUTION, termination="maxTimeLimit", bound=bound,
                           timings_s={"handoff": 0.0, "solve": 0.0})
    return fake_solve


def test_time_limit_without_plan_and_without_heuristic_exits_3(base, tmp_path, monkeypatch):
    monkeypatch.setattr(qtopo.planner, "solve", _fake_time_limit(None))
    out = tmp_path / "out"
    r = _run("plan", base, "--out", out, "--set", "solver.heuristic_start=false", "-q")
    assert r.exit_code == 3, r.output
    assert "no_solution: the solver found no plan within the limits" in r.output
    assert "raise --time-limit" in r.output
    assert "Traceback" not in r.output
    if (out / "plan.json").exists():  # a record of the failed run, never presented as a plan
        p = json.loads((out / "plan.json").read_text())
        assert p["status"] == "no_solution" and not p.get("links")
        assert not (out / "plan.gpkg").exists()


def test_time_limit_without_milp_plan_returns_verified_heuristic_plan(base, tmp_path, monkeypatch):
    monkeypatch.setattr(qtopo.planner, "solve", _fake_time_limit(1000.0))
    out = tmp_path / "out"
    r = _run("plan", base, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    p = json.loads((out / "plan.json").read_text())
    assert p["status"] == "feasible" and p["source"] == "heuristic"
    assert p["verification"]["ok"] is True
    assert p["gap"] == pytest.approx((p["cost_eur"] - 1000.0) / p["cost_eur"])
    assert f"gap {p['gap']:.2%}" in r.output


# ----------------------------------------------------------------------------------------------------------
# solver crashes
# ----------------------------------------------------------------------------------------------------------
def _boom(*a, **k):
    raise RuntimeError("simulated HiGHS crash")


@pytest.mark.parametrize("method", ["_run_highs", "_compile"])   # the solve, the hand-off
def test_solver_exception_is_exit_3(previous, monkeypatch, method):
    import importlib

    S = importlib.import_module("qtopo.solve")  # qtopo.solve is also the function's name

    scen, out, snap = previous
    monkeypatch.setattr(S, method, _boom)
    r = _run("plan", scen, "--out", out, "-q")
    assert r.exit_code == 3, r.output
    assert "solver failure" in r.output and "simulated HiGHS crash" in r.output
    assert "Traceback" not in r.output
    _assert_untouched(out, snap)


def test_solver_unavailable_is_exit_3(base, tmp_path, monkeypatch):
    import importlib

    S = importlib.import_module("qtopo.solve")  # qtopo.solve is also the function's name

    monkeypatch.setattr(S, "_highs_available", lambda: False)
    r = _run("plan", base, "--out", tmp_path / "out", "-q")
    assert r.exit_code == 3 and "HiGHS (highspy) is not available" in r.output
    assert not (tmp_path / "out").exists()


def test_solver_exception_python_api(base, monkeypatch):
    import importlib

    S = importlib.import_module("qtopo.solve")  # qtopo.solve is also the function's name

    monkeypatch.setattr(S, "_run_highs", _boom)
    with pytest.raises(qtopo.SolverError, match="simulated HiGHS crash"):
        qtopo.plan(base)


def test_out_of_memory_is_clear(previous, monkeypatch):
    scen, out, snap = previous

    def oom(*a, **k):
        raise MemoryError()
    monkeypatch.setattr(qtopo.planner, "build_model", oom)
    r = _run("plan", scen, "--out", out, "-q")
    assert r.exit_code == 3 and "out of memory" in r.output
    _assert_untouched(out, snap)


def test_internal_bug_is_exit_70_without_traceback(previous, monkeypatch):
    scen, out, snap = previous

    def bug(*a, **k):
        raise ZeroDivisionError("simulated bug")
    monkeypatch.setattr(qtopo.planner, "build_inputs", bug)
    monkeypatch.delenv("QTOPO_DEBUG", raising=False)
    r = _run("plan", scen, "--out", out, "-q")
    assert r.exit_code == 70
    assert "internal error: ZeroDivisionError: simulated bug" in r.output and "QTOPO_DEBUG=1" in r.output
    assert "Traceback" not in r.output
    _assert_untouched(out, snap)


def test_verification_failure_is_never_written(previous, monkeypatch):
    """A plan the solver accepts but independent verification rejects: exit 5, nothing written."""
    scen, out, snap = previous
    real = qtopo.planner.extract_plan

    def corrupt(*a, **k):
        p = real(*a, **k)
        for link in p.links:
            link.device_pairs = 0  # capacity gone, flows still routed over it
            link.capacity_bps = 0.0
        return p
    monkeypatch.setattr(qtopo.planner, "extract_plan", corrupt)
    r = _run("plan", scen, "--out", out, "-q")
    assert r.exit_code == 5, r.output
    assert "failed verification" in r.output and "The plan was not written." in r.output
    _assert_untouched(out, snap)


def test_verify_command_rejects_tampered_plan(previous, tmp_path):
    scen, out, snap = previous
    p = json.loads((out / "plan.json").read_text())
    p["cost_eur"] = p["cost_eur"] / 2
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(p))
    r = _run("verify", bad)
    assert r.exit_code == 5, r.output
    assert "Traceback" not in r.output
    r = _run("verify", out / "plan.json")
    assert r.exit_code == 0, r.output


# ----------------------------------------------------------------------------------------------------------
# interruptions (Ctrl-C) leave the previous output intact
# ----------------------------------------------------------------------------------------------------------
def _ctrl_c(*a, **k):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["read_network", "build_inputs", "build_model", "verify"])
def test_interrupt_in_a_phase(previous, monkeypatch, where):
    scen, out, snap = previous
    monkeypatch.setattr(qtopo.planner, where, _ctrl_c)
    r = _run("plan", scen, "--out", out, "-q")
    assert r.exit_code == 130, r.output
    assert "interrupted: previous outputs were left as they were" in r.output
    _assert_untouched(out, snap)


def test_interrupt_inside_highs(previous, monkeypatch):
    import importlib

    S = importlib.import_module("qtopo.solve")  # qtopo.solve is also the function's name

    scen, out, snap = previous
    monkeypatch.setattr(S, "_run_highs", _ctrl_c)
    r = _run("plan", scen, "--out", out, "-q")
    assert r.exit_code == 130
    _assert_untouched(out, snap)


def test_interrupt_while_writing_outputs(previous, monkeypatch):
    """Ctrl-C half-way through writing the new output directory (after plan.json, during the report)."""
    import qtopo.report

    scen, out, snap = previous
    monkeypatch.setattr(qtopo.report, "write_report", _ctrl_c)
    r = _run("plan", scen, "--out", out, "-q")
    assert r.exit_code == 130
    _assert_untouched(out, snap)


def test_interrupt_between_the_two_renames(previous, monkeypatch):
    """The narrowest window: the old directory was moved aside, the new one not yet moved in."""
    scen, out, snap = previous
    real = os.replace

    def replace(src, dst):
        if Path(src).name.startswith(f".{out.name}.tmp-"):
            raise KeyboardInterrupt
        return real(src, dst)
    monkeypatch.setattr(qtopo.atomic.os, "replace", replace)
    r = _run("plan", scen, "--out", out, "-q")
    assert r.exit_code == 130
    _assert_untouched(out, snap)


def test_input_error_keeps_previous_output(previous):
    scen, out, snap = previous
    (scen.parent / "demands.csv").write_text("source,target,target_bps\nalpha,nowhere,5\n")
    r = _run("plan", scen, "--out", out, "-q")
    assert r.exit_code == 4
    _assert_untouched(out, snap)


def test_atomic_output_dir_directly(tmp_path):
    out = tmp_path / "o"
    with atomic_output_dir(out) as t:
        (t / "a.txt").write_text("1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_dir(out) as t:
            (t / "a.txt").write_text("2")
            (t / "b.txt").write_text("2")
            raise KeyboardInterrupt
    assert sorted(os.listdir(out)) == [qtopo.io.OUTPUT_MARKER, "a.txt"] and (out / "a.txt").read_text() == "1"
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------------------------------------------------
# --out must never delete anything qtopo did not write
# ----------------------------------------------------------------------------------------------------------
def test_out_is_the_scenario_folder(base):
    """``--out`` = the scenario's own folder used to replace it, deleting the inputs."""
    before = _snapshot(base.parent)
    r = _run("plan", base, "--out", base.parent, "-q")
    assert r.exit_code == 4, r.output
    assert "is not a qtopo output directory" in r.output and "choose a new or empty directory" in r.output
    assert _snapshot(base.parent) == before
    assert _leftovers(base.parent.parent) == []


def test_out_is_the_current_directory(base, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    r = _run("plan", base, "--out", ".", "-q")
    assert r.exit_code == 4, r.output
    assert (work / "notes.txt").read_text() == "mine" and sorted(os.listdir(work)) == ["notes.txt"]


def test_out_parent_of_inputs(base, tmp_path):
    r = _run("plan", base, "--out", tmp_path, "-q")
    assert r.exit_code == 4, r.output
    assert base.exists()


@pytest.mark.parametrize("content", [None, "marker"])
def test_out_replaceable(tmp_path, content):
    """Empty, or marked by qtopo: replaced. (A plan.json alone no longer authorises it: issue 15, a user's folder
    holding a file of that name was deleted; see tests/test_robust.py.)"""
    out = tmp_path / "o"
    out.mkdir()
    if content == "marker":
        (out / qtopo.io.OUTPUT_MARKER).write_text("")
        (out / "old.txt").write_text("")
    elif content == "plan.json":
        (out / "plan.json").write_text("{}")
    with atomic_output_dir(out) as t:
        (t / "new.txt").write_text("n")
    assert sorted(os.listdir(out)) == [qtopo.io.OUTPUT_MARKER, "new.txt"]


def test_check_output_dir_is_usable_before_planning(tmp_path):
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(qtopo.InputError, match="not a qtopo output directory"):
        qtopo.io.check_output_dir(tmp_path)
    qtopo.io.check_output_dir(tmp_path / "new")  # not there yet: fine


# ----------------------------------------------------------------------------------------------------------
# untrusted input stays data
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../x.json", "../../etc/passwd", "/etc/passwd", "a/../../x", "sub/../../x",
                                  "..", "/"])
def test_safe_child_refuses_escapes(tmp_path, name):
    with pytest.raises(qtopo.InputError, match="escapes the output directory"):
        safe_child(tmp_path / "out", name)


@pytest.mark.parametrize("name", ["plan.json", "sub/plan.json", "a/../plan.json", "./x"])
def test_safe_child_allows_children(tmp_path, name):
    p = safe_child(tmp_path / "out", name)
    assert (tmp_path / "out").resolve() in p.parents


def test_safe_child_refuses_symlink_out(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(tmp_path)
    with pytest.raises(qtopo.InputError):
        safe_child(out, "link/secret.txt")


UNSAFE = [
    (r"\bpickle\.loads?\(", "pickle.load"),
    (r"\b(cPickle|dill|joblib|shelve)\b", "pickle-like deserialiser"),
    (r"\bmarshal\.loads?\(", "marshal.load"),
    (r"(?<![\w.])eval\(", "eval("),
    (r"(?<![\w.])exec\(", "exec("),
    (r"yaml\.(unsafe_)?load\((?![^)]*SafeLoader)", "yaml.load without SafeLoader"),
    (r"yaml\.full_load\(", "yaml.full_load"),
    (r"shell\s*=\s*True", "subprocess with shell=True"),
    (r"np\.load\([^)]*allow_pickle\s*=\s*True", "np.load(allow_pickle=True)"),
    (r"pd\.read_pickle\(", "pandas.read_pickle"),
]


def test_no_unsafe_deserialisation_in_package():
    """Grep the package source: user files are parsed as data (TOML, CSV, JSON, GIS), never executed."""
    hits = []
    for f in sorted(PKG.rglob("*.py")):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for pat, what in UNSAFE:
                if re.search(pat, code):
                    hits.append(f"{f.relative_to(PKG.parent)}:{n}: {what}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_unsafe_patterns_are_detected():
    """The patterns above do match what they should (so the test above is not vacuous)."""
    samples = ["pickle.load(fh)", "x = eval(s)", "yaml.load(text)", "subprocess.run(c, shell=True)",
               "np.load(p, allow_pickle=True)", "exec(code)"]
    for s in samples:
        assert any(re.search(p, s) for p, _ in UNSAFE), s
    for s in ["yaml.load(text, Loader=yaml.SafeLoader)", "ast.literal_eval(s)", "model.eval()", "json.load(fh)"]:
        assert not any(re.search(p, s) for p, _ in UNSAFE), s
