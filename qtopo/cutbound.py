"""A rigorous lower bound on the plan cost that exists on every instance: a cut-set LP with separated cuts.

The MILP's own bound needs its root LP, which on national networks with candidate huts (300k columns, 2M
nonzeros) does not finish in the time limit, so the bound reported used to be the terminals' own capex. This
module bounds the same problem from a much smaller LP that has no flows at all, only the design:

- ``y_v`` in [0, 1]: non-terminal candidate ``v`` opened (terminals are always open: a constant);
- ``o_h`` in [0, 1]: hop ``h`` carries at least one device pair; ``n_i`` in [existing_i, ub_i]: pairs of
  hop-device option ``i``.

Rows: ``o_h <= sum_{i in h} n_i``, ``o_h <= y_v`` and ``n_i <= ub_i y_v`` at non-terminal ends, and, separated
in rounds (a root cutting-plane loop), for node sets ``S`` that separate some demand:

- *connectivity* (the undirected cut formulation of the Steiner problem, e.g. Goemans & Williamson 1995):
  ``sum_{h in delta(S)} o_h >= k(S)``, where ``k(S)`` is the largest number of disjoint routes a separated demand
  asks for;
- *cut-set capacity* (Magnanti, Mirchandani & Vachani, "Modeling and solving the two-facility capacitated
  network loading problem", Oper. Res. 43 (1995); Bienstock & Guenluek 1996): every plan carries the demand
  ``D(S)`` across the cut, so ``sum_{i in delta(S)} min(r_i, D(S)) n_i >= D(S)`` (capping ``r_i`` at ``D(S)``
  keeps it valid for integer ``n``), and its Chvatal-Gomory roundings: with ``a_i = min(r_i, D)/D`` and any
  ``lam > 0``, ``sum ceil(lam a_i) n_i >= ceil(lam)`` (``lam`` just below ``1/a_j`` for each distinct ``a_j``:
  a cut whose best option has 65 % of the demand's rate needs two pairs).

Directed part (where the positive demands join all their endpoints into one component, e.g. all pairs; with a
forest of demands it is left out, as a plan's hops then need not hold one tree): every plan's hops with pairs
hold a tree spanning the demand endpoints; oriented from a root endpoint and without non-endpoint leaves it is a
Steiner arborescence. Columns ``x_a`` for both orientations of each hop, rows ``x_uv + x_vu <= o_h``, in-degree
``= 1`` at the other endpoints, ``<= y_v`` at non-terminal candidates (``<= 1`` at other terminals), ``out >= in``
where no demand ends, nothing into the root, and directed cuts ``x(delta^-(S)) >= 1`` (``S`` holds an endpoint,
not the root; separated by max-flow from the root, with back cuts). The directed cuts ask for one route only:
for ``k_routes = 2`` the undirected ``k(S)`` rows on ``o`` stay. Node-arc cuts per demand (capacity must pass
open nodes, :func:`_node_arc_rows`) are separated too. Forbidden nodes (jurisdictions), trusted-node limits,
relays and repeaters are not used by any row (a relaxation); brownfield pairs are lower bounds on ``n``.

Before the LP, :func:`steiner_dual_ascent` bounds the arc-cost arborescence (head capex + cheapest pair per
arc) by Wong's dual ascent in about a second: on hut-heavy networks, where the LP's cut rounds are too slow to
converge within the bound's share of the time limit, it is most of the bound. The bound reported is the better
of the two.

Every row holds for every feasible plan (capacities and flows of the MILP imply them), relay and repeater capex
is left out (costs are >= 0), so the LP optimum is a lower bound on the MILP optimum. The bound reported is not
HiGHS's objective but a *safe* bound from its row duals (:func:`qtopo.highs.safe_lp_bound`, Neumaier &
Shcherbina 2004), valid whatever the LP solver's rounding. Separation: minimum s-t cuts by max-flow
(``scipy.sparse.csgraph.maximum_flow``) on the current LP values, one per demand and per weighting.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .contract import Status

log = logging.getLogger(__name__)

#: Integer scale of the max-flow capacities (scipy's max-flow takes integers).
_FLOW_SCALE = 1_000_000
#: A cut row must be violated by this much (relative to its right-hand side) to be added.
_VIOLATION = 1e-6


@dataclass
class CutBound:
    """Result of :func:`cutset_bound`."""

    bound_eur: float | None          # rigorous lower bound on the plan cost (None if none could be computed)
    lp_objective_eur: float | None   # the last LP's objective (not rigorous: the bound above is)
    rounds: int = 0
    cuts: int = 0
    seconds: float = 0.0
    status: str = ""                 # "converged" | "time limit" | "round limit" | "not applicable: ..."
    method: str = "cut-set LP (connectivity, capacity and Chvatal-Gomory cuts), safe dual bound"
    history: list = field(default_factory=list)  # (seconds, bound) per round
    dual_ascent_eur: float | None = None  # the Steiner arborescence dual ascent's bound (part of bound_eur)
    dual_ascent_s: float = 0.0
    rows: list = field(default_factory=list, repr=False)  # cuts in the options' pairs: (option idx, coef, rhs)

    def to_dict(self) -> dict:
        return {"bound_eur": self.bound_eur, "lp_objective_eur": self.lp_objective_eur, "rounds": self.rounds,
                "cuts": self.cuts, "seconds": round(self.seconds, 3), "status": self.status,
                "method": self.method}  # (the plan contract's CutBoundRecord: dual_ascent_* stay out of it)


class _Design:
    """The design LP's index arrays, built once from the planning inputs."""

    def __init__(self, inputs):
        nodes = inputs.nodes
        self.ids = nodes.index.to_numpy()
        idx = {n: i for i, n in enumerate(self.ids)}
        self.N = len(self.ids)
        self.term = nodes["terminal"].to_numpy(bool)
        self.capex = nodes["capex_eur"].to_numpy(float)
        hd = inputs.hop_devices
        hop = hd["hop"].to_numpy(int)
        self.H = np.unique(hop)                                   # usable hops
        hpos = -np.ones(len(inputs.hops), int)
        hpos[self.H] = np.arange(len(self.H))
        self.opt_hop = hpos[hop]                                   # option -> position in H
        self.hu = inputs.hops["u"].map(idx).to_numpy(int)[self.H]
        self.hv = inputs.hops["v"].map(idx).to_numpy(int)[self.H]
        self.rate = hd["rate_bps_per_pair"].to_numpy(float)
        self.cost = hd["cost_per_pair_eur"].to_numpy(float)
        self.lb = hd["existing_pairs"].to_numpy(float) if "existing_pairs" in hd.columns else np.zeros(len(hd))
        self.ub = np.maximum(hd["ub_pairs"].to_numpy(float), self.lb)
        d = inputs.demands
        self.ds = d["source_node"].map(idx).to_numpy(int)
        self.dt = d["target_node"].map(idx).to_numpy(int)
        routed = d["routed"].to_numpy(bool) if "routed" in d.columns else np.zeros(len(d), bool)
        k = d["k_routes"].to_numpy(int) if "k_routes" in d.columns else np.ones(len(d), int)
        rr = d["route_rate_bps"].to_numpy(float) if "route_rate_bps" in d.columns else d["target_bps"].to_numpy()
        # what crosses any cut that separates the demand: k routes of the route rate, or the flow target
        self.dk = np.where(routed, k, 1)
        self.drate = np.where(routed, k * rr, d["target_bps"].to_numpy(float))
        self.sunk = float((self.lb * self.cost).sum())
        self.const = float(self.capex[self.term].sum())
        # columns: y (non-terminals), o (usable hops), n (options)
        self.yv = np.flatnonzero(~self.term)
        ypos = -np.ones(self.N, int)
        ypos[self.yv] = np.arange(len(self.yv))
        self.ypos = ypos
        self.ny, self.no, self.nn = len(self.yv), len(self.H), len(hd)
        self.o0 = self.ny
        self.n0 = self.ny + self.no
        # a demand of zero rate needs no path of installed pairs (a zero-rate route may cross a hop without pairs)
        self.dk = np.where(self.drate > 0, self.dk, 0)
        # directed (Steiner arborescence) part: only where the positive demands join all their endpoints into one
        # component (then every plan's installed hops hold one tree spanning them); otherwise a forest: left out
        pos = (self.drate > 0) & (self.ds != self.dt)
        self.ends = np.unique(np.r_[self.ds[pos], self.dt[pos]])
        self.directed = False
        self.root = -1
        if len(self.ends) >= 2:
            from scipy.sparse import csr_matrix
            from scipy.sparse.csgraph import connected_components

            G = csr_matrix((np.ones(int(pos.sum())), (self.ds[pos], self.dt[pos])), shape=(self.N, self.N))
            _, lab = connected_components(G, directed=False)
            self.directed = len(np.unique(lab[self.ends])) == 1
            self.root = int(self.ends[0])
        # arcs: both orientations of each usable hop (arc j < no: hu -> hv, arc no + j: hv -> hu)
        self.at = np.r_[self.hu, self.hv]
        self.ah = np.r_[self.hv, self.hu]
        self.x0 = self.n0 + self.nn


def _base_lp(D: _Design, directed: bool = False):
    """The design LP without cuts (rows: hop opening and node linking; with ``directed``, the arc columns ``x`` and
    their rows, see :func:`cutset_bound`), as the keyword arguments of :func:`qtopo.highs.pass_arrays`."""
    import scipy.sparse as sp

    nx = 2 * D.no if directed else 0
    ncol = D.ny + D.no + D.nn + nx
    cost = np.r_[D.capex[D.yv], np.zeros(D.no), D.cost, np.zeros(nx)]
    lo = np.r_[np.zeros(D.ny + D.no), D.lb, np.zeros(nx)]
    up = np.r_[np.ones(D.ny + D.no), D.ub, np.ones(nx)]
    R, C, V, rhs, lhs = [], [], [], [], []
    r = _design_rows(D, R, C, V, rhs)
    lhs.append(np.full(r, -np.inf))
    if directed:
        r = _arc_rows(D, r, R, C, V, lhs, rhs)
        up[D.x0 + np.flatnonzero(D.ah == D.root)] = 0.0  # nothing enters the root
    A = sp.csc_matrix((np.concatenate(V), (np.concatenate(R), np.concatenate(C))), shape=(r, ncol))
    A.sum_duplicates()
    A.sort_indices()
    return dict(col_cost=cost, col_lower=lo, col_upper=up, row_lower=np.concatenate(lhs),
                row_upper=np.concatenate(rhs), A=A, offset=D.const - D.sunk)


def _design_rows(D: _Design, R: list, C: list, V: list, rhs: list) -> int:
    """Append the design rows (``<= rhs``, from row 0: hop opening, node linking at non-terminal ends) to the
    triplet lists ``R, C, V`` and ``rhs``; returns their number."""
    r = 0
    # o_h - sum n_i <= 0
    R += [np.arange(D.no) + r, D.opt_hop + r]
    C += [D.o0 + np.arange(D.no), D.n0 + np.arange(D.nn)]
    V += [np.ones(D.no), -np.ones(D.nn)]
    rhs.append(np.zeros(D.no))
    r += D.no
    # o_h - y_v <= 0 and n_i - ub_i y_v <= 0 at non-terminal ends
    for end in (D.hu, D.hv):
        yp = D.ypos[end]
        m = yp >= 0
        k = int(m.sum())
        R += [np.arange(k) + r, np.arange(k) + r]
        C += [D.o0 + np.flatnonzero(m), yp[m]]
        V += [np.ones(k), -np.ones(k)]
        rhs.append(np.zeros(k))
        r += k
        yo = yp[D.opt_hop]
        mo = yo >= 0
        k = int(mo.sum())
        R += [np.arange(k) + r, np.arange(k) + r]
        C += [D.n0 + np.flatnonzero(mo), yo[mo]]
        V += [np.ones(k), -D.ub[mo]]
        rhs.append(np.zeros(k))
        r += k
    return r


def _arc_rows(D: _Design, r: int, R: list, C: list, V: list, lhs: list, rhs: list) -> int:
    """Append the rows of the arc columns ``x`` (orientation, in-degree, out >= in; see :func:`cutset_bound`)
    from row ``r`` on to the triplet lists and the row sides; returns the next row."""
    arcs = np.arange(2 * D.no)
    # x_uv + x_vu - o_h <= 0
    R += [np.r_[np.arange(D.no), np.arange(D.no)] + r, np.arange(D.no) + r]
    C += [D.x0 + arcs, D.o0 + np.arange(D.no)]
    V += [np.ones(2 * D.no), -np.ones(D.no)]
    rhs.append(np.zeros(D.no))
    lhs.append(np.full(D.no, -np.inf))
    r += D.no
    # in-degree: = 1 at demand endpoints other than the root, <= 1 at other terminals, <= y_v elsewhere
    nodes = np.setdiff1d(np.unique(D.ah), [D.root])
    row = -np.ones(D.N, int)
    row[nodes] = np.arange(len(nodes))
    into = arcs[D.ah != D.root]
    R.append(row[D.ah[into]] + r)
    C.append(D.x0 + into)
    V.append(np.ones(len(into)))
    yv = nodes[D.ypos[nodes] >= 0]
    R.append(row[yv] + r)
    C.append(D.ypos[yv])
    V.append(-np.ones(len(yv)))
    isend = np.isin(nodes, D.ends)
    hasy = D.ypos[nodes] >= 0
    rhs.append(np.where(hasy, 0.0, 1.0))
    lhs.append(np.where(isend, np.where(hasy, 0.0, 1.0), -np.inf))
    r += len(nodes)
    # out >= in where no demand ends (a minimal tree's leaves are demand endpoints): in - out <= 0
    mid = nodes[~isend]
    row[:] = -1
    row[mid] = np.arange(len(mid))
    a_in = arcs[row[D.ah] >= 0]
    a_out = arcs[row[D.at] >= 0]
    R += [row[D.ah[a_in]] + r, row[D.at[a_out]] + r]
    C += [D.x0 + a_in, D.x0 + a_out]
    V += [np.ones(len(a_in)), -np.ones(len(a_out))]
    rhs.append(np.zeros(len(mid)))
    lhs.append(np.full(len(mid), -np.inf))
    r += len(mid)
    return r


def _min_cut(N: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, s: int, t: int):
    """Source side (bool mask) and value of a minimum s-t cut of the undirected graph with weights ``w``."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order, maximum_flow

    cap = np.floor(np.clip(w, 0.0, None) * _FLOW_SCALE).astype(np.int64)
    keep = cap > 0
    cap = np.minimum(cap[keep], np.iinfo(np.int32).max // 4).astype(np.int32)
    uu, vv = u[keep], v[keep]
    G = csr_matrix((np.r_[cap, cap], (np.r_[uu, vv], np.r_[vv, uu])), shape=(N, N))
    G.sum_duplicates()
    res = maximum_flow(G, s, t)
    R = (G - res.flow).tocsr()
    R.data[R.data < 0] = 0
    R.eliminate_zeros()
    side = np.zeros(N, bool)
    side[breadth_first_order(R, s, directed=True, return_predecessors=False)] = True
    return side, res.flow_value / _FLOW_SCALE


def _min_dicut(N: int, tail: np.ndarray, head: np.ndarray, w: np.ndarray, s: int, t: int):
    """Minimum s-t cut of the directed graph with arc weights ``w``: ``(source side, sink side, value)``, the
    source side being what ``s`` reaches in the residual graph and the sink side what reaches ``t`` there."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order, maximum_flow

    cap = np.floor(np.clip(w, 0.0, None) * _FLOW_SCALE).astype(np.int64)
    keep = cap > 0
    cap = np.minimum(cap[keep], np.iinfo(np.int32).max // 4).astype(np.int32)
    G = csr_matrix((cap, (tail[keep], head[keep])), shape=(N, N))
    G.sum_duplicates()
    res = maximum_flow(G, s, t)
    R = (G - res.flow).tocsr()
    R.data[R.data < 0] = 0
    R.eliminate_zeros()
    src = np.zeros(N, bool)
    src[breadth_first_order(R, s, directed=True, return_predecessors=False)] = True
    snk = np.zeros(N, bool)
    snk[breadth_first_order(R.T.tocsr(), t, directed=True, return_predecessors=False)] = True
    return src, snk, res.flow_value / _FLOW_SCALE


def _dicut_row(D: _Design, inside: np.ndarray, x: np.ndarray):
    """The directed cut row ``sum_{a into S} x_a >= 1`` of node set ``S = inside`` if violated at ``x``."""
    arcs = np.flatnonzero(inside[D.ah] & ~inside[D.at])
    if len(arcs) == 0 or x[D.x0 + arcs].sum() >= 1 - _VIOLATION:
        return None
    return (D.x0 + arcs, np.ones(len(arcs)), 1.0)


def _node_arc_rows(D: _Design, x: np.ndarray):
    """Per demand ``d`` (rate ``r_d``), the node-arc cut row violated at ``x``, if any.

    Every plan carries ``r_d`` from ``s`` to ``t`` on a flow whose part on hop ``h`` is at most
    ``sum_i min(r_d, r_i) n_i`` (at most ``r_d`` on a cycle-free flow, at most the capacity, and ``n`` integer) and
    whose inflow into a non-terminal ``v`` is at most ``r_d y_v`` (nothing passes a closed node: its pairs are
    0). Scaled by ``r_d``: a flow of 1 in the split-node graph (node arcs ``v_in -> v_out`` of capacity ``y_v``,
    hop arcs ``u_out -> v_in`` of ``sum_i min(1, r_i / r_d) n_i`` each way). Its cut condition is the row
    ``sum_{h in C} sum_i min(1, r_i / r_d) n_i + sum_{v in W} y_v >= 1`` for every hop set ``C`` and node set
    ``W`` whose removal separates ``s`` from ``t``; found by max-flow.
    """
    N = D.N
    yv = np.full(N, 2.0)  # terminals: never in a cut of value < 1
    yv[D.yv] = x[:D.ny]
    xn = x[D.n0:D.n0 + D.nn]
    tail = np.r_[np.arange(N), D.hu + N, D.hv + N]
    head = np.r_[np.arange(N) + N, D.hv, D.hu]
    rows = []
    done = set()
    for j in np.flatnonzero(D.drate > 0):
        s, t, rd = int(D.ds[j]), int(D.dt[j]), float(D.drate[j])
        if s == t or (s, t, rd) in done:
            continue
        done.add((s, t, rd))
        a = np.minimum(1.0, D.rate / rd)
        c = np.zeros(D.no)
        np.add.at(c, D.opt_hop, a * xn)
        src, _, val = _min_dicut(2 * N, tail, head, np.r_[yv, c, c], s + N, t)
        if val >= 1 - _VIOLATION:
            continue
        W = np.flatnonzero(src[:N] & ~src[N:])
        if (D.ypos[W] < 0).any():
            continue
        C = (src[D.hu + N] & ~src[D.hv]) | (src[D.hv + N] & ~src[D.hu])
        opts = np.flatnonzero(C[D.opt_hop])
        cols = np.r_[D.ypos[W], D.n0 + opts]
        vals = np.r_[np.ones(len(W)), a[opts]]
        if len(cols) and float((vals * x[cols]).sum()) < 1 - _VIOLATION:
            rows.append((cols, vals, 1.0))
    return rows


def _cut_rows(D: _Design, side: np.ndarray, x: np.ndarray):
    """The rows of node set ``side`` (connectivity, capacity, CG roundings) violated at LP point ``x``."""
    cross_h = side[D.hu] != side[D.hv]
    sep = side[D.ds] != side[D.dt]
    if not sep.any() or not cross_h.any():
        return []
    dem = float(D.drate[sep].sum())
    kreq = int(D.dk[sep].max())
    rows = []
    hs = np.flatnonzero(cross_h)
    if x[D.o0 + hs].sum() < kreq * (1 - _VIOLATION):
        rows.append((D.o0 + hs, np.ones(len(hs)), float(kreq)))
    opts = np.flatnonzero(cross_h[D.opt_hop])
    if len(opts) == 0 or dem <= 0:
        return rows
    xn = x[D.n0 + opts]
    # the total across the cut, and each separated demand alone (its own route needs its rate there too)
    for need in sorted({dem} | set(np.unique(D.drate[sep]).tolist()), reverse=True):
        a = np.minimum(D.rate[opts], need) / need                  # in (0, 1]
        if (a * xn).sum() < 1 - _VIOLATION:
            rows.append((D.n0 + opts, a * need, need))
        # Chvatal-Gomory: lam just below 1/a_j (so that lam a_j < 1 rounds up to exactly 1)
        best = None
        for aj in np.unique(a[a < 1 - 1e-9]):
            lam = (1.0 - 1e-7) / aj
            coef = np.ceil(lam * a + 1e-12)
            rhs = float(math.ceil(lam - 1e-9))
            if rhs < 2:
                continue
            viol = rhs - float((coef * xn).sum())
            if viol > _VIOLATION * rhs and (best is None or viol / rhs > best[0]):
                best = (viol / rhs, coef, rhs)
        if best is not None:
            rows.append((D.n0 + opts, best[1], best[2]))
    return rows


def _start_with_dual_ascent(D: _Design, out: CutBound, t0: float, time_limit_s: float) -> None:
    """The dual ascent bound (:func:`steiner_dual_ascent`, at most :data:`DUAL_ASCENT_SHARE` of the time from
    ``t0``) as ``out``'s first bound."""
    out.dual_ascent_eur = _dual_ascent(D, None, t0 + DUAL_ASCENT_SHARE * time_limit_s, t0 + time_limit_s)
    out.dual_ascent_s = time.perf_counter() - t0
    if out.dual_ascent_eur is not None:
        out.bound_eur = out.dual_ascent_eur
        out.history.append((round(out.dual_ascent_s, 3), out.bound_eur))


def _reached(bound_eur, upper_bound_eur) -> bool:
    """True when the bound is within 1e-6 (relative) of a known plan's cost: nothing is left to prove."""
    return upper_bound_eur is not None and bound_eur is not None and \
        bound_eur >= upper_bound_eur - 1e-6 * max(1.0, abs(upper_bound_eur))


def _lp_round(h, threads: int, time_limit_s: float):
    """Solve the LP held by ``h`` (HiGHS time limit ``time_limit_s``, threads under the back-end's policy; later
    rounds run dual simplex from the previous basis). Returns the outcome (the back-end's one status mapping)
    and the safe bound from its row duals (None without valid duals)."""
    from . import highs as backend

    h.setOptionValue("time_limit", float(time_limit_s))
    backend.run(h, threads)
    h.setOptionValue("presolve", "off")
    res = backend.outcome(h)
    return res, (backend.safe_bound(h, res.row_dual) if res.row_dual is not None else None)


def _separate(D: _Design, x: np.ndarray, directed: bool, node_arc: bool, pairs, seen: set) -> list:
    """One separation round at LP point ``x``: the violated directed cuts (``directed``), node-arc cuts
    (``node_arc``) and undirected cut-set rows of the node sets of minimum cuts between each pair of ``pairs``,
    under the connectivity and the capacity weightings. ``seen`` (keys of node sets already cut) is updated."""
    o = x[D.o0:D.o0 + D.no]
    capw = np.zeros(D.no)
    np.add.at(capw, D.opt_hop, x[D.n0:D.n0 + D.nn] * D.rate)
    new = []
    if directed:
        xa = x[D.x0:]
        for t in D.ends:
            if t == D.root:
                continue
            src, snk, val = _min_dicut(D.N, D.at, D.ah, xa, D.root, int(t))
            if val >= 1 - _VIOLATION:
                continue
            for inside in (~src, snk):  # the cut nearest the root and the one nearest t (back cut)
                key = b"d" + inside.tobytes()
                row = None if key in seen else _dicut_row(D, inside, x)
                if row is not None:
                    seen.add(key)
                    new.append(row)
    if node_arc:
        new.extend(_node_arc_rows(D, x))
    # (with the arcs, the connectivity rows asking for one route are implied, but the o weighting still finds
    # the node sets whose capacity rows are violated)
    for w, scale in ((o, 1.0), (capw, 1.0 / max(float(D.drate.max()), 1e-9))):
        for s, t in pairs:
            side, val = _min_cut(D.N, D.hu, D.hv, w * scale, s, t)
            key = side.tobytes()
            if key in seen:
                continue
            rows = _cut_rows(D, side, x)
            if rows:
                seen.add(key)
                new.extend(rows)
    return new


def _add_cuts(h, new) -> None:
    """Append the rows ``new`` (``(columns, coefficients, rhs)``: ``coefficients . x[columns] >= rhs``) to ``h``."""
    lo = np.array([r[2] for r in new])
    starts = np.cumsum([0] + [len(r[0]) for r in new[:-1]]).astype(np.int32)
    idx = np.concatenate([r[0] for r in new]).astype(np.int32)
    val = np.concatenate([r[1] for r in new]).astype(float)
    from . import highs as backend

    backend.add_rows(h, lo, np.full(len(new), np.inf), starts, idx, val)


def _rows_in_option_terms(D: _Design, new) -> list:
    """The cut rows ``new`` in the MILP's terms: rows over pairs of hop-device options (connectivity and directed
    cuts: at least k pairs across); node-arc cuts (on ``y`` columns) have no such form and are left out."""
    rows = []
    for cols, vals, rhs in new:
        cols = np.asarray(cols)
        if cols.min() < D.o0:  # a node-arc cut (y columns): not in the options' terms alone
            continue
        if cols.min() >= D.x0:  # a directed cut: at least one pair on the hops of its arcs
            hops = np.unique((cols - D.x0) % D.no)
            opts = np.flatnonzero(np.isin(D.opt_hop, hops))
            rows.append((opts, np.ones(len(opts)), float(rhs)))
        elif cols.min() >= D.n0:
            rows.append((cols - D.n0, np.asarray(vals, float), float(rhs)))
        else:
            hops = cols - D.o0
            opts = np.flatnonzero(np.isin(D.opt_hop, hops))
            rows.append((opts, np.ones(len(opts)), float(rhs)))
    return rows


#: Share of the bound's time limit the dual ascent may use (it tries one root after another; one root takes
#: 0.3-1.5 s on the national family under load).
DUAL_ASCENT_SHARE = 0.4
DIRECTED_METHOD = ("directed cut-set LP (Steiner arborescence, connectivity, capacity and Chvatal-Gomory cuts), "
                   "safe dual bound")


def cutset_bound(inputs, time_limit_s: float = 30.0, max_rounds: int = 200, threads: int = 1,
                 upper_bound_eur: float | None = None, directed: bool = True,
                 node_arc: bool = True, dual_ascent: bool = True) -> CutBound:
    """Lower bound on the cost of every plan of ``inputs`` (see the module docstring).

    Parameters
    ----------
    time_limit_s : float
        Wall-clock budget of the cutting-plane loop; the bound of the last LP solved is returned.
    upper_bound_eur : float, optional
        Cost of a known plan: the loop stops once the bound is within 1e-6 of it.
    directed : bool
        Add the directed (Steiner arborescence) rows where they are valid (the positive demands join all their
        endpoints); False: the undirected LP only.
    node_arc : bool
        Separate the node-arc cut rows (:func:`_node_arc_rows`).
    dual_ascent : bool
        First bound the arborescence every plan holds by dual ascent (:func:`steiner_dual_ascent`, at most
        :data:`DUAL_ASCENT_SHARE` of the time); the bound returned is the better of it and the LP's.
    """
    t0 = time.perf_counter()
    if inputs.params.get("budget_mode"):
        return CutBound(None, None, status="not applicable: budget mode maximises delivered rate")
    D = _Design(inputs)
    if D.nn == 0 or len(D.ds) == 0:
        return CutBound(None, None, status="not applicable: no hop-device options or no demands")
    from . import highs as backend

    directed = bool(directed and D.directed)
    out = CutBound(None, None)
    if dual_ascent and D.directed:
        _start_with_dual_ascent(D, out, t0, time_limit_s)
    h = backend.new_highs()
    h_born = time.perf_counter() - t0
    backend.pass_arrays(h, **_base_lp(D, directed))
    if directed:
        out.method = DIRECTED_METHOD
    if out.dual_ascent_eur is not None:
        out.method += "; Steiner arborescence dual ascent"
    seen = set()
    if _reached(out.bound_eur, upper_bound_eur):
        out.status = "converged"
        time_limit_s = 0.0  # nothing left to do
    # separate on the connectivity and the capacity weightings, each demand
    pairs = sorted({(int(s), int(t)) for s, t in zip(D.ds, D.dt)})
    while True:
        left = time_limit_s - (time.perf_counter() - t0)
        if left <= 0:
            out.status = out.status or "time limit"
            break
        res, b = _lp_round(h, threads, time_limit_s - h_born)  # HiGHS's clock runs from the instance's creation
        if res.status is not Status.OPTIMAL:
            out.status = "time limit" if res.time_limit else f"LP {res.highs_status}"
            break
        out.lp_objective_eur = res.objective
        if b is not None and (out.bound_eur is None or b > out.bound_eur):
            out.bound_eur = b
        out.history.append((round(time.perf_counter() - t0, 3), out.bound_eur))
        if _reached(out.bound_eur, upper_bound_eur):
            out.status = "converged"
            break
        if out.rounds >= max_rounds:
            out.status = "round limit"
            break
        new = _separate(D, res.values, directed, node_arc, pairs, seen)
        out.rounds += 1
        if not new:
            out.status = "converged"
            break
        _add_cuts(h, new)
        out.cuts += len(new)
        out.rows.extend(_rows_in_option_terms(D, new))
    out.seconds = time.perf_counter() - t0
    log.info("cut-set bound: %s after %d rounds, %d cuts, %.1f s (%s)", out.bound_eur, out.rounds, out.cuts,
             out.seconds, out.status)
    return out


def steiner_dual_ascent(inputs, root=None, time_limit_s: float = 10.0):
    """Lower bound on the plan cost from the Steiner arborescence every plan contains (Wong's dual ascent).

    Why it is a bound: where the positive demands join all their endpoints (see :class:`_Design`), the hops with
    device pairs of any plan hold a tree spanning the endpoints; orient it from ``root`` and drop non-endpoint
    leaves. Every non-root node of that arborescence has in-degree 1 and is open, and every arc's hop has at least
    one pair (none to buy where brownfield pairs are already installed). So the plan costs at least the terminals'
    capex plus ``sum_{a in tree} c_a`` with arc cost ``c_a = capex(head) [non-terminal head] + min_i cost_i``
    (the cheapest option of the arc's hop; 0 if the hop has existing pairs); relay and repeater capex and every
    other pair are >= 0. The minimum of that directed Steiner problem is bounded below by any feasible dual of
    its cut LP ``min c x : x(delta^-(S)) >= 1 for S holding an endpoint and not the root, x >= 0``; Wong
    (1984), "A dual ascent approach for Steiner tree problems on a directed graph", Math. Program. 28, builds one:
    for an endpoint ``t`` the root cannot reach on arcs of reduced cost 0, raise the dual of ``W`` (the nodes
    reaching ``t`` on such arcs) by the least reduced cost entering ``W``. Reduced costs stay >= 0 in floating
    point (``fl(a - b) >= 0`` for ``a >= b``); the sum is shaved by 1e-9 relative for the rounding in them.

    Returns ``(bound_eur or None, seconds)``; None where the rows do not hold (budget mode, a forest of demands).
    ``root``: one endpoint's node index (default: each endpoint in turn while time is left; the best bound).
    """
    t0 = time.perf_counter()
    if inputs.params.get("budget_mode"):
        return None, 0.0
    D = _Design(inputs)
    return _dual_ascent(D, None if root is None else [int(root)], t0 + time_limit_s), time.perf_counter() - t0


def _dual_ascent(D: _Design, roots, deadline: float, hard_deadline: float | None = None):
    """:func:`steiner_dual_ascent` on the design arrays: the bound (None if not applicable). Further roots are
    tried until ``deadline``; the first one runs to its end unless ``hard_deadline`` (default ``deadline``)
    passes (then its partial sum is returned: still a bound)."""
    hard_deadline = deadline if hard_deadline is None else max(deadline, hard_deadline)
    if not D.directed or D.nn == 0:
        return None
    base = _arc_costs(D)
    roots = roots if roots is not None else [int(r) for r in D.ends]
    best = None
    # arcs by head (for the backward search over arcs of reduced cost 0)
    order = np.argsort(D.ah, kind="stable")
    start = np.searchsorted(D.ah[order], np.arange(D.N + 1))
    for r in roots:
        if best is not None and time.perf_counter() > deadline:
            break
        res = _ascent_from_root(D, r, base, order, start, hard_deadline if best is None else deadline)
        if res is None:
            return None
        lb, timed_out = res
        # (stopped by the deadline: the duals raised so far are feasible, so the partial sum is still a bound)
        b = D.const + lb
        b -= 1e-9 * abs(b)
        if best is None or b > best:
            best = b
        if timed_out:
            break
    return best


def _arc_costs(D: _Design) -> np.ndarray:
    """Per arc (both orientations of each hop), the least a plan pays for using it: the cheapest option of its hop
    (0 where brownfield pairs are installed) plus the capex of a non-terminal head (see
    :func:`steiner_dual_ascent`); never negative."""
    hopcost = np.full(D.no, np.inf)
    np.minimum.at(hopcost, D.opt_hop, np.where(D.lb > 0, 0.0, D.cost))
    hasold = np.zeros(D.no, bool)
    hasold[D.opt_hop[D.lb > 0]] = True
    hopcost[hasold] = 0.0
    head_capex = np.where(D.ypos >= 0, D.capex, 0.0)
    base = np.r_[hopcost, hopcost] + head_capex[D.ah]
    return np.maximum(base, 0.0)


def _arcs_into(order: np.ndarray, start: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Arcs entering the nodes ``F`` (int array), from the arcs sorted by head (``order``, ``start``)."""
    lens = start[F + 1] - start[F]
    tot = int(lens.sum())
    if tot == 0:
        return np.zeros(0, int)
    first = np.repeat(start[F] - np.r_[0, np.cumsum(lens)[:-1]], lens)
    return order[first + np.arange(tot)]


def _ascent_from_root(D: _Design, r: int, base: np.ndarray, order: np.ndarray, start: np.ndarray,
                      stop_at: float):
    """Wong's dual ascent from root ``r`` on arc costs ``base`` (arcs sorted by head: ``order``, ``start``).
    Returns ``(sum of the duals raised, stopped at stop_at)``, or None where a cut has no finite arc."""
    c = base.copy()
    c[D.ah == r] = np.inf  # nothing enters the root (those arcs are in no minimal arborescence)
    lb = 0.0
    terms = [int(t) for t in D.ends if t != r]
    inW = {t: np.zeros(D.N, bool) for t in terms}
    cut = {}
    active = []
    for t in terms:
        inW[t][t] = True
        cut[t] = order[start[t]:start[t + 1]]
        active.append(t)

    def grow(t, new_nodes):
        """Add ``new_nodes`` and everything reaching them on arcs of reduced cost 0 to ``W_t``; returns the
        arcs entering the nodes added."""
        w = inW[t]
        F = np.unique(new_nodes)
        F = F[~w[F]]
        w[F] = True
        arcs_in = []
        while len(F):
            ai = _arcs_into(order, start, F)
            arcs_in.append(ai)
            tl = D.at[ai]
            F = np.unique(tl[(c[ai] <= 0.0) & ~w[tl]])
            w[F] = True
        return np.concatenate(arcs_in) if arcs_in else np.zeros(0, int)

    timed_out = False
    while active:
        if time.perf_counter() > stop_at:
            timed_out = True
            break
        nxt = []
        live = [t for t in active if not inW[t][r]]
        # Wong's rule: raise only where no other active endpoint's W lies inside this one (that endpoint
        # reaches t; once the root reaches it, it reaches t): such a t waits, and fewer duals are raised.
        # (The W are updated lazily, so if every endpoint waits, all go.)
        wait = {t for t in live if any(inW[t][u] and (not inW[u][t] or u < t) for u in live if u != t)}
        if len(wait) == len(live):
            wait = set()
        for t in live:
            w = inW[t]
            if t in wait:
                nxt.append(t)
                continue
            ca = cut[t]
            ca = ca[~w[D.at[ca]]]  # arcs whose tail joined W are no longer in the cut
            if len(ca) == 0:
                return None  # (cannot happen: the demand would be unservable)
            delta = float(c[ca].min())
            if not np.isfinite(delta):
                return None
            lb += delta
            c[ca] -= delta
            sat = ca[c[ca] <= 0.0]
            more = grow(t, D.at[sat])
            if len(more):
                ca = np.concatenate([ca, more])
                ca = ca[~w[D.at[ca]]]
            cut[t] = ca
            if not w[r]:
                nxt.append(t)
        active = nxt
    return lb, timed_out
