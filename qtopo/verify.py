"""Independent verification of a plan.

Nothing here reads the optimisation model or imports an optimiser module (candidates, model, solve, heuristic,
rollout). From the plan file and the scenario's input files alone it recomputes: each link's fibre path, length
and loss (from the fibre graph), the key rate per device pair (from the key-rate model), capacities, every
demand's routes (connected, simple, made of planned links between open nodes), delivered rate against the
target, the load of every link against its capacity, the nodes holding each demand's key, governance rules,
disjointness, the cost of every node and link, the whole cost breakdown and the plan's cost, and a staged
rollout's budgets. It also reports input files whose SHA-256 changed since the plan was made (regular files
only: a path that names a device or a pipe is never read).

The steps are named functions over one :class:`_Check` context: :func:`check_input_hashes`,
:func:`check_status`, :func:`check_nodes`, :func:`check_links`, :func:`check_demands`, :func:`check_loads`,
:func:`check_costs`, :func:`check_rollout`.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .contract import Link, Plan, Status, VerificationRecord

log = logging.getLogger(__name__)

REL_TOL = 1e-6     # relative tolerance on rates, lengths and costs (HiGHS feasibility tolerance is 1e-7)
ABS_TOL_BPS = 1e-3  # absolute tolerance on flows (bit/s)
ABS_TOL_EUR = 1e-3  # absolute tolerance on costs (EUR)


@dataclass
class VerificationReport:
    """Outcome of :func:`verify`. ``ok`` only when at least one check ran and none failed."""

    ok: bool
    violations: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    checks: int = 0
    plan_status: str = "optimal"

    @property
    def nothing_checked(self) -> bool:
        """True when there was no plan to check (status without a plan, or nothing in it to check)."""
        return self.checks == 0 and not self.violations

    def record(self) -> VerificationRecord:
        return VerificationRecord(ok=self.ok, violations=list(self.violations), warnings=list(self.warnings),
                                  checks=self.checks)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "violations": self.violations, "warnings": self.warnings, "checks": self.checks}

    def __str__(self) -> str:
        if self.ok:
            s = f"plan verified: {self.checks} checks passed"
        elif self.nothing_checked:
            s = (f"nothing verified: the plan's status is {self.plan_status}, so it holds no network to check"
                 if not Status(self.plan_status).has_plan else
                 "nothing verified: the plan holds no demand, node or link to check")
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
        A dict is read as ``plan.json`` content (migrated and schema-checked: :class:`InputError` if invalid).
    scenario : Scenario, optional
        Defaults to the scenario file named in the plan.
    network : FibreNetwork, optional
        A fibre network already built from the same inputs (saves re-reading them).

    Returns
    -------
    VerificationReport
        ``ok`` is false when a check failed or when nothing could be checked.
    """
    if not isinstance(plan, Plan):
        plan = Plan.from_dict(plan, source="plan")
    W = check_input_hashes(plan)
    V = check_status(plan)
    if V or not plan.has_plan:
        return VerificationReport(False, V, W, 0, plan.status.value)
    if scenario is None:
        scenario, problem = _scenario_of(plan)
        if scenario is None:
            return VerificationReport(False, [problem], W, 0, plan.status.value)
    c = _Check.build(plan, scenario, network, W)
    check_nodes(c)
    check_links(c)
    check_demands(c)
    check_loads(c)
    check_costs(c)
    check_rollout(c)
    return VerificationReport(c.checks > 0 and not c.V, c.V, c.W, c.checks, plan.status.value)


# ------------------------------------------------------------------------------------------------------------
# context: the inputs read once, the running totals
# ------------------------------------------------------------------------------------------------------------
@dataclass
class _Check:
    plan: Plan
    scenario: object
    net: object
    demands: object          # requirement table (parse_requirements) with source_node / target_node
    seg: dict                # (u, v) -> (length_km, loss_db, dark, lease_eur, lit_launch_dbm), lowest-loss segment
    existing: dict           # ((a, b) sorted, device) -> existing pairs (brownfield file)
    existing_ends: set       # nodes at the ends of brownfield pairs (their capex is sunk)
    V: list = field(default_factory=list)
    W: list = field(default_factory=list)
    checks: int = 0
    open_nodes: dict = field(default_factory=dict)   # id -> Node (sites and trusted nodes)
    cost: dict = field(default_factory=dict)         # recomputed cost breakdown (EUR)
    cap_hop: dict = field(default_factory=dict)      # (a, b) sorted -> recomputed capacity (bit/s)
    load: dict = field(default_factory=dict)         # (a, b) sorted -> routed key rate (bit/s)

    @classmethod
    def build(cls, plan: Plan, scenario, network, W: list) -> "_Check":
        from .io import read_demands
        from .requirements import parse_requirements
        from .topology import read_network

        if network is None:
            net, demands = read_network(scenario)
        else:
            net = network
            demands = read_demands(scenario.input_path("demands"), list(net.site_node))
        req = parse_requirements(demands)
        req["source_node"] = req["source"].map(net.site_node)
        req["target_node"] = req["target"].map(net.site_node)
        existing, ends = _read_existing_links(scenario, net)
        c = cls(plan=plan, scenario=scenario, net=net, demands=req, seg=_fibre_segments(net, scenario.fibre),
                existing=existing, existing_ends=ends, W=list(W))
        c.cost = dict.fromkeys(("nodes_eur", "relays_eur", "repeaters_eur", "devices_and_fibre_eur",
                                "device_pairs_eur", "sunk_brownfield_eur"), 0.0)
        return c

    def violation(self, msg: str) -> None:
        self.V.append(msg)


def _scenario_of(plan: Plan):
    """The scenario named in the plan, or (None, why not)."""
    from .scenario import load_scenario

    sp = plan.scenario.path
    if not sp:
        return None, "plan names no scenario file; pass the scenario explicitly (--scenario)"
    p = Path(sp)
    if p.exists() and not p.is_file():
        from .errors import InputError

        raise InputError([f"the plan's scenario path {p} is not a regular file: pass the scenario explicitly "
                          f"(qtopo verify PLAN --scenario FILE)"], "cannot verify plan")
    return load_scenario(p), None


def _fibre_segments(net, fib: dict) -> dict:
    """(u, v) and (v, u) -> (length_km, loss_db, dark, lease_eur, lit_launch_dbm) of the lowest-loss fibre
    segment between u and v (dark fibre, no lease and not lit where the routes carry no such columns)."""
    seg = {}
    e = net.edges
    att = np.where(np.isfinite(e.attenuation_db_per_km.to_numpy(float)), e.attenuation_db_per_km,
                   fib["attenuation_db_per_km"])
    n = len(e)
    dark = e["dark_fibre"].to_numpy(bool) if "dark_fibre" in e.columns else np.ones(n, bool)
    lease = np.nan_to_num(e["dark_lease_eur"].to_numpy(float)) if "dark_lease_eur" in e.columns else np.zeros(n)
    launch = e["lit_launch_dbm"].to_numpy(float) if "lit_launch_dbm" in e.columns else np.full(n, np.nan)
    for u, v, L, a, dk, ls, lp in zip(e.u, e.v, e.length_km, att, dark, lease, launch):
        loss = (a + fib["splice_loss_db_per_km"]) * L
        for key in ((u, v), (v, u)):
            if key not in seg or loss < seg[key][1]:
                seg[key] = (L, loss, bool(dk), float(ls), float(lp))
    return seg


def _link_fibre(c, L: Link) -> tuple[float, float | None]:
    """Recompute a link's fibre kind from the routes: ``(lease per pair in EUR, lit launch power in dBm or None)``.

    Dark fibre: every segment of the path must offer it; a pair pays the sum of the segments' lease shares.
    Lit fibre: every segment must be lit; the noise is that of the highest launch power over the whole hop
    (docs/lit_fibre.md). Violations are recorded on ``c``."""
    segs = [c.seg[(a, b)] for a, b in zip(L.fibre_path[:-1], L.fibre_path[1:]) if (a, b) in c.seg]
    kind = getattr(L, "fibre", "dark")
    if kind == "lit":
        if not segs or any(not math.isfinite(s[4]) for s in segs):
            c.violation(f"link {L.id}: on lit fibre, but a route along its path has no lit_launch_dbm")
            return 0.0, None
        return 0.0, max(s[4] for s in segs)
    if kind != "dark":
        c.violation(f"link {L.id}: fibre {kind!r} is not 'dark' or 'lit'")
    if any(not s[2] for s in segs):
        c.violation(f"link {L.id}: on dark fibre, but a route along its path has dark_fibre = false")
    return sum(s[3] for s in segs), None


def _lit_rate_bps(c, dev, length: float, loss: float, launch_dbm: float) -> float:
    """Key rate per pair on a lit hop, recomputed from the physics layer and the scenario's [fibre] raman_* keys."""
    from .keyrate.raman import LitFibre, lit_key_rate_bps, noise_photons_per_window, raman_power_w

    fib = c.scenario.fibre
    w = fib.get("raman_window_ns", 0.0)
    lit = LitFibre(launch_dbm, cross_section_per_km_nm=fib.get("raman_cross_section_per_km_nm", 3e-9),
                   filter_nm=fib.get("raman_filter_nm", 0.8), window_ns=w if w else None,
                   direction=fib.get("raman_direction", "forward"))
    fibre_loss = loss - fib["connector_loss_db"]
    power = raman_power_w(launch_dbm, length, fibre_loss, lit.beta_per_km, lit.direction)
    noise = noise_photons_per_window(power, lit.window_s(dev), lit.wavelength_nm)
    return float(lit_key_rate_bps(np.array([loss]), dev, np.array([float(noise)]))[0])


def _read_existing_links(scenario, net) -> tuple[dict, set]:
    """Brownfield device pairs (the input layer's reader): pairs per (hop, device) and their end nodes."""
    if not scenario.inputs.get("existing_links"):
        return {}, set()
    from .io import read_existing_links

    p = scenario.input_path("existing_links")
    if Path(p).exists() and not Path(p).is_file():
        from .errors import InputError

        raise InputError([f"{p}: existing_links is not a regular file"], "cannot verify plan")
    pairs, ends = {}, set()
    for a, b, dev, k in read_existing_links(p)[["from", "to", "device", "pairs"]].itertuples(index=False):
        a, b = net.site_node.get(a, a), net.site_node.get(b, b)
        pairs[(tuple(sorted((a, b))), dev)] = int(k)
        ends |= {a, b}
    return pairs, ends


# ------------------------------------------------------------------------------------------------------------
# the steps
# ------------------------------------------------------------------------------------------------------------
def check_input_hashes(plan: Plan) -> list[str]:
    """Warnings for input files that changed or vanished since the plan was made (regular files only)."""
    from .io import sha256_file

    W = []
    for rec in plan.inputs.files:
        p = Path(rec.path)
        try:
            if not p.exists():
                W.append(f"input file {p} no longer exists")
            elif not p.is_file():
                W.append(f"input path {p} is not a regular file: not hashed")
            elif rec.sha256 is not None and sha256_file(p) != rec.sha256:
                W.append(f"input file {p} changed since the plan was made (SHA-256 differs): results below are "
                         f"checked against the current file")
        except OSError as e:
            W.append(f"input file {p} cannot be read ({e.strerror or e}): not hashed")
    return W


def check_status(plan: Plan) -> list[str]:
    """A plan without a network (infeasible, no solution, error) must hold no nodes, links or routes."""
    if plan.has_plan:
        V = []
        if plan.cost_eur is None:
            V.append(f"plan status is {plan.status.value} but cost_eur is null: the plan's cost cannot be checked")
        if plan.cost_breakdown is None:
            V.append(f"plan status is {plan.status.value} but cost_breakdown is null")
        return V
    held = [f"{len(x)} {what}" for x, what in ((plan.nodes, "nodes"), (plan.links, "links"),
                                                (plan.demands, "demands")) if x]
    if held:
        return [f"plan status is {plan.status.value}, which means no plan, but it holds {', '.join(held)}: "
                f"a plan is valid only with status optimal or feasible"]
    return []


def check_nodes(c: _Check) -> None:
    """Every demand endpoint is open; every node exists in the fibre network and costs what the scenario says."""
    plan, net = c.plan, c.net
    c.open_nodes = {n.id: n for n in plan.nodes if n.kind in ("site", "trusted")}
    d = c.demands
    if c.scenario.objective.get("mode") == "max_rate":  # budget mode buys only the endpoints of served demands
        got = {(r.source, r.target) for r in plan.demands if r.delivered_bps > 0}
        d = d[[(s, t) in got for s, t in zip(d["source"], d["target"])]]
    for t in sorted(set(d["source_node"].dropna()) | set(d["target_node"].dropna())):
        c.checks += 1
        if t not in c.open_nodes:
            c.violation(f"demand endpoint node {t} is not in the plan's nodes")
    # stations of installed pairs (per the brownfield file): an MDI / TF pair's relay, a repeater chain's repeaters
    stations: dict = {"relay": set(), "repeater": set()}
    for L in plan.links:
        if c.existing.get((tuple(sorted((L.from_node, L.to_node))), L.device), 0) > 0:
            stations["relay"] |= {L.relay} if L.relay else set()
            stations["repeater"] |= set(L.repeaters)
    seen = set()
    for n in plan.nodes:
        c.checks += 1
        if (n.id, n.kind) in seen:
            c.violation(f"node {n.id} ({n.kind}) is listed twice")
        seen.add((n.id, n.kind))
        if n.id not in net.nodes.index:
            c.violation(f"node {n.id} does not exist in the fibre network built from the inputs")
            continue
        row = net.nodes.loc[n.id]
        nominal = _nominal_node_cost(c, n.kind, row)
        existing = bool(row.get("existing", False)) or n.id in c.existing_ends
        built = n.kind in ("relay", "repeater") and n.id in stations[n.kind]
        cap = 0.0 if existing or built else nominal
        if n.kind in ("site", "trusted"):
            c.cost["nodes_eur"] += cap
            c.cost["sunk_brownfield_eur"] += nominal if existing else 0.0
        else:
            c.cost[f"{n.kind}s_eur"] += cap
            c.cost["sunk_brownfield_eur"] += nominal if built else 0.0
        if not _close(cap, n.cost_eur):
            c.violation(f"node {n.id}: cost {n.cost_eur} differs from the scenario's {cap}")


def _nominal_node_cost(c: _Check, kind: str, row) -> float:
    costs = c.scenario.costs
    if kind == "relay":
        return costs["hut_node_eur"] if row.kind == "hut" else costs["relay_node_eur"]
    if kind == "repeater":
        return c.scenario.repeaters["repeater_node_eur"]
    return row.capex_eur if math.isfinite(row.capex_eur) else (
        costs["hut_node_eur"] if row.kind == "hut" else costs["trusted_node_eur"])


def check_links(c: _Check) -> None:
    """Fibre path, length, loss, rate per pair, pairs, capacity and cost of every link, recomputed."""
    relay_nodes = {n.id for n in c.plan.nodes if n.kind == "relay"}
    ids = set()
    for L in c.plan.links:
        c.checks += 1
        if L.id in ids:
            c.violation(f"link {L.id} is listed twice")
        ids.add(L.id)
        measured = _fibre_path_length_loss(c, L)
        if measured is None:
            continue
        length, loss = measured
        for end in (L.from_node, L.to_node):
            if end not in c.open_nodes:
                c.violation(f"link {L.id}: end {end} is not an open node")
        key = tuple(sorted((L.from_node, L.to_node)))
        if L.device == "repeater":
            cap, cost, pair_cost = _check_repeater_link(c, L, length)
        else:
            cap, cost, pair_cost = _check_device_link(c, L, length, loss, relay_nodes)
        c.cap_hop[key] = c.cap_hop.get(key, 0.0) + cap
        c.cost["devices_and_fibre_eur"] += cost
        c.cost["device_pairs_eur"] += (L.device_pairs - L.existing_pairs) * pair_cost
        lease = _link_fibre(c, L)[0] if L.existing_pairs else 0.0  # installed repeater chains too
        c.cost["sunk_brownfield_eur"] += L.existing_pairs * (
            pair_cost + c.scenario.costs["fibre_eur_per_km"] * length + lease)
        if not _close(cost, L.cost_eur):
            c.violation(f"link {L.id}: cost {L.cost_eur:.2f}, recomputed {cost:.2f} EUR")


def _fibre_path_length_loss(c: _Check, L: Link) -> tuple[float, float] | None:
    """Length and loss (connectors included) along the link's fibre path, or None if the path is broken."""
    fp = L.fibre_path
    if fp[0] != L.from_node or fp[-1] != L.to_node:
        c.violation(f"link {L.id}: fibre path does not run from {L.from_node} to {L.to_node}")
    if len(set(fp)) != len(fp):
        c.violation(f"link {L.id}: fibre path visits a node twice")
    length = loss = 0.0
    for a, b in zip(fp[:-1], fp[1:]):
        if (a, b) not in c.seg:
            c.violation(f"link {L.id}: no fibre between {a} and {b}")
            return None
        length += c.seg[(a, b)][0]
        loss += c.seg[(a, b)][1]
    loss += c.scenario.fibre["connector_loss_db"]
    if not _close(length, L.length_km):
        c.violation(f"link {L.id}: length {L.length_km:.6f} km, recomputed {length:.6f} km")
    if not _close(loss, L.loss_db):
        c.violation(f"link {L.id}: loss {L.loss_db:.6f} dB, recomputed {loss:.6f} dB")
    return length, loss


def _check_device_link(c: _Check, L: Link, length: float, loss: float, relay_nodes: set):
    """A QKD device link: key rate from the physics, pairs within limits. Returns (capacity, cost, pair cost)."""
    from .keyrate import PROTOCOLS, secret_key_rate_bps

    spec = {s.name: s for s in c.scenario.devices}.get(L.device)
    if spec is None:
        c.violation(f"link {L.id}: device {L.device!r} is not in the scenario's catalog")
        return 0.0, 0.0, 0.0
    dev = spec.device()
    fib = c.scenario.fibre
    fp = L.fibre_path
    eff = loss
    if PROTOCOLS[dev.protocol].relay_in_middle:
        if L.relay not in fp[1:-1]:
            c.violation(f"link {L.id}: {dev.protocol} needs an untrusted relay inside its fibre path, got {L.relay!r}")
            return 0.0, 0.0, 0.0
        if L.relay not in relay_nodes:
            c.violation(f"link {L.id}: relay {L.relay} is not an open relay node of the plan")
        k_r = fp.index(L.relay)
        arm = sum(c.seg[(a, b)][1] for a, b in zip(fp[:k_r], fp[1:k_r + 1]))
        fibre_loss = loss - fib["connector_loss_db"]
        eff = 2 * max(arm, fibre_loss - arm) + fib["connector_loss_db"]
    lease, launch = _link_fibre(c, L)
    if launch is not None and PROTOCOLS[dev.protocol].relay_in_middle:
        c.violation(f"link {L.id}: lit fibre is only planned for point-to-point devices, not {dev.protocol}")
    if launch is not None and L.existing_pairs:
        c.violation(f"link {L.id}: existing (brownfield) pairs are on dark fibre, not lit")
    rate = (_lit_rate_bps(c, dev, length, loss, launch) if launch is not None
            else float(secret_key_rate_bps(np.array([eff]), dev)[0]))
    if not _close(rate, L.rate_bps_per_pair):
        c.violation(f"link {L.id}: rate per pair {L.rate_bps_per_pair:.6g} bit/s, recomputed {rate:.6g} bit/s")
    if dev.protocol != L.protocol:
        c.violation(f"link {L.id}: protocol {L.protocol} but device {L.device} runs {dev.protocol}")
    k, ex = L.device_pairs, L.existing_pairs
    if ex != c.existing.get((tuple(sorted((L.from_node, L.to_node))), L.device), 0):
        c.violation(f"link {L.id}: existing_pairs {ex} differs from the brownfield file")
    if not (1 <= k <= max(spec.max_pairs_per_link, ex) and k >= ex):
        c.violation(f"link {L.id}: {k} device pairs, must be an integer in [max(1, existing {ex}), "
                    f"{spec.max_pairs_per_link}]")
    cap = k * rate
    if not _close(cap, L.capacity_bps):
        c.violation(f"link {L.id}: capacity {L.capacity_bps:.6g}, recomputed {cap:.6g} bit/s")
    per_pair = (spec.pair_cost_eur if launch is not None  # a lit pair shares a fibre already paid for
                else spec.pair_cost_eur + c.scenario.costs["fibre_eur_per_km"] * length + lease)
    cost = (k - ex) * per_pair
    return cap, cost, spec.pair_cost_eur


def _repeater_limits(scenario) -> dict | None:
    """The scenario's repeater-chain limits; L_max / N_max derived from the physics layer when not given."""
    rp = dict(getattr(scenario, "repeaters", None) or {})
    if not rp.get("enabled"):
        return None
    if not rp.get("l_max_km"):
        from .keyrate import repeater_chain_limits

        L, N = repeater_chain_limits(rp["rate_bps"], rp["fidelity_target"],
                                     attenuation_db_per_km=scenario.fibre["attenuation_db_per_km"])
        rp["l_max_km"], rp["n_max"] = float(L), int(N)
    return rp


def _check_repeater_link(c: _Check, L: Link, length: float):
    """A repeater chain: every elementary link <= L_max, at most N_max repeaters, all opened, rate, cost."""
    rep = _repeater_limits(c.scenario)
    if rep is None:
        c.violation(f"link {L.id}: a repeater chain, but the scenario has no [repeaters] enabled")
        return 0.0, 0.0, 0.0
    fp = L.fibre_path
    opened = {n.id for n in c.plan.nodes if n.kind == "repeater"}
    for r in L.repeaters:
        if r not in fp[1:-1]:
            c.violation(f"link {L.id}: repeater {r} is not on its fibre path")
            return 0.0, 0.0, 0.0
        if r not in opened:
            c.violation(f"link {L.id}: repeater {r} is not an opened repeater node")
    if len(L.repeaters) > rep["n_max"]:
        c.violation(f"link {L.id}: {len(L.repeaters)} repeaters, n_max = {rep['n_max']}")
    cuts = [0] + [fp.index(r) for r in L.repeaters] + [len(fp) - 1]
    for a, b in zip(cuts[:-1], cuts[1:]):
        seg_len = sum(c.seg[(x, y)][0] for x, y in zip(fp[a:b], fp[a + 1:b + 1]))
        if seg_len > rep["l_max_km"] * (1 + REL_TOL) + 1e-9:
            c.violation(f"link {L.id}: elementary link {fp[a]}-{fp[b]} is {seg_len:.3f} km, "
                        f"L_max = {rep['l_max_km']:.3f} km")
    if not _close(L.rate_bps_per_pair, rep["rate_bps"]):
        c.violation(f"link {L.id}: chain rate {L.rate_bps_per_pair} differs from the scenario's {rep['rate_bps']}")
    k, ex = L.device_pairs, L.existing_pairs
    if ex != c.existing.get((tuple(sorted((L.from_node, L.to_node))), L.device), 0):
        c.violation(f"link {L.id}: existing_pairs {ex} differs from the brownfield file")
    if not (1 <= k <= max(rep["max_chains_per_link"], ex) and k >= ex):
        c.violation(f"link {L.id}: {k} chains, must be in [max(1, existing {ex}), {rep['max_chains_per_link']}]")
    cap = k * rep["rate_bps"]
    if not _close(cap, L.capacity_bps):
        c.violation(f"link {L.id}: capacity {L.capacity_bps:.6g}, recomputed {cap:.6g} bit/s")
    cost = (k - ex) * (rep["chain_cost_eur"] + c.scenario.costs["fibre_eur_per_km"] * length + _link_fibre(c, L)[0])
    return cap, cost, rep["chain_cost_eur"]


def check_demands(c: _Check) -> None:
    """Routes connected and simple over planned links and open nodes; rates, protection, limits, governance."""
    req, net = c.demands, c.net
    budget_mode = c.scenario.objective.get("mode") == "max_rate"
    forbidden = _forbidden_nodes(c)
    links_by_hop: dict = {}
    for L in c.plan.links:
        links_by_hop.setdefault(tuple(sorted((L.from_node, L.to_node))), L.fibre_path)
    risks = _segment_risks(c) if (req["k_routes"] > 1).any() else None
    given = {(d.source, d.target): d for d in c.plan.demands}
    wanted = set(zip(req["source"], req["target"]))
    for s_t in sorted(set(given) - wanted):
        c.W.append(f"the plan holds demand {s_t[0]}->{s_t[1]}, which is not in the demands file")
    weighted = 0.0
    for r in req.itertuples():
        c.checks += 1
        name = f"demand {r.source}->{r.target}"
        d = given.get((r.source, r.target))
        if d is None:
            c.violation(f"{name} is missing from the plan")
            continue
        s, t = net.site_node[r.source], net.site_node[r.target]
        on_route = set()
        for k, rt in enumerate(d.routes):
            p = rt.nodes
            if p[0] != s or p[-1] != t:
                c.violation(f"{name} route {k}: runs {p[0]}->{p[-1]}, not {s}->{t}")
            if len(set(p)) != len(p):
                c.violation(f"{name} route {k}: visits a node twice")
            if not rt.rate_bps >= -ABS_TOL_BPS:
                c.violation(f"{name} route {k}: negative or undefined rate {rt.rate_bps}")
            for a, b in zip(p[:-1], p[1:]):
                key = tuple(sorted((a, b)))
                if key not in c.cap_hop:
                    c.violation(f"{name} route {k}: no planned link {a}-{b}")
                c.load[key] = c.load.get(key, 0.0) + rt.rate_bps
            for x in p:
                if x not in c.open_nodes:
                    c.violation(f"{name}: key passes {x}, which is not an open node")
            on_route |= set(p)
        guaranteed = _guaranteed_rate(c, name, [rt.rate_bps for rt in d.routes], int(r.k_routes), r.protection)
        weighted += float(getattr(r, "weight", 1.0)) * guaranteed
        prot = r.protection if r.k_routes > 1 else "unprotected"
        if not budget_mode and not guaranteed >= r.target_bps * (1 - REL_TOL) - ABS_TOL_BPS:
            c.violation(f"{name}: delivers {guaranteed:.6g} bit/s ({prot}), target {r.target_bps:.6g}")
        if budget_mode and guaranteed > r.target_bps * (1 + REL_TOL) + ABS_TOL_BPS:
            c.violation(f"{name}: delivers {guaranteed:.6g} bit/s, more than its target in budget mode")
        if not _close(guaranteed, d.delivered_bps, abs_=ABS_TOL_BPS):
            c.violation(f"{name}: delivered_bps {d.delivered_bps} but its routes give {guaranteed}")
        mt = r.max_trusted_nodes
        if mt == mt:  # not NaN
            for k, rt in enumerate(d.routes):
                if len(rt.nodes) - 2 > int(mt):
                    c.violation(f"{name} route {k}: {len(rt.nodes) - 2} intermediate trusted nodes, "
                                f"max_trusted_nodes = {int(mt)}")
        for x in sorted(on_route & forbidden[r.Index]):
            c.violation(f"{name}: key is held by {x}, which its governance rules exclude "
                        f"(allowed_countries / excluded_nodes / excluded_operators)")
        if r.k_routes > 1:
            c.V += _check_disjoint(name, d.routes, r.disjoint, links_by_hop, *risks, s, t)
        if set(d.trusted_nodes) != on_route:
            c.violation(f"{name}: trusted_nodes {sorted(d.trusted_nodes)} differ from the nodes on its routes "
                        f"{sorted(on_route)}")
    if budget_mode:
        c.checks += 1
        if c.plan.delivered_weighted_bps is None or not _close(weighted, c.plan.delivered_weighted_bps,
                                                                abs_=ABS_TOL_BPS):
            c.violation(f"delivered_weighted_bps {c.plan.delivered_weighted_bps} differs from the recomputed "
                        f"{weighted:.6g} bit/s")


def _guaranteed_rate(c: _Check, name: str, rates: list, k_req: int, protection: str) -> float:
    """Rate a demand's routes guarantee: sum unprotected, min for 1+1, sum minus the largest for k-1."""
    if k_req <= 1:
        return float(sum(rates))
    if len(rates) < k_req:
        c.violation(f"{name}: {len(rates)} routes, {k_req} disjoint routes required")
        return 0.0
    return float(sum(rates) - max(rates)) if protection == "k-1" else float(min(rates))


def _forbidden_nodes(c: _Check) -> dict:
    """Per demand row: fibre nodes that may not hold its key (recomputed here, not shared with the optimiser)."""
    req, net = c.demands, c.net
    nodes = net.nodes
    country = None
    if req["allowed_countries"].map(len).any():
        from .geo import countries_of_points

        given = nodes["country"].fillna("").astype(str) if "country" in nodes.columns else None
        located = countries_of_points(nodes["lon"].to_numpy(), nodes["lat"].to_numpy(),
                                      c.scenario.governance.get("countries_file") or None,
                                      base_dir=c.scenario.base_dir)
        country = {n: (g if g else loc).upper() for n, g, loc in zip(
            nodes.index, given if given is not None else [""] * len(nodes), located)}
    operator = (dict(zip(nodes.index, nodes["operator"].fillna("").astype(str)))
                if "operator" in nodes.columns else {})
    out = {}
    for r in req.itertuples():
        bad = set()
        if len(r.allowed_countries):
            allowed = {x.upper() for x in r.allowed_countries}
            bad |= {n for n, iso in country.items() if iso not in allowed}
        bad |= {net.site_node.get(x, x) for x in r.excluded_nodes}
        if len(r.excluded_operators):
            bad |= {n for n, op in operator.items() if op in set(r.excluded_operators)}
        out[r.Index] = bad - {r.source_node, r.target_node}
    return out


def _segment_risks(c: _Check) -> tuple[dict, list]:
    from .risk import lowest_loss_segment_index, segment_risks

    e = c.net.edges
    fib = c.scenario.fibre
    att = e["attenuation_db_per_km"].to_numpy(dtype=float)
    loss = (np.where(np.isfinite(att), att, fib["attenuation_db_per_km"]) + fib["splice_loss_db_per_km"]) * \
        e["length_km"].to_numpy(dtype=float)
    risk = c.scenario.risk
    return lowest_loss_segment_index(e, loss), segment_risks(e, risk["srg_buffer_m"], risk["srg_min_overlap_km"])


def _check_disjoint(name, routes, mode, links_by_hop, seg_index, seg_risk, s, t) -> list:
    """Routes of one demand must not share a risk element (recomputed from the links' fibre paths)."""
    out = []
    used: dict = {}
    for k, rt in enumerate(routes):
        mine = set()
        p = rt.nodes
        for a, b in zip(p[:-1], p[1:]):
            fp = links_by_hop.get(tuple(sorted((a, b))))
            if fp is None:
                continue
            for x, y in zip(fp[:-1], fp[1:]):
                if (x, y) in seg_index:
                    mine |= set(seg_risk[seg_index[(x, y)]])
            if mode == "node":
                mine |= {f"n:{x}" for x in fp if x not in (s, t)}
        for e in mine:
            if e in used:
                what = {"e": "fibre segment", "c": "corridor shared-risk group", "n": "node"}[e[0]]
                out.append(f"{name}: routes {used[e]} and {k} share {what} {e[2:]}")
            else:
                used[e] = k
    return out


def check_loads(c: _Check) -> None:
    """The key rate routed over each hop fits the capacity of its links."""
    for key, x in c.load.items():
        c.checks += 1
        cap = c.cap_hop.get(key, 0.0)
        if x > cap * (1 + REL_TOL) + ABS_TOL_BPS:
            c.violation(f"link {key[0]}-{key[1]}: carries {x:.6g} bit/s, capacity {cap:.6g} bit/s")


def check_costs(c: _Check) -> None:
    """The plan's cost and every entry of its cost breakdown equal the recomputed ones; the budget holds."""
    plan = c.plan
    cb = plan.cost_breakdown
    rec = dict(c.cost)
    rec["total_eur"] = rec["nodes_eur"] + rec["relays_eur"] + rec["repeaters_eur"] + rec["devices_and_fibre_eur"]
    total = rec["total_eur"]
    for k, v in rec.items():
        c.checks += 1
        given = getattr(cb, k)
        if not _close(v, given, abs_=ABS_TOL_EUR):
            c.violation(f"cost_breakdown.{k} {given:,.2f} EUR differs from the recomputed {v:,.2f} EUR")
    c.checks += 1
    if not _close(total, plan.cost_eur, abs_=ABS_TOL_EUR):
        c.violation(f"total cost {plan.cost_eur:.2f} EUR differs from the recomputed {total:.2f} EUR")
    if not plan.budget_mode and plan.objective_value is not None and not _close(
            total, plan.objective_value, abs_=ABS_TOL_EUR):
        c.violation(f"objective_value {plan.objective_value:.2f} EUR differs from the recomputed cost {total:.2f} EUR")
    if not plan.budget_mode and plan.best_bound is not None and not (
            plan.best_bound <= total * (1 + REL_TOL) + ABS_TOL_EUR):
        c.violation(f"best_bound {plan.best_bound:,.2f} EUR is above the plan's cost {total:,.2f} EUR: "
                    "not a lower bound")
    obj = c.scenario.objective
    if obj.get("mode") == "max_rate" and total > obj["budget_eur"] * (1 + REL_TOL) + ABS_TOL_EUR:
        c.violation(f"cost {total:,.2f} EUR exceeds the budget {obj['budget_eur']:,.2f} EUR")


def check_rollout(c: _Check) -> None:
    """A staged rollout: spending within cumulative budgets; a demand served only once all it needs is built."""
    if c.plan.rollout is None or not c.plan.rollout.stages:
        return
    c.checks += 1
    c.V += rollout_violations(c.plan)


def rollout_violations(plan: Plan) -> list[str]:
    """Violations of a plan's staged rollout (recomputed from the plan's nodes, links and routes)."""
    ro = plan.rollout
    if ro is None:
        return []
    V: list[str] = []
    cost = {("node", n.kind, n.id): n.cost_eur for n in plan.nodes}
    cost.update({("link", "link", L.id): L.cost_eur for L in plan.links})
    kind_of = {n.id: n.kind for n in plan.nodes if n.kind in ("site", "trusted")}
    by_hop: dict = {}
    for L in plan.links:
        by_hop.setdefault(frozenset((L.from_node, L.to_node)), []).append(L)
    need = {}
    for d in plan.demands:
        req = set()
        for rt in d.routes:
            req |= {("node", kind_of.get(x, "trusted"), x) for x in rt.nodes}
            for a, b in zip(rt.nodes[:-1], rt.nodes[1:]):
                for L in by_hop.get(frozenset((a, b)), []):
                    req.add(("link", "link", L.id))
                    if L.relay is not None:
                        req.add(("node", "relay", L.relay))
        need[f"{d.source}->{d.target}"] = req
    built: set = set()
    for st in ro.stages:
        built |= {("link", "link", x) for x in st.links} | {("node", "relay", x) for x in st.relays}
        built |= {k for k in cost if k[0] == "node" and k[1] != "relay" and k[2] in set(st.nodes)}
        spend = sum(cost.get(e, 0.0) for e in built)
        if spend > st.cumulative_budget_eur * (1 + 1e-9) + 1e-6:
            V.append(f"rollout {st.year}: built elements cost {spend:,.0f} EUR, above the cumulative budget "
                     f"{st.cumulative_budget_eur:,.0f} EUR")
        for dname in st.demands_served:
            if dname not in need:
                V.append(f"rollout {st.year}: {dname} counted as served but is not a demand of the plan")
                continue
            missing = sorted(f"{k[1]}:{k[2]}" for k in need[dname] - built)
            if missing:
                V.append(f"rollout {st.year}: {dname} counted as served but {missing[:3]} not built yet")
    return V
