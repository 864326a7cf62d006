"""The README's step-by-step Python API gives the same plan as ``qtopo.plan`` (and so ``qtopo plan``): the block
between ``<!-- api:start -->`` and ``<!-- api:end -->`` is run as written."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import qtopo

ROOT = Path(__file__).resolve().parents[1]


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- api:start -->\s*```python\n(.*?)```\s*<!-- api:end -->", text, re.S)
    assert m, "README.md lost its <!-- api:start --> python block"
    return m.group(1)


def _summary(p) -> dict:
    return {"status": p.status, "cost": p.cost_eur, "nodes": sorted(n.id for n in p.nodes),
            "links": sorted((L.from_node, L.to_node, L.device, L.device_pairs) for L in p.links)}


def test_readme_stages_give_the_plan_of_qtopo_plan(monkeypatch):
    code = readme_snippet()
    for name in ("start_plan", "plan_from_solve", "solve", "verify"):
        assert f"qtopo.{name}(" in code  # the snippet uses the public stages, not a private shortcut
    monkeypatch.chdir(ROOT)  # the README's paths are relative to the repository
    ns: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md[api]", "exec"), ns)
    staged = ns["plan"]
    assert ns["start"].found and len(ns["start"].inputs.hop_devices) <= ns["start"].hop_devices_before
    one_call = qtopo.plan(ROOT / "data/surfnet/scenario.toml")
    a, b = _summary(staged), _summary(one_call)
    assert a["status"] == b["status"] == "optimal"
    assert a["cost"] == pytest.approx(b["cost"], rel=1e-9)
    assert a["nodes"] == b["nodes"] and a["links"] == b["links"]
    assert staged.source == one_call.source == "milp"
    assert qtopo.verify(staged, ns["scen"], network=ns["net"]).ok


def test_start_plan_without_heuristic_keeps_the_inputs():
    scen = qtopo.load_scenario(ROOT / "data/surfnet/scenario.toml", {"solver.heuristic_start": False})
    net, demands = qtopo.read_network(scen)
    inputs = qtopo.build_inputs(net, demands, scen)
    start = qtopo.start_plan(inputs, scen)
    assert start.inputs is inputs and not start.found and start.warm(None) is False
