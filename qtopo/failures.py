"""Failure analysis of a plan: what each demand keeps when one thing fails.

For every *single* failure of a risk element (see :mod:`qtopo.risk`) that can touch the plan

* ``n:<id>`` a node: every open node (trusted node or untrusted MDI/TF relay), and every node the planned links' fibre passes through
  optically (junctions, points of presence that were not opened). A failed node takes down every link whose
  fibre path passes through it or ends there. Unopened candidate huts are left out by default: a hut
  candidate that was not built sits on one fibre route (degree 2), so its "failure" is the same as cutting an
  adjacent segment, which is analysed anyway (``include_huts=True`` lists them too).
* ``e:<i>`` a fibre segment (positional index into ``FibreNetwork.edges``) used by a planned link;
* ``c:<i>|<j>`` a corridor shared-risk group from geometry (two segments within ``srg_buffer_m`` of each other
  over at least ``srg_min_overlap_km``, scenario section ``[risk]``) of which at least one segment is used by
  a planned link; it cuts both segments at once,

the analysis lists the links that fail and, per demand, the key rate it keeps:

``kept_static_bps``
    ``min(target, sum of the rates of its planned routes that avoid every failed link and node)``: the plan's
    routing without any reaction to the failure (what 1+1 or K-1 protection guarantees).
``kept_reroute_bps``
    ``min(target, max flow between its end nodes over the surviving planned links with their full
    capacities)``. This is **optimistic**: it ignores the other demands sharing those links (each demand is
    rerouted as if it were alone in the network) and assumes keys can be relayed along any surviving path of
    trusted nodes. It is an upper bound on what rerouting can restore, never below ``kept_static_bps``.

A demand *survives* a failure if ``kept_static_bps >= planned_bps * (1 - 1e-6)`` where ``planned_bps`` =
min(target, sum of its route rates, the plan's ``delivered_bps``) is the target for every plan that meets its
demands (a budget-mode plan that serves a demand only in part is judged against what it guarantees). The failure of a demand's
own end node is always fatal for that demand; it is reported (``endpoint_failures``) but not counted among the
"single failures it survives / analysed".

Availability (first order)
--------------------------
With per-component availabilities (scenario section ``[availability]`` or the ``availability`` argument):

``node``
    availability of an open node (trusted node or relay), e.g. 0.9999 (about 53 min down per year).
    ``bypass_node`` (optional) is used for nodes the fibre only passes through optically (default: ``node``).
``fibre_per_km_unavailability``
    unavailability of fibre per km, U = (cuts per km and year) x (mean time to repair in years); e.g. one cut
    per 300 km-year repaired in 12 h gives 1/300 x 12/8766 = 4.6e-6 per km. Alternatively give
    ``fibre_cuts_per_km_year`` and ``fibre_repair_h``. A segment of length L has U = u_km x L.
``corridor``
    availability of one corridor shared-risk group (an event that cuts both fibres at once), e.g. 0.99999.
    Without it corridor groups do not enter the availability figure (they are still analysed).

the availability of demand d is estimated as ``A_d = 1 - sum(1 - A_c)`` over the components c whose single
failure breaks d (static routing), end nodes included. This assumes independent component failures and that
single failures dominate (simultaneous double failures, of order U^2, are neglected); it is accurate when
every U_c is small and errs on the pessimistic side by at most the sum of pairwise products.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SURVIVE_REL_TOL = 1e-6
MIN_PER_YEAR = 365.25 * 24 * 60
HOURS_PER_YEAR = 365.25 * 24

ASSUMPTIONS = [
    "single failures only: one node, one fibre segment or one corridor shared-risk group at a time",
    "a failed node takes down every planned link whose fibre passes through it or ends there",
    "kept_static_bps: the plan's own routes that avoid every failed link and node, capped at the target",
    "kept_reroute_bps: max flow over the surviving planned links with their full capacities, capped at the "
    "target; optimistic: it ignores the other demands sharing those links and any trusted-hop or jurisdiction "
    "limit on the rerouted key",
    "survives: kept_static_bps >= planned_bps x (1 - 1e-6), planned_bps = min(target, sum of its route rates, "
    "delivered_bps) (= the target unless a budget plan serves the demand in part); the failure of a demand's own end node is fatal "
    "for it and is reported separately, not counted in 'survives X of Y'",
]
AVAILABILITY_APPROXIMATION = (
    "first order: A_d = 1 - sum of (1 - A_c) over the components c whose single failure breaks demand d "
    "(static routes, end nodes included); assumes independent failures and that single failures dominate "
    "(double failures, of order U^2, neglected); fibre segment unavailability = per-km unavailability x length")


# ------------------------------------------------------------------------------------------------------
# availability model
# ------------------------------------------------------------------------------------------------------
def availability_model(spec: dict | None) -> dict | None:
    """Normalise an availability specification (see the module docstring) to
    ``{"node", "bypass_node", "fibre_per_km_unavailability", "corridor"}`` (missing entries ``None``), plus
    ``ignored_keys`` (keys this analysis does not use; reported as a warning).

    Raises
    ------
    InputError
        On values out of range.
    """
    from .errors import InputError

    if not spec:
        return None
    known = {"node", "bypass_node", "fibre_per_km_unavailability", "fibre_cuts_per_km_year", "fibre_repair_h",
             "corridor"}
    bad: list[str] = []
    out = {"node": None, "bypass_node": None, "fibre_per_km_unavailability": None, "corridor": None,
           "ignored_keys": sorted(k for k in spec if k not in known)}

    def num(k):
        v = spec[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            bad.append(f"[availability] {k} = {v!r} must be a finite number")
            return None
        return float(v)

    for k in ("node", "bypass_node", "corridor"):
        if k in spec:
            v = num(k)
            if v is not None and not (0.0 < v <= 1.0):
                bad.append(f"[availability] {k} = {v} is an availability: it must lie in (0, 1], e.g. 0.9999")
            else:
                out[k] = v
    if "fibre_per_km_unavailability" in spec:
        v = num("fibre_per_km_unavailability")
        if v is not None and not (0.0 <= v < 1.0):
            bad.append(f"[availability] fibre_per_km_unavailability = {v} must lie in [0, 1), e.g. 2e-6")
        else:
            out["fibre_per_km_unavailability"] = v
    elif "fibre_cuts_per_km_year" in spec or "fibre_repair_h" in spec:
        if not ("fibre_cuts_per_km_year" in spec and "fibre_repair_h" in spec):
            bad.append("[availability] give both fibre_cuts_per_km_year and fibre_repair_h "
                       "(or fibre_per_km_unavailability)")
        else:
            c, h = num("fibre_cuts_per_km_year"), num("fibre_repair_h")
            if c is not None and h is not None:
                if c < 0 or h < 0:
                    bad.append("[availability] fibre_cuts_per_km_year and fibre_repair_h must be >= 0")
                else:
                    out["fibre_per_km_unavailability"] = c * h / HOURS_PER_YEAR
    if out["bypass_node"] is None:
        out["bypass_node"] = out["node"]
    if bad:
        raise InputError(bad, "invalid availability figures")
    return out


# ------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------
def _demand_key(d) -> str:
    return f"{d.source}->{d.target}"


def _network_for(scenario):
    from .topology import read_network

    return read_network(scenario)[0]


def _risk_params(scenario, risk: dict | None) -> tuple[float, float]:
    r = {}
    if scenario is not None:
        r = dict(getattr(scenario, "risk", None) or scenario.raw.get("risk", {}) or {})
    r.update(risk or {})
    return float(r.get("srg_buffer_m", 0.0) or 0.0), float(r.get("srg_min_overlap_km", 1.0))


def _max_flow(hops: dict, s, t) -> float:
    """Max flow between s and t over an undirected capacitated graph {(a, b): capacity}."""
    import networkx as nx

    G = nx.Graph()
    for (a, b), c in hops.items():
        if c > 0:
            G.add_edge(a, b, capacity=float(c))
    if s not in G or t not in G:
        return 0.0
    return float(nx.maximum_flow_value(G, s, t, capacity="capacity"))


def fmt_bps(x: float | None) -> str:
    """A rate with an SI prefix: 12.3 kbit/s."""
    if x is None or not math.isfinite(x):
        return "-"
    for f, p in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= f:
            return f"{x / f:.3g} {p}bit/s"
    return f"{x:.3g} bit/s"


# ------------------------------------------------------------------------------------------------------
# analysis
# ------------------------------------------------------------------------------------------------------
def analyse_failures(plan, scenario=None, network=None, availability=None, *, risk: dict | None = None,
                     include_huts: bool = False) -> dict:
    """Single-failure analysis of ``plan`` (see the module docstring for the model).

    Parameters
    ----------
    plan : Plan or dict
        A plan (``plan.json`` content) with status optimal or feasible.
    scenario : Scenario or path, optional
        Defaults to the scenario file named in the plan. Its ``[risk]`` section (``srg_buffer_m``, default 0:
        no corridor groups; ``srg_min_overlap_km``, default 1) and ``[availability]`` section are read.
    network : FibreNetwork, optional
        Built from the scenario's inputs when not given (like :func:`qtopo.verify`).
    availability : dict, optional
        Per-component availability figures; override the scenario's ``[availability]`` key by key.
    risk : dict, optional
        Overrides of the scenario's ``[risk]`` values (``srg_buffer_m``, ``srg_min_overlap_km``).
    include_huts : bool
        Also list unopened candidate huts on the fibre paths as node failures (they equal a fibre cut).

    Returns
    -------
    dict
        ``components``: one entry per analysed failure (``component``, ``kind`` node|fibre|corridor, ``label``,
        ``failed_links``, ``unavailability`` (or None), ``demands``: ``"src->dst"`` -> ``kept_static_bps``,
        ``kept_reroute_bps``, ``target_bps``, ``survives``); ``summary``: ``"src->dst"`` -> ``target_bps``,
        ``planned_bps``, ``single_failures``, ``survives``, ``breaking`` (component ids), ``endpoint_failures``,
        ``worst_component``, ``worst_kept_static_bps``, ``worst_kept_reroute_bps``, ``availability``,
        ``availability_excl_endpoints``, ``downtime_min_per_year``; plus ``assumptions``, ``availability_model``,
        ``counts``, ``risk`` and ``warnings``.
    """
    from .contract import Plan

    data = plan if isinstance(plan, Plan) else Plan.from_dict(plan, source="plan")
    W: list[str] = []
    scenario = _scenario_for(data, scenario, network)
    buffer_m, min_overlap_km = _risk_params(scenario, risk)
    av = _availability_for(scenario, availability, W)
    out = {"plan": str(getattr(plan, "path", "") or ""),
           "scenario": str(scenario.path) if scenario is not None and scenario.path else None,
           "status": data.status.value,
           "assumptions": list(ASSUMPTIONS),
           "availability_model": None if av is None else {**av, "approximation": AVAILABILITY_APPROXIMATION},
           "risk": {"srg_buffer_m": buffer_m, "srg_min_overlap_km": min_overlap_km},
           "counts": {"node": 0, "fibre": 0, "corridor": 0},
           "components": [], "summary": {}, "warnings": W}
    if not data.has_plan:
        W.append(f"plan status is {data.status.value}: nothing to analyse")
        return out
    net = network if network is not None else _network_for(scenario)
    fibre = _FibreIndex(net.edges, scenario)
    links = _PlanLinks(data, fibre, W)
    comps = _components(data, net, fibre, links, buffer_m, min_overlap_km, include_huts, W)
    dinfo = _demand_routes(data, links, W)
    summary, ref = _demand_summaries(data, dinfo, W)
    open_set = {n.id for n in data.nodes}
    unavailability = _evaluate_components(comps, dinfo, summary, ref, links, av, fibre, open_set, out)
    _availability_summary(summary, ref, av, unavailability, out, W)
    out["summary"] = summary
    return out


# ------------------------------------------------------------------------------------------------------------
# the steps of analyse_failures
# ------------------------------------------------------------------------------------------------------------
def _scenario_for(data, scenario, network):
    """The scenario to analyse against: given (object or path), else the one the plan names."""
    from .errors import InputError
    from .scenario import Scenario, load_scenario

    if scenario is None and network is None:
        sp = data.scenario.path
        if not sp:
            raise InputError(["the plan names no scenario file; pass the scenario explicitly (--scenario)"],
                             "cannot analyse failures")
        return load_scenario(sp)
    if scenario is not None and not isinstance(scenario, Scenario):
        return load_scenario(scenario)
    return scenario


def _availability_for(scenario, availability, W: list) -> dict | None:
    """The availability model from the scenario's ``[availability]`` overridden by ``availability``."""
    av_spec = dict((scenario.raw.get("availability", {}) or {}) if scenario is not None else {})
    av_spec.update(availability or {})
    av = availability_model(av_spec)
    if av is not None and av["ignored_keys"]:
        W.append(f"[availability] keys not used by the failure analysis: {', '.join(av['ignored_keys'])}")
    return av


class _FibreIndex:
    """The fibre segments of the network: lowest-loss segment per node pair, lengths, ends, routes."""

    def __init__(self, edges, scenario):
        from .candidates import edge_loss_db
        from .risk import lowest_loss_segment_index

        fib = scenario.fibre if scenario is not None else {"attenuation_db_per_km": 0.2, "splice_loss_db_per_km": 0.0}
        self.edges = edges
        self.seg_index = lowest_loss_segment_index(
            edges, edge_loss_db(edges, fib["attenuation_db_per_km"], fib["splice_loss_db_per_km"]))
        self.length_km = edges.length_km.to_numpy(float)
        self.u, self.v = edges.u.to_numpy(), edges.v.to_numpy()
        self.route_id = edges.route_id.to_numpy() if "route_id" in edges.columns else np.array([None] * len(edges))


class _PlanLinks:
    """The plan's links seen by the failure model: fibre segments and nodes each uses, links per hop."""

    def __init__(self, data, fibre: _FibreIndex, W: list):
        self.links = data.links
        self.segs: dict = {}   # link id -> fibre segment indices
        self.nodes: dict = {}  # link id -> fibre nodes on its path (and its relay)
        self.by_hop: dict = {}  # frozenset of end nodes -> link ids
        for L in self.links:
            fp = list(L.fibre_path)
            self.nodes[L.id] = set(fp) | ({L.relay} if L.relay else set())
            segs = set()
            for a, b in zip(fp[:-1], fp[1:]):
                i = fibre.seg_index.get((a, b))
                if i is None:
                    W.append(f"link {L.id}: no fibre segment between {a} and {b} in the network built from the "
                             f"inputs (plan and inputs differ?)")
                    continue
                segs.add(i)
            self.segs[L.id] = segs
            self.by_hop.setdefault(frozenset((L.from_node, L.to_node)), []).append(L.id)

    def failed_by(self, node, segs) -> frozenset:
        """Links that fail with ``node`` (None: no node) or any of the fibre segments ``segs``."""
        return frozenset(lid for lid in self.segs
                         if (node is not None and node in self.nodes[lid]) or (self.segs[lid] & segs))


def _components(data, net, fibre: _FibreIndex, links: _PlanLinks, buffer_m, min_overlap_km, include_huts,
                W: list) -> list:
    """Single failures to analyse: (id, kind, label, failed node or None, failed segment set).

    Nodes: open nodes, then nodes the fibre paths pass (unopened huts only with ``include_huts``); fibre: every
    segment a link uses; corridors: shared-risk pairs touching a used segment.
    """
    from .risk import corridor_pairs

    open_nodes = list(dict.fromkeys(n.id for n in data.nodes))
    open_set = set(open_nodes)
    plan_kinds: dict = {}
    for n in data.nodes:
        plan_kinds.setdefault(n.id, set()).add(n.kind)
    node_kind = net.nodes["kind"].to_dict() if "kind" in net.nodes.columns else {}
    on_paths = list(dict.fromkeys([x for L in links.links for x in L.fibre_path] + open_nodes))
    ordered = [x for x in on_paths if x in open_set] + [x for x in on_paths if x not in open_set]
    comps = []
    for x in ordered:
        k = node_kind.get(x)
        if k is None:
            W.append(f"node {x} is not in the fibre network built from the inputs")
        if x not in open_set and k == "hut" and not include_huts:
            continue
        pk = plan_kinds.get(x, set())
        role = ("trusted node" if pk - {"relay"} else "untrusted relay") if x in open_set else "passed optically"
        comps.append((f"n:{x}", "node", f"{x} ({k or 'unknown'}, {role})", x, set()))
    used = sorted(set().union(*links.segs.values())) if links.segs else []
    used_set = set(used)
    eu, ev, rid, km = fibre.u, fibre.v, fibre.route_id, fibre.length_km
    for i in used:
        comps.append((f"e:{i}", "fibre", f"{eu[i]} - {ev[i]} (route {rid[i]}, {km[i]:.1f} km)", None, {i}))
    pairs = corridor_pairs(fibre.edges, buffer_m, min_overlap_km) if buffer_m > 0 else []
    for i, j, ov in pairs:
        if i in used_set or j in used_set:
            comps.append((f"c:{i}|{j}", "corridor",
                          f"corridor: {eu[i]} - {ev[i]} (route {rid[i]}) and {eu[j]} - {ev[j]} "
                          f"(route {rid[j]}), {ov:.1f} km within {buffer_m:g} m", None, {i, j}))
    return comps


def _demand_routes(data, links: _PlanLinks, W: list) -> list:
    """Per demand: (key, source node, target node, target, [(route nodes, link ids, rate)])."""
    dinfo = []
    for d in data.demands:
        routes = []
        for r in d.routes:
            lids = set()
            for a, b in zip(r.nodes[:-1], r.nodes[1:]):  # every planned link on each hop (they share a fibre path)
                ids = links.by_hop.get(frozenset((a, b)))
                if not ids:
                    W.append(f"demand {_demand_key(d)}: no planned link {a}-{b} on its route")
                    continue
                lids |= set(ids)
            routes.append((set(r.nodes), lids, r.rate_bps))
        dinfo.append((_demand_key(d), d.source_node, d.target_node, d.target_bps, routes))
    return dinfo


def _demand_summaries(data, dinfo: list, W: list) -> tuple[dict, dict]:
    """Empty per-demand summaries and the rate a failure must leave for each demand to survive:
    min(target, planned routes, the plan's delivered_bps (1+1: the smallest route; k-1: sum minus largest))."""
    by_key: dict = {}
    for d in data.demands:
        by_key.setdefault(_demand_key(d), d)
    summary, ref = {}, {}
    for key, s, t, target, routes in dinfo:
        d = by_key[key]
        st0 = min(target, sum(r[2] for r in routes), d.delivered_bps)
        summary[key] = {"source_node": s, "target_node": t, "target_bps": target, "planned_bps": st0,
                        "single_failures": 0, "survives": 0, "breaking": [], "endpoint_failures": [],
                        "worst_component": None, "worst_kept_static_bps": st0, "worst_kept_reroute_bps": st0,
                        "unavailability": None, "availability": None, "availability_excl_endpoints": None,
                        "downtime_min_per_year": None, "k_routes": d.k_routes}
        if d.k_routes > 1:
            summary[key]["protection"], summary[key]["disjoint"] = d.protection, d.disjoint
        ref[key] = st0
        if st0 <= 0:
            W.append(f"demand {key} is not served by the plan: nothing to lose, no availability estimate")
        elif st0 < target * (1 - SURVIVE_REL_TOL):
            W.append(f"demand {key}: its routes carry {fmt_bps(st0)}, below the target {fmt_bps(target)}, even "
                     f"without failures; survival is judged against the planned {fmt_bps(st0)}")
    return summary, ref


class _Survival:
    """Key rate a demand keeps under a failure: on its planned routes (static), or rerouted over what is left."""

    def __init__(self, links):
        self.links = links
        self.flow_cache: dict = {}

    def reroute(self, s, t, failed_links: frozenset, failed_node) -> float:
        if failed_node in (s, t):
            return 0.0
        key = (s, t, failed_links, failed_node)
        if key not in self.flow_cache:
            hops: dict = {}
            for L in self.links:
                if L.id in failed_links:
                    continue
                k2 = tuple(sorted((L.from_node, L.to_node)))
                hops[k2] = hops.get(k2, 0.0) + L.capacity_bps
            self.flow_cache[key] = _max_flow(hops, s, t)
        return self.flow_cache[key]

    def kept(self, failed_links: frozenset, failed_node, di) -> tuple[float, float]:
        key, s, t, target, routes = di
        if failed_node in (s, t):
            return 0.0, 0.0
        st = min(target, sum(rate for nodes, lids, rate in routes
                             if failed_node not in nodes and not (lids & failed_links)))
        if st >= target * (1 - SURVIVE_REL_TOL):
            return st, target  # reroute >= static, capped at the target
        return st, min(target, max(st, self.reroute(s, t, failed_links, failed_node)))


def _unavailability(av, open_set, fibre: _FibreIndex, kind, node, segs):
    """First-order unavailability of one component (None when the model has no figure for it)."""
    if av is None:
        return None
    if kind == "node":
        a = av["node"] if node in open_set else av["bypass_node"]
        return None if a is None else 1.0 - a
    if kind == "fibre":
        u = av["fibre_per_km_unavailability"]
        return None if u is None else u * float(sum(fibre.length_km[i] for i in segs))
    a = av["corridor"]
    return None if a is None else 1.0 - a


def _evaluate_components(comps, dinfo, summary, ref, links: _PlanLinks, av, fibre: _FibreIndex, open_set: set,
                         out) -> tuple[dict, dict, dict]:
    """Fail each component in turn: what every demand keeps, whether it survives, its worst case (into
    ``summary`` and ``out["components"]``). Returns per demand the summed unavailability of the components that
    break it (all, and without its end nodes) and whether every one of them had a figure."""
    survival = _Survival(links.links)
    U_all = {k: 0.0 for k in summary}
    U_net = {k: 0.0 for k in summary}
    U_known = {k: True for k in summary}
    for cid, kind, label, node, segs in comps:
        failed = links.failed_by(node, segs)
        U = _unavailability(av, open_set, fibre, kind, node, segs)
        entry = {"component": cid, "kind": kind, "label": label, "failed_links": sorted(failed),
                 "unavailability": U, "demands": {}}
        out["counts"][kind] += 1
        for di in dinfo:
            key, s, t, target = di[0], di[1], di[2], di[3]
            st, rr = survival.kept(failed, node, di)
            ok = st >= ref[key] * (1 - SURVIVE_REL_TOL)
            entry["demands"][key] = {"kept_static_bps": st, "kept_reroute_bps": rr, "target_bps": target,
                                     "survives": bool(ok)}
            sm = summary[key]
            endpoint = node is not None and node in (s, t)
            if endpoint:
                sm["endpoint_failures"].append(cid)
            else:
                sm["single_failures"] += 1
                sm["survives"] += int(ok)
                if not ok:
                    sm["breaking"].append(cid)
                if not ok and (sm["worst_component"] is None
                               or (st, rr) < (sm["worst_kept_static_bps"], sm["worst_kept_reroute_bps"])):
                    sm["worst_component"] = cid
                    sm["worst_kept_static_bps"] = st
                    sm["worst_kept_reroute_bps"] = rr
            if not ok:
                if U is None:
                    if not (kind == "corridor" and av is not None and av["corridor"] is None):
                        U_known[key] = False
                else:
                    U_all[key] += U
                    if not endpoint:
                        U_net[key] += U
        out["components"].append(entry)
    return U_all, U_net, U_known


def _availability_summary(summary, ref, av, unavailability, out, W: list) -> None:
    """Per demand: unavailability, availability (with and without its own end nodes), downtime per year."""
    U_all, U_net, U_known = unavailability
    if av is None:
        return
    for key, sm in summary.items():
        if not U_known[key] or ref[key] <= 0:
            continue
        sm["unavailability"] = U_all[key]
        sm["availability"] = max(0.0, 1.0 - U_all[key])
        sm["availability_excl_endpoints"] = max(0.0, 1.0 - U_net[key])
        sm["downtime_min_per_year"] = U_all[key] * MIN_PER_YEAR
    missing = [k for k in ("node", "fibre_per_km_unavailability") if av[k] is None]
    if missing:
        W.append(f"availability figures missing ({', '.join(missing)}): demands broken by such components "
                 f"get no availability estimate")
    if av["corridor"] is None and out["counts"]["corridor"]:
        W.append("no [availability] corridor figure: corridor groups are not counted in the availability")


def write_failures(plan_dir, scenario=None, availability=None, **kw) -> Path:
    """Analyse the plan in ``plan_dir`` (a folder with ``plan.json``, or the file) and write ``failures.json``
    next to it, atomically. ``plan.json`` is never rewritten (it is verified and hashed). Returns the path."""
    from .atomic import write_json_atomic
    from .plan import Plan

    p = Plan.from_json(plan_dir)
    res = analyse_failures(p, scenario, availability=availability, **kw)
    path = Path(p.path).parent / "failures.json"
    write_json_atomic(path, res)
    return path


# ------------------------------------------------------------------------------------------------------
# text output
# ------------------------------------------------------------------------------------------------------
def _short(cid: str, label: str, width: int = 48) -> str:
    if cid.startswith("n:"):
        s = f"{cid} ({'trusted' if 'trusted node' in label else 'relay' if 'relay' in label else 'passed optically'})"
    elif cid.startswith("e:"):
        s = f"{cid} {label.split(' (')[0]}"
    else:
        s = f"{cid} (corridor)"
    return s if len(s) <= width else s[: width - 3] + "..."


def format_table(res: dict, max_breaking: int = 4) -> str:
    """A plain-text table: per demand, single failures survived, the worst one, availability."""
    c = res["counts"]
    lines = []
    comp_label = {e["component"]: e["label"] for e in res["components"]}
    roles = [e["label"] for e in res["components"] if e["kind"] == "node"]
    n_tr = sum("trusted node" in x for x in roles)
    n_rel = sum("untrusted relay" in x for x in roles)
    lines.append(f"single failures analysed: {c['node']} nodes ({n_tr} trusted, "
                 + (f"{n_rel} untrusted relays, " if n_rel else "")
                 + f"{c['node'] - n_tr - n_rel} passed optically), {c['fibre']} fibre segments, "
                 f"{c['corridor']} corridor groups"
                 + (f" (buffer {res['risk']['srg_buffer_m']:g} m)" if res["risk"]["srg_buffer_m"] > 0 else
                    " (no [risk] srg_buffer_m: corridor groups off)"))
    has_av = res["availability_model"] is not None
    head = ["demand", "target", "survives", "worst single failure", "kept static / reroute"]
    if has_av:
        head += ["availability", "down/yr"]
    rows = []
    for key, sm in res["summary"].items():
        wc = sm["worst_component"]
        r = [key, fmt_bps(sm["target_bps"]), f"{sm['survives']}/{sm['single_failures']}",
             _short(wc, comp_label.get(wc, "")) if wc else "none", (f"{fmt_bps(sm['worst_kept_static_bps'])} / {fmt_bps(sm['worst_kept_reroute_bps'])}"
                            if wc else "-")]
        if has_av:
            a = sm["availability"]
            r += ["-" if a is None else f"{a:.6f}",
                  "-" if a is None else f"{sm['downtime_min_per_year']:.0f} min"]
        rows.append(r)
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = lambda r: "  ".join(x.ljust(w[i]) for i, x in enumerate(r)).rstrip()
    lines.append(fmt(head))
    lines.append(fmt(["-" * x for x in w]))
    lines += [fmt(r) for r in rows]
    broken = [(k, sm) for k, sm in res["summary"].items() if sm["breaking"]]
    if broken:
        lines.append("")
        lines.append("failures that break a demand (static routes; end-node failures not listed):")
        for k, sm in broken:
            b = sm["breaking"]
            shown = ", ".join(f"{x} [{comp_label[x]}]" for x in b[:max_breaking])
            more = f" and {len(b) - max_breaking} more" if len(b) > max_breaking else ""
            lines.append(f"  {k}: {shown}{more}")
    if has_av:
        lines.append("")
        lines.append(f"availability: {AVAILABILITY_APPROXIMATION}")
    lines.append("kept reroute: max flow over surviving planned links, ignoring other demands (optimistic)")
    for w_ in res["warnings"]:
        lines.append(f"warning: {w_}")
    return "\n".join(lines)
