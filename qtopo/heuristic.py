"""A fast constructive heuristic for trusted-node design: the MIP start and the fallback plan.

1. Route demands one at a time (largest target first) on the hop graph by Dijkstra, where a hop costs the
   *incremental* device cost of carrying the demand on top of what is already routed there, plus the capex of
   opening its far end if that node is not open yet.
2. Rip up and reroute each demand against the others until no move lowers the total cost.
3. Try closing each opened node: reroute the demands through it around it; keep the change if cheaper.

HiGHS's own primal heuristics find poor plans for this problem class; this one gives a good incumbent in well
under a second on national networks, and is what the CLI falls back to when the MILP finds nothing in time.
"""
from __future__ import annotations

import heapq
import logging
import math
import time
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class HeuristicSolution:
    open_nodes: set
    pairs: np.ndarray                # per hop_devices row
    routes: dict                     # demand index -> list of node ids
    cost: float
    seconds: float


class _State:
    def __init__(self, inputs):
        self.inputs = inputs
        hd = inputs.hop_devices
        hops = inputs.hops
        self.nodes = list(inputs.nodes.index)
        self.capex = inputs.nodes["capex_eur"].to_dict()
        self.terminal = set(inputs.nodes.index[inputs.nodes["terminal"].to_numpy()])
        self.hop_of = {}
        for h, (u, v) in enumerate(zip(hops.u, hops.v)):
            self.hop_of[(u, v)] = h
            self.hop_of[(v, u)] = h
        # device options per hop: (rows, rates, max, cost per pair)
        self.opts: dict[int, list] = {}
        for i, (h, r, mx, c) in enumerate(zip(hd["hop"].to_numpy(int), hd["rate_bps_per_pair"].to_numpy(),
                                              hd["max_pairs"].to_numpy(int), hd["cost_per_pair_eur"].to_numpy())):
            self.opts.setdefault(int(h), []).append((i, float(r), int(mx), float(c)))
        self.adj: dict[str, list] = {n: [] for n in self.nodes}
        for h in self.opts:
            u, v = hops.u.iat[h], hops.v.iat[h]
            self.adj[u].append((v, h))
            self.adj[v].append((u, h))
        self.load = np.zeros(len(hops))
        self._cost_cache: dict = {}

    def hop_cost(self, h: int, load: float) -> tuple[float, dict]:
        """Cheapest device mix carrying ``load`` on hop h: (cost, {row: pairs}); inf if impossible."""
        if load <= 1e-9:
            return 0.0, {}
        key = (h, round(load, 6))
        hit = self._cost_cache.get(key)
        if hit is not None:
            return hit
        best = (math.inf, {})
        opts = self.opts[h]
        for i, r, mx, c in opts:  # one device type
            k = math.ceil(load / r - 1e-9)
            if k <= mx and k * c < best[0]:
                best = (k * c, {i: k})
        if math.isinf(best[0]) and len(opts) > 1:  # mix: fill cheapest per bit first
            rem, cost, mix = load, 0.0, {}
            for i, r, mx, c in sorted(opts, key=lambda o: o[3] / o[1]):
                k = min(mx, math.ceil(rem / r - 1e-9))
                mix[i] = k
                cost += k * c
                rem -= k * r
                if rem <= 1e-9:
                    break
            if rem <= 1e-9:
                best = (cost, mix)
        self._cost_cache[key] = best
        return best

    def total_cost(self, open_nodes) -> float:
        c = sum(self.capex[n] for n in open_nodes | self.terminal)
        c += sum(self.hop_cost(h, self.load[h])[0] for h in np.flatnonzero(self.load > 1e-9))
        return c

    def shortest(self, s, t, amount, open_nodes, banned=frozenset()):
        """Cheapest route for ``amount`` bit/s from s to t given current loads (Dijkstra on incremental cost)."""
        dist = {s: 0.0}
        prev = {}
        pq = [(0.0, s)]
        done = set()
        while pq:
            d, u = heapq.heappop(pq)
            if u in done:
                continue
            if u == t:
                break
            done.add(u)
            for v, h in self.adj[u]:
                if v in banned or v in done:
                    continue
                base = self.hop_cost(h, self.load[h])[0]
                inc = self.hop_cost(h, self.load[h] + amount)[0] - base
                if math.isinf(inc):
                    continue
                w = inc + (0.0 if (v in open_nodes or v in self.terminal) else self.capex[v]) + 1e-6 * \
                    self.inputs.hops.length_km.iat[h]
                nd = d + w
                if nd < dist.get(v, math.inf) - 1e-12:
                    dist[v] = nd
                    prev[v] = u
                    heapq.heappush(pq, (nd, v))
        if t not in dist:
            return None
        path = [t]
        while path[-1] != s:
            path.append(prev[path[-1]])
        return path[::-1]

    def apply(self, path, amount, sign=1.0):
        for a, b in zip(path[:-1], path[1:]):
            self.load[self.hop_of[(a, b)]] += sign * amount


def construct(inputs, time_budget_s: float = 10.0) -> HeuristicSolution | None:
    """Build a feasible plan, or None if the heuristic cannot route every demand."""
    t0 = time.perf_counter()
    S = _State(inputs)
    d = inputs.demands
    order = np.argsort(-d["target_bps"].to_numpy(), kind="stable")
    open_nodes: set = set()
    routes: dict = {}
    for i in order:
        r = d.iloc[i]
        p = S.shortest(r.source_node, r.target_node, r.target_bps, open_nodes)
        if p is None:
            return None
        S.apply(p, r.target_bps)
        routes[int(i)] = p
        open_nodes |= set(p[1:-1]) - S.terminal

    def used_nodes():
        return {x for p in routes.values() if p is not None for x in p[1:-1]} - S.terminal

    best = S.total_cost(used_nodes())
    improved = True
    while improved and time.perf_counter() - t0 < time_budget_s:
        improved = False
        # rip up and reroute
        for i in order:
            r = d.iloc[i]
            old = routes[int(i)]
            S.apply(old, r.target_bps, -1.0)
            others = {x for j, p in routes.items() if j != int(i) for x in p[1:-1]} - S.terminal
            p = S.shortest(r.source_node, r.target_node, r.target_bps, others)
            if p is None:
                p = old
            S.apply(p, r.target_bps)
            routes[int(i)] = p
            c = S.total_cost(used_nodes())
            if c < best - 1e-6:
                best, improved = c, True
            else:
                S.apply(p, r.target_bps, -1.0)
                S.apply(old, r.target_bps)
                routes[int(i)] = old
        # close nodes
        for v in sorted(used_nodes(), key=lambda n: -S.capex[n]):
            users = [j for j, p in routes.items() if v in p[1:-1]]
            if not users:
                continue
            saved = {j: routes[j] for j in users}
            for j in users:
                S.apply(routes[j], d.target_bps.iat[j], -1.0)
                routes[j] = None
            ok = True
            for j in users:
                others = {x for p in routes.values() if p is not None for x in p[1:-1]} - S.terminal
                p = S.shortest(d.source_node.iat[j], d.target_node.iat[j], d.target_bps.iat[j], others,
                               banned=frozenset({v}))
                if p is None:
                    ok = False
                    break
                S.apply(p, d.target_bps.iat[j])
                routes[j] = p
            c = S.total_cost(used_nodes()) if ok else math.inf
            if c < best - 1e-6:
                best, improved = c, True
            else:
                for j in users:
                    if routes[j] is not None:
                        S.apply(routes[j], d.target_bps.iat[j], -1.0)
                    routes[j] = saved[j]
                    S.apply(saved[j], d.target_bps.iat[j])
    pairs = np.zeros(len(inputs.hop_devices), int)
    for h in np.flatnonzero(S.load > 1e-9):
        c, mix = S.hop_cost(int(h), S.load[h])
        if math.isinf(c):
            return None
        for i, k in mix.items():
            pairs[i] = k
    sol = HeuristicSolution(used_nodes(), pairs, routes, S.total_cost(used_nodes()), time.perf_counter() - t0)
    log.info("heuristic: cost %.0f in %.2f s", sol.cost, sol.seconds)
    return sol


def set_mip_start(model, inputs, sol: HeuristicSolution) -> None:
    """Write the heuristic solution into the model's variables (for ``solve(..., warmstart=True)``)."""
    q = model._qidx
    idx = {n: i for i, n in enumerate(q.node_ids)}
    for v in q.open_nodes:
        model.y[v].value = 1.0 if q.node_ids[v] in sol.open_nodes else 0.0
    for i in range(len(inputs.hop_devices)):
        model.n[i].value = float(sol.pairs[i])
    cidx = {c: k for k, c in enumerate(q.commodities)}
    arc = {(int(c), int(t), int(h)): j for j, (c, t, h) in enumerate(zip(q.arc_com, q.arc_tail, q.arc_head))}
    flow = np.zeros(len(q.arc_hop))
    d = inputs.demands
    aggregate = inputs.params.get("aggregate", True)
    for i, path in sol.routes.items():
        c = d["commodity"].iat[i]
        k = cidx[c]
        src = c if aggregate else d["source_node"].iat[i]
        p = path if path[0] == src else path[::-1]
        for a, b in zip(p[:-1], p[1:]):
            j = arc.get((k, idx[a], idx[b]))
            if j is not None:
                flow[j] += d["target_bps"].iat[i]
    for j in range(len(flow)):
        model.f[j].value = float(flow[j])
