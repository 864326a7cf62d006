"""Large-neighbourhood search on the start plan: fix-and-optimise with HiGHS on small sub-MIPs.

On national networks the full MILP has 0.7-2.3 million nonzeros; HiGHS does not finish its root LP in 300 s and
never improves the start plan (issue 12). A *sub-MIP* that may use only the candidate nodes of the incumbent plan,
the demand endpoints and one neighbourhood of other candidates (the other candidates fixed closed) has a few
thousand columns and HiGHS solves it, warm-started from the incumbent, in a second or two. Repeating this over
neighbourhoods is the relaxation-induced / fix-and-optimise large-neighbourhood search of Shaw ("Using constraint
programming and local search methods to solve vehicle routing problems", CP 1998) and Pisinger & Ropke ("Large
neighborhood search", Handbook of Metaheuristics, 2010), with MIP sub-solves as in Danna, Rothberg & Le Pape
("Exploring relaxation induced neighborhoods to improve MIP solutions", Math. Program. 102, 2005).

Neighbourhoods (one per iteration, chosen by a seeded generator):

- **ball**: the ``size`` candidates nearest (great-circle) to a random node of the incumbent plan;
- **corridor**: the ``size`` candidates nearest to the route of a random demand (any node of it);
- **merge** (first iteration only, when given): the nodes of other heuristic plans (solution merging).

Every incumbent node stays *free* in the sub-MIP (it may close), so a sub-MIP can re-route every demand over the
union; each sub-MIP is warm-started from the incumbent, so its plan is never dearer. The sub-model is built from
the planning tables restricted to the allowed nodes (:func:`restrict`), not by fixing columns of the full model
(a design choice, not measured: the full model has 0.7-2.3 M nonzeros on the national networks and would be
presolved again at every iteration, where a restricted sub-solve took 1-13 s). ``size`` adapts: it grows when a sub-MIP is solved to
optimality without improvement (the neighbourhood is exhausted) and shrinks when the sub-MIP hits its time limit.

A sub-plan is a plan of the full instance (a subset of its nodes, hops and device options); its cost is recomputed
here from the full tables (:func:`solution_cost`) and it is accepted only if strictly cheaper. The planner verifies
whatever plan it returns, as for every other method.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

#: ``lns = "auto"`` runs the search from this many hop-device options (smaller models solve to optimality).
LNS_FROM_OPTIONS = 2000
#: The search stops this many seconds before the MILP's time limit (it runs alongside the MILP).
LNS_MARGIN_S = 5.0
#: Longest sub-MIP (s): the search reacts to the MILP's end within about this time.
SUB_MIP_MAX_S = 20.0


@dataclass
class LnsRecord:
    """What the search did (recorded in the plan's ``solver.options["lns"]``)."""

    start_cost_eur: float
    cost_eur: float
    iterations: int = 0
    improvements: int = 0
    seconds: float = 0.0
    seed: int = 0
    history: list = field(default_factory=list)   # (seconds, cost) at each improvement

    def to_dict(self) -> dict:
        return {"start_cost_eur": round(self.start_cost_eur, 2), "cost_eur": round(self.cost_eur, 2),
                "iterations": self.iterations, "improvements": self.improvements,
                "seconds": round(self.seconds, 3), "seed": self.seed,
                "history": [[round(t, 2), round(c, 2)] for t, c in self.history]}


def restrict(inputs, allowed: set):
    """The planning tables restricted to the candidate nodes ``allowed`` (demand endpoints are always kept):
    only hop-device options whose hop ends (and relay or repeater sites) are allowed remain."""
    from .candidates import _pruned

    allowed = set(allowed) | set(inputs.nodes.index[inputs.nodes["terminal"].to_numpy()])
    hd = inputs.hop_devices
    h = hd["hop"].to_numpy(int)
    ok_node = np.fromiter((n in allowed for n in inputs.hops.u), bool, len(inputs.hops)) & \
        np.fromiter((n in allowed for n in inputs.hops.v), bool, len(inputs.hops))
    keep = ok_node[h]
    if "relay" in hd.columns:
        keep &= np.fromiter((r is None or r in allowed for r in hd["relay"]), bool, len(hd))
    if "repeaters" in hd.columns:
        keep &= np.fromiter((all(x in allowed for x in rs) for rs in hd["repeaters"]), bool, len(hd))
    return _pruned(inputs, keep)


def solution_cost(inputs, scenario, open_nodes, relays, pairs) -> float:
    """The plan's capex from the planning tables: terminals and opened nodes, new device pairs, relays and
    repeater sites (the model's objective, :func:`qtopo.model.add_objective`, computed independently)."""
    from .model import relay_costs, repeater_costs

    nodes = inputs.nodes
    cap = nodes["capex_eur"]
    term = set(nodes.index[nodes["terminal"].to_numpy()])
    cost = float(sum(cap[n] for n in set(open_nodes) | term))
    hd = inputs.hop_devices
    ex = hd["existing_pairs"].to_numpy(int) if "existing_pairs" in hd.columns else np.zeros(len(hd), int)
    cost += float(((np.asarray(pairs) - ex).clip(min=0) * hd["cost_per_pair_eur"].to_numpy()).sum())
    rc = dict(zip(nodes.index, relay_costs(inputs, scenario)))
    rp = dict(zip(nodes.index, repeater_costs(inputs, scenario)))  # (nothing where a repeater is installed)
    cost += sum(rp[r[1]] if isinstance(r, tuple) else rc[r] for r in relays)
    return cost


def _km_matrix_rows(lon, lat, centres: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) from each node of ``centres`` (indices) to every node: shape (len(centres), n)."""
    la, lo = np.radians(lat), np.radians(lon)
    a = (np.sin((la[None, :] - la[centres, None]) / 2) ** 2 + np.cos(la[centres, None]) * np.cos(la[None, :])
         * np.sin((lo[None, :] - lo[centres, None]) / 2) ** 2)
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _plan_nodes(sol) -> set:
    """Every candidate node the plan uses (opened, relays, route nodes)."""
    out = set(sol.open_nodes) | {r for r in sol.relays if not isinstance(r, tuple)}
    out |= {r[1] for r in sol.relays if isinstance(r, tuple)}
    for rs in sol.routes.values():
        for p, _ in rs or ():
            out.update(p)
    return out


def _sub_solve(inputs, scenario, sol, allowed, time_limit_s, threads):
    """Solve the sub-MIP on ``allowed`` nodes warm-started from ``sol``: ``(new solution or None, optimal?)``."""
    from .heuristic import HeuristicSolution, remap_solution, set_mip_start
    from .model import build_model
    from .plan import routes_from_arcs, routes_from_flows
    from .solve import solve

    sub = restrict(inputs, allowed)
    start = remap_solution(sol, inputs, sub)
    if start is None:  # cannot happen: every option of the incumbent is allowed
        return None, False
    t0 = time.perf_counter()
    m = build_model(sub, scenario)
    set_mip_start(m, sub, start)
    t_build = time.perf_counter() - t0
    res = solve(m, time_limit_s=max(0.5, time_limit_s - t_build), mip_gap=1e-6, threads=threads, warmstart=True,
                root_lp="simplex", lp_bound=False)
    optimal = res.status.value == "optimal"
    log.debug("lns sub-MIP: %d options, %s nonzeros, build %.1f s, solve %.1f s, %s", len(sub.hop_devices),
              res.sizes.get("nonzeros"), t_build, res.timings_s.get("solve", 0.0), res.status.value)
    if not res.status.has_plan:
        return None, optimal
    q = m._qidx
    y_open = {q.node_ids[v] for v in q.open_nodes if round(m.y[v].value or 0.0) >= 1}
    z_open = {q.node_ids[v] for v in q.relay_nodes if round(m.z[v].value or 0.0) >= 1}
    w_open = {("rep", q.node_ids[v]) for v in q.repeater_nodes if round(m.w[v].value or 0.0) >= 1}
    n_val = np.array([round(m.n[i].value or 0.0) for i in range(len(sub.hop_devices))], dtype=int)
    f_val = np.array([max(m.f[j].value or 0.0, 0.0) for j in range(len(q.arc_hop))])
    x_val = np.array([round(m.x[j].value or 0.0) for j in range(len(q.x_hop))], dtype=int)
    routes = routes_from_flows(sub, q, f_val)
    routes.update(routes_from_arcs(sub, q, x_val))
    term = set(sub.nodes.index[sub.nodes["terminal"].to_numpy()])
    new = HeuristicSolution(y_open - term, z_open | w_open, n_val, routes, math.inf, 0.0)
    full = remap_solution(new, sub, inputs)
    if full is None:
        return None, optimal
    full.cost = solution_cost(inputs, scenario, full.open_nodes, full.relays, full.pairs)
    return full, optimal


def improve(inputs, scenario, sol, time_limit_s: float, *, seed: int = 0, threads: int = 1,
            max_iterations: int | None = None, size: int = 20, sub_time_limit_s: float | None = None,
            others: list | None = None, stop=None):
    """Large-neighbourhood search from the plan ``sol`` (a :class:`qtopo.heuristic.HeuristicSolution` on
    ``inputs``) for at most ``time_limit_s`` seconds and ``max_iterations`` sub-MIPs.

    Returns ``(best solution, LnsRecord)``; the best solution is ``sol`` itself when nothing cheaper was found.
    Deterministic for a given ``seed`` as long as no sub-MIP stops at its time limit.
    ``others``: node sets of further plans (default: the other starts of the heuristic,
    ``sol.alternatives``) that the first sub-MIP may use together with the incumbent's (solution merging).
    ``stop``: a :class:`threading.Event`; the search ends after the current sub-MIP once it is set (the planner
    runs the search on a thread while HiGHS works on the full MILP).
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    best = sol
    c0 = solution_cost(inputs, scenario, sol.open_nodes, sol.relays, sol.pairs)
    if abs(c0 - sol.cost) > 1e-6 * max(1.0, c0):
        log.warning("lns: start plan recorded at %.2f but costs %.2f from the tables", sol.cost, c0)
    best_cost = max(c0, sol.cost)
    rec = LnsRecord(start_cost_eur=best_cost, cost_eur=best_cost, seed=int(seed))
    nodes = inputs.nodes
    ids = np.asarray(nodes.index)
    pos = {n: i for i, n in enumerate(ids)}
    lon = nodes["lon"].to_numpy(float)
    lat = nodes["lat"].to_numpy(float)
    n_nodes = len(ids)
    size = int(max(5, min(size, n_nodes)))
    per_iter = sub_time_limit_s if sub_time_limit_s is not None else max(5.0, min(SUB_MIP_MAX_S, time_limit_s / 8))
    pending_merge = [set(o) for o in (getattr(sol, "alternatives", None) if others is None else others) or ()
                     if o]
    d = inputs.demands
    while True:
        left = time_limit_s - (time.perf_counter() - t0)
        if left < 1.0 or (max_iterations is not None and rec.iterations >= max_iterations) or \
                (stop is not None and stop.is_set()):
            break
        base = _plan_nodes(best)
        if pending_merge:
            kind = "merge"
            region = set().union(*pending_merge)
            pending_merge = []
        else:
            kind = "ball" if rec.iterations % 2 == 0 else "corridor"
            if kind == "ball":
                pool = sorted(base, key=str)
                centres = np.array([pos[pool[int(rng.integers(len(pool)))]]])
            else:
                i = int(rng.integers(len(d)))
                rs = best.routes.get(i) or []
                centres = np.array(sorted({pos[x] for p, _ in rs for x in p if x in pos}))
                if not len(centres):
                    continue
            dist = _km_matrix_rows(lon, lat, centres).min(axis=0)
            order = np.lexsort((np.arange(n_nodes), dist))  # nearest first, ties by position: deterministic
            region = set(ids[order[:size]].tolist())
        allowed = base | region
        t_it = time.perf_counter()
        new, optimal = _sub_solve(inputs, scenario, best, allowed, min(per_iter, left), threads)
        rec.iterations += 1
        took = time.perf_counter() - t_it
        improved = new is not None and new.cost < best_cost - 1e-6 * max(1.0, best_cost)
        log.info("lns %d (%s, %d nodes): %s%s in %.1f s", rec.iterations, kind, len(allowed),
                 f"{new.cost:,.0f}" if new is not None else "no plan", " (improved)" if improved else "", took)
        if improved:
            best, best_cost = new, new.cost
            rec.improvements += 1
            rec.history.append((time.perf_counter() - t0, best.cost))
        elif kind != "merge":
            if optimal:
                size = min(n_nodes, int(math.ceil(size * 1.25)))
            else:
                size = max(5, int(size * 0.7))
    rec.cost_eur = best_cost
    rec.seconds = time.perf_counter() - t0
    if best is not sol:
        best.seconds = sol.seconds + rec.seconds
        best.first_plan_s, best.greedy_cost = sol.first_plan_s, sol.greedy_cost
    return best, rec
