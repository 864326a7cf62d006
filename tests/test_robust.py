"""Nothing lost, nothing silent (issue 15): output folders, interrupts, wrong results and misleading messages.

Bad-input cases that only need a scenario folder are in the corpus (``tests/make_bad_corpus.py``); this file
holds what needs a real process (signals), a prepared output folder, or a computed answer.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import qtopo
from qtopo.cli import main

HERE = Path(__file__).resolve().parent
BASE = HERE / "data" / "bad" / "_base"
ROOT = HERE.parent


def _base(tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "scen"
    shutil.copytree(BASE, dst)
    return dst / "scenario.toml"


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def _litter(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# ------------------------------------------------------------------------------------------------------------
# output folders: only qtopo's marker authorises replacing one; every --out problem found before any work
# ------------------------------------------------------------------------------------------------------------
def test_folder_with_a_users_plan_json_is_not_replaced(tmp_path):
    """A plan.json alone does not make a folder qtopo's: --out X/ where X holds the scenario is refused."""
    scen = _base(tmp_path)
    (scen.parent / "plan.json").write_text("{}")
    (scen.parent / "notes.txt").write_text("mine")
    before = sorted(os.listdir(scen.parent))
    r = _invoke("plan", scen, "--out", scen.parent)
    assert r.exit_code == 4, r.output
    assert "is not a qtopo output directory" in r.output and ".qtopo-output marker" in r.output
    assert "read:" not in r.output  # refused before any work
    assert sorted(os.listdir(scen.parent)) == before


def test_output_folder_with_user_files_added_is_not_replaced(tmp_path):
    scen = _base(tmp_path)
    out = tmp_path / "out"
    assert _invoke("plan", scen, "--out", out, "-q").exit_code == 0
    marker = (out / ".qtopo-output").read_text()
    assert "plan.json" in marker and "files:" in marker
    (out / "my_analysis.xlsx").write_text("precious")
    r = _invoke("plan", scen, "--out", out, "-q")
    assert r.exit_code == 4 and "files were added to it since (my_analysis.xlsx)" in r.output, r.output
    assert (out / "my_analysis.xlsx").read_text() == "precious"
    (out / "my_analysis.xlsx").unlink()
    assert _invoke("plan", scen, "--out", out, "-q").exit_code == 0  # its own output: replaced


@pytest.mark.parametrize("make,fragment", [
    (lambda t: (t / "afile").write_text("x") and t / "afile" / "out", "is a file, not a folder"),
    (lambda t: t / "x" / "nonexistent" / ".." / "out", "which does not exist"),
    (lambda t: os.symlink(t / "gone", t / "dangling") or t / "dangling", "is a symbolic link"),
    (lambda t: os.symlink(t, t / "link") or t / "link", "is a symbolic link"),
])
def test_bad_out_found_before_any_work(tmp_path, make, fragment):
    scen = _base(tmp_path)
    out = make(tmp_path)
    r = _invoke("plan", scen, "--out", out)
    assert r.exit_code == 4, r.output
    assert fragment in r.output and "cannot write output" in r.output
    assert "read:" not in r.output and "internal error" not in r.output


def _as_nobody(fn):
    """Run ``fn()`` (returning a str) in a forked child that dropped root to uid/gid 65534 (nobody)."""
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            os.close(rd)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out = fn()
            os.write(wr, out.encode())
            code = 0
        except BaseException as e:  # noqa: BLE001 - reported to the parent through the pipe
            os.write(wr, f"child failed: {e!r}".encode())
        finally:
            os._exit(code)
    os.close(wr)
    chunks = []
    while chunk := os.read(rd, 65536):
        chunks.append(chunk)
    os.close(rd)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode()
    assert os.waitstatus_to_exitcode(status) == 0, text
    return text


def test_unwritable_out_parent(tmp_path):
    """A parent folder the user cannot write to is refused before any work.

    As root every folder is writable (no read-only mount or chattr here), so the command then runs in a forked
    child that dropped to uid 65534 (nobody), in a world-readable temporary folder, with the modules already
    imported (nobody cannot read root's Python installation)."""
    import shutil
    import tempfile

    root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
    base = Path(tempfile.mkdtemp(prefix="qtopo-ro-")) if root else tmp_path
    try:
        base.chmod(0o755)
        scen = _base(base)
        for p in [scen.parent, *scen.parent.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        ro = base / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        (base / "afile").write_text("x")
        assert _invoke("plan", scen, "--out", base / "afile" / "x").exit_code == 4  # imports the CLI's modules
        if root:
            text = _as_nobody(lambda: (lambda r: f"{r.exit_code}\n{r.output}")(_invoke("plan", scen, "--out",
                                                                                       ro / "out")))
            code, output = int(text.split("\n", 1)[0]), text.split("\n", 1)[1]
        else:
            r = _invoke("plan", scen, "--out", ro / "out")
            code, output = r.exit_code, r.output
        assert code == 4 and "is not writable" in output and "cannot write output" in output, output
        assert "read:" not in output and not (ro / "out").exists()
    finally:
        (base / "ro").chmod(0o755) if (base / "ro").exists() else None
        if root:
            shutil.rmtree(base, ignore_errors=True)


def test_stale_temp_litter_cleaned_at_next_start(tmp_path):
    scen = _base(tmp_path)
    out = tmp_path / "out"
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    (tmp_path / f".out.tmp-{dead}-abc").mkdir()
    (tmp_path / f".out.tmp-{dead}-abc" / "plan.json").write_text("{}")
    (tmp_path / f".out.old-{dead}-xyz").mkdir()
    alive = tmp_path / f".out.tmp-{os.getpid()}-live"  # a concurrent run's folder is left alone
    alive.mkdir()
    assert _invoke("plan", scen, "--out", out, "-q").exit_code == 0
    assert _litter(tmp_path) == [alive.name]


def test_import_overwrite_refuses_a_folder_qtopo_did_not_write(tmp_path):
    nodes = tmp_path / "nodes.csv"
    links = tmp_path / "links.csv"
    nodes.write_text("id,lon,lat\na,5.0,52.0\nb,5.5,52.0\n")
    links.write_text("from,to\na,b\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    r = _invoke("import", "csv", nodes, links, "--datacenters", "a,b", "--out", mine, "--overwrite")
    assert r.exit_code == 4 and "not a qtopo output directory" in r.output, r.output
    assert (mine / "thesis.tex").read_text() == "years of work"
    proj = tmp_path / "proj"
    assert _invoke("import", "csv", nodes, links, "--datacenters", "a,b", "--out", proj).exit_code == 0
    assert _invoke("import", "csv", nodes, links, "--datacenters", "a,b", "--out", proj, 
                   "--overwrite").exit_code == 0  # its own: ok


def test_import_csv_refuses_infinite_length(tmp_path):
    nodes = tmp_path / "nodes.csv"
    links = tmp_path / "links.csv"
    nodes.write_text("id,lon,lat\na,5.0,52.0\nb,5.5,52.0\n")
    links.write_text("from,to,length_km\na,b,inf\n")
    r = _invoke("import", "csv", nodes, links, "--datacenters", "a,b", "--out", tmp_path / "p")
    assert r.exit_code == 4 and "length_km 'inf' is not a positive number" in r.output, r.output
    assert not (tmp_path / "p").exists()


# ------------------------------------------------------------------------------------------------------------
# interrupts: real processes, real signals
# ------------------------------------------------------------------------------------------------------------
def _qtopo(*args, **kw):
    exe = Path(sys.executable).with_name("qtopo")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("QTOPO_DEBUG", None)
    return subprocess.Popen([str(exe), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, **kw)


def _previous_output(out: Path) -> dict:
    """A finished earlier output (marker + plan), as the thing that must survive."""
    out.mkdir()
    (out / "plan.json").write_text('{"status": "optimal", "previous": true}')
    (out / ".qtopo-output").write_text("Written by qtopo.\nfiles:\nplan.json\n")
    return {p.name: p.read_bytes() for p in out.iterdir()}


def _wait_for(proc, text: str, timeout_s: float) -> str:
    """Read stderr lines until one contains ``text``; returns what was read."""
    seen = ""
    t_end = time.time() + timeout_s
    while time.time() < t_end:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}; stderr so far:\n{seen}")


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_solve_leaves_previous_output(tmp_path, sig, code):
    """Ctrl-C or SIGTERM while HiGHS solves: exit 130/143, no plan written, previous output intact, no litter."""
    out = tmp_path / "out"
    before = _previous_output(out)
    scen = ROOT / "data" / "surfnet" / "scenario.toml"
    # budget mode on SURFnet: the solve takes tens of seconds, long enough to be interrupted in it
    p = _qtopo("plan", scen, "--out", out, "--set", "objective.mode=max_rate", "--set", "objective.budget_eur=1.2e6",
               "--time-limit", "120")
    try:
        _wait_for(p, "build:", 120)
        time.sleep(1.5)  # inside the solve
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == code, err
    assert "Traceback" not in err and "nothing was written" in err
    assert {q.name: q.read_bytes() for q in out.iterdir()} == before
    assert _litter(tmp_path) == []


@pytest.mark.parametrize("delay_s", [0.0, 0.3])
def test_sigterm_while_reading_leaves_previous_output(tmp_path, delay_s):
    """SIGTERM early (imports, reading inputs): same promise."""
    scen = _base(tmp_path)
    out = tmp_path / "out"
    before = _previous_output(out)
    p = _qtopo("plan", scen, "--out", out)
    try:
        line = _wait_for(p, "read:", 60) if delay_s else ""
        time.sleep(delay_s)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    err = line + err
    # a run can finish before the signal lands on a fast machine: then it must have succeeded cleanly
    assert p.returncode in (143, 0, -signal.SIGTERM), err
    if p.returncode != 0:
        assert {q.name: q.read_bytes() for q in out.iterdir()} == before
    assert "Traceback" not in err
    assert _litter(tmp_path) == []


# ------------------------------------------------------------------------------------------------------------
# wrong results
# ------------------------------------------------------------------------------------------------------------
def test_budget_mode_does_not_buy_idle_endpoints(tmp_path):
    """Budget = two sites + one pair: only a plan that leaves endpoint B unbought fits. The old model counted
    every endpoint as bought (3 sites > budget: no plan); now A-C is served in full and B is not in the plan."""
    from test_optimizer_features import PAIR, SITE, budget_plan_serving_a_c

    plan = budget_plan_serving_a_c(tmp_path, 70.0, 112.0, 2 * SITE + PAIR)
    assert sorted(n.id for n in plan.nodes) == ["A", "C"]
    assert plan.cost_eur == pytest.approx(2 * SITE + PAIR)


def test_budget_progress_line_names_a_rate_not_a_cost(tmp_path):
    from test_optimizer_features import PAIR, SITE, network

    nodes = {"A": (5.0, 52.0), "B": (6.0, 52.0)}
    p = network(tmp_path, nodes, [("A", "B", 70.0)], [("A", "B", 1000.0)],
                sections={"objective": {"mode": "max_rate", "budget_eur": 2 * SITE + PAIR}})
    lines = []
    qtopo.plan(p, progress=lines.append)
    solve = next(x for x in lines if x.startswith("solve:"))
    assert "weighted delivered rate 1,000 bit/s" in solve and "cost" not in solve


def test_huts_split_routes_at_equal_geodesic_lengths():
    """On an L-shaped route (east, then north), huts at equal shares of the length in degrees gave segments of
    18.6-30.9 km for 23.55 km shares; now each segment's geometry measures its length_km / route_factor."""
    import geopandas as gpd
    import shapely

    from qtopo.geo import geodesic_length_km
    from qtopo.topology import build_fibre_network

    line = shapely.LineString([(5.0, 52.0), (6.0, 52.0), (6.0, 53.0)])
    routes = gpd.GeoDataFrame({"id": ["L"]}, geometry=[line], crs="EPSG:4326")
    routes["geodesic_km"] = geodesic_length_km(routes.geometry.values)
    net = build_fibre_network(routes, None, route_factor=1.3, hut_spacing_km=25.0)
    e = net.edges
    geo = geodesic_length_km(e.geometry.values)
    assert len(e) >= 7
    np.testing.assert_allclose(e.length_km.to_numpy(), geo * 1.3, rtol=1e-5)  # (was 0.79-1.31)
    assert geo.max() / geo.min() - 1 < 1e-9
    np.testing.assert_allclose(e.length_km.sum(), routes["geodesic_km"].iat[0] * 1.3, rtol=1e-9)
    # huts lie on the drawn line
    huts = net.nodes[net.nodes.kind == "hut"]
    d = shapely.distance(shapely.points(huts.lon, huts.lat), line)
    assert np.max(d) < 1e-6


def test_validate_reports_snapping_with_demand_errors(tmp_path):
    scen = _base(tmp_path)
    d = scen.parent
    sites = json.loads((d / "sites.geojson").read_text())
    sites["features"][2]["geometry"]["coordinates"] = [7.5, 50.0]  # charlie far from every route
    (d / "sites.geojson").write_text(json.dumps(sites))
    (d / "demands.csv").write_text("source,target,target_bps\nalpha,bravo,-5\n")
    r = _invoke("validate", scen)
    assert r.exit_code == 4
    assert "target_bps -5 must be > 0" in r.output and "from the nearest route node" in r.output, r.output


# ------------------------------------------------------------------------------------------------------------
# messages
# ------------------------------------------------------------------------------------------------------------
def test_utf8_bom_scenario_plans(tmp_path):
    scen = _base(tmp_path)
    scen.write_bytes(b"\xef\xbb\xbf" + scen.read_bytes())
    r = _invoke("plan", scen, "--out", tmp_path / "out", "-q")
    assert r.exit_code == 0, r.output


def test_utf16_scenario_named(tmp_path):
    scen = _base(tmp_path)
    scen.write_text(scen.read_text(), encoding="utf-16")
    r = _invoke("validate", scen)
    assert r.exit_code == 4 and "encoded as UTF-16" in r.output and "save the file as UTF-8" in r.output


def test_time_limit_zero_is_said_to_mean_no_limit(tmp_path):
    scen = _base(tmp_path)
    r = _invoke("plan", scen, "--out", tmp_path / "out", "--time-limit", "0")
    assert r.exit_code == 0, r.output
    assert "no time limit (solver.time_limit_s = 0 means none)" in r.output


def test_existing_links_are_hashed_inputs(tmp_path):
    scen = _base(tmp_path)
    (scen.parent / "existing.csv").write_text("from,to,device,pairs\nalpha,bravo,apd,1\n")
    r = _invoke("plan", scen, "--out", tmp_path / "out", "-q", "--set", 'inputs.existing_links="existing.csv"')
    assert r.exit_code == 0, r.output
    files = json.loads((tmp_path / "out" / "plan.json").read_text())["inputs"]["files"]
    assert [f["role"] for f in files] == ["scenario", "sites", "routes", "demands", "existing_links"]
    (scen.parent / "existing.csv").write_text("from,to,device,pairs\nalpha,bravo,apd,2\n")
    r = _invoke("verify", tmp_path / "out" / "plan.json")
    assert "existing.csv changed since the plan was made" in r.output, r.output


def test_repeaters_records_the_scenarios_route_factor(tmp_path):
    scen = _base(tmp_path)  # route_factor = 1.2
    r = _invoke("repeaters", scen, "--out", tmp_path / "rep", "--l-max-km", "60", "--n-max", "2",
                "--time-limit", "20")
    assert r.exit_code in (0, 2), r.output
    assert not r.output.startswith("Running HiGHS")
    res = json.loads((tmp_path / "rep" / "repeaters.json").read_text())
    assert res["params"]["route_factor"] == 1.2


def test_span_message_gives_the_total_with_connectors(tmp_path):
    """The span is compared with the reach including its connectors: the message states that total."""
    scen = _base(tmp_path)
    d = scen.parent
    for name, i, xy in (("sites.geojson", 2, [5.5, 53.7]), ("routes.geojson", 1, None)):
        fc = json.loads((d / name).read_text())
        if xy:
            fc["features"][i]["geometry"]["coordinates"] = xy
        else:
            fc["features"][i]["geometry"]["coordinates"] = [[5.5, 52.0], [5.5, 53.7]]
        (d / name).write_text(json.dumps(fc))
    r = _invoke("plan", scen, "--out", tmp_path / "out", "-q")
    assert r.exit_code == 2, r.output
    import re

    m = re.search(r"span bravo - charlie of ([0-9.]+) dB \(([0-9.]+) dB fibre \+ 1 dB connectors\), beyond the "
                  r"best device's reach of ([0-9.]+) dB", r.output)
    assert m, r.output
    total, fibre, reach = map(float, m.groups())
    assert total == pytest.approx(fibre + 1.0, abs=0.051) and total > reach


def test_override_through_a_scalar_is_an_input_error(tmp_path):
    scen = _base(tmp_path)
    r = _invoke("plan", scen, "--out", tmp_path / "out", "--set", "network.route_factor.x=1")
    assert r.exit_code == 4, r.output
    assert "'network.route_factor' is a value (float 1.2), not a table" in r.output


def test_docs_inputs_md_is_generated_from_the_schema():
    """docs/inputs.md is `python -m qtopo.columns` output: regenerate it when a column changes."""
    from qtopo.columns import markdown

    assert (ROOT / "docs" / "inputs.md").read_text(encoding="utf-8") == markdown(), \
        "docs/inputs.md is stale: run `python -m qtopo.columns > docs/inputs.md`"


def test_every_validated_column_is_documented():
    """The readers know no column the schema does not list (and the reverse)."""
    from qtopo.columns import TABLES
    from qtopo.requirements import COLUMNS

    demand_cols = {c.name for c in TABLES["demands"][0]}
    assert set(COLUMNS) | {"source", "target", "target_bps"} == demand_cols


@pytest.mark.parametrize("cmd", ["zoo", "sndlib", "csv"])
@pytest.mark.parametrize("make,fragment", [
    (lambda t: (t / "afile").write_text("x") and t / "afile" / "out", "is a file, not a folder"),
    (lambda t: t / "x" / "nonexistent" / ".." / "out", "which does not exist"),
    (lambda t: os.symlink(t / "gone", t / "dangling") or t / "dangling", "is a symbolic link"),
    (lambda t: (t / "full").mkdir() or (t / "full" / "notes.txt").write_text("x") and t / "full",
     "folder exists and is not empty"),
])
def test_import_bad_out_found_before_any_network_is_read(tmp_path, monkeypatch, cmd, make, fragment):
    """`qtopo import ... --out X` checks X completely before reading or converting anything (issue 15)."""
    import qtopo.importers as imp
    import qtopo.importers.csvnet as csvnet
    import qtopo.importers.sndlib as sndlib

    read = []

    def spy(*a, **k):
        read.append(a)
        raise AssertionError("the network was read before --out was checked")

    monkeypatch.setattr(imp, "read_zoo", spy)
    monkeypatch.setattr(sndlib, "read_sndlib", spy)
    monkeypatch.setattr(csvnet, "read_csv_network", spy)
    net = tmp_path / "net.txt"
    net.write_text("x")
    files = [net, net] if cmd == "csv" else [net]
    t0 = time.perf_counter()
    r = _invoke("import", cmd, *files, "--datacenters", "a,b", "--out", make(tmp_path))
    assert r.exit_code == 4, r.output
    assert fragment in r.output and not read, r.output
    assert "internal error" not in r.output and time.perf_counter() - t0 < 5


def test_import_bad_out_and_bad_options_reported_together(tmp_path):
    (tmp_path / "afile").write_text("x")
    r = _invoke("import", "csv", tmp_path / "missing.csv", tmp_path / "missing.csv", "--route-factor", "0.5",
                "--out", tmp_path / "afile" / "out")
    assert r.exit_code == 4, r.output
    assert "is a file, not a folder" in r.output and "--route-factor" in r.output
    assert "missing.csv" not in r.output  # nothing was read
