"""qtopo repeaters: the command line over a hand-made chain and a real Topology Zoo file."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from qtopo.cli import main
from qtopo.cli.repeaters import plan_repeaters_from

ROOT = Path(__file__).resolve().parents[1]


def test_corridor_needs_two_repeaters(corridor_factory, tmp_path):
    # corridor A-B of 300 km with huts every 50 km; L_max = 100 km -> links of <= 2 segments: 2 repeaters
    scen = corridor_factory(length_km=300.0, hut_spacing_km=50.0)
    res = plan_repeaters_from(str(scen), L_max_km=100.0, N_max=4, D=4, K=1)
    assert res["status"] == "optimal" and res["n_repeaters"] == 2
    assert res["verification"]["ok"]
    r = CliRunner().invoke(main, ["repeaters", str(scen), "--out", str(tmp_path / "r"), "--l-max-km", "100",
                                  "--n-max", "1"])
    assert r.exit_code == 2 and "N_max" in r.output  # 2 repeaters needed, only 1 allowed: diagnosed


def test_zoo_file_and_bad_end_node(tmp_path):
    out = tmp_path / "abilene"
    r = CliRunner().invoke(main, ["repeaters", str(ROOT / "data" / "zoo" / "Abilene.graphml"), "--out", str(out),
                                  "--l-max-km", "2500", "--n-max", "4", "--route-factor", "1.3",
                                  "--end-nodes", "New York,Seattle,Houston"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "repeaters.json").read_text())
    assert res["verification"]["ok"] and res["n_repeaters"] >= 1
    r = CliRunner().invoke(main, ["repeaters", str(ROOT / "data" / "zoo" / "Abilene.graphml"), "--out",
                                  str(tmp_path / "x"), "--l-max-km", "500", "--n-max", "3", "--end-nodes", "Seatle"])
    assert r.exit_code == 4 and "Seattle" in r.output
