"""Benchmark suite: one tiny instance through the subprocess runner, and the renderer on fixture records.

Performance itself is asserted by the benchmarks (``make bench``), not here.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import registry, render, run  # noqa: E402


def test_registry_covers_issue_5():
    names = set(registry.INSTANCES)
    for zoo in ("abilene", "surfnet", "geant2012", "dfn", "colt", "cogentco", "uscarrier", "kdl"):
        assert f"zoo-{zoo}" in names
    for n, e in ((50, 10), (100, 20), (200, 30)):
        assert f"syn-{n}-{e}" in names
    assert "bundled-surfnet" in names
    assert {"trusted", "repeater", "k2"} <= set(registry.VARIANTS)
    smoke = {i.name for i, _ in registry.select("smoke")}
    assert smoke == {"bundled-surfnet", "zoo-abilene", "zoo-surfnet", "syn-30-5"}
    assert [i.name for i, v in registry.select("smoke") if v.name == "k2"] == ["syn-30-5"]   # one quick k2 run
    assert all(i.limit("smoke") <= 20 for i, _ in registry.select("smoke"))
    for i in registry.INSTANCES.values():
        if i.family == "zoo":
            assert (ROOT / i.params["file"]).is_file()


def test_synthetic_instances_are_deterministic():
    from benchmarks.instances import synthetic_network

    s1, r1, e1 = synthetic_network(40, 6, seed=7)
    s2, r2, e2 = synthetic_network(40, 6, seed=7)
    assert e1 == e2 and list(r1["from_pop"]) == list(r2["from_pop"]) and list(r1["to_pop"]) == list(r2["to_pop"])
    assert (s1.geometry.x.to_numpy() == s2.geometry.x.to_numpy()).all()
    import networkx as nx

    G = nx.Graph(list(zip(r1["from_pop"], r1["to_pop"])))
    assert nx.is_connected(G) and G.number_of_nodes() == 40      # a Gabriel graph is connected


def test_runner_tiny_instance_every_field(tmp_path, monkeypatch):
    """One tiny synthetic instance through a fresh worker process: every JSON field present, plan verified."""
    monkeypatch.setenv("QTOPO_BENCH_CACHE", str(tmp_path / "cache"))
    inst, var = registry.INSTANCES["syn-12-3"], registry.VARIANTS["trusted"]
    rec = run.run_one(inst, var, "test", tmp_path / "out", threads=1, say=lambda s: None)
    data = json.loads((tmp_path / "out" / registry.result_name(inst.name, var.name)).read_text())
    assert data == rec
    missing = set(run.RECORD_FIELDS) - set(data)
    assert not missing, missing
    assert data["run_status"] == "ok", data["error"]
    assert data["error"] is None
    assert data["verify_ok"] is True
    assert data["status"] in ("optimal", "feasible")
    assert set(run.SIZE_FIELDS) <= set(data["sizes"])
    assert all(isinstance(data["sizes"][k], int) and data["sizes"][k] > 0 for k in run.SIZE_FIELDS), data["sizes"]
    assert data["sizes"]["fibre_nodes"] == 12 and data["sizes"]["demands"] == 3
    for ph in registry.ISSUE_PHASES + ("total",):
        assert isinstance(data["phases_s"][ph], float) and data["phases_s"][ph] >= 0.0, ph
    assert data["phases_s"]["total"] >= data["phases_s"]["solve"]
    assert data["objective"] is not None and data["bound"] is not None and data["gap"] is not None
    assert data["bound"] <= data["objective"] * (1 + 1e-9)
    assert data["peak_memory_mb"] > 50          # a Python process with NumPy, Pyomo and HiGHS loaded
    assert data["machine"]["cpu_count"] >= 1 and data["versions"]["highspy"]
    assert data["wall_s"] >= data["phases_s"]["total"]
    assert [p["phase"] for p in data["progress"]][:2] == ["read", "hops"]


def _k2_demands(rec):
    """The demand table the k2 run planned (the derived scenario named in the record's notes)."""
    import qtopo

    scen = next(n["scenario"] for n in rec["notes"] if isinstance(n, dict) and "scenario" in n)
    assert "-k2-" in scen
    return qtopo.read_network(qtopo.load_scenario(scen))[1]


def test_k2_derived_instance(tmp_path):
    """The k2 folder: the instance's demands with k_routes = 2, node-disjoint, 1+1; same network; cached."""
    from benchmarks.instances import scenario_path, variant_scenario_path
    import qtopo

    inst = registry.INSTANCES["bundled-surfnet"]
    k2 = variant_scenario_path(inst, "k2", cache=tmp_path)
    assert variant_scenario_path(inst, "trusted", cache=tmp_path) == scenario_path(inst) == ROOT / "data/surfnet/scenario.toml"
    assert variant_scenario_path(inst, "k2", cache=tmp_path) == k2 and k2.parent.parent == tmp_path
    base, der = qtopo.load_scenario(scenario_path(inst)), qtopo.load_scenario(k2)
    assert der.input_path("sites") == base.input_path("sites") and der.input_path("routes") == base.input_path("routes")
    assert der.network == base.network and der.costs == base.costs and der.devices == base.devices
    d0, d = (qtopo.read_network(s)[1] for s in (base, der))
    assert list(zip(d["source"], d["target"], d["target_bps"])) == list(zip(d0["source"], d0["target"], d0["target_bps"]))
    assert (d["k_routes"] == 2).all() and (d["disjoint"] == "node").all() and (d["protection"] == "1+1").all()


def test_k2_infeasible_is_a_result(tmp_path, monkeypatch):
    """K = 2 where an endpoint's every path passes one node: recorded as infeasible with a diagnosis, not failed."""
    monkeypatch.setenv("QTOPO_BENCH_CACHE", str(tmp_path / "cache"))
    inst, var = registry.INSTANCES["syn-12-3"], registry.VARIANTS["k2"]
    rec = run.run_one(inst, var, "test", tmp_path / "out", threads=1, say=lambda s: None)
    assert set(run.RECORD_FIELDS) <= set(rec)
    assert rec["run_status"] == "ok" and rec["error"] is None, rec["error"]
    assert rec["status"] == "infeasible" and rec["objective"] is None and rec["verify_ok"] is None
    n, diag = render.diagnosis(rec)
    assert n == 3 and {x["reason"] for x in diag} == {"disjoint_routes"}       # all 3 demands of syn-12-3
    assert all("node-disjoint" in x["detail"] for x in diag)
    assert rec["sizes"]["demands"] == 3 and rec["phases_s"]["total"] is not None
    assert (_k2_demands(rec)["k_routes"] == 2).all()
    # the renderer shows it as a result and lists the diagnosis, not under failures
    body = render.render({(rec["instance"], rec["variant"]): rec})
    assert "| syn-12-3 | k2 | ok | infeasible |" in body
    assert "**Infeasible**" in body and "**Failures**" not in body and "disjoint_routes" in body


def test_k2_smoke_run_verifies(tmp_path, monkeypatch):
    """The smoke suite's k2 run (syn-30-5), with a short limit: a verified K = 2 plan, every field present."""
    monkeypatch.setenv("QTOPO_BENCH_CACHE", str(tmp_path / "cache"))
    [(inst, var)] = [(i, v) for i, v in registry.select("smoke") if v.name == "k2"]
    rec = run.run_one(inst, var, "smoke", tmp_path / "out", threads=1, time_limit_s=4.0, say=lambda s: None)
    assert set(run.RECORD_FIELDS) <= set(rec)
    assert rec["run_status"] == "ok" and rec["error"] is None, rec["error"]
    assert rec["status"] in ("optimal", "feasible") and rec["verify_ok"] is True
    assert rec["objective"] is not None and rec["objective"] > 0
    d = _k2_demands(rec)
    assert len(d) == rec["sizes"]["demands"] == 10 and (d["k_routes"] == 2).all()
    assert (d["disjoint"] == "node").all() and (d["protection"] == "1+1").all()


def test_failed_phase_from_progress():
    assert run.failed_phase([]) == "read"
    assert run.failed_phase(["read"]) == "hops"
    assert run.failed_phase(["read", "hops"]) == "heuristic/build"
    assert run.failed_phase(["read", "hops", "heuristic", "build"]) == "solve"
    assert run.failed_phase(["read", "hops", "heuristic", "build", "solve"]) == "extract/verify"


def _fixture(instance, *, gap, total, verify_ok=True, build=1.0, handoff=1.0, nodes=100, nnz=10_000,
             peak=900.0, status="feasible"):
    inst, var = registry.INSTANCES[instance], registry.VARIANTS["trusted"]
    r = run.blank_record(inst, var, "full")
    r.update(run_status="ok", status=status, objective=1.0e6, bound=1.0e6 * (1 - gap), gap=gap,
             verify_ok=verify_ok, peak_memory_mb=peak, wall_s=total + 5, threads=2,
             machine={"cpu_count": 2, "cpu_model": "test cpu", "mem_total_mb": 1000, "platform": "test",
                      "git": {"commit": "0" * 40}},
             versions={"python": "3.11", "highspy": "1.16.0"})
    r["sizes"].update({k: 1 for k in run.SIZE_FIELDS})
    r["sizes"].update(fibre_nodes=nodes, nonzeros=nnz, hop_devices_after_bound=nnz // 10)
    r["phases_s"].update(read=0.5, hops=nodes / 1000, heuristic=1.0, build=build, handoff=handoff,
                         solve=total - 3.5 - build - handoff, extract=0.5, verify=0.5, total=total)
    return r


def test_render_fixture(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    recs = [_fixture("syn-100-20", gap=0.005, total=40.0, nodes=100, nnz=20_000),
            _fixture("syn-200-30", gap=0.20, total=310.0, nodes=200, nnz=41_000, build=30.0, handoff=80.0),
            _fixture("syn-50-10", gap=0.0, total=8.0, nodes=50, nnz=10_000, status="optimal"),
            # growth family (10 endpoints): nonzeros ~ n^1.0, hop time ~ n^1
            _fixture("syn-100-10", gap=0.0, total=8.0, nodes=100, nnz=20_000, status="optimal"),
            _fixture("syn-200-10", gap=0.0, total=8.0, nodes=200, nnz=40_000, status="optimal")]
    for r in recs:
        (res / registry.result_name(r["instance"], r["variant"])).write_text(json.dumps(r))
    (res / "not-a-record.json").write_text("{broken")
    readme = tmp_path / "README.md"
    readme.write_text(f"# Bench\n\nintro\n\n{render.START}\nold table\n{render.END}\n\nfooter\n")
    assert render.main([str(res), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# Bench\n\nintro\n") and text.endswith("footer\n")
    body = text[text.index(render.START):text.index(render.END)]
    assert "| syn-100-20 | trusted | ok | feasible | 1,000,000 | 995,000 | 0.50% | yes |" in body
    rows = {ln.split("|")[1].strip(): ln for ln in body.splitlines() if ln.startswith("| trusted-node design")}
    assert len(rows) == 2
    assert "**met**" in rows["trusted-node design, 100 nodes / 20 endpoints: <= 1% gap in < 60 s"]
    assert "**not met**" in rows["trusted-node design, 200 nodes / 30 endpoints: <= 5% gap in < 5 min"]
    share = next(ln for ln in body.splitlines() if ln.startswith("| Pyomo build"))
    assert "**not met**" in share and "syn-200-30 35%" in share        # (30 + 80) / 310
    kdl = next(ln for ln in body.splitlines() if ln.startswith("| Kdl (754 nodes)"))
    assert "undecided" in kdl and "no run of zoo-kdl" in kdl
    growth = next(ln for ln in body.splitlines() if ln.startswith("| near-linear"))
    assert "**met**" in growth and "10 endpoints, n = 50, 100, 200" in growth
    assert "nodes x endpoints family (n = 50, 100, 200" in growth     # reported alongside
    # rendering twice gives the same file (regenerated, never accumulated)
    render.main([str(res), "--readme", str(readme)])
    assert readme.read_text() == text
    # the project README gets the same targets table between its own markers
    proj = tmp_path / "PROJECT.md"
    proj.write_text(f"# P\n\n{render.TARGETS_START}\nold\n{render.TARGETS_END}\n")
    assert render.main([str(res), "--readme", str(readme), "--project-readme", str(proj)]) == 0
    ptext = proj.read_text()
    assert "old" not in ptext and render.targets_table(render.load_records(res)) in ptext


def test_growth_not_met_when_superlinear():
    recs = {(r["instance"], "trusted"): r for r in (
        _fixture("syn-50-10", gap=0.0, total=8.0, nodes=50, nnz=10_000),
        _fixture("syn-100-10", gap=0.0, total=8.0, nodes=100, nnz=40_000),
        _fixture("syn-200-10", gap=0.0, total=8.0, nodes=200, nnz=160_000))}   # nonzeros ~ n^2
    ok, text = registry._growth(recs)
    assert ok is False and "model nonzeros 2.00" in text


def test_loglog_slope():
    assert registry.loglog_slope([1, 2, 4, 8], [3, 6, 12, 24]) == pytest.approx(1.0)
    assert registry.loglog_slope([1, 2, 4], [1, 4, 16]) == pytest.approx(2.0)
    assert registry.loglog_slope([1, 2], [1, 2]) is None


@pytest.mark.parametrize("name", ["zoo-dfn", "zoo-uscarrier"])
def test_zoo_instances_read(tmp_path, name):
    """Zoo instances whose raw import the planner rejects (zero-length routes, route-less sites) read cleanly."""
    import qtopo
    from benchmarks.instances import scenario_path

    p = scenario_path(registry.INSTANCES[name], cache=tmp_path)
    net, demands = qtopo.read_network(qtopo.load_scenario(p))
    k = registry.INSTANCES[name].params["endpoints"]
    assert len(demands) == k * (k - 1) // 2
    assert "Dropped" in p.read_text().split("[scenario]")[0]


def test_verify_target_counts_k2_runs():
    """k2 runs count: a plan must verify; infeasibility found before the solve is a diagnosed result; a run that
    ends without a plan is not verified."""
    ok_t = _fixture("syn-30-5", gap=0.0, total=5.0)
    k2_ok = dict(_fixture("syn-30-5", gap=0.01, total=20.0), variant="k2")
    k2_inf = dict(_fixture("zoo-colt", gap=0.0, total=5.0), variant="k2", status="infeasible", verify_ok=None)
    k2_none = dict(_fixture("zoo-dfn", gap=0.0, total=60.0), variant="k2", status="no_solution", verify_ok=None)
    recs = {("syn-30-5", "trusted"): ok_t, ("syn-30-5", "k2"): k2_ok, ("zoo-colt", "k2"): k2_inf}
    ok, text = registry._all_verify(recs)
    assert ok is True and "2 of 2 plans verified" in text and "zoo-colt:k2" in text
    recs[("zoo-dfn", "k2")] = k2_none
    ok, text = registry._all_verify(recs)
    assert ok is False and "not verified: zoo-dfn:k2" in text
