"""The trusted-node design MILP, built as a recipe of ``add_*`` functions over precomputed index sets.

Notation (all index sets come pruned from :class:`qtopo.candidates.PlanningInputs`):

- ``y[v]`` binary: trusted node opened at non-terminal candidate ``v`` (demand endpoints are always open).
- ``n[i]`` integer in ``[0, ub_i]``: device pairs of type ``device_i`` on hop ``hop_i``; ``ub_i`` is
  ``min(max_pairs_per_link, ceil(total demand / rate_i))``, the tight linking bound.
- ``f[j]`` >= 0: key flow (bit/s) of commodity ``k_j`` on directed arc ``j`` of a hop. Demands are aggregated
  into one commodity per source node where exact (``PlanningInputs.params['aggregate']``); arcs entering a
  commodity's own source are not created.

Constraints: flow conservation per (commodity, node); hop capacity ``sum_k f <= sum_d rate_d n_d`` (a QKD
link's key serves both directions, so both arc directions share it); linking ``n_i <= ub_i y_v`` at each
non-terminal end ``v``; node throughput ``inflow(v) <= (total demand) y_v``.

Objective: node capex (non-terminal opened nodes; terminal capex is a constant, added for honest totals) +
device pairs x (pair cost + fibre cost per km x hop length).
"""
from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from .candidates import PlanningInputs

log = logging.getLogger(__name__)


@dataclass
class ModelIndex:
    """Arrays describing the model's index sets, kept on the model as ``model._qidx``."""

    open_nodes: list          # non-terminal nodes with a y variable
    arc_hop: np.ndarray       # per flow variable: hop
    arc_tail: np.ndarray      # per flow variable: tail node index
    arc_head: np.ndarray      # per flow variable: head node index
    arc_com: np.ndarray       # per flow variable: commodity index
    commodities: list         # commodity names (source node id, or "s|t")
    node_ids: np.ndarray      # node id per node index
    constant_cost_eur: float  # capex of terminals (always open)


def _arcs(inputs: PlanningInputs):
    nodes = inputs.nodes.index.to_numpy()
    idx = {n: i for i, n in enumerate(nodes)}
    hops = inputs.hops
    hu = hops.u.map(idx).to_numpy(int)
    hv = hops.v.map(idx).to_numpy(int)
    # only hops that have at least one device
    usable = np.zeros(len(hops), bool)
    usable[inputs.hop_devices["hop"].to_numpy(int)] = True
    h = np.flatnonzero(usable)
    d = inputs.demands
    coms = list(dict.fromkeys(d["commodity"]))
    src_of = {}
    for c, s in zip(d["commodity"], d["source_node"]):
        src_of[c] = idx[s]
    tails = np.r_[hu[h], hv[h]]
    heads = np.r_[hv[h], hu[h]]
    hh = np.r_[h, h]
    A_hop, A_t, A_h, A_c = [], [], [], []
    for ci, c in enumerate(coms):
        m = heads != src_of[c]
        if not inputs.params.get("aggregate", True):
            # per-demand commodity: no flow out of its target either
            tgt = idx[d.loc[d["commodity"] == c, "target_node"].iloc[0]]
            m &= tails != tgt
        A_hop.append(hh[m]); A_t.append(tails[m]); A_h.append(heads[m]); A_c.append(np.full(m.sum(), ci))
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, int))
    return nodes, idx, coms, cat(A_hop), cat(A_t), cat(A_h), cat(A_c)


def build_model(inputs: PlanningInputs, scenario=None) -> pyo.ConcreteModel:
    """Build the Pyomo model (no solve, no file I/O). Timings land in ``model._qtimings``."""
    t0 = time.perf_counter()
    gc_was = gc.isenabled()
    gc.disable()  # halves Pyomo build time (field notes)
    try:
        m = pyo.ConcreteModel(name="qtopo_trusted_node_design")
        add_index(m, inputs)
        add_node_variables(m, inputs)
        add_device_variables(m, inputs)
        add_flow_variables(m, inputs)
        add_flow_conservation(m, inputs)
        add_hop_capacity(m, inputs)
        add_linking(m, inputs)
        add_node_throughput(m, inputs)
        add_commodity_linking(m, inputs)
        add_objective(m, inputs)
    finally:
        if gc_was:
            gc.enable()
    m._qtimings = {"build": time.perf_counter() - t0}
    return m


def add_index(m, inputs: PlanningInputs) -> None:
    nodes, idx, coms, A_hop, A_t, A_h, A_c = _arcs(inputs)
    term = inputs.nodes["terminal"].to_numpy()
    hd = inputs.hop_devices
    used = np.zeros(len(nodes), bool)
    hops = inputs.hops
    h_used = hd["hop"].unique()
    used[hops.u.iloc[h_used].map(idx).to_numpy(int)] = True
    used[hops.v.iloc[h_used].map(idx).to_numpy(int)] = True
    open_nodes = [int(i) for i in np.flatnonzero(used & ~term)]
    const = float(inputs.nodes["capex_eur"].to_numpy()[term].sum())
    m._qidx = ModelIndex(open_nodes, A_hop, A_t, A_h, A_c, coms, nodes, const)


def add_node_variables(m, inputs) -> None:
    m.V = pyo.Set(initialize=m._qidx.open_nodes, ordered=True)
    m.y = pyo.Var(m.V, domain=pyo.Binary)


def add_device_variables(m, inputs) -> None:
    hd = inputs.hop_devices
    ub = hd["ub_pairs"].to_numpy(int)
    m.D = pyo.RangeSet(0, len(hd) - 1) if len(hd) else pyo.Set(initialize=[])
    m.n = pyo.Var(m.D, domain=pyo.NonNegativeIntegers, bounds=lambda _m, i: (0, int(ub[i])))


def add_flow_variables(m, inputs) -> None:
    nf = len(m._qidx.arc_hop)
    m.A = pyo.RangeSet(0, nf - 1) if nf else pyo.Set(initialize=[])
    m.f = pyo.Var(m.A, domain=pyo.NonNegativeReals)


def _group(keys: np.ndarray, values: np.ndarray):
    """Group ``values`` by integer ``keys``: returns (unique keys, list of arrays)."""
    if len(keys) == 0:
        return np.zeros(0, int), []
    o = np.argsort(keys, kind="stable")
    k = keys[o]
    cut = np.flatnonzero(np.diff(k)) + 1
    return k[np.r_[0, cut]], np.split(values[o], cut)


def add_flow_conservation(m, inputs) -> None:
    q = m._qidx
    d = inputs.demands
    idx = {n: i for i, n in enumerate(q.node_ids)}
    cidx = {c: i for i, c in enumerate(q.commodities)}
    nn = len(q.node_ids)
    # supply b[(k, v)]: +sum at source, -target at sink
    b = {}
    for c, s, t, r in zip(d["commodity"], d["source_node"], d["target_node"], d["target_bps"]):
        k = cidx[c]
        b[(k, idx[s])] = b.get((k, idx[s]), 0.0) + r
        b[(k, idx[t])] = b.get((k, idx[t]), 0.0) - r
    j = np.arange(len(q.arc_hop))
    out_keys, out_j = _group(q.arc_com * nn + q.arc_tail, j)
    in_keys, in_j = _group(q.arc_com * nn + q.arc_head, j)
    outs = dict(zip(out_keys.tolist(), out_j))
    ins = dict(zip(in_keys.tolist(), in_j))
    keys = sorted(set(outs) | set(ins) | {k * nn + v for k, v in b})
    f = m.f

    def rule(_m, key):
        expr = sum(f[int(a)] for a in outs.get(key, ())) - sum(f[int(a)] for a in ins.get(key, ()))
        rhs = b.get((key // nn, key % nn), 0.0)
        if isinstance(expr, (int, float)):
            return pyo.Constraint.Feasible if abs(rhs) < 1e-12 else pyo.Constraint.Infeasible
        return expr == rhs

    m.KV = pyo.Set(initialize=keys, ordered=True)
    m.conservation = pyo.Constraint(m.KV, rule=rule)


def add_hop_capacity(m, inputs) -> None:
    q = m._qidx
    hd = inputs.hop_devices
    rate = hd["rate_bps_per_pair"].to_numpy()
    f_keys, f_groups = _group(q.arc_hop, np.arange(len(q.arc_hop)))
    d_keys, d_groups = _group(hd["hop"].to_numpy(int), np.arange(len(hd)))
    fg = dict(zip(f_keys.tolist(), f_groups))
    dg = dict(zip(d_keys.tolist(), d_groups))
    H = sorted(set(fg) & set(dg))
    f, n = m.f, m.n

    def rule(_m, h):
        return sum(f[int(a)] for a in fg[h]) <= sum(float(rate[i]) * n[int(i)] for i in dg[h])

    m.H = pyo.Set(initialize=H, ordered=True)
    m.capacity = pyo.Constraint(m.H, rule=rule)


def add_linking(m, inputs) -> None:
    q = m._qidx
    hd = inputs.hop_devices
    idx = {n: i for i, n in enumerate(q.node_ids)}
    hu = inputs.hops.u.map(idx).to_numpy(int)
    hv = inputs.hops.v.map(idx).to_numpy(int)
    h = hd["hop"].to_numpy(int)
    ub = hd["ub_pairs"].to_numpy(int)
    openable = set(q.open_nodes)
    pairs = [(int(i), int(e)) for i in range(len(hd)) for e in (hu[h[i]], hv[h[i]]) if e in openable]
    n, y = m.n, m.y
    m.L = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    m.linking = pyo.Constraint(m.L, rule=lambda _m, i, v: n[i] <= int(ub[i]) * y[v])


def add_node_throughput(m, inputs) -> None:
    q = m._qidx
    total = float(inputs.demands["target_bps"].sum())
    keys, groups = _group(q.arc_head, np.arange(len(q.arc_head)))
    g = dict(zip(keys.tolist(), groups))
    V = [v for v in q.open_nodes if v in g]
    f, y = m.f, m.y
    m.VT = pyo.Set(initialize=V, ordered=True)
    m.throughput = pyo.Constraint(m.VT, rule=lambda _m, v: sum(f[int(a)] for a in g[v]) <= total * y[v])


def add_commodity_linking(m, inputs) -> None:
    """Per-commodity linking: ``f_k(h, both directions) <= sum_d min(D_k, rate_d) n_d`` and
    ``inflow_k(v) <= D_k y_v``.

    Valid because commodity k never needs more than its total demand D_k on one hop or through one node, and
    when any pair is installed (n_d >= 1) the capacity term covers the flow. Where rates per pair are far above
    the targets (short hops) the plain capacity row lets the LP relaxation install a thousandth of a pair; these
    rows force ``n_d >= f_k / D_k`` instead, which is what closes the gap on national networks.
    """
    q = m._qidx
    d = inputs.demands
    D = d.groupby("commodity")["target_bps"].sum()
    Dk = np.array([float(D[c]) for c in q.commodities])
    hd = inputs.hop_devices
    rate = hd["rate_bps_per_pair"].to_numpy()
    d_keys, d_groups = _group(hd["hop"].to_numpy(int), np.arange(len(hd)))
    dg = dict(zip(d_keys.tolist(), d_groups))
    nk = len(q.commodities)
    key = q.arc_hop * nk + q.arc_com
    f_keys, f_groups = _group(key, np.arange(len(key)))
    fg = dict(zip(f_keys.tolist(), f_groups))
    KH = [kk for kk in fg if (kk // nk) in dg]
    f, n, y = m.f, m.n, m.y

    def rule(_m, kk):
        h, k = divmod(kk, nk)
        cap = sum(float(min(Dk[k], rate[i])) * n[int(i)] for i in dg[h])
        return sum(f[int(a)] for a in fg[kk]) <= cap

    m.KH = pyo.Set(initialize=KH, ordered=True)
    m.commodity_capacity = pyo.Constraint(m.KH, rule=rule)
    openable = set(q.open_nodes)
    nn = len(q.node_ids)
    vkey = q.arc_head * nk + q.arc_com
    v_keys, v_groups = _group(vkey, np.arange(len(vkey)))
    vg = {int(kk): g for kk, g in zip(v_keys.tolist(), v_groups) if (kk // nk) in openable}
    m.KVT = pyo.Set(initialize=sorted(vg), ordered=True)
    m.commodity_throughput = pyo.Constraint(
        m.KVT, rule=lambda _m, kk: sum(f[int(a)] for a in vg[kk]) <= float(Dk[kk % nk]) * y[kk // nk])


def add_objective(m, inputs) -> None:
    q = m._qidx
    capex = inputs.nodes["capex_eur"].to_numpy()
    cpp = inputs.hop_devices["cost_per_pair_eur"].to_numpy()
    m.cost_nodes = pyo.Expression(expr=sum(float(capex[v]) * m.y[v] for v in q.open_nodes) + q.constant_cost_eur)
    m.cost_devices = pyo.Expression(expr=sum(float(cpp[i]) * m.n[i] for i in m.D))
    m.obj = pyo.Objective(expr=m.cost_nodes + m.cost_devices, sense=pyo.minimize)


def model_size(m) -> dict:
    """Variables, constraints and nonzeros of a built model."""
    from pyomo.repn.standard_repn import generate_standard_repn  # noqa: F401 (kept light)

    nv = sum(1 for _ in m.component_data_objects(pyo.Var, active=True))
    nc = 0
    nz = 0
    for c in m.component_data_objects(pyo.Constraint, active=True):
        nc += 1
        body = c.body
        try:
            nz += len(body.args) if hasattr(body, "args") else 1
        except TypeError:
            nz += 1
    ni = sum(1 for v in m.component_data_objects(pyo.Var, active=True) if v.is_integer() or v.is_binary())
    return {"variables": nv, "integer_variables": ni, "constraints": nc, "nonzeros": nz}
