"""Hand-made typed plans for unit tests (every field the contract requires, defaults for the rest)."""
from __future__ import annotations

from qtopo.contract import CostBreakdown, DemandResult, Link, Node, Plan, Route, Status


def node(id: str, kind: str = "site", cost_eur: float = 0.0, lon: float = 5.0, lat: float = 52.0, **kw) -> Node:
    return Node(id=id, site_kind=kw.pop("site_kind", "datacenter" if kind == "site" else "hut"), lon=lon, lat=lat,
                existing=kw.pop("existing", False), kind=kind, cost_eur=cost_eur, degree=kw.pop("degree", 0), **kw)


def link(a: str, b: str, cost_eur: float = 0.0, capacity_bps: float = 1e6, device: str = "d",
         fibre_path: list | None = None, **kw) -> Link:
    pairs = kw.pop("device_pairs", 1)
    return Link(id=kw.pop("id", f"{a}--{b}:{device}"), from_node=a, to_node=b, fibre_path=fibre_path or [a, b],
                length_km=kw.pop("length_km", 10.0), loss_db=kw.pop("loss_db", 3.0),
                protocol=kw.pop("protocol", "bb84-decoy"), device=device, device_pairs=pairs,
                existing_pairs=kw.pop("existing_pairs", 0), rate_bps_per_pair=capacity_bps / pairs,
                capacity_bps=capacity_bps, cost_eur=cost_eur, cost_per_pair_eur=cost_eur / pairs,
                load_bps=kw.pop("load_bps", 0.0), utilisation=kw.pop("utilisation", 0.0), **kw)


def demand(source: str, target: str, target_bps: float, routes: list, delivered_bps: float | None = None,
           **kw) -> DemandResult:
    """``routes``: list of (node list, rate in bit/s)."""
    rts = [Route(nodes=list(p), rate_bps=float(r)) for p, r in routes]
    return DemandResult(source=source, target=target, source_node=source, target_node=target,
                        target_bps=float(target_bps),
                        delivered_bps=float(sum(r.rate_bps for r in rts) if delivered_bps is None else delivered_bps),
                        routes=rts, trusted_nodes=sorted({x for r in rts for x in r.nodes}),
                        intermediate_trusted_nodes=sorted({x for r in rts for x in r.nodes[1:-1]}), **kw)


def plan(nodes=(), links=(), demands=(), status: str = "optimal", **kw) -> Plan:
    nodes, links = list(nodes), list(links)
    n_eur = sum(n.cost_eur for n in nodes if n.kind in ("site", "trusted"))
    l_eur = sum(L.cost_eur for L in links)
    cb = CostBreakdown(nodes_eur=n_eur, relays_eur=sum(n.cost_eur for n in nodes if n.kind == "relay"),
                       devices_and_fibre_eur=l_eur, device_pairs_eur=l_eur,
                       repeaters_eur=sum(n.cost_eur for n in nodes if n.kind == "repeater"), total_eur=0.0,
                       sunk_brownfield_eur=0.0)
    cb.total_eur = cb.nodes_eur + cb.relays_eur + cb.repeaters_eur + cb.devices_and_fibre_eur
    has = Status(status).has_plan
    return Plan(status=Status(status), termination=kw.pop("termination", status),
                cost_eur=cb.total_eur if has else None, objective_value=cb.total_eur if has else None,
                cost_breakdown=cb if has else None, nodes=nodes, links=links, demands=list(demands), **kw)
