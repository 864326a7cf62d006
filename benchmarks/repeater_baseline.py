"""Baseline: the link-based repeater-placement ILP of Rabbie et al. (2022), in Pyomo, solved by HiGHS.

Reference
---------
J. Rabbie, K. Chakraborty, G. Avis, S. Wehner, "Designing quantum networks using preexisting
infrastructure", npj Quantum Information 8, 5 (2022); arXiv:2005.14715. Authors' code:
github.com/jtrabbie/RepAlloc, ``formulations.py::LinkBasedFormulation`` (CPLEX).

This module reproduces the authors' *link-based formulation* (LBF) constraint for constraint, so that
``qtopo.repeaters`` (the fast formulation) can be checked against it. It deliberately keeps the
paper's model structure: one copy of the flow variables per path index k = 1..K, the aggregated
capacity row ``sum x <= D y`` and no pruning beyond the paper's own ``l_ij <= L_max`` filter.

The equation numbers of the published article could not be checked against a stored copy of its
Methods section, so the rows below are labelled (LBF-0)..(LBF-7) and each label names the row of the
authors' code it reproduces (``SourceCon``, ``SinkCon``, ``FlowCon``, ``MaxRepCon``, ``STCon``,
``DisLinkCon``, ``LinkXYCon``):

(LBF-0) min  sum_{u in R} y_u + eps * sum_{q,k} sum_{(i,j) in E_q} l_ij x_ij^{q,k}
(LBF-1) sum_{j} x_{s_q j}^{q,k} = 1                                   for all q, k   (SourceCon)
(LBF-2) sum_{i} x_{i t_q}^{q,k} = 1                                   for all q, k   (SinkCon)
(LBF-3) sum_{j} x_{uj}^{q,k} - sum_{i} x_{iu}^{q,k} = 0               for all q, k, u in R (FlowCon)
(LBF-4) sum_{(i,j) in E_q, j in R} x_ij^{q,k} <= N_max                for all q, k   (MaxRepCon)
(LBF-5) sum_k x_{s_q t_q}^{q,k} <= 1                                  for all q      (STCon)
(LBF-6) sum_k sum_{i} x_{iu}^{q,k} <= 1                               for all q, u in R (DisLinkCon)
(LBF-7) sum_q sum_k sum_{i} x_{iu}^{q,k} <= D y_u                     for all u in R (LinkXYCon)
        x, y binary.

Here R are the candidate repeater nodes (all nodes that are not end nodes), Q the unordered end-node
pairs q = (s_q, t_q) in ``itertools.combinations`` order, and E_q the directed elementary links
(i, j) with i in R + {s_q}, j in R + {t_q}, i != j and l_ij <= L_max, where l_ij is the length of a
shortest fibre path between i and j in the *whole* graph (it may pass through any node, end nodes
included). (LBF-6) makes the K paths of a pair disjoint in their *repeater* nodes (and with (LBF-5) in
their elementary links); nothing in the model makes them physically disjoint in the fibre graph.
"""
from __future__ import annotations

import gc
import itertools
import math
import time
from typing import Any, Hashable, Iterable

import networkx as nx
import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory

#: Tolerance (km) added to ``L_max`` when filtering elementary links, so that a link of exactly
#: ``L_max`` km is kept whatever the floating-point summation order of the shortest-path routine.
LENGTH_TOL_KM = 1e-9


def default_eps(n_pairs: int, K: int, N_max: int, L_max: float) -> float:
    """Tie-break weight small enough never to trade a repeater for shorter links.

    Every path has at most ``N_max + 1`` elementary links of at most ``L_max`` km, so the length term
    is below ``n_pairs * K * (N_max + 1) * L_max`` km; ``eps`` makes it less than one repeater.
    The authors used alpha = 1/75000 for their European and Dutch runs (RepAlloc ``main_solve.py``).
    """
    bound_km = max(1.0, n_pairs * K * (N_max + 1) * float(L_max))
    return 1.0 / (bound_km + 1.0)


def solve_link_based(
    G: nx.Graph,
    end_nodes: Iterable[Hashable],
    L_max: float,
    N_max: int,
    D: int,
    K: int,
    eps: float | None = None,
    time_limit: float = 600.0,
    threads: int = 1,
    mip_gap: float = 1e-6,
    weight: str = "length_km",
    n_repeaters: int | None = None,
) -> dict[str, Any]:
    """Solve the paper's link-based formulation (LBF-0)..(LBF-7) with HiGHS.

    Parameters
    ----------
    G : networkx.Graph
        Undirected fibre graph; edge attribute ``weight`` holds the fibre length in km.
    end_nodes : iterable of node
        End nodes C; every other node is a candidate repeater location.
    L_max : float
        Maximum elementary-link length (km).
    N_max : int
        Maximum number of repeaters on each path.
    D : int
        Repeater capacity: number of (pair, path) uses a repeater can serve.
    K : int
        Number of repeater-disjoint paths per end-node pair.
    eps : float, optional
        Weight of the total elementary-link length in the objective (the paper's alpha).
        Default :func:`default_eps`.
    time_limit : float
        HiGHS time limit (s).
    threads : int
        HiGHS threads.
    mip_gap : float
        Relative MIP gap (the authors used 1e-6 with CPLEX).
    weight : str
        Edge attribute holding lengths in km.
    n_repeaters : int, optional
        Verification aid, *not* part of the paper's model: add the row ``sum_u y_u == n_repeaters``.
        Valid when ``n_repeaters`` is the proven minimum number of repeaters (a run with ``eps=0``),
        it lets HiGHS close the length tie-break on instances where the weighted model stalls.

    Returns
    -------
    dict
        ``repeaters`` (set of nodes), ``objective`` (float, or nan without a solution), ``bound``,
        ``n_repeaters``, ``status`` (``optimal`` | ``feasible`` | ``infeasible`` | ``no_solution``),
        ``build_s`` and ``solve_s`` (s, wall clock; ``highs_s``: the part of ``solve_s`` inside
        HiGHS), ``paths`` (dict pair -> list of K node lists in the elementary-link graph, end nodes
        and repeaters only), ``sizes`` (variables, constraints, nonzeros).
    """
    t0 = time.perf_counter()
    C = list(dict.fromkeys(end_nodes))
    Cset = set(C)
    R = [v for v in G.nodes if v not in Cset]
    Rset = set(R)
    Q = list(itertools.combinations(C, 2))
    if eps is None:
        eps = default_eps(len(Q), K, N_max, L_max)

    # Elementary-link lengths l_ij: shortest fibre distance in the whole graph (RepAlloc uses
    # nx.single_source_dijkstra on the full graph and keeps l_ij <= L_max).
    lim = float(L_max) + LENGTH_TOL_KM
    dist: dict[Hashable, dict[Hashable, float]] = {
        v: nx.single_source_dijkstra_path_length(G, v, cutoff=lim, weight=weight) for v in G.nodes
    }

    # E_q for every pair (directed, i in R+{s}, j in R+{t}), repeated for k = 1..K.
    arcs: list[tuple[int, int, Hashable, Hashable]] = []
    length: dict[tuple, float] = {}
    for qi, (s, t) in enumerate(Q):
        heads = R + [t]
        for i in [s] + R:
            di = dist[i]
            for j in heads:
                if i == j:
                    continue
                lij = di.get(j)
                if lij is None or lij > lim:
                    continue
                for k in range(K):
                    a = (qi, k, i, j)
                    arcs.append(a)
                    length[a] = lij

    out_arcs: dict[tuple, list] = {}
    in_arcs: dict[tuple, list] = {}
    for a in arcs:
        qi, k, i, j = a
        out_arcs.setdefault((qi, k, i), []).append(a)
        in_arcs.setdefault((qi, k, j), []).append(a)

    trivially_infeasible = any(
        not out_arcs.get((qi, k, s)) or not in_arcs.get((qi, k, t))
        for qi, (s, t) in enumerate(Q) for k in range(K)
    )
    result: dict[str, Any] = dict(repeaters=set(), objective=math.nan, bound=math.nan, n_repeaters=None,
                                  status="infeasible", build_s=0.0, solve_s=0.0, paths={}, eps=eps,
                                  sizes=dict(variables=0, constraints=0, nonzeros=0))
    if trivially_infeasible:
        result["build_s"] = time.perf_counter() - t0
        return result

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        m = pyo.ConcreteModel("rabbie_link_based")
        m.R = pyo.Set(initialize=R, ordered=True)
        m.A = pyo.Set(initialize=arcs, dimen=4, ordered=True)
        m.y = pyo.Var(m.R, domain=pyo.Binary)
        m.x = pyo.Var(m.A, domain=pyo.Binary)
        x, y = m.x, m.y

        # (LBF-0) objective
        m.obj = pyo.Objective(
            expr=sum(y[u] for u in R) + eps * sum(length[a] * x[a] for a in arcs), sense=pyo.minimize
        )
        QK = [(qi, k) for qi in range(len(Q)) for k in range(K)]
        # (LBF-1) SourceCon, (LBF-2) SinkCon
        m.source = pyo.Constraint(QK, rule=lambda m, qi, k: sum(x[a] for a in out_arcs[qi, k, Q[qi][0]]) == 1)
        m.sink = pyo.Constraint(QK, rule=lambda m, qi, k: sum(x[a] for a in in_arcs[qi, k, Q[qi][1]]) == 1)

        # (LBF-3) FlowCon (rows without any arc are empty and skipped)
        flow_idx = [(qi, k, u) for qi, k in QK for u in R if (qi, k, u) in out_arcs or (qi, k, u) in in_arcs]

        def _flow(m, qi, k, u):
            return sum(x[a] for a in out_arcs.get((qi, k, u), ())) - sum(x[a] for a in in_arcs.get((qi, k, u), ())) == 0

        m.flow = pyo.Constraint(flow_idx, rule=_flow)

        # (LBF-4) MaxRepCon: arcs entering a repeater location count the repeaters on path (q, k)
        into_rep: dict[tuple, list] = {}
        for a in arcs:
            if a[3] in Rset:
                into_rep.setdefault((a[0], a[1]), []).append(a)
        m.max_rep = pyo.Constraint(
            [qk for qk in QK if qk in into_rep],
            rule=lambda m, qi, k: sum(x[a] for a in into_rep[qi, k]) <= N_max,
        )

        # (LBF-5) STCon: the direct elementary link s-t is used by at most one of the K paths
        st_idx = [qi for qi, (s, t) in enumerate(Q) if (qi, 0, s, t) in length]
        m.st_once = pyo.Constraint(st_idx, rule=lambda m, qi: sum(x[qi, k, Q[qi][0], Q[qi][1]] for k in range(K)) <= 1)

        # (LBF-6) DisLinkCon: a repeater serves at most one of the K paths of a pair
        into_q_u: dict[tuple, list] = {}
        into_u: dict[Hashable, list] = {}
        for a in arcs:
            if a[3] in Rset:
                into_q_u.setdefault((a[0], a[3]), []).append(a)
                into_u.setdefault(a[3], []).append(a)
        m.disjoint = pyo.Constraint(list(into_q_u), rule=lambda m, qi, u: sum(x[a] for a in into_q_u[qi, u]) <= 1)

        # (LBF-7) LinkXYCon: capacity D and x-y linking
        m.capacity = pyo.Constraint(list(into_u), rule=lambda m, u: sum(x[a] for a in into_u[u]) <= D * y[u])
        if n_repeaters is not None:  # verification aid (see docstring), not in the paper
            m.count_row = pyo.Constraint(expr=sum(y[u] for u in R) == int(n_repeaters))
    finally:
        if gc_was_enabled:
            gc.enable()
    n_rows = sum(len(c) for c in (m.source, m.sink, m.flow, m.max_rep, m.st_once, m.disjoint, m.capacity))
    n_rows += int(n_repeaters is not None)
    nnz = (2 * len(QK) + sum(len(out_arcs.get((qi, k, u), ())) + len(in_arcs.get((qi, k, u), ())) for qi, k, u in flow_idx)
           + sum(len(v) for v in into_rep.values()) + len(st_idx) * K
           + sum(len(v) for v in into_q_u.values()) + sum(len(v) + 1 for v in into_u.values()))
    result["sizes"] = dict(variables=len(R) + len(arcs), constraints=n_rows, nonzeros=nnz)
    t1 = time.perf_counter()
    result["build_s"] = t1 - t0

    from qtopo.highs import THREADS

    THREADS.use(threads)  # HiGHS keeps one thread pool per process (FIELD-NOTES): reset when the count changes
    opt = SolverFactory("highs")
    res = opt.solve(
        m, load_solutions=False, raise_exception_on_nonoptimal_result=False, time_limit=time_limit,
        threads=threads, rel_gap=mip_gap, solver_options={"mip_abs_gap": 1e-9, "random_seed": 0},
    )
    result["solve_s"] = time.perf_counter() - t1
    # time inside HiGHS itself; the rest of solve_s is Pyomo's hand-off (and loading the solution)
    try:
        result["highs_s"] = float(res.timing_info.highs_time)
    except (AttributeError, TypeError, ValueError):
        result["highs_s"] = math.nan
    tc = str(res.termination_condition.name)
    ss = str(res.solution_status.name)
    if ss in ("optimal", "feasible"):
        res.solution_loader.load_vars()
        result["status"] = "optimal" if ss == "optimal" else "feasible"
    elif "infeasible" in tc.lower():
        return result
    else:
        result["status"] = "no_solution"
        return result
    result["bound"] = float(res.objective_bound) if res.objective_bound is not None else math.nan

    reps = {u for u in R if round(pyo.value(y[u])) == 1}
    used = [a for a in arcs if round(pyo.value(x[a])) == 1]
    succ: dict[tuple, Hashable] = {(a[0], a[1], a[2]): a[3] for a in used}
    paths: dict[tuple, list[list]] = {}
    for qi, (s, t) in enumerate(Q):
        plist = []
        for k in range(K):
            p, v = [s], s
            while v != t and len(p) <= len(R) + 2:
                v = succ[(qi, k, v)]
                p.append(v)
            plist.append(p)
        paths[(s, t)] = plist
    obj = len(reps) + eps * sum(length[a] for a in used)
    result.update(repeaters=reps, objective=obj, n_repeaters=len(reps), paths=paths,
                  solver_objective=float(res.incumbent_objective), termination=tc)
    return result
