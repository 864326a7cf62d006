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
    fibre_path: tuple
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
    #: device name -> centre wavelength (nm) from the scenario's ``[devices.NAME] wavelength_nm``; None: unknown
    wavelength_nm: dict = None

    def links_between(self, a: str, b: str) -> list:
        return [L for L in self.links if {L.u, L.v} == {a, b}]


def _denoised(x: float) -> float:
    """A solver's rate without its noise: 1999.999999999991 -> 2000.0 (within 1e-9 relative of a whole bit/s)."""
    r = round(x)
    return float(r) if abs(x - r) <= 1e-9 * max(1.0, abs(x)) else float(x)


def plan_view(plan) -> PlanView:
    """A :class:`PlanView` of a plan: a path to ``plan.json`` (or its folder), a typed
    :class:`qtopo.contract.Plan`, a plan object with ``.data`` or a plan dict (any schema version the plan
    contract reads; older ones are migrated).

    Raises
    ------
    InputError
        The plan is not a valid qtopo plan, or it has no network (infeasible, no solution).
    """
    from .. import contract

    if isinstance(plan, (str, Path)):
        p = contract.Plan.from_json(plan)
    elif isinstance(plan, contract.Plan):
        p = plan
    else:
        d = plan.data if hasattr(plan, "data") else plan
        p = contract.Plan.from_dict(d, source=str(getattr(plan, "path", "plan")))
    where = str(getattr(p, "path", getattr(plan, "path", "plan")))
    if not p.has_plan:
        raise InputError([f"{where}: plan status is {p.status.value!r}, so it holds no network to export"],
                         "cannot export plan")
    nodes = tuple(NodeView(n.id, n.kind, n.site_kind, float(n.lon), float(n.lat), bool(n.existing),
                           float(n.cost_eur)) for n in p.nodes)
    links = tuple(LinkView(L.id, L.from_node, L.to_node, L.device, L.protocol, int(L.device_pairs),
                           int(L.existing_pairs), float(L.length_km), float(L.loss_db), float(L.rate_bps_per_pair),
                           float(L.capacity_bps), float(L.load_bps), float(L.cost_eur), tuple(L.fibre_path),
                           L.relay, tuple(L.repeaters)) for L in p.links)
    demands = tuple(DemandView(e.source, e.target, e.source_node, e.target_node, float(e.target_bps),
                               float(e.delivered_bps), int(e.k_routes), e.protection, e.disjoint,
                               tuple(RouteView(tuple(r.nodes), _denoised(float(r.rate_bps))) for r in e.routes))
                    for e in p.demands)
    devs = (p.inputs.scenario or {}).get("devices") or {}
    wl = {}
    for L in links:
        spec = devs.get(L.device)
        v = spec.get("wavelength_nm") if isinstance(spec, dict) else None
        wl[L.device] = int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else None
    return PlanView(p.scenario.name, p.status.value, p.cost_eur, nodes, links, demands, wl)
