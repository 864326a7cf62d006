"""The one place where the exporters read a plan.

Exporters see a plan only through :func:`plan_view`: a small, typed, read-only view of what they need (open
nodes, links, demands and their routes). When the plan's own typed accessors change, only this module changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class NodeView:
    id: str
    role: str            # "site" | "trusted" | "relay" | "repeater" (plan.json ``kind``)
    site_kind: str       # the sites file's ``kind`` (datacenter, pop, hut, ...)
    lon: float
    lat: float
    existing: bool
    cost_eur: float


@dataclass(frozen=True)
class LinkView:
    id: str
    u: str
    v: str
    device: str
    protocol: str
    device_pairs: int
    existing_pairs: int
    length_km: float
    loss_db: float
    rate_bps_per_pair: float
    capacity_bps: float
    load_bps: float
    cost_eur: float
    fiber_path: tuple
    relay: str | None
    repeaters: tuple


@dataclass(frozen=True)
class RouteView:
    nodes: tuple          # node ids from the demand's source node to its target node
    rate_bps: float


@dataclass(frozen=True)
class DemandView:
    source: str
    target: str
    source_node: str
    target_node: str
    target_bps: float
    delivered_bps: float
    k_routes: int
    protection: str | None
    disjoint: str | None
    routes: tuple


@dataclass(frozen=True)
class PlanView:
    scenario_name: str
    status: str
    objective_cost: float | None
    nodes: tuple
    links: tuple
    demands: tuple

    def links_between(self, a: str, b: str) -> list:
        return [L for L in self.links if {L.u, L.v} == {a, b}]


def plan_view(plan) -> PlanView:
    """A :class:`PlanView` of a :class:`qtopo.plan.Plan`, a plan dict, or a path to ``plan.json`` / its folder.

    Raises
    ------
    InputError
        The plan has no network (infeasible or no solution): there is nothing to export.
    """
    from ..plan import Plan

    if isinstance(plan, (str, Path)):
        plan = Plan.from_json(plan)
    d = plan.data if hasattr(plan, "data") else plan
    where = str(getattr(plan, "path", "plan"))
    if d.get("status") not in ("optimal", "feasible"):
        raise InputError([f"{where}: plan status is {d.get('status')!r}, so it holds no network to export"],
                         "cannot export plan")
    nodes = tuple(NodeView(str(n["id"]), str(n["kind"]), str(n.get("site_kind", "")), float(n["lon"]),
                           float(n["lat"]), bool(n.get("existing", False)), float(n.get("cost", 0.0)))
                  for n in d.get("nodes", []))
    links = tuple(LinkView(str(L["id"]), str(L["from"]), str(L["to"]), str(L["device"]), str(L["protocol"]),
                           int(L["device_pairs"]), int(L.get("existing_pairs", 0)), float(L["length_km"]),
                           float(L["loss_db"]), float(L["rate_bps_per_pair"]), float(L["capacity_bps"]),
                           float(L.get("load_bps", 0.0)), float(L.get("cost", 0.0)),
                           tuple(str(x) for x in L["fiber_path"]), L.get("relay"),
                           tuple(str(x) for x in L.get("repeaters", [])))
                  for L in d.get("links", []))
    demands = tuple(DemandView(str(e["source"]), str(e["target"]), str(e["source_node"]), str(e["target_node"]),
                               float(e["target_bps"]), float(e["delivered_bps"]), int(e.get("k_routes", 1)),
                               e.get("protection"), e.get("disjoint"),
                               tuple(RouteView(tuple(str(x) for x in r["nodes"]), float(r["rate_bps"]))
                                     for r in e.get("routes", [])))
                    for e in d.get("demands", []))
    return PlanView(str(d.get("scenario", {}).get("name", "")), str(d["status"]), d.get("objective_cost"),
                    nodes, links, demands)
