"""Staged rollout: which nodes and links of a plan to build in which year, within yearly budgets.

Given a designed plan and budgets B_1..B_T (EUR), a small MILP schedules the plan's elements (nodes, relays,
links) so that the key rate served early is as large as possible:

- ``b[e,t]`` binary: element e is built by year t (monotone in t);
- ``s[d,t]`` binary: demand d is served in year t, only if every element on every one of its routes is built;
- spending is cumulative: what is built by year t costs at most ``B_1 + ... + B_t`` (unspent budget carries over);
- objective: maximise ``sum_t sum_d weight_d x target_d x s[d,t]`` (served key rate summed over the years),
  with a tiny preference for spending later when it changes nothing.

Elements already built (brownfield, cost 0) are available from the first year. If the budgets add up to less
than the plan's cost, the elements left over are reported as unbuilt.
"""
from __future__ import annotations

import logging

import numpy as np
import pyomo.environ as pyo

from .contract import Plan, Rollout, RolloutStage

log = logging.getLogger(__name__)


def _elements(plan: Plan):
    """Elements with cost, and per demand the set of elements it needs."""
    cost = {}
    for n in plan.nodes:
        cost[f"{n.kind}:{n.id}"] = float(n.cost_eur)
    link_of_hop: dict = {}
    for L in plan.links:
        cost[f"link:{L.id}"] = float(L.cost_eur)
        link_of_hop.setdefault(tuple(sorted((L.from_node, L.to_node))), []).append(L)
    kinds = {n.id: n.kind for n in plan.nodes if n.kind != "relay"}
    needs = []
    for d in plan.demands:
        req = set()
        for rt in d.routes:
            for x in rt.nodes:
                req.add(f"{kinds.get(x, 'trusted')}:{x}")
            for a, b in zip(rt.nodes[:-1], rt.nodes[1:]):
                for L in link_of_hop.get(tuple(sorted((a, b))), []):
                    req.add(f"link:{L.id}")
                    if L.relay is not None:
                        req.add(f"relay:{L.relay}")
        needs.append(req)
    return cost, needs


def schedule_rollout(plan: Plan, budgets_eur, first_year: int = 2027, time_limit_s: float = 30.0,
                     threads: int = 1) -> Rollout:
    """Schedule a plan over years (see module docstring).

    Solved through :func:`qtopo.solve.solve`, so through the HiGHS back-end (:mod:`qtopo.highs`), whose thread
    policy lets ``threads`` differ from earlier solves in the same process.
    """
    from .solve import solve

    cost, needs = _elements(plan)
    dem = plan.demands
    E = sorted(cost)
    T = list(range(len(budgets_eur)))
    D = [i for i, req in enumerate(needs) if req]
    cum = np.cumsum(np.asarray(budgets_eur, float))
    w = [d.weight * d.target_bps for d in dem]
    m = pyo.ConcreteModel(name="qtopo_rollout")
    m.b = pyo.Var(E, T, domain=pyo.Binary)
    m.s = pyo.Var(D, T, domain=pyo.Binary)
    m.mono = pyo.Constraint([(e, t) for e in E for t in T[1:]], rule=lambda _m, e, t: m.b[e, t] >= m.b[e, t - 1])
    m.need = pyo.Constraint([(i, e, t) for i in D for e in needs[i] for t in T],
                            rule=lambda _m, i, e, t: m.s[i, t] <= m.b[e, t])
    m.spend = pyo.Constraint(T, rule=lambda _m, t: sum(cost[e] * m.b[e, t] for e in E) <= float(cum[t]) + 1e-6)
    total_cost = max(sum(cost.values()), 1.0)
    eps = 1e-6 * min([x for x in w if x > 0] or [1.0]) / total_cost
    m.obj = pyo.Objective(expr=sum(w[i] * m.s[i, t] for i in D for t in T)
                          - eps * sum(cost[e] * m.b[e, t] for e in E for t in T), sense=pyo.maximize)
    res = solve(m, time_limit_s=time_limit_s, mip_gap=1e-6, threads=threads)
    if not res.status.has_plan:
        return Rollout(status=res.status, message="no schedule found")
    built_by = {}
    for e in E:
        for t in T:
            if round(m.b[e, t].value or 0) >= 1:
                built_by[e] = t
                break
    stages = []
    prev_spend = 0.0
    for t in T:
        new = sorted(e for e, y in built_by.items() if y == t)
        spend_total = sum(cost[e] for e, y in built_by.items() if y <= t)
        served = [i for i in D if round(m.s[i, t].value or 0) >= 1]
        stages.append(RolloutStage(
            year=first_year + t, budget_eur=float(budgets_eur[t]), spend_eur=float(spend_total - prev_spend),
            cumulative_spend_eur=float(spend_total), cumulative_budget_eur=float(cum[t]),
            nodes=[e.split(":", 1)[1] for e in new if not e.startswith(("link:", "relay:"))],
            relays=[e.split(":", 1)[1] for e in new if e.startswith("relay:")],
            links=[e.split(":", 1)[1] for e in new if e.startswith("link:")],
            demands_served=[f"{dem[i].source}->{dem[i].target}" for i in served],
            served_bps=float(sum(dem[i].target_bps for i in served)),
        ))
        prev_spend = spend_total
    unbuilt = sorted(e for e in E if e not in built_by and cost[e] > 0)
    return Rollout(status=res.status, first_year=first_year, budgets_eur=[float(b) for b in budgets_eur],
                   stages=stages, unbuilt=unbuilt,
                   rule="cumulative budgets (unspent money carries over); a demand counts as served in a year only "
                        "when every node, relay and link on all its routes is built")
