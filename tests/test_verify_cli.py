"""qtopo verify on stored plans: tampering and changed inputs are caught; qtopo.explore works."""
from __future__ import annotations

import json

from click.testing import CliRunner

import qtopo
from qtopo.cli import main


def test_verify_detects_changed_inputs_and_tampering(corridor_factory, tmp_path):
    scen = corridor_factory(target_bps=1000.0)
    out = tmp_path / "plan"
    r = CliRunner().invoke(main, ["plan", str(scen), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["verify", str(out / "plan.json")])
    assert r.exit_code == 0 and "plan verified" in r.output
    # tamper: claim one more device pair on a link than paid for -> cost and capacity differ
    data = json.loads((out / "plan.json").read_text())
    data["links"][0]["device_pairs"] += 1
    (tmp_path / "tampered.json").write_text(json.dumps(data))
    r = CliRunner().invoke(main, ["verify", str(tmp_path / "tampered.json")])
    assert r.exit_code == 5 and "capacity" in r.output and data["links"][0]["id"] in r.output
    # months later the demands file changed: the hash differs and the higher target is not met
    dem = scen.parent / "demands.csv"
    dem.write_text(dem.read_text().replace("1000.0", "1e12"))
    r = CliRunner().invoke(main, ["verify", str(out / "plan.json")])
    assert r.exit_code == 5
    assert "changed since the plan was made" in r.output and "target" in r.output


def test_plan_explore_returns_a_folium_map(corridor_factory):
    import folium

    plan = qtopo.plan(corridor_factory())
    m = qtopo.explore(plan)
    assert isinstance(m, folium.Map)
    assert "QKD links" in m.get_root().render()
