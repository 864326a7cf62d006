"""Staged rollout: a schedule derived by hand on a small plan."""
from __future__ import annotations

import pytest

from planfactory import demand, link, node, plan as make_plan

import qtopo
from qtopo.contract import Plan, Status
from qtopo.rollout import schedule_rollout
from qtopo.verify import rollout_violations


def _plan():
    # hand-made plan: sites A, B, C; trusted T; links A-B (cost 10), B-T (20), T-C (20)
    nodes = [node(x, "site", 5.0) for x in "ABC"] + [node("T", "trusted", 30.0)]
    links = [link(a, b, c) for a, b, c in (("A", "B", 10.0), ("B", "T", 20.0), ("T", "C", 20.0))]
    demands = [demand("A", "B", 100.0, [(["A", "B"], 100)]), demand("B", "C", 50.0, [(["B", "T", "C"], 50)])]
    return make_plan(nodes, links, demands)


def test_schedule_serves_the_cheap_demand_first():
    plan = _plan()
    # year 1 budget 20: only A, B and A-B (5+5+10) -> A-B served; year 2 (+80 = 100 cumulative): everything (95)
    ro = schedule_rollout(plan, [20.0, 80.0], first_year=2030)
    assert ro.status is Status.OPTIMAL
    y1, y2 = ro.stages
    assert y1.year == 2030 and y1.demands_served == ["A->B"]
    assert sorted(y1.nodes) == ["A", "B"] and y1.links == ["A--B:d"]
    assert y2.demands_served == ["A->B", "B->C"]
    assert y1.cumulative_spend_eur <= 20.0 and y2.cumulative_spend_eur == pytest.approx(95.0)
    plan.rollout = ro
    assert rollout_violations(plan) == []
    assert Plan.from_dict(plan.to_dict()) == plan  # the rollout round-trips through plan.json


def test_too_small_budgets_leave_elements_unbuilt_and_check_catches_cheating():
    plan = _plan()
    ro = schedule_rollout(plan, [20.0, 10.0])
    assert ro.stages[-1].demands_served == ["A->B"]
    assert "trusted:T" in ro.unbuilt
    ro.stages[0].demands_served.append("B->C")  # claim a demand whose route is not built
    plan.rollout = ro
    assert any("B->C" in v for v in rollout_violations(plan))


def test_rollout_through_the_planner(corridor_factory):
    path = corridor_factory(target_bps=1.0)
    plan = qtopo.plan(path, overrides={"rollout.budgets_eur": [1e5, 1e6]})
    assert plan.verification.ok
    st = plan.rollout.stages
    assert st[0].demands_served == [] and st[1].demands_served == ["A->B"]
