"""Scenario sweeps on Dask: expansion and ids, validation, resume, failures, and a worker killed mid-sweep.

Scenarios are tiny corridors (tests/conftest.py::corridor) so that a sweep takes seconds. Two LocalClusters with
two single-threaded worker processes each: the one `qtopo sweep` starts by itself, and one the kill test
attaches to (so that it can find and kill a busy worker).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import corridor

distributed = pytest.importorskip("distributed")

from qtopo.errors import InputError  # noqa: E402
from qtopo.sweep import (  # noqa: E402
    _write_new, collect, load_sweep, pareto_front, run_scenario, run_sweep, scenario_id, sweep_from_dict,
)


def _write_sweep(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _result_files(out: Path) -> list[Path]:
    return sorted(p for p in (out / "runs").glob("*.json") if not p.name.startswith("."))


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes (as the default LocalCluster on a 2-core machine)."""
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as c:
        yield c


# ----------------------------------------------------------------------------------------------------------
# expansion, ids, validation (no cluster)
# ----------------------------------------------------------------------------------------------------------
def test_grid_expansion_ids_and_labels(tmp_path):
    scen = corridor(tmp_path / "c")
    sw = _write_sweep(tmp_path / "s.toml", f'''
[sweep]
scenario = "{scen.relative_to(tmp_path)}"
[fixed]
"solver.time_limit_s" = 5
[grid]
"costs.hut_node_eur" = [2e5, 4e5]
"devices.d1.pair_cost_eur" = [60000, 1.2e5]
"demands.scale" = [0.5, 1, 2]
''')
    spec = load_sweep(sw)
    assert len(spec) == 2 * 2 * 3
    assert spec.scenario == scen.resolve()
    assert len(set(spec.ids)) == 12
    # every combination once, fixed keys and the solver thread count in every scenario
    combos = {(r.overrides["costs.hut_node_eur"], r.overrides["devices.d1.pair_cost_eur"],
               r.overrides["demands.scale"]) for r in spec.runs}
    assert len(combos) == 12
    assert all(r.overrides["solver.time_limit_s"] == 5 and r.overrides["solver.threads"] == 1 for r in spec.runs)
    # ids are stable: same on reload, independent of key order and of int/float spelling
    assert load_sweep(sw).ids == spec.ids
    r0 = spec.runs[0]
    shuffled = dict(reversed(list(r0.overrides.items())))
    shuffled["costs.hut_node_eur"] = int(shuffled["costs.hut_node_eur"])
    assert scenario_id(shuffled) == r0.id
    assert scenario_id({**r0.overrides, "demands.scale": 3}) != r0.id
    # readable labels name the varied keys (shortest unique suffix) and their values, not the fixed ones
    assert r0.label == "hut_node_eur=200000, pair_cost_eur=60000, scale=0.5"
    tab = spec.table()
    assert list(tab.columns) == ["id", "label", "costs.hut_node_eur", "devices.d1.pair_cost_eur", "demands.scale"]


def test_list_mode_with_labels(tmp_path):
    scen = corridor(tmp_path / "c")
    spec = sweep_from_dict({"sweep": {"scenario": str(scen), "mode": "list"},
                            "list": [{"label": "cheap huts", "costs.hut_node_eur": 1e5},
                                     {"fibre.attenuation_db_per_km": 0.25, "demands.scale": 2}]})
    assert [r.label for r in spec.runs] == ["cheap huts", "attenuation_db_per_km=0.25, scale=2"]
    assert spec.varied == ("costs.hut_node_eur", "fibre.attenuation_db_per_km", "demands.scale")
    assert "label" not in spec.runs[0].overrides


def test_bad_sweep_file_reports_every_problem(tmp_path):
    scen = corridor(tmp_path / "c")
    sw = _write_sweep(tmp_path / "bad.toml", f'''
[sweep]
scenario = "{scen}"
mode = "grid"
save_plan = true
[grid]
"costs.hut_node_eu" = [1e5, 2e5]
"fibre.attenuation_db_per_km" = [0.2, 99.0]
"demands.scale" = [1, -2]
"solver.threads" = [1, 2]
"costs.fibre_eur_per_km" = 5
"demands.k_route" = [1, 2]
"demands.max_trusted_nodes" = [1, -1]
''')
    with pytest.raises(InputError) as ei:
        load_sweep(sw)
    text = ei.value.format()
    # unknown sweep key, with the close match
    assert "unknown key 'save_plan'" in text and "save_plans" in text
    # unknown scenario key, found by validating the expanded scenarios, with the close match
    assert "unknown key 'hut_node_eu'" in text and "hut_node_eur" in text and "all " in text
    # out-of-range value in some scenarios only, reported once with how many it affects
    assert "99.0 is above its maximum" in text and text.count("99.0 is above") == 1
    assert "-2 must be a positive number" in text
    assert "'solver.threads' cannot be set per scenario" in text
    assert "'costs.fibre_eur_per_km' must be a non-empty list" in text
    # demand-table keys: unknown column with its close match; invalid values found by the demand validator
    assert "unknown key 'demands.k_route'" in text and "demands.k_routes" in text
    assert "max_trusted_nodes" in text and "must be a whole number >= 0" in text and "(16 scenarios" in text
    assert len(ei.value.problems) >= 8
    # a missing base scenario and an unknown mode
    with pytest.raises(InputError) as ei:
        sweep_from_dict({"sweep": {"scenario": "nope.toml", "mode": "cartesian"}, "grid": {"a.b": [1]}},
                        base_dir=tmp_path)
    assert "does not exist" in ei.value.format() and "mode = 'cartesian'" in ei.value.format()
    # identical scenarios in a list
    with pytest.raises(InputError, match="identical"):
        sweep_from_dict({"sweep": {"scenario": str(scen), "mode": "list"},
                         "list": [{"costs.hut_node_eur": 1e5}, {"costs.hut_node_eur": 100000}]})


def test_cli_bad_sweep_file_exits_4(tmp_path):
    from qtopo.cli import main

    sw = _write_sweep(tmp_path / "bad.toml", '[sweep]\nscenario = "missing.toml"\n[grid]\n"costs.hut_node_eur" = [1]\n')
    r = CliRunner().invoke(main, ["sweep", str(sw), "--out", str(tmp_path / "out")])
    assert r.exit_code == 4, r.output
    assert "does not exist" in r.output
    r = CliRunner().invoke(main, ["sweep", str(tmp_path / "nothing.toml"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 4


def test_pareto_front():
    df = pd.DataFrame({"status": ["optimal", "optimal", "feasible", "optimal", "infeasible", "error"],
                       "cost_eur": [1.0, 2.0, 1.5, 3.0, 0.1, None],
                       "delivered_total_bps": [10.0, 20.0, 10.0, 20.0, 99.0, None]})
    # (1,10) and (2,20) are efficient; (1.5,10) and (3,20) are dominated; no plan -> never on the front
    assert pareto_front(df).tolist() == [True, True, False, False, False, False]


def test_result_file_is_written_once(tmp_path):
    p = tmp_path / "runs" / "abc.json"
    assert _write_new(p, '{"a": 1}\n')
    assert not _write_new(p, '{"a": 2}\n')
    assert json.loads(p.read_text()) == {"a": 1}
    assert [q.name for q in p.parent.iterdir()] == ["abc.json"]  # no temporary file left behind
    # a task whose result exists returns it without planning again
    r = run_scenario({"id": "abc", "label": "x", "overrides": {}, "scenario": "missing.toml",
                      "out_dir": str(tmp_path), "save_plan": False})
    assert r == {"skipped": True, "result": {"a": 1}}


# ----------------------------------------------------------------------------------------------------------
# running on a LocalCluster
# ----------------------------------------------------------------------------------------------------------
def test_cli_sweep_records_failures_and_resumes(tmp_path):
    """`qtopo sweep` on its own LocalCluster: an infeasible and a failing scenario are recorded, the others finish;
    a rerun plans nothing again."""
    from qtopo.cli import main

    scen = corridor(tmp_path / "c", length_km=300.0, hut_spacing_km=50.0, target_bps=1000.0)
    bad = tmp_path / "c" / "bad_demands.csv"
    bad.write_text("source,target,target_bps\nA,Z,10\n")  # Z is not a site: fails inside the worker
    sw = _write_sweep(tmp_path / "s.toml", f'''
[sweep]
scenario = "{scen}"
mode = "list"
save_plans = true
[fixed]
"solver.time_limit_s" = 20
[[list]]
label = "base"
[[list]]
"demands.scale" = 2
[[list]]
label = "beyond reach"      # 1 Gbit/s with at most 8 device pairs per hop
"demands.scale" = 1e6
[[list]]
label = "broken"
"inputs.demands" = "{bad}"
''')
    spec = load_sweep(sw)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["sweep", str(sw), "--out", str(out), "--workers", "2", "-q"])
    assert r.exit_code == 0, r.output  # every scenario finished, whatever its status
    assert "4 scenarios: 2 optimal, 1 infeasible, 1 error" in r.output
    df = pd.read_csv(out / "results.csv")
    assert list(df["id"]) == spec.ids and df["id"].is_unique
    st = dict(zip(df["label"], df["status"]))
    assert st == {"base": "optimal", "scale=2": "optimal", "beyond reach": "infeasible", "broken": "error"}
    err = df.set_index("label").loc["broken", "error"]
    assert "InputError" in err and "'Z' is not a site id" in err
    # demands.scale multiplied every target (a scaled copy of the demands in the scenario's working folder)
    tot = df.set_index("label")["target_total_bps"]
    assert tot["base"] == 1000.0 and tot["scale=2"] == 2000.0
    assert df.set_index("label")["delivered_total_bps"]["scale=2"] >= 2000.0 * (1 - 1e-9)
    # single-failure analysis of each plan: a corridor chain survives no failure of its own links or huts
    planned = df[df["status"] == "optimal"]
    assert planned["survivability"].between(0.0, 1.0).all() and (planned["demands_surviving_all"] == 0).all()
    # one result file per scenario, the full plan of scenarios with a plan, and the collected outputs
    assert [p.stem for p in _result_files(out)] == sorted(spec.ids)
    assert (out / "runs" / spec.ids[0] / "plan.json").exists()
    for name in ("results.csv", "results.parquet", "pareto.png"):
        assert (out / name).stat().st_size > 0
    assert pd.read_parquet(out / "results.parquet")["id"].tolist() == spec.ids
    # resume: nothing is planned again (no cluster is even started), no result file is touched
    mtimes = {p: p.stat().st_mtime_ns for p in _result_files(out)}
    df2 = run_sweep(spec, out, progress=False)
    assert df2.attrs["sweep"]["ran"] == 0 and df2.attrs["sweep"]["skipped"] == 4
    assert {p: p.stat().st_mtime_ns for p in _result_files(out)} == mtimes
    assert df2["id"].tolist() == spec.ids and df2["status"].tolist() == df["status"].tolist()


def test_worker_killed_mid_sweep_then_rerun_completes_each_scenario_once(tmp_path, client, cluster):
    """SIGKILL a worker process while it plans a scenario. The scheduler reschedules its task on the restarted
    worker; the sweep ends with every scenario finished exactly once, and a rerun (the CLI, against the same
    cluster) plans nothing again."""
    from qtopo.cli import main

    # ~1-2 s per scenario: 100 hut candidates on a 1000 km corridor
    scen = corridor(tmp_path / "c", length_km=1000.0, hut_spacing_km=10.0, target_bps=1000.0)
    sw = _write_sweep(tmp_path / "kill.toml", f'''
[sweep]
scenario = "{scen}"
failures = false
[fixed]
"solver.time_limit_s" = 30
[grid]
"costs.hut_node_eur" = [2e5, 4e5]
"demands.scale" = [1, 2]
''')
    spec = load_sweep(sw)
    out = tmp_path / "out"
    killed = {}

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            proc = client.processing()
            pids = client.run(os.getpid)
            for addr, keys in proc.items():
                keys = [k for k in keys if str(k).startswith("qtopo-sweep-")]
                sid = str(keys[0]).rsplit("-", 1)[-1] if keys else None
                if sid and not (out / "runs" / f"{sid}.json").exists() and addr in pids:
                    time.sleep(0.3)  # let it get into the planner
                    if (out / "runs" / f"{sid}.json").exists():
                        break
                    os.kill(pids[addr], signal.SIGKILL)
                    killed.update(addr=addr, pid=pids[addr], id=sid, t=time.time())
                    return
            time.sleep(0.1)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    df = run_sweep(spec, out, scheduler=client, progress=False)
    th.join(5)
    assert killed, "no worker was busy with a scenario to kill"
    pids_now = client.run(os.getpid)
    assert killed["pid"] not in pids_now.values()  # that process is gone (its nanny started a new one)
    # every scenario finished exactly once: one result file per id, unique rows, nothing lost
    assert sorted(p.stem for p in _result_files(out)) == sorted(spec.ids)
    assert df.attrs["sweep"]["lost"] == 0 and df["id"].is_unique and len(df) == len(spec)
    assert (df["status"] == "optimal").all(), df[["label", "status", "error"]]
    killed_row = json.loads((out / "runs" / f"{killed['id']}.json").read_text())
    assert killed_row["status"] == "optimal" and killed_row["id"] == killed["id"]
    # the rerun through the command line against the same cluster finishes without planning anything
    mtimes = {p.name: p.stat().st_mtime_ns for p in _result_files(out)}
    r = CliRunner().invoke(main, ["sweep", str(sw), "--out", str(out), "--scheduler", cluster.scheduler_address,
                                  "--quiet"])
    assert r.exit_code == 0, r.output
    assert f"{len(spec)} scenarios: {len(spec)} optimal ({len(spec)} already done, skipped)" in r.output
    assert {p.name: p.stat().st_mtime_ns for p in _result_files(out)} == mtimes
    res = pd.read_csv(out / "results.csv")
    assert res["id"].is_unique and sorted(res["id"]) == sorted(spec.ids)
    assert collect(out)["id"].is_unique
    # a grown sweep plans only its new scenario
    sw.write_text(sw.read_text().replace("[2e5, 4e5]", "[2e5, 4e5, 6e5]").replace("[1, 2]", "[1]"))
    grown = load_sweep(sw)
    df3 = run_sweep(grown, out, scheduler=client, progress=False)
    assert df3.attrs["sweep"]["ran"] == 1 and df3.attrs["sweep"]["skipped"] == 2 and len(df3) == 3
    assert len(_result_files(out)) == len(spec) + 1
