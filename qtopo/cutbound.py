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

Every row holds for every feasible plan (capacities and flows of the MILP imply them), relay and repeater capex
is left out (costs are >= 0), so the LP optimum is a lower bound on the MILP optimum. The bound reported is not
HiGHS's objective but a *safe* bound from its row duals (:func:`qtopo.solve.safe_lp_bound`, Neumaier &
Shcherbina 2004), valid whatever the LP solver's rounding. Separation: minimum s-t cuts by max-flow
(``scipy.sparse.csgraph.maximum_flow``) on the current LP values, one per demand and per weighting.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

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
    rows: list = field(default_factory=list, repr=False)  # cuts in the options' pairs: (option idx, coef, rhs)

    def to_dict(self) -> dict:
        return {"bound_eur": self.bound_eur, "lp_objective_eur": self.lp_objective_eur, "rounds": self.rounds,
                "cuts": self.cuts, "seconds": round(self.seconds, 3), "status": self.status,
                "method": self.method}


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


def _base_lp(D: _Design):
    """The design LP without cuts, as a ``highspy.HighsLp`` (rows: hop opening and node linking)."""
    import highspy
    import scipy.sparse as sp

    ncol = D.ny + D.no + D.nn
    cost = np.r_[D.capex[D.yv], np.zeros(D.no), D.cost]
    lo = np.r_[np.zeros(D.ny + D.no), D.lb]
    up = np.r_[np.ones(D.ny + D.no), D.ub]
    R, C, V, rhs = [], [], [], []
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
    A = sp.csc_matrix((np.concatenate(V), (np.concatenate(R), np.concatenate(C))), shape=(r, ncol))
    A.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = ncol, r
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lo, up
    lp.row_lower_ = np.full(r, -highspy.kHighsInf)
    lp.row_upper_ = np.concatenate(rhs)
    lp.offset_ = D.const - D.sunk
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = ncol, r
    return lp


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


def cutset_bound(inputs, time_limit_s: float = 30.0, max_rounds: int = 200, threads: int = 1,
                 upper_bound_eur: float | None = None) -> CutBound:
    """Lower bound on the cost of every plan of ``inputs`` (see the module docstring).

    Parameters
    ----------
    time_limit_s : float
        Wall-clock budget of the cutting-plane loop; the bound of the last LP solved is returned.
    upper_bound_eur : float, optional
        Cost of a known plan: the loop stops once the bound is within 1e-6 of it.
    """
    import highspy

    from .solve import safe_lp_bound

    t0 = time.perf_counter()
    if inputs.params.get("budget_mode"):
        return CutBound(None, None, status="not applicable: budget mode maximises delivered rate")
    D = _Design(inputs)
    if D.nn == 0 or len(D.ds) == 0:
        return CutBound(None, None, status="not applicable: no hop-device options or no demands")
    from . import highs as backend

    h = backend.new_highs()
    h.passModel(_base_lp(D))
    out = CutBound(None, None)
    seen = set()
    # separate on the connectivity and the capacity weightings, each demand
    pairs = sorted({(int(s), int(t)) for s, t in zip(D.ds, D.dt)})
    while True:
        left = time_limit_s - (time.perf_counter() - t0)
        if left <= 0:
            out.status = "time limit"
            break
        h.setOptionValue("time_limit", float(time_limit_s))  # HiGHS's clock runs from the instance's creation
        backend.run(h, threads)  # the back-end's thread policy (one scheduler per process)
        h.setOptionValue("presolve", "off")  # later rounds: dual simplex from the previous basis
        ms = h.getModelStatus()
        if ms != highspy.HighsModelStatus.kOptimal:
            out.status = "time limit" if ms == highspy.HighsModelStatus.kTimeLimit else \
                f"LP {h.modelStatusToString(ms)}"
            break
        sol = h.getSolution()
        out.lp_objective_eur = float(h.getInfo().objective_function_value)
        b = safe_lp_bound(h.getLp(), sol.row_dual) if sol.dual_valid else None
        if b is not None and (out.bound_eur is None or b > out.bound_eur):
            out.bound_eur = b
        out.history.append((round(time.perf_counter() - t0, 3), out.bound_eur))
        if upper_bound_eur is not None and out.bound_eur is not None and \
                out.bound_eur >= upper_bound_eur - 1e-6 * max(1.0, abs(upper_bound_eur)):
            out.status = "converged"
            break
        if out.rounds >= max_rounds:
            out.status = "round limit"
            break
        x = np.asarray(sol.col_value)
        o = x[D.o0:D.o0 + D.no]
        capw = np.zeros(D.no)
        np.add.at(capw, D.opt_hop, x[D.n0:] * D.rate)
        new = []
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
        out.rounds += 1
        if not new:
            out.status = "converged"
            break
        lo = np.array([r[2] for r in new])
        starts = np.cumsum([0] + [len(r[0]) for r in new[:-1]]).astype(np.int32)
        idx = np.concatenate([r[0] for r in new]).astype(np.int32)
        val = np.concatenate([r[1] for r in new]).astype(float)
        h.addRows(len(new), lo, np.full(len(new), highspy.kHighsInf), len(idx), starts, idx, val)
        out.cuts += len(new)
        for cols, vals, rhs in new:  # in the MILP's terms: pairs of options (connectivity: >= k pairs across)
            cols = np.asarray(cols)
            if cols.min() >= D.n0:
                out.rows.append((cols - D.n0, np.asarray(vals, float), float(rhs)))
            else:
                hops = cols - D.o0
                opts = np.flatnonzero(np.isin(D.opt_hop, hops))
                out.rows.append((opts, np.ones(len(opts)), float(rhs)))
    out.seconds = time.perf_counter() - t0
    log.info("cut-set bound: %s after %d rounds, %d cuts, %.1f s (%s)", out.bound_eur, out.rounds, out.cuts,
             out.seconds, out.status)
    return out
