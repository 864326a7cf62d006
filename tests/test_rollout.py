"""Staged rollout: a schedule derived by hand on a small plan."""
from __future__ import annotations

import pytest

import qtopo
from qtopo.rollout import check_rollout, schedule_rollout


def _plan():
    # hand-made plan: sites A, B, C; trusted T; links A-B (cost 10), B-T (20), T-C (20)
    nodes = [{"id": x, "kind": "site", "cost": 5.0} for x in "ABC"] + [{"id": "T", "kind": "trusted", "cost": 30.0}]
    links = [{"id": f"{a}--{b}:d", "from": a, "to": b, "cost": c, "fiber_path": [a, b]}
             for a, b, c in (("A", "B", 10.0), ("B", "T", 20.0), ("T", "C", 20.0))]
    demands = [{"source": "A", "target": "B", "target_bps": 100.0, "routes": [{"nodes": ["A", "B"], "rate_bps": 100}]},
               {"source": "B", "target": "C", "target_bps": 50.0,
                "routes": [{"nodes": ["B", "T", "C"], "rate_bps": 50}]}]
    return {"status": "optimal", "nodes": nodes, "links": links, "demands": demands}


def test_schedule_serves_the_cheap_demand_first():
    plan = _plan()
    # year 1 budget 20: only A, B and A-B (5+5+10) -> A-B served; year 2 (+80 = 100 cumulative): everything (95)
    ro = schedule_rollout(plan, [20.0, 80.0], first_year=2030)
    assert ro["status"] == "optimal"
    y1, y2 = ro["stages"]
    assert y1["year"] == 2030 and y1["demands_served"] == ["A->B"]
    assert sorted(y1["nodes"]) == ["A", "B"] and y1["links"] == ["A--B:d"]
    assert y2["demands_served"] == ["A->B", "B->C"]
    assert y1["cumulative_spend_eur"] <= 20.0 and y2["cumulative_spend_eur"] == pytest.approx(95.0)
    plan["rollout"] = ro
    assert check_rollout(plan) == []


def test_too_small_budgets_leave_elements_unbuilt_and_check_catches_cheating():
    plan = _plan()
    ro = schedule_rollout(plan, [20.0, 10.0])
    assert ro["stages"][-1]["demands_served"] == ["A->B"]
    assert "trusted:T" in ro["unbuilt"]
    ro["stages"][0]["demands_served"].append("B->C")  # claim a demand whose route is not built
    plan["rollout"] = ro
    assert any("B->C" in v for v in check_rollout(plan))


def test_rollout_through_the_planner(corridor_factory):
    path = corridor_factory(target_bps=1.0)
    plan = qtopo.plan(path, overrides={"rollout.budgets_eur": [1e5, 1e6]})
    assert plan["verification"]["ok"]
    st = plan["rollout"]["stages"]
    assert st[0]["demands_served"] == [] and st[1]["demands_served"] == ["A->B"]
