"""The QKD network design MILP, built as a recipe of ``add_*`` functions over precomputed index sets.

Notation (all index sets come pruned from :class:`qtopo.candidates.PlanningInputs`):

- ``y[v]`` binary: trusted node opened at non-terminal candidate ``v`` (demand endpoints are always open; in
  budget mode they have a ``y`` too, so an endpoint of demands left unserved is not bought).
- ``z[m]`` binary: untrusted relay station (MDI-QKD / twin-field middle node) opened at ``m``.
- ``n[i]`` integer in ``[existing_i, ub_i]``: device pairs of option ``i`` (a hop and a device type); ``ub_i`` is
  ``min(max_pairs_per_link, ceil(total demand / rate_i))``, the tight linking bound; ``existing_i`` are
  brownfield pairs already installed (their cost is sunk).
- ``f[j]`` >= 0: key flow (bit/s) of a *flow commodity* on directed arc ``j``. Plain demands are flow
  commodities, aggregated by source where exact (``params['aggregate']``).
- ``x[j]`` binary: arc ``j`` is on route ``r`` of a *routed demand* (disjoint routes or trusted-node limits):
  each route is one unsplit path carrying the demand's route rate. K node-disjoint routes without a trusted-node
  limit are *merged*: one integral flow of K units with no route index (``route_units``), kept node- and
  segment-disjoint by the rows below and split into its K paths when the plan is read. The per-route form has
  K! symmetric copies of every plan; on the benchmark's k2 variant the merged form halves the nonzeros and
  closed syn-30-5 to 1 % in 20 s (per-route: 7.1 % after 60 s).
- budget mode only: ``delta[d]`` in ``[0, target_d]`` delivered rate of flow demand d; ``s[d]`` binary: routed
  demand d is served.

Constraints: flow conservation per (commodity, node) and per (routed demand, route, node); hop capacity
``sum f + sum rate_route x <= sum_i rate_i n_i`` (a QKD link's key serves both directions); linking
``n_i <= ub_i y_v`` at each non-terminal end and ``n_i <= ub_i z_m`` at its relay; node throughput
``inflow(v) <= total y_v``; per-commodity linking ``f_k(h) <= sum_i min(D_k, rate_i) n_i``; for routed demands:
at most ``max_trusted_nodes + 1`` hops per route, and at most one route of a demand per risk element (fibre
segment, corridor shared-risk group, and in node-disjoint mode every node other than the endpoints; elements
covering the same arcs share one row).

Objective: ``min`` node capex + relay capex + new device pairs x (pair cost + fibre cost per km x hop length)
(terminal capex is a constant, added for honest totals); in budget mode ``max`` weighted delivered rate subject
to that cost <= budget (a tiny cost term breaks ties towards cheaper plans).
"""
from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo

from .candidates import PlanningInputs

log = logging.getLogger(__name__)


@dataclass
class ModelIndex:
    """Arrays describing the model's index sets, kept on the model as ``model._qidx``."""

    node_ids: np.ndarray       # node id per node index
    open_nodes: list           # non-terminal node indices with a y variable
    relay_nodes: list          # node indices with a z variable
    commodities: list          # flow commodity names
    com_demands: list          # per commodity: demand row indices
    com_source: list           # per commodity: source node index
    arc_hop: np.ndarray        # flow variable -> hop
    arc_tail: np.ndarray
    arc_head: np.ndarray
    arc_com: np.ndarray        # flow variable -> commodity index
    routed: list               # routed demand row indices
    x_dem: np.ndarray          # route variable -> demand row
    x_route: np.ndarray        # route variable -> route number
    x_hop: np.ndarray
    x_tail: np.ndarray
    x_head: np.ndarray
    constant_cost_eur: float   # capex of terminals (always open; 0 in budget mode, where they have y variables)
    sunk_cost_eur: float       # brownfield device pairs already paid for
    budget_mode: bool = False
    repeater_nodes: list = field(default_factory=list)  # node indices with a repeater variable w
    route_units: dict = field(default_factory=dict)  # routed demand row -> units per route flow (K if merged)
    extra: dict = field(default_factory=dict)


def _group(keys: np.ndarray, values: np.ndarray):
    """Group ``values`` by integer ``keys``: returns dict key -> array of values."""
    if len(keys) == 0:
        return {}
    o = np.argsort(keys, kind="stable")
    k = keys[o]
    cut = np.flatnonzero(np.diff(k)) + 1
    return dict(zip(k[np.r_[0, cut]].tolist(), np.split(values[o], cut)))


def _hop_distances(n: int, tails: np.ndarray, heads: np.ndarray, source: int) -> np.ndarray:
    """Fewest arcs from ``source`` to every node over the given directed arcs (inf if unreachable)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    if len(tails) == 0:
        out = np.full(n, np.inf)
        out[source] = 0.0
        return out
    A = csr_matrix((np.ones(len(tails)), (tails, heads)), shape=(n, n))
    return shortest_path(A, directed=True, unweighted=True, indices=source)


def build_index(inputs: PlanningInputs) -> ModelIndex:
    """Compute every index set of the model as NumPy arrays (no Pyomo)."""
    nodes = inputs.nodes.index.to_numpy()
    idx = {n: i for i, n in enumerate(nodes)}
    hops = inputs.hops
    hd = inputs.hop_devices
    hu = hops.u.map(idx).to_numpy(int)
    hv = hops.v.map(idx).to_numpy(int)
    usable = np.zeros(len(hops), bool)
    usable[hd["hop"].to_numpy(int)] = True
    h = np.flatnonzero(usable)
    tails = np.r_[hu[h], hv[h]]
    heads = np.r_[hv[h], hu[h]]
    hh = np.r_[h, h]
    d = inputs.demands
    term = inputs.nodes["terminal"].to_numpy()
    # ---- flow commodities (demands that are not routed)
    flow_rows = [i for i in range(len(d)) if not d["routed"].iat[i]]
    coms = list(dict.fromkeys(d["commodity"].iloc[flow_rows])) if flow_rows else []
    com_dem = [[i for i in flow_rows if d["commodity"].iat[i] == c] for c in coms]
    aggregate = inputs.params.get("aggregate", True)
    com_src = []
    A = ([], [], [], [])
    for ci, (c, rows) in enumerate(zip(coms, com_dem)):
        src = idx[c] if aggregate else idx[d["source_node"].iat[rows[0]]]
        com_src.append(src)
        m = heads != src
        if not aggregate:
            r = rows[0]
            m &= tails != idx[d["target_node"].iat[r]]
            bad = d["forbidden"].iat[r] if "forbidden" in d.columns else ()
            if bad:
                bi = np.array([idx[b] for b in bad if b in idx], int)
                m &= ~np.isin(heads, bi) & ~np.isin(tails, bi)
        A[0].append(hh[m]); A[1].append(tails[m]); A[2].append(heads[m]); A[3].append(np.full(m.sum(), ci))
    cat = (lambda xs: np.concatenate(xs).astype(int) if xs else np.zeros(0, int))
    # ---- routed demands
    routed = [i for i in range(len(d)) if d["routed"].iat[i]]
    X = ([], [], [], [], [])
    units = {}
    for i in routed:
        s, t = idx[d["source_node"].iat[i]], idx[d["target_node"].iat[i]]
        m = (heads != s) & (tails != t)
        bad = d["forbidden"].iat[i]
        if bad:
            bi = np.array([idx[b] for b in bad if b in idx], int)
            m &= ~np.isin(heads, bi) & ~np.isin(tails, bi)
        lim = d["max_trusted_nodes"].iat[i]
        if np.isfinite(lim):
            # exact: an arc a->b can be on a route of at most lim+1 hops only if
            # hops(s, a) + 1 + hops(b, t) <= lim + 1 (hop counts in the allowed hop graph)
            ds = _hop_distances(len(nodes), tails[m], heads[m], s)
            dt = _hop_distances(len(nodes), heads[m], tails[m], t)
            m[m] &= ds[tails[m]] + 1 + dt[heads[m]] <= lim + 1
        k = int(d["k_routes"].iat[i])
        # node-disjoint routes without a hop limit are one integral flow of k units (merged routes: no route
        # index, so no symmetric copies of one plan; the node and segment rows keep them disjoint)
        units[i] = k if (k > 1 and d["disjoint"].iat[i] == "node" and not np.isfinite(lim)) else 1
        for r in range(k // units[i]):
            X[0].append(np.full(m.sum(), i)); X[1].append(np.full(m.sum(), r))
            X[2].append(hh[m]); X[3].append(tails[m]); X[4].append(heads[m])
    # ---- nodes with variables
    used = np.zeros(len(nodes), bool)
    used[hu[h]] = True
    used[hv[h]] = True
    budget_mode = bool(inputs.params.get("budget_mode", False))
    # min-cost mode serves every demand, so its endpoints are open (a constant); budget mode may leave a demand
    # unserved, so an endpoint is opened (and paid) only when a device pair ends there
    open_nodes = [int(i) for i in np.flatnonzero(used & (~term | budget_mode))]
    relay_ids = sorted({r for r in hd["relay"] if r is not None and r in idx}) if "relay" in hd.columns else []
    relay_nodes = [idx[r] for r in relay_ids]
    const = 0.0 if budget_mode else float(inputs.nodes["capex_eur"].to_numpy()[term].sum())
    sunk = float((hd["existing_pairs"] * hd["cost_per_pair_eur"]).sum()) if "existing_pairs" in hd.columns else 0.0
    rep_ids = sorted({x for rs in hd["repeaters"] for x in rs if x in idx}) if "repeaters" in hd.columns else []
    return ModelIndex(nodes, open_nodes, relay_nodes, coms, com_dem, com_src, cat(A[0]), cat(A[1]), cat(A[2]),
                      cat(A[3]), routed, cat(X[0]), cat(X[1]), cat(X[2]), cat(X[3]), cat(X[4]), const, sunk,
                      budget_mode, [idx[r] for r in rep_ids], units)


def commodity_totals(inputs: PlanningInputs, q: ModelIndex) -> np.ndarray:
    """Total target (bit/s) of each flow commodity: what it never needs more of on one arc or through one node."""
    tgt = inputs.demands["target_bps"].to_numpy()
    return np.array([float(sum(tgt[r] for r in rows)) for rows in q.com_demands])


def build_model(inputs: PlanningInputs, scenario=None) -> pyo.ConcreteModel:
    """Build the Pyomo model (no solve, no file I/O). Timings land in ``model._qtimings``."""
    t0 = time.perf_counter()
    gc_was = gc.isenabled()
    gc.disable()  # halves Pyomo build time (field notes)
    try:
        m = pyo.ConcreteModel(name="qtopo_qkd_network_design")
        m._qidx = build_index(inputs)
        add_variables(m, inputs)
        add_flow_conservation(m, inputs)
        add_route_conservation(m, inputs)
        add_hop_capacity(m, inputs)
        add_linking(m, inputs)
        add_node_throughput(m, inputs)
        add_commodity_linking(m, inputs)
        add_route_limits(m, inputs)
        add_disjointness(m, inputs)
        add_objective(m, inputs, scenario)
    finally:
        if gc_was:
            gc.enable()
    m._qtimings = {"build": time.perf_counter() - t0}
    return m


def add_variables(m, inputs) -> None:
    q = m._qidx
    hd = inputs.hop_devices
    ub = hd["ub_pairs"].to_numpy(int)
    lb = hd["existing_pairs"].to_numpy(int) if "existing_pairs" in hd.columns else np.zeros(len(hd), int)
    m.V = pyo.Set(initialize=q.open_nodes, ordered=True)
    m.y = pyo.Var(m.V, domain=pyo.Binary)
    m.R = pyo.Set(initialize=q.relay_nodes, ordered=True)
    m.z = pyo.Var(m.R, domain=pyo.Binary)
    m.RP = pyo.Set(initialize=q.repeater_nodes, ordered=True)
    m.w = pyo.Var(m.RP, domain=pyo.Binary)
    m.D = pyo.Set(initialize=range(len(hd)), ordered=True)
    m.n = pyo.Var(m.D, domain=pyo.NonNegativeIntegers, bounds=lambda _m, i: (int(lb[i]), int(max(ub[i], lb[i]))))
    m.A = pyo.Set(initialize=range(len(q.arc_hop)), ordered=True)
    m.f = pyo.Var(m.A, domain=pyo.NonNegativeReals)
    # a commodity never needs more than its total demand on one arc (cycle-free flows are as cheap), so this bound
    # holds at some optimum. Given only to the LP solved for a bound (finite columns let an approximate dual give a
    # rigorous bound: qtopo.solve.safe_lp_bound), not to the MIP: there it changed HiGHS's search for the worse.
    m._lp_implied_ub = {"f": commodity_totals(inputs, q)[q.arc_com] if len(q.arc_com) else np.zeros(0)}
    m.X = pyo.Set(initialize=range(len(q.x_hop)), ordered=True)
    m.x = pyo.Var(m.X, domain=pyo.Binary)
    if q.budget_mode:
        d = inputs.demands
        flow_rows = [i for rows in q.com_demands for i in rows]
        tgt = d["target_bps"].to_numpy()
        m.FD = pyo.Set(initialize=flow_rows, ordered=True)
        m.delta = pyo.Var(m.FD, domain=pyo.NonNegativeReals, bounds=lambda _m, i: (0.0, float(tgt[i])))
        m.RD = pyo.Set(initialize=q.routed, ordered=True)
        m.served = pyo.Var(m.RD, domain=pyo.Binary)


def add_flow_conservation(m, inputs) -> None:
    q = m._qidx
    d = inputs.demands
    idx = {n: i for i, n in enumerate(q.node_ids)}
    nn = len(q.node_ids)
    # supply terms: (commodity, node) -> list of (sign, demand row)
    b: dict = {}
    for k, rows in enumerate(q.com_demands):
        for r in rows:
            s, t = idx[d["source_node"].iat[r]], idx[d["target_node"].iat[r]]
            if s != q.com_source[k]:
                s, t = t, s
            b.setdefault(k * nn + s, []).append((1.0, r))
            b.setdefault(k * nn + t, []).append((-1.0, r))
    j = np.arange(len(q.arc_hop))
    outs = _group(q.arc_com * nn + q.arc_tail, j)
    ins = _group(q.arc_com * nn + q.arc_head, j)
    keys = sorted(set(outs) | set(ins) | set(b))
    f = m.f
    tgt = d["target_bps"].to_numpy()

    def rhs(key):
        terms = b.get(key, ())
        if m._qidx.budget_mode:
            return sum(sg * m.delta[r] for sg, r in terms) if terms else 0.0
        return sum(sg * float(tgt[r]) for sg, r in terms)

    def rule(_m, key):
        expr = sum(f[int(a)] for a in outs.get(key, ())) - sum(f[int(a)] for a in ins.get(key, ()))
        r = rhs(key)
        if isinstance(expr, (int, float)) and isinstance(r, (int, float)):
            return pyo.Constraint.Feasible if abs(r) < 1e-12 else pyo.Constraint.Infeasible
        return expr == r

    m.KV = pyo.Set(initialize=keys, ordered=True)
    m.conservation = pyo.Constraint(m.KV, rule=rule)


def add_route_conservation(m, inputs) -> None:
    q = m._qidx
    if len(q.x_hop) == 0:
        return
    d = inputs.demands
    idx = {n: i for i, n in enumerate(q.node_ids)}
    nn = len(q.node_ids)
    kmax = 8
    key_base = (q.x_dem * kmax + q.x_route) * nn
    j = np.arange(len(q.x_hop))
    outs = _group(key_base + q.x_tail, j)
    ins = _group(key_base + q.x_head, j)
    ends = {}
    for i in q.routed:
        s, t = idx[d["source_node"].iat[i]], idx[d["target_node"].iat[i]]
        u = q.route_units.get(i, 1)
        for r in range(int(d["k_routes"].iat[i]) // u):
            ends[(i * kmax + r) * nn + s] = (float(u), i)
            ends[(i * kmax + r) * nn + t] = (-float(u), i)
    keys = sorted(set(outs) | set(ins) | set(ends))
    x = m.x

    def rule(_m, key):
        expr = sum(x[int(a)] for a in outs.get(key, ())) - sum(x[int(a)] for a in ins.get(key, ()))
        sg, i = ends.get(key, (0.0, None))
        r = sg * m.served[i] if (sg and q.budget_mode) else sg
        if isinstance(expr, (int, float)) and isinstance(r, (int, float)):
            return pyo.Constraint.Feasible if abs(r) < 1e-12 else pyo.Constraint.Infeasible
        return expr == r

    m.RKV = pyo.Set(initialize=keys, ordered=True)
    m.route_conservation = pyo.Constraint(m.RKV, rule=rule)


def _route_rate(inputs, q) -> np.ndarray:
    return inputs.demands["route_rate_bps"].to_numpy()[q.x_dem] if len(q.x_dem) else np.zeros(0)


def add_hop_capacity(m, inputs) -> None:
    q = m._qidx
    hd = inputs.hop_devices
    rate = hd["rate_bps_per_pair"].to_numpy()
    fg = _group(q.arc_hop, np.arange(len(q.arc_hop)))
    xg = _group(q.x_hop, np.arange(len(q.x_hop)))
    dg = _group(hd["hop"].to_numpy(int), np.arange(len(hd)))
    rr = _route_rate(inputs, q)
    H = sorted((set(fg) | set(xg)) & set(dg))
    f, n, x = m.f, m.n, m.x
    # coefficient reduction: in a plan without flow cycles, no hop carries more than the total demand (each
    # commodity crosses a hop at most once, in one direction), so one pair never needs to count for more.
    # Keeps the matrix range near the targets' instead of [1e-3, 1e8] bit/s (HiGHS's LPs stall on that range).
    d = inputs.demands
    top = float((d["target_bps"] * d["k_routes"]).sum())
    cap = np.minimum(rate, top)

    def rule(_m, h):
        load = sum(f[int(a)] for a in fg.get(h, ())) + sum(float(rr[a]) * x[int(a)] for a in xg.get(h, ()))
        return load <= sum(float(cap[i]) * n[int(i)] for i in dg[h])

    m.H = pyo.Set(initialize=H, ordered=True)
    m.capacity = pyo.Constraint(m.H, rule=rule)


def add_linking(m, inputs) -> None:
    q = m._qidx
    hd = inputs.hop_devices
    idx = {n: i for i, n in enumerate(q.node_ids)}
    hu = inputs.hops.u.map(idx).to_numpy(int)
    hv = inputs.hops.v.map(idx).to_numpy(int)
    h = hd["hop"].to_numpy(int)
    ub = np.maximum(hd["ub_pairs"].to_numpy(int), hd["existing_pairs"].to_numpy(int)
                    if "existing_pairs" in hd.columns else 0)
    # not at terminals (they have a y only in budget mode): there the throughput rows and delta_d <= target_d y_e
    # open them, as per-pair rows at a handful of busy endpoints stalled HiGHS's presolve (SURFnet: > 80 s)
    openable = set(q.open_nodes) - set(np.flatnonzero(inputs.nodes["terminal"].to_numpy()).tolist())
    pairs = [(int(i), int(e)) for i in range(len(hd)) for e in (hu[h[i]], hv[h[i]]) if e in openable]
    n, y = m.n, m.y
    m.L = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    m.linking = pyo.Constraint(m.L, rule=lambda _m, i, v: n[i] <= int(ub[i]) * y[v])
    if q.relay_nodes:
        rel = [(i, idx[r]) for i, r in enumerate(hd["relay"]) if r is not None and r in idx]
        m.LR = pyo.Set(initialize=rel, dimen=2, ordered=True)
        m.relay_linking = pyo.Constraint(m.LR, rule=lambda _m, i, v: n[i] <= int(ub[i]) * m.z[v])
    if q.repeater_nodes:
        rp = [(i, idx[r]) for i, rs in enumerate(hd["repeaters"]) for r in rs if r in idx]
        m.LP = pyo.Set(initialize=rp, dimen=2, ordered=True)
        m.repeater_linking = pyo.Constraint(m.LP, rule=lambda _m, i, v: n[i] <= int(ub[i]) * m.w[v])


def add_node_throughput(m, inputs) -> None:
    q = m._qidx
    d = inputs.demands
    total = float((d["target_bps"] * d["k_routes"]).sum())
    fg = _group(q.arc_head, np.arange(len(q.arc_head)))
    xg = _group(q.x_head, np.arange(len(q.x_head)))
    rr = _route_rate(inputs, q)
    V = [v for v in q.open_nodes if v in fg or v in xg]
    f, y, x = m.f, m.y, m.x
    m.VT = pyo.Set(initialize=V, ordered=True)
    m.throughput = pyo.Constraint(m.VT, rule=lambda _m, v: sum(f[int(a)] for a in fg.get(v, ())) + sum(
        float(rr[a]) * x[int(a)] for a in xg.get(v, ())) <= total * y[v])
    # routed demands: a route enters v only if v is open
    if len(q.x_head):
        kv = _group(q.x_dem * len(q.node_ids) + q.x_head, np.arange(len(q.x_head)))
        # intermediate nodes only: a demand's own endpoints (open variables in budget mode) receive all its
        # routes; there the linking rows on their device pairs open them
        openable = set(q.open_nodes) - set(np.flatnonzero(inputs.nodes["terminal"].to_numpy()).tolist())
        # node-disjoint routes enter a node at most once between them; other routed demands at most k times
        kmax = np.where(d["disjoint"].to_numpy() == "node", 1, d["k_routes"].to_numpy())
        keys = [k for k in kv if (k % len(q.node_ids)) in openable]
        m.RVT = pyo.Set(initialize=keys, ordered=True)
        nn = len(q.node_ids)
        m.route_open = pyo.Constraint(m.RVT, rule=lambda _m, k: sum(x[int(a)] for a in kv[k]) <=
                                      int(kmax[k // nn]) * y[k % nn])


def add_commodity_linking(m, inputs) -> None:
    """Per-commodity linking: ``f_k(h, both directions) <= sum_i min(D_k, rate_i) n_i`` and
    ``inflow_k(v) <= D_k y_v``; for routed demands ``rate_d x(h) <= sum_i min(rate_d, rate_i) n_i``.

    Valid because commodity k never needs more than its total demand D_k on one hop or through one node, and
    when any pair is installed (n_i >= 1) the capacity term covers the flow. Where rates per pair are far above
    the targets (short hops) the plain capacity row lets the LP relaxation install a thousandth of a pair; these
    rows force ``n_i >= f_k / D_k`` instead, which is what closes the gap on national networks.
    """
    q = m._qidx
    d = inputs.demands
    Dk = commodity_totals(inputs, q)
    hd = inputs.hop_devices
    rate = hd["rate_bps_per_pair"].to_numpy()
    dg = _group(hd["hop"].to_numpy(int), np.arange(len(hd)))
    nk = max(len(q.commodities), 1)
    fg = _group(q.arc_hop * nk + q.arc_com, np.arange(len(q.arc_hop)))
    KH = [kk for kk in fg if (kk // nk) in dg]
    f, n, y, x = m.f, m.n, m.y, m.x

    def rule(_m, kk):
        h, k = divmod(kk, nk)
        cap = sum(float(min(Dk[k], rate[i])) * n[int(i)] for i in dg[h])
        return sum(f[int(a)] for a in fg[kk]) <= cap

    m.KH = pyo.Set(initialize=KH, ordered=True)
    m.commodity_capacity = pyo.Constraint(m.KH, rule=rule)
    openable = set(q.open_nodes)
    vg = {kk: g for kk, g in _group(q.arc_head * nk + q.arc_com, np.arange(len(q.arc_head))).items()
          if (kk // nk) in openable}
    m.KVT = pyo.Set(initialize=sorted(vg), ordered=True)
    m.commodity_throughput = pyo.Constraint(
        m.KVT, rule=lambda _m, kk: sum(f[int(a)] for a in vg[kk]) <= float(Dk[kk % nk]) * y[kk // nk])
    if len(q.x_hop):
        nd = len(d)
        rr = d["route_rate_bps"].to_numpy()
        xg = _group(q.x_hop * nd + q.x_dem, np.arange(len(q.x_hop)))
        keys = [kk for kk in xg if (kk // nd) in dg]
        m.RH = pyo.Set(initialize=keys, ordered=True)
        m.route_capacity = pyo.Constraint(m.RH, rule=lambda _m, kk: float(rr[kk % nd]) * sum(
            x[int(a)] for a in xg[kk]) <= sum(float(min(rr[kk % nd], rate[i])) * n[int(i)] for i in dg[kk // nd]))


def add_route_limits(m, inputs) -> None:
    """At most ``max_trusted_nodes + 1`` hops on each route of a routed demand."""
    q = m._qidx
    if len(q.x_hop) == 0:
        return
    d = inputs.demands
    lim = d["max_trusted_nodes"].to_numpy()
    g = _group(q.x_dem * 8 + q.x_route, np.arange(len(q.x_hop)))
    keys = [k for k in g if np.isfinite(lim[k // 8])]
    m.RL = pyo.Set(initialize=keys, ordered=True)
    m.route_hops = pyo.Constraint(m.RL, rule=lambda _m, k: sum(m.x[int(a)] for a in g[k]) <= int(lim[k // 8]) + 1)


def arc_risks(inputs, q) -> list:
    """Risk elements of each route variable's arc, by the demand's disjointness mode (see module docstring)."""
    d = inputs.demands
    if "risk" not in inputs.hops.columns or len(q.x_hop) == 0:
        return [frozenset()] * len(q.x_hop)
    hr = inputs.hops["risk"].to_numpy()
    out = []
    tnode = d["target_node"].to_numpy()
    mode = d["disjoint"].to_numpy()
    for a in range(len(q.x_hop)):
        i = q.x_dem[a]
        r = hr[q.x_hop[a]]
        if mode[i] == "link":
            r = frozenset(e for e in r if not e.startswith("n:"))
        else:
            head = q.node_ids[q.x_head[a]]
            if head != tnode[i]:
                r = r | {f"n:{head}"}
        out.append(r)
    return out


def add_disjointness(m, inputs) -> None:
    """At most one route of a demand through each risk element."""
    q = m._qidx
    d = inputs.demands
    if len(q.x_hop) == 0 or not (d["k_routes"] > 1).any():
        return
    risks = arc_risks(inputs, q)
    groups: dict = {}
    for a, rs in enumerate(risks):
        i = int(q.x_dem[a])
        if d["k_routes"].iat[i] < 2:
            continue
        for e in rs:
            groups.setdefault((i, e), []).append(a)
    keys = [k for k, v in groups.items() if len({int(q.x_route[a]) for a in v}) > 1 or (
        q.route_units.get(k[0], 1) > 1 and len(v) > 1)]
    # elements with the same arcs give the same row (consecutive segments of a duct between huts, a segment and
    # its corridor group): keep one
    uniq: dict = {}
    for k in keys:
        uniq.setdefault((k[0], tuple(groups[k])), k)
    keys = list(uniq.values())
    # Modelling rule: a route does not cross one of its own risk elements twice (no out-and-back over one duct
    # to reach a spur node), so one row per element covers all routes of the demand. The exact alternative
    # (u[i,e,r] >= x_a, sum_r u <= 1) made the bundled K=2 scenario 10x slower (3.5 s -> 22-40 s) because almost
    # every segment group needs it; plans are unaffected where no such round trip would pay. The heuristic
    # follows the same rule (qtopo.heuristic._route_demand), so its plan stays a valid MIP start.
    m.DJ = pyo.Set(initialize=range(len(keys)), ordered=True)
    m.disjoint = pyo.Constraint(m.DJ, rule=lambda _m, n: sum(m.x[int(a)] for a in groups[keys[n]]) <= 1)
    q.extra["disjoint_rows"] = len(keys)
    # symmetry: route r of a demand leaves its source on an arc no later than route r+1 (by arc order)
    # (left out: measured no gain on small instances)


def add_objective(m, inputs, scenario=None) -> None:
    q = m._qidx
    capex = inputs.nodes["capex_eur"].to_numpy()
    cpp = inputs.hop_devices["cost_per_pair_eur"].to_numpy()
    relay_capex = relay_costs(inputs, scenario)
    m.cost_nodes = pyo.Expression(expr=sum(float(capex[v]) * m.y[v] for v in q.open_nodes) + q.constant_cost_eur)
    rep_capex = repeater_costs(inputs, scenario)
    m.cost_relays = pyo.Expression(expr=sum(float(relay_capex[v]) * m.z[v] for v in q.relay_nodes)
                                   + sum(float(rep_capex[v]) * m.w[v] for v in q.repeater_nodes))
    m.cost_devices = pyo.Expression(expr=sum(float(cpp[i]) * m.n[i] for i in m.D) - q.sunk_cost_eur)
    cost = m.cost_nodes + m.cost_relays + m.cost_devices
    if not q.budget_mode:
        m.obj = pyo.Objective(expr=cost, sense=pyo.minimize)
        return
    d = inputs.demands
    w = d["weight"].to_numpy()
    tgt = d["target_bps"].to_numpy()
    budget = float(scenario.objective["budget_eur"])
    m.budget = pyo.Constraint(expr=cost <= budget)
    # a demand delivers only if both its endpoints are bought: delta_d <= target_d y_e (served_d <= y_e); valid,
    # and it makes the LP pay a share of the endpoints' capex for a share of the rate
    idx = {n: i for i, n in enumerate(q.node_ids)}
    openable = set(q.open_nodes)
    rows = [(int(i), idx[d[c].iat[i]]) for i in list(m.FD) + list(m.RD) for c in ("source_node", "target_node")
            if idx.get(d[c].iat[i]) in openable]
    fd = set(m.FD)
    m.BE = pyo.Set(initialize=rows, dimen=2, ordered=True)
    m.endpoint_open = pyo.Constraint(m.BE, rule=lambda _m, i, v: (
        m.delta[i] <= float(tgt[i]) * m.y[v]) if i in fd else (m.served[i] <= m.y[v]))
    value = sum(float(w[i]) * m.delta[i] for i in m.FD) + sum(float(w[i] * tgt[i]) * m.served[i] for i in m.RD)
    eps = 1e-6 * float(tgt.min()) / max(budget, 1.0)
    m.obj = pyo.Objective(expr=value - eps * cost, sense=pyo.maximize)


def set_empty_start(m, inputs) -> None:
    """Budget mode: the plan that serves nothing (installed pairs only) as MIP start; it is always feasible
    within any budget >= 0, and HiGHS's own heuristics did not find it on SURFnet in 100 s."""
    q = m._qidx
    hd = inputs.hop_devices
    lb = hd["existing_pairs"].to_numpy(int) if "existing_pairs" in hd.columns else np.zeros(len(hd), int)
    need = set()
    for v in q.open_nodes:
        m.y[v].value = 0.0
    for v in q.relay_nodes:
        m.z[v].value = 0.0
    for v in q.repeater_nodes:
        m.w[v].value = 0.0
    for i in m.D:
        m.n[i].value = float(lb[i])
    for (i, v) in m.L:
        if lb[i] > 0:
            need.add(("y", v))
    for comp, name in ((getattr(m, "relay_linking", None), "z"), (getattr(m, "repeater_linking", None), "w")):
        if comp is not None:
            for (i, v) in comp.index_set():
                if lb[i] > 0:
                    need.add((name, v))
    for name, v in need:
        getattr(m, name)[v].value = 1.0
    for j in m.A:
        m.f[j].value = 0.0
    for j in m.X:
        m.x[j].value = 0.0
    if q.budget_mode:
        for i in m.FD:
            m.delta[i].value = 0.0
        for i in m.RD:
            m.served[i].value = 0.0


def relay_costs(inputs, scenario=None) -> np.ndarray:
    """Capex of an untrusted relay at each node: ``relay_node_eur``, or ``hut_node_eur`` in a hut."""
    costs = scenario.costs if scenario is not None else {"relay_node_eur": 1e5, "hut_node_eur": 3e5}
    kind = inputs.nodes["kind"].to_numpy()
    base = np.where(kind == "hut", costs["hut_node_eur"], costs["relay_node_eur"])
    if "existing" in inputs.nodes.columns:
        base = np.where(inputs.nodes["existing"].to_numpy(bool), 0.0, base)
    if "relay_built" in inputs.nodes.columns:  # brownfield: the relay station of an installed MDI / TF pair
        base = np.where(inputs.nodes["relay_built"].to_numpy(bool), 0.0, base)
    return base


def repeater_costs(inputs, scenario=None) -> np.ndarray:
    """Capex of a repeater station at each node: ``repeaters.repeater_node_eur``, nothing where an installed
    repeater chain (brownfield) already has one."""
    rep = getattr(scenario, "repeaters", None) if scenario is not None else None
    base = np.full(len(inputs.nodes), float(rep["repeater_node_eur"]) if rep else 0.0)
    if "repeater_built" in inputs.nodes.columns:
        base = np.where(inputs.nodes["repeater_built"].to_numpy(bool), 0.0, base)
    return base


def model_size(m) -> dict:
    """Variables and constraints of a built model (nonzeros come from HiGHS after the hand-off)."""
    nv = sum(1 for _ in m.component_data_objects(pyo.Var, active=True))
    nc = sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True))
    return {"variables": nv, "constraints": nc}
