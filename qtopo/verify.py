"""Independent verification of a plan.

Nothing here reads the optimisation model. From the plan file and the scenario's input files alone it
recomputes: each link's fibre path, length and loss (from the fibre graph), the key rate per device pair (from
the key-rate model), capacities, every demand's routes (connected, simple, made of planned links between open
nodes), delivered rate against the target, the load of every link against its capacity, the nodes holding each
demand's key, and the total cost. It also reports input files whose SHA-256 changed since the plan was made.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

REL_TOL = 1e-6     # relative tolerance on rates, lengths and costs (HiGHS feasibility tolerance is 1e-7)
ABS_TOL_BPS = 1e-3  # absolute tolerance on flows (bit/s)


@dataclass
class VerificationReport:
    ok: bool
    violations: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    checks: int = 0

    def to_dict(self) -> dict:
        return {"ok": self.ok, "violations": self.violations, "warnings": self.warnings, "checks": self.checks}

    def __str__(self) -> str:
        if self.ok:
            s = f"plan verified: {self.checks} checks passed"
        else:
            s = f"plan FAILED verification: {len(self.violations)} violation(s)\n" + "\n".join(
                f"  - {v}" for v in self.violations)
        if self.warnings:
            s += "\n" + "\n".join(f"  warning: {w}" for w in self.warnings)
        return s


def _close(a: float, b: float, rel: float = REL_TOL, abs_: float = 1e-9) -> bool:
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_)


def verify(plan, scenario=None, *, network=None) -> VerificationReport:
    """Verify ``plan`` against its inputs.

    Parameters
    ----------
    plan : Plan or dict
    scenario : Scenario, optional
        Defaults to the scenario file named in the plan.
    network : FibreNetwork, optional
        A fibre network already built from the same inputs (saves re-reading them).
    """
    from .io import read_demands, sha256_file
    from .scenario import load_scenario
    from .topology import read_network

    data = plan.data if hasattr(plan, "data") else plan
    V: list[str] = []
    W: list[str] = []
    checks = 0
    if scenario is None:
        sp = (data.get("scenario") or {}).get("path")
        if not sp:
            return VerificationReport(False, ["plan names no scenario file; pass the scenario explicitly"])
        scenario = load_scenario(sp)
    for rec in data.get("inputs", {}).get("files", []):
        p = Path(rec["path"])
        if not p.exists():
            W.append(f"input file {p} no longer exists")
        elif sha256_file(p) != rec["sha256"]:
            W.append(f"input file {p} changed since the plan was made (SHA-256 differs): results below are "
                     f"checked against the current file")
    if data["status"] not in ("optimal", "feasible"):
        return VerificationReport(True, [], W + [f"plan status is {data['status']}: nothing to verify"], 0)

    if network is None:
        net, demands = read_network(scenario)
    else:
        net = network
        demands = read_demands(scenario.input_path("demands"), list(net.site_node))
    fib = scenario.fibre
    # fibre segments: lowest loss per node pair
    seg = {}
    e = net.edges
    att = np.where(np.isfinite(e.attenuation_db_per_km.to_numpy(float)), e.attenuation_db_per_km, fib["attenuation_db_per_km"])
    for u, v, L, a in zip(e.u, e.v, e.length_km, att):
        loss = (a + fib["splice_loss_db_per_km"]) * L
        for key in ((u, v), (v, u)):
            if key not in seg or loss < seg[key][1]:
                seg[key] = (L, loss)
    devs = {s.name: s for s in scenario.devices}
    # ---------------- nodes
    nodes = {n["id"]: n for n in data["nodes"] if n["kind"] not in ("relay", "repeater")}
    served = demands
    if scenario.objective.get("mode") == "max_rate":  # budget mode buys only the endpoints of served demands
        got = {(d["source"], d["target"]) for d in data.get("demands", []) if d.get("delivered_bps", 0) > 0}
        served = demands[[(s, t) in got for s, t in zip(demands.source, demands.target)]]
    terminals = set(served.source.map(net.site_node)) | set(served.target.map(net.site_node))
    for t in terminals:
        checks += 1
        if t not in nodes:
            V.append(f"demand endpoint node {t} is not in the plan's nodes")
    costs = scenario.costs
    node_cost = 0.0
    ex_nodes = _existing_link_nodes(scenario, net)
    for n in data["nodes"]:
        nid = n["id"]
        checks += 1
        if nid not in net.nodes.index:
            V.append(f"node {nid} does not exist in the fibre network built from the inputs")
            continue
        row = net.nodes.loc[nid]
        if n["kind"] == "relay":
            cap = costs["hut_node_eur"] if row.kind == "hut" else costs["relay_node_eur"]
        elif n["kind"] == "repeater":
            cap = scenario.repeaters["repeater_node_eur"]
        else:
            cap = row.capex_eur if math.isfinite(row.capex_eur) else (
                costs["hut_node_eur"] if row.kind == "hut" else costs["trusted_node_eur"])
        if bool(row.get("existing", False)) or nid in ex_nodes:
            cap = 0.0
        node_cost += cap
        if not _close(cap, n["cost"]):
            V.append(f"node {nid}: cost {n['cost']} differs from the scenario's {cap}")
    # ---------------- links
    from .keyrate import secret_key_rate_bps

    existing: dict = {}
    for a, b, dv, pairs in _existing_links(scenario).itertuples(index=False):
        a, b = net.site_node.get(a, a), net.site_node.get(b, b)
        existing[(tuple(sorted((a, b))), dv)] = int(pairs)
    relay_nodes = {n["id"] for n in data["nodes"] if n["kind"] == "relay"}

    link_cost = 0.0
    cap_hop: dict = {}
    for L in data["links"]:
        checks += 1
        lid = L["id"]
        fp = L["fiber_path"]
        if fp[0] != L["from"] or fp[-1] != L["to"]:
            V.append(f"link {lid}: fibre path does not run from {L['from']} to {L['to']}")
        length = loss = 0.0
        ok = True
        for a, b in zip(fp[:-1], fp[1:]):
            if (a, b) not in seg:
                V.append(f"link {lid}: no fibre between {a} and {b}")
                ok = False
                break
            length += seg[(a, b)][0]
            loss += seg[(a, b)][1]
        if len(set(fp)) != len(fp):
            V.append(f"link {lid}: fibre path visits a node twice")
        if not ok:
            continue
        loss += fib["connector_loss_db"]
        if not _close(length, L["length_km"]):
            V.append(f"link {lid}: length {L['length_km']:.6f} km, recomputed {length:.6f} km")
        if not _close(loss, L["loss_db"]):
            V.append(f"link {lid}: loss {L['loss_db']:.6f} dB, recomputed {loss:.6f} dB")
        for end in (L["from"], L["to"]):
            if end not in nodes:
                V.append(f"link {lid}: end {end} is not an open node")
        if L["device"] == "repeater":
            ok_r, c_r = _check_repeater_link(L, fp, seg, scenario, data, V)
            key = tuple(sorted((L["from"], L["to"])))
            cap_hop[key] = cap_hop.get(key, 0.0) + (L["device_pairs"] * scenario.repeaters["rate_bps"] if ok_r else 0.0)
            link_cost += c_r
            continue
        spec = devs.get(L["device"])
        if spec is None:
            V.append(f"link {lid}: device {L['device']!r} is not in the scenario's catalog")
            continue
        dev = spec.device()
        from .keyrate import PROTOCOLS

        if PROTOCOLS[dev.protocol].relay_in_middle:
            rly = L.get("relay")
            if rly not in fp[1:-1]:
                V.append(f"link {lid}: {dev.protocol} needs an untrusted relay inside its fibre path, got {rly!r}")
                continue
            if rly not in relay_nodes:
                V.append(f"link {lid}: relay {rly} is not an open relay node of the plan")
            k_r = fp.index(rly)
            arm = sum(seg[(a, b)][1] for a, b in zip(fp[:k_r], fp[1:k_r + 1]))
            fibre_loss = loss - fib["connector_loss_db"]
            eff = 2 * max(arm, fibre_loss - arm) + fib["connector_loss_db"]
            rate = float(secret_key_rate_bps(np.array([eff]), dev)[0])
        else:
            rate = float(secret_key_rate_bps(np.array([loss]), dev)[0])
        if not _close(rate, L["rate_bps_per_pair"]):
            V.append(f"link {lid}: rate per pair {L['rate_bps_per_pair']:.6g} bit/s, recomputed {rate:.6g} bit/s")
        if dev.protocol != L["protocol"]:
            V.append(f"link {lid}: protocol {L['protocol']} but device {L['device']} runs {dev.protocol}")
        k = L["device_pairs"]
        ex = int(L.get("existing_pairs", 0))
        if ex != existing.get((tuple(sorted((L["from"], L["to"]))), L["device"]), 0):
            V.append(f"link {lid}: existing_pairs {ex} differs from the brownfield file")
        if not (isinstance(k, int) and 1 <= k <= max(spec.max_pairs_per_link, ex) and k >= ex):
            V.append(f"link {lid}: {k} device pairs, must be an integer in [max(1, existing {ex}), "
                     f"{spec.max_pairs_per_link}]")
        cap = k * rate
        if not _close(cap, L["capacity_bps"]):
            V.append(f"link {lid}: capacity {L['capacity_bps']:.6g}, recomputed {cap:.6g} bit/s")
        key = tuple(sorted((L["from"], L["to"])))
        cap_hop[key] = cap_hop.get(key, 0.0) + cap
        c = (k - ex) * (spec.pair_cost_eur + costs["fibre_eur_per_km"] * length)
        link_cost += c
        if not _close(c, L["cost"]):
            V.append(f"link {lid}: cost {L['cost']:.2f}, recomputed {c:.2f} EUR")
    # ---------------- demands
    from .candidates import _forbidden_nodes
    from .requirements import parse_requirements
    from .risk import lowest_loss_segment_index, segment_risks

    req = parse_requirements(demands)
    req["source_node"] = req["source"].map(net.site_node)
    req["target_node"] = req["target"].map(net.site_node)
    budget_mode = scenario.objective.get("mode") == "max_rate"
    nodes_tbl = net.nodes.copy()
    forbidden = _forbidden_nodes(req, nodes_tbl, net, scenario)
    links_by_hop = {}
    for L in data["links"]:
        links_by_hop.setdefault(tuple(sorted((L["from"], L["to"]))), L["fiber_path"])
    seg_index = seg_risk = None
    if (req["k_routes"] > 1).any():
        from .candidates import edge_loss_db

        le = edge_loss_db(net.edges, fib["attenuation_db_per_km"], fib["splice_loss_db_per_km"])
        seg_index = lowest_loss_segment_index(net.edges, le)
        seg_risk = segment_risks(net.edges, scenario.risk["srg_buffer_m"], scenario.risk["srg_min_overlap_km"])
    load: dict = {}
    given = {(d["source"], d["target"]): d for d in data["demands"]}
    for r in demands.itertuples():
        checks += 1
        d = given.get((r.source, r.target))
        if d is None:
            V.append(f"demand {r.source}->{r.target} is missing from the plan")
            continue
        s, t = net.site_node[r.source], net.site_node[r.target]
        total = 0.0
        on_route = set()
        for k, rt in enumerate(d["routes"]):
            p = rt["nodes"]
            if p[0] != s or p[-1] != t:
                V.append(f"demand {r.source}->{r.target} route {k}: runs {p[0]}->{p[-1]}, not {s}->{t}")
            if len(set(p)) != len(p):
                V.append(f"demand {r.source}->{r.target} route {k}: visits a node twice")
            if rt["rate_bps"] < -ABS_TOL_BPS:
                V.append(f"demand {r.source}->{r.target} route {k}: negative rate")
            for a, b in zip(p[:-1], p[1:]):
                key = tuple(sorted((a, b)))
                if key not in cap_hop:
                    V.append(f"demand {r.source}->{r.target} route {k}: no planned link {a}-{b}")
                load[key] = load.get(key, 0.0) + rt["rate_bps"]
            for x in p:
                if x not in nodes:
                    V.append(f"demand {r.source}->{r.target}: key passes {x}, which is not an open node")
            on_route |= set(p)
            total += rt["rate_bps"]
        name = f"demand {r.source}->{r.target}"
        k_req = int(req.at[r.Index, "k_routes"])
        prot = req.at[r.Index, "protection"]
        rates = [rt["rate_bps"] for rt in d["routes"]]
        if k_req <= 1:
            guaranteed = total
        elif len(rates) < k_req:
            V.append(f"{name}: {len(rates)} routes, {k_req} disjoint routes required")
            guaranteed = 0.0
        else:
            guaranteed = sum(rates) - max(rates) if prot == "k-1" else min(rates)
        if not budget_mode and guaranteed < r.target_bps * (1 - REL_TOL) - ABS_TOL_BPS:
            V.append(f"{name}: delivers {guaranteed:.6g} bit/s ({prot if k_req > 1 else 'unprotected'}), "
                     f"target {r.target_bps:.6g}")
        if budget_mode and guaranteed > r.target_bps * (1 + REL_TOL) + ABS_TOL_BPS:
            V.append(f"{name}: delivers {guaranteed:.6g} bit/s, more than its target in budget mode")
        if not _close(guaranteed, d["delivered_bps"], abs_=ABS_TOL_BPS):
            V.append(f"{name}: delivered_bps {d['delivered_bps']} but its routes give {guaranteed}")
        mt = req.at[r.Index, "max_trusted_nodes"]
        if mt == mt:  # not NaN
            for k, rt in enumerate(d["routes"]):
                if len(rt["nodes"]) - 2 > int(mt):
                    V.append(f"{name} route {k}: {len(rt['nodes']) - 2} intermediate trusted nodes, "
                             f"max_trusted_nodes = {int(mt)}")
        bad = forbidden[r.Index]
        for x in sorted(on_route & bad):
            V.append(f"{name}: key is held by {x}, which its governance rules exclude "
                     f"(allowed_countries / excluded_nodes / excluded_operators)")
        if k_req > 1:
            V += _check_disjoint(name, d["routes"], req.at[r.Index, "disjoint"], links_by_hop, seg_index, seg_risk,
                                 s, t)
        if set(d.get("trusted_nodes", [])) != on_route:
            V.append(f"demand {r.source}->{r.target}: trusted_nodes {sorted(d.get('trusted_nodes', []))} differ from "
                     f"the nodes on its routes {sorted(on_route)}")
    for key, x in load.items():
        checks += 1
        c = cap_hop.get(key, 0.0)
        if x > c * (1 + REL_TOL) + ABS_TOL_BPS:
            V.append(f"link {key[0]}-{key[1]}: carries {x:.6g} bit/s, capacity {c:.6g} bit/s")
    # ---------------- cost
    checks += 1
    total_cost = node_cost + link_cost
    if budget_mode and total_cost > scenario.objective["budget_eur"] * (1 + REL_TOL) + 1e-3:
        V.append(f"cost {total_cost:,.2f} EUR exceeds the budget {scenario.objective['budget_eur']:,.2f} EUR")
    obj = data.get("objective_cost")
    if obj is not None and not _close(total_cost, obj, rel=1e-6, abs_=1e-3):
        V.append(f"total cost {obj:.2f} EUR differs from the recomputed {total_cost:.2f} EUR")
    if data.get("rollout"):
        from .rollout import check_rollout

        checks += 1
        V += check_rollout(data)
    return VerificationReport(not V, V, W, checks)


def _check_disjoint(name, routes, mode, links_by_hop, seg_index, seg_risk, s, t) -> list:
    """Routes of one demand must not share a risk element (recomputed from the links' fibre paths)."""
    out = []
    used: dict = {}
    for k, rt in enumerate(routes):
        mine = set()
        p = rt["nodes"]
        for a, b in zip(p[:-1], p[1:]):
            fp = links_by_hop.get(tuple(sorted((a, b))))
            if fp is None:
                continue
            for x, y in zip(fp[:-1], fp[1:]):
                if (x, y) in seg_index:
                    mine |= {e for e in seg_risk[seg_index[(x, y)]]}
            if mode == "node":
                mine |= {f"n:{x}" for x in fp if x not in (s, t)}
        for e in mine:
            if e in used:
                what = {"e": "fibre segment", "c": "corridor shared-risk group", "n": "node"}[e[0]]
                out.append(f"{name}: routes {used[e]} and {k} share {what} {e[2:]}")
            else:
                used[e] = k
    return out


def _existing_links(scenario):
    """The scenario's brownfield links (an empty table when it has none)."""
    import pandas as pd

    from .io import EXISTING_LINK_COLUMNS, read_existing_links

    if not scenario.inputs.get("existing_links"):
        return pd.DataFrame(columns=list(EXISTING_LINK_COLUMNS))
    return read_existing_links(scenario.input_path("existing_links"))


def _existing_link_nodes(scenario, net) -> set:
    """Nodes at the ends of brownfield device pairs (built already: their capex is sunk)."""
    ex = _existing_links(scenario)
    return {net.site_node.get(x, x) for x in [*ex["from"], *ex["to"]]}


def _check_repeater_link(L, fp, seg, scenario, data, V) -> tuple[bool, float]:
    """A repeater-chain link: every elementary link <= L_max, at most N_max repeaters, all opened, rate, cost."""
    from .candidates import resolve_repeater_limits

    rep = resolve_repeater_limits(scenario)
    lid = L["id"]
    if rep is None:
        V.append(f"link {lid}: a repeater chain, but the scenario has no [repeaters] enabled")
        return False, 0.0
    reps = L.get("repeaters", [])
    opened = {n["id"] for n in data["nodes"] if n["kind"] == "repeater"}
    for r in reps:
        if r not in fp[1:-1]:
            V.append(f"link {lid}: repeater {r} is not on its fibre path")
            return False, 0.0
        if r not in opened:
            V.append(f"link {lid}: repeater {r} is not an opened repeater node")
    if len(reps) > rep["n_max"]:
        V.append(f"link {lid}: {len(reps)} repeaters, n_max = {rep['n_max']}")
    cuts = [0] + [fp.index(r) for r in reps] + [len(fp) - 1]
    for a, b in zip(cuts[:-1], cuts[1:]):
        length = sum(seg[(x, y)][0] for x, y in zip(fp[a:b], fp[a + 1:b + 1]))
        if length > rep["l_max_km"] * (1 + REL_TOL) + 1e-9:
            V.append(f"link {lid}: elementary link {fp[a]}-{fp[b]} is {length:.3f} km, L_max = {rep['l_max_km']:.3f} km")
    if not _close(L["rate_bps_per_pair"], rep["rate_bps"]):
        V.append(f"link {lid}: chain rate {L['rate_bps_per_pair']} differs from the scenario's {rep['rate_bps']}")
    k = L["device_pairs"]
    if not (isinstance(k, int) and 1 <= k <= rep["max_chains_per_link"]):
        V.append(f"link {lid}: {k} chains, must be in [1, {rep['max_chains_per_link']}]")
    c = k * (rep["chain_cost_eur"] + scenario.costs["fibre_eur_per_km"] * L["length_km"])
    if not _close(c, L["cost"]):
        V.append(f"link {lid}: cost {L['cost']:.2f}, recomputed {c:.2f} EUR")
    return True, c
