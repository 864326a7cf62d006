"""Determinism: the same inputs and options give the same plan.

``plan.json`` must be identical apart from timings, versions and absolute paths, also across processes with
different string-hash seeds (``PYTHONHASHSEED``), which is where iteration over sets and dicts of strings
changes order. The test scenario is a ring with exact ties (every route has the same surveyed length, so two
demands each have two equally cheap paths): any tie broken by hash or memory order shows up here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import qtopo

from conftest import SURFNET

VOLATILE_KEYS = {"timings_s", "versions", "path"}


def normalise(obj, roots=()):
    """Drop timings, versions and paths (recursively); replace the run's folders in strings by <DIR>."""
    if isinstance(obj, dict):
        return {k: normalise(v, roots) for k, v in obj.items() if k not in VOLATILE_KEYS}
    if isinstance(obj, list):
        return [normalise(v, roots) for v in obj]
    if isinstance(obj, str):
        for r in roots:
            obj = obj.replace(str(r), "<DIR>")
    return obj


def ring(folder: Path) -> Path:
    """Four sites on a square, four routes of 60 km each, demands between opposite corners (two tied paths)."""
    folder.mkdir(parents=True, exist_ok=True)
    corners = {"a": (5.0, 52.0), "b": (5.4, 52.0), "c": (5.4, 52.25), "d": (5.0, 52.25)}
    sites = [{"type": "Feature", "properties": {"id": k, "kind": "datacenter"},
              "geometry": {"type": "Point", "coordinates": list(v)}} for k, v in corners.items()]
    order = ["a", "b", "c", "d", "a"]
    routes = [{"type": "Feature", "properties": {"id": f"r{i}", "length_km": 60.0},
               "geometry": {"type": "LineString", "coordinates": [list(corners[u]), list(corners[v])]}}
              for i, (u, v) in enumerate(zip(order[:-1], order[1:]))]
    (folder / "sites.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": sites}))
    (folder / "routes.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": routes}))
    (folder / "demands.csv").write_text("source,target,target_bps\na,c,2000\nb,d,2000\n")
    (folder / "scenario.toml").write_text("""\
[scenario]
name = "tied ring"
[inputs]
sites = "sites.geojson"
routes = "routes.geojson"
demands = "demands.csv"
[network]
node_tolerance_m = 100.0
snap_tolerance_m = 1000.0
hut_spacing_km = 20.0
[fibre]
attenuation_db_per_km = 0.2
connector_loss_db = 1.0
[costs]
trusted_node_eur = 100000.0
hut_node_eur = 100000.0
fibre_eur_per_km = 0.0
[devices.apd]
preset = "apd-bb84"
pair_cost_eur = 50000.0
max_pairs_per_link = 8
[solver]
time_limit_s = 30.0
mip_gap = 0.0
threads = 1
""")
    return folder / "scenario.toml"


def _plan_subprocesses(jobs, cli: bool = False) -> None:
    """Plan each ``(scenario, out, hashseed)`` in its own fresh interpreter, side by side.

    ``cli`` runs ``qtopo plan`` (all outputs); otherwise only plan.json is written (faster: no maps/reports).
    """
    procs = []
    for scenario, out, hashseed in jobs:
        env = {**os.environ, "PYTHONHASHSEED": str(hashseed)}
        if cli:
            cmd = [str(Path(sys.executable).with_name("qtopo")), "plan", str(scenario), "--out", str(out), "-q"]
        else:
            cmd = [sys.executable, "-c", "import sys, pathlib, qtopo; o = pathlib.Path(sys.argv[2]); o.mkdir(); "
                   "qtopo.plan(sys.argv[1]).to_json(o / 'plan.json')", str(scenario), str(out)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err


def _load(out: Path, roots) -> tuple[dict, str]:
    d = normalise(json.loads((out / "plan.json").read_text()), roots)
    return d, json.dumps(d, indent=1)  # order-preserving text


def test_same_plan_twice_in_process(tmp_path):
    """Two runs from two copies of the inputs (different folders) in one process."""
    s1 = ring(tmp_path / "one")
    s2 = ring(tmp_path / "two")
    for scen, out in ((s1, tmp_path / "out1"), (s2, tmp_path / "out2")):
        p = qtopo.plan(scen)
        assert p.status == "optimal" and p.links
        out.mkdir()
        p.to_json(out / "plan.json")
    d1, t1 = _load(tmp_path / "out1", [tmp_path / "one", tmp_path / "out1"])
    d2, t2 = _load(tmp_path / "out2", [tmp_path / "two", tmp_path / "out2"])
    assert d1 == d2
    assert t1 == t2


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """The ring planned in two processes with different hash seeds, from two folders."""
    base = tmp_path_factory.mktemp("det")
    _plan_subprocesses([(ring(base / f"in{seed}"), base / f"out{seed}", seed) for seed in (1, 2)])
    return [_load(base / f"out{seed}", [base / f"in{seed}", base / f"out{seed}"]) for seed in (1, 2)]


def test_same_plan_across_processes(two_processes):
    (d1, _), (d2, _) = two_processes
    assert d1 == d2


def test_same_plan_json_text_across_processes(two_processes):
    """Byte-identical (normalised) plan.json: also the order of keys, not only the content."""
    (_, t1), (_, t2) = two_processes
    assert t1 == t2


@pytest.mark.slow
def test_bundled_scenario_is_deterministic(tmp_path):
    """The bundled SURFnet scenario, twice, in two processes with different hash seeds."""
    _plan_subprocesses([(SURFNET, tmp_path / f"out{seed}", seed) for seed in (1, 2)], cli=True)
    roots = [SURFNET.parent]
    d1, _ = _load(tmp_path / "out1", roots + [tmp_path / "out1"])
    d2, _ = _load(tmp_path / "out2", roots + [tmp_path / "out2"])
    assert d1 == d2


def test_normalise_keeps_what_matters():
    d = {"status": "optimal", "timings_s": {"solve": 1.0}, "versions": {"x": "1"},
         "inputs": {"files": [{"path": "/tmp/a", "sha256": "ab"}]}, "note": "/tmp/run/x"}
    assert normalise(d, ["/tmp/run"]) == {"status": "optimal", "inputs": {"files": [{"sha256": "ab"}]},
                                          "note": "<DIR>/x"}
