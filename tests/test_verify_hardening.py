"""``qtopo verify`` cannot be fooled, hung or crashed by an edited plan.json (issue 15).

Each case edits the plan.json of a real, verified plan and asserts the exit code and the message: unknown
status or schema version, missing or mistyped keys, an empty fibre path, deep nesting, a null or edited cost,
a "no plan" status that still holds links, input paths that name a device. A bounded hypothesis run mutates
random fields and asserts that verify never ends in a traceback or an internal error (exit 70).
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import corridor
from qtopo.cli import main

ROOT = Path(__file__).resolve().parents[1]
OK_CODES = {0, 2, 3, 4, 5}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A verified plan of a 300 km corridor with two huts opened (four links), and its plan.json as a dict."""
    tmp = tmp_path_factory.mktemp("verify")
    scen = corridor(tmp / "scen", length_km=300.0, hut_spacing_km=50.0, target_bps=1000.0)
    out = tmp / "out"
    r = CliRunner().invoke(main, ["plan", str(scen), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    data = json.loads((out / "plan.json").read_text())
    assert data["schema_version"] == 2 and len(data["links"]) >= 2
    return tmp, data


def _verify(tmp: Path, data_or_text, name: str = "edited.json"):
    p = tmp / name
    p.write_text(data_or_text if isinstance(data_or_text, str) else json.dumps(data_or_text))
    return CliRunner().invoke(main, ["verify", str(p)], catch_exceptions=True)


def _no_plan(d, status):
    d.update(status=status, termination="precheck", cost_eur=None, objective_value=None, best_bound=None, gap=None,
             cost_breakdown=None, nodes=[], links=[], demands=[], fibre_coords={}, verification=None)


def _edit_link_cost_consistently(d):
    """Overcharge one link and make cost_eur and the whole breakdown agree with it."""
    d["links"][0]["cost_eur"] += 1000.0
    for k in ("devices_and_fibre_eur", "total_eur"):
        d["cost_breakdown"][k] += 1000.0
    d["cost_eur"] += 1000.0
    d["objective_value"] += 1000.0


CASES = {
    # name: (edit, exit code, fragments of the message)
    "status_capitalised": (lambda d: d.update(status="Optimal"), 4,
                           ["not a valid qtopo plan", "status: 'Optimal' is not one of"]),
    "status_unknown_in_old_plan": (lambda d: d.update(status="solved", schema_version=1), 4,
                                   ["status: 'solved' is not one of"]),
    "infeasible_with_links": (lambda d: d.update(status="infeasible"), 5,
                              ["plan status is infeasible, which means no plan, but it holds", "links"]),
    "infeasible_empty": (lambda d: _no_plan(d, "infeasible"), 2,
                         ["nothing verified: the plan's status is infeasible"]),
    "no_solution_empty": (lambda d: _no_plan(d, "no_solution"), 3,
                          ["nothing verified: the plan's status is no_solution"]),
    "cost_null": (lambda d: d.update(cost_eur=None), 5, ["cost_eur is null"]),
    "cost_breakdown_null": (lambda d: d.update(cost_breakdown=None), 5, ["cost_breakdown is null"]),
    "breakdown_edited": (lambda d: d["cost_breakdown"].update(nodes_eur=d["cost_breakdown"]["nodes_eur"] - 1e4),
                         5, ["cost_breakdown.nodes_eur", "differs from the recomputed"]),
    "breakdown_and_cost_edited": (lambda d: (d["cost_breakdown"].update(total_eur=d["cost_breakdown"]["total_eur"] / 2),
                                             d.update(cost_eur=d["cost_eur"] / 2)), 5,
                                  ["cost_breakdown.total_eur", "total cost"]),
    "link_overcharged_consistently": (_edit_link_cost_consistently, 5, ["cost", "recomputed"]),
    "bound_above_cost": (lambda d: d.update(best_bound=d["cost_eur"] * 2), 5, ["not a lower bound"]),
    "newer_schema": (lambda d: d.update(schema_version=3), 4, ["written by a newer qtopo", "upgrade qtopo"]),
    "missing_key": (lambda d: d["links"][1].pop("capacity_bps"), 4,
                    ["links[1]: 'capacity_bps' is a required property"]),
    "mistyped_key": (lambda d: d["links"][0].update(device_pairs="two"), 4,
                     ["links[0].device_pairs: 'two' is not of type 'integer'"]),
    "empty_fibre_path": (lambda d: d["links"][0].update(fibre_path=[]), 4, ["links[0].fibre_path"]),
    "one_node_route": (lambda d: d["demands"][0]["routes"][0].update(nodes=["A"]), 4,
                       ["demands[0].routes[0].nodes"]),
    "unknown_key": (lambda d: d.update(objective_cost=1.0), 4, ["'objective_cost' was unexpected"]),
    "negative_rate": (lambda d: d["demands"][0]["routes"][0].update(rate_bps=-5.0), 5, ["negative or undefined rate"]),
    "input_path_is_a_device": (lambda d: d["inputs"]["files"].append({"role": "sites", "path": "/dev/zero",
                                                                      "sha256": "0" * 64}), 0,
                               ["plan verified", "input path /dev/zero is not a regular file: not hashed"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_edited_plan(stored, case):
    tmp, data = stored
    edit, code, frags = CASES[case]
    d = copy.deepcopy(data)
    edit(d)
    r = _verify(tmp, d, f"{case}.json")
    assert r.exit_code == code, r.output
    missing = [f for f in frags if f not in r.output]
    assert not missing, f"missing {missing} in:\n{r.output}"
    assert "Traceback" not in r.output and "internal error" not in r.output
    if code != 0:
        assert "plan verified" not in r.output  # never a success, in particular never "0 checks passed"


def test_the_stored_plan_itself_verifies(stored):
    tmp, data = stored
    r = _verify(tmp, data, "same.json")
    assert r.exit_code == 0 and "plan verified" in r.output and "0 checks" not in r.output


@pytest.mark.parametrize("text, frag", [
    ("[" * 100_000, "nested too deeply"),
    ('{"status": "optimal", "stats": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ("", "not valid JSON"),
    ('{"status": "optimal", "seed": 1' + "0" * 5000 + "}", "not a valid plan.json"),
    ("\xff\xfe{}", "not valid JSON"),
])
def test_unreadable_plan_files(stored, text, frag):
    tmp, _ = stored
    r = _verify(tmp, text, "bad.json")
    assert r.exit_code == 4, r.output
    assert frag in r.output and "Traceback" not in r.output


def test_plan_path_that_is_a_device_is_not_read(stored):
    r = CliRunner().invoke(main, ["verify", "/dev/zero"], catch_exceptions=True)
    assert r.exit_code == 4 and "not a regular file" in r.output, r.output


def test_scenario_path_that_is_a_device_is_not_read(stored):
    tmp, data = stored
    d = copy.deepcopy(data)
    d["scenario"]["path"] = "/dev/zero"
    r = _verify(tmp, d, "dev_scenario.json")
    assert r.exit_code == 4 and "is not a regular file" in r.output, r.output


def test_verify_imports_no_optimiser(stored):
    """Verifying a stored plan loads no candidate, model, solver, heuristic or rollout code, nor Pyomo."""
    tmp, data = stored
    p = tmp / "clean.json"
    p.write_text(json.dumps(data))
    code = ("import sys\nfrom qtopo.contract import Plan\nfrom qtopo.verify import verify\n"
            f"rep = verify(Plan.from_json({str(p)!r}))\nassert rep.ok, rep\n"
            "bad = [m for m in ('qtopo.candidates', 'qtopo.model', 'qtopo.solve', 'qtopo.highs', 'qtopo.heuristic', "
            "'qtopo.rollout', 'qtopo.planner', 'pyomo', 'highspy') if m in sys.modules]\nprint(bad)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout


# ------------------------------------------------------------------------------------------------------------
# fuzzing: random edits of random fields never crash verify
# ------------------------------------------------------------------------------------------------------------
def _paths(obj, prefix=()):
    """Every path (tuple of keys / indices) into a JSON value."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            out += _paths(v, prefix + (i,))
    return out


def _apply(doc, path, op, value):
    if not path:
        return value if op == "set" else doc
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    k = path[-1]
    if op == "delete":
        del parent[k]
    elif op == "set":
        parent[k] = value
    elif op == "duplicate" and isinstance(parent, list):
        parent.insert(k, copy.deepcopy(parent[k]))
    return doc


def test_fuzz_plan_json_never_crashes_verify(stored):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    tmp, data = stored
    paths = [p for p in _paths(data) if p and p[0] not in ("inputs",)] + [("inputs", "files")]
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers(-10**20, 10**20)
        | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
        max_leaves=6)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.tuples(st.sampled_from(paths), st.sampled_from(["set", "delete", "duplicate"]), json_values),
                    min_size=1, max_size=3))
    def run(edits):
        d = copy.deepcopy(data)
        for path, op, value in edits:
            try:
                d = _apply(d, path, op, value)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier edit removed or replaced this path
        r = _verify(tmp, json.dumps(d), "fuzz.json")
        assert r.exit_code in OK_CODES, (edits, r.output)
        assert "Traceback" not in r.output and "internal error" not in r.output, (edits, r.output)
        if r.exit_code == 0:
            assert "plan verified" in r.output

    run()
