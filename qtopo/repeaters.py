"""Quantum-repeater placement on existing fibre, compatible with Rabbie et al. (2022).

Reference
---------
J. Rabbie, K. Chakraborty, G. Avis, S. Wehner, "Designing quantum networks using preexisting
infrastructure", npj Quantum Information 8, 5 (2022); arXiv:2005.14715; authors' code
github.com/jtrabbie/RepAlloc (``formulations.py::LinkBasedFormulation``).

The problem (the paper's model, reproduced literally in ``benchmarks/repeater_baseline.py``)
-----------------------------------------------------------------------------------------------
Fibre graph G with lengths (km), end nodes C, candidate repeater locations R = N \\ C. The elementary
link between two nodes i, j has length l_ij = the shortest fibre distance between them in the whole
graph, and exists if l_ij <= L_max. For every unordered pair q = (s, t) of end nodes choose K paths in
this *elementary-link graph*, from s to t through repeater locations only, such that

* each path carries at most N_max repeaters (at most N_max + 1 elementary links);
* the K paths of a pair share no repeater, and the direct link s-t (if any) is used at most once;
* a repeater serves at most D of all the (pair, path) uses;

minimising (number of repeaters) + eps * (total length of all elementary links used). The paths are
disjoint in their repeaters and elementary links, not physically: two elementary links may share fibre
(the paper's model does not constrain it, and neither does this module).

The fast exact formulation (this module)
----------------------------------------
It solves the same problem with the same optimum, using the following exact reductions, each of which
preserves at least one optimal solution of the paper's model:

1. Elementary links from one SciPy Dijkstra over all nodes with ``limit=L_max`` (not |R|^2 networkx
   calls).
2. Hop pruning. h_c(v) is the least number of elementary links from end node c to v through repeater
   locations only. A node v can be a repeater of pair (s, t) only if h_s(v) + h_t(v) <= N_max + 1, and
   an elementary link (i, j) can be on one of its paths only if h_s(i) + 1 + h_t(j) <= N_max + 1.
3. Direct links are fixed. If l_st <= L_max, some optimal solution uses the direct link for one path of
   pair (s, t): it costs no repeater and no capacity and, by the triangle inequality of shortest-path
   lengths, is no longer than any other path. So K = 1 pairs with a direct link leave the model (their
   length is a constant) and K >= 2 pairs route K - 1 further paths.
4. Dominance (only when every pair routes at most one path through repeaters and no candidate can be
   asked for more than D uses): candidate u is dropped if a kept candidate v neighbours all of u's
   elementary-link neighbours and l_av + l_vb <= l_au + l_ub for any two of them (:func:`_dominated`).
5. Aggregated, symmetry-free paths. For K = 1 one flow per pair with the paper's repeater-count row;
   for K >= 2 either hop-indexed arcs (a layered, acyclic graph pruned by rule 2: every unit of flow is
   a path with at most N_max repeaters) or K path copies ordered by their first repeater, whichever
   has fewer arcs.
6. Strong linking. ``inflow of pair q into u <= y_u`` for every pair and usable node replaces the
   paper's disjointness row (it implies it, since y_u <= 1) and gives a far tighter LP bound than the
   aggregated ``sum_q inflow <= D y_u``; the capacity row is written only where more than D pairs can
   use the node.

The model is built as sparse arrays on these index sets only (no Pyomo: ``qtopo repeaters`` starts without
importing it), handed to HiGHS once through the back-end :mod:`qtopo.highs` and solved (:func:`_solve_fast`): LP relaxation (a valid bound), MIP restricted to the
candidates the LP uses (often already optimal within the gap), reduced-cost fixing against that plan,
then the warm-started MIP. Where capacity binds, the count of repeaters is proven first and the paper's
objective is then minimised with that count (lexicographic; exact while eps * km < 1).
"""
from __future__ import annotations

import gc
import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Hashable, Iterable, Sequence

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra, shortest_path

from qtopo import highs
from qtopo.contract import Status
from qtopo.errors import InputError, Problem

log = logging.getLogger(__name__)

__all__ = [
    "RepeaterPlan",
    "plan_repeaters",
    "verify_repeater_plan",
    "fibre_graph_from_graphml",
    "default_eps",
    "LENGTH_TOL_KM",
]

#: Tolerance (km) on ``L_max``: an elementary link of exactly ``L_max`` km is allowed whatever the
#: floating-point summation order of the shortest-path routine.
LENGTH_TOL_KM = 1e-9

#: Set True to see the HiGHS log (debugging).
_HIGHS_LOG = False
#: Extra HiGHS options applied to every solve (experiments).
_HIGHS_OPTIONS: dict = {}


def default_eps(n_pairs: int, K: int, N_max: int, L_max_km: float) -> float:
    """Default weight of the total elementary-link length (km) in the objective.

    Every path has at most ``N_max + 1`` elementary links of at most ``L_max_km``, so the length term
    stays below one repeater: ``eps = 1 / (n_pairs * K * (N_max + 1) * L_max_km + 1)``. Rabbie et al.
    call this weight alpha and used 1/75000 for their Dutch and European runs.

    Returns
    -------
    float
        Weight per km (1/km).
    """
    bound_km = max(1.0, n_pairs * K * (N_max + 1) * float(L_max_km))
    return 1.0 / (bound_km + 1.0)


# ----------------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------------
def fibre_graph_from_graphml(path, weight: str = "length_km") -> nx.Graph:
    """Read a Topology Zoo GraphML file (optionally gzipped) into a simple fibre graph.

    The file is read and checked by :func:`qtopo.importers.zoo.parse_zoo`, the same reader as
    ``qtopo import zoo`` (every problem at once, with line numbers). Nodes without coordinates are dropped with
    their edges. Nodes are named by their ``label`` when labels are unique, else ``"label#id"`` (the names of
    the published baselines); attribute ``site_id`` is the id ``qtopo import zoo`` gives the same node. Edge
    lengths are WGS84 geodesic distances (``pyproj.Geod.inv``) in km, without route factor; parallel edges
    collapse into one.

    Parameters
    ----------
    path : str or path-like
        ``.graphml`` or ``.graphml.gz`` file.
    weight : str
        Name of the edge attribute written (km).

    Returns
    -------
    networkx.Graph
        Node attributes ``lat``, ``lon`` (degrees), ``zoo_id`` (GraphML id), ``site_id``, ``label``; edge
        attribute ``weight`` (km).
    """
    from pyproj import Geod

    from .importers.zoo import parse_zoo

    z = parse_zoo(path)
    labels = [lab or nid for lab, nid in zip(z.labels, z.node_ids)]
    unique = len(set(labels)) == len(labels)
    name = {n: (lab if unique else f"{lab}#{n}") for n, lab in zip(z.node_ids, labels)}
    G = nx.Graph(name=z.network)
    for n, lab, lon, lat, sid in zip(z.node_ids, z.labels, z.lons, z.lats, z.ids):
        G.add_node(name[n], lat=float(lat), lon=float(lon), zoo_id=n, site_id=sid, label=lab)
    if z.pairs:
        at = {n: i for i, n in enumerate(z.node_ids)}
        iu = np.array([at[u] for u, _ in z.pairs])
        iv = np.array([at[v] for _, v in z.pairs])
        lon, lat = np.asarray(z.lons, float), np.asarray(z.lats, float)
        _, _, dist_m = Geod(ellps="WGS84").inv(lon[iu], lat[iu], lon[iv], lat[iv])
        for (u, v), d_km in zip(z.pairs, np.asarray(dist_m) / 1000.0):
            G.add_edge(name[u], name[v], **{weight: float(d_km)})
    return G


# ----------------------------------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class RepeaterPlan:
    """A repeater placement and the paths that use it.

    Attributes
    ----------
    repeaters : list
        Nodes holding a repeater (sorted by node order in the graph).
    chains : dict
        ``(s, t) -> [chain, ...]``, K chains per pair; a chain is ``[s, r1, ..., t]``: the end nodes and
        the repeaters of one path, consecutive entries joined by one elementary link.
    segments : dict
        ``(s, t) -> [[fibre path of link 1, fibre path of link 2, ...], ...]``: the shortest fibre path
        (node list) of every elementary link of every chain.
    paths : dict
        ``(s, t) -> [fibre path, ...]``: the segments of each chain joined into one node list; the
        repeaters of that path are its ``chains`` entries without the ends.
    objective : float
        ``n_repeaters + eps * total_length_km`` of the plan (nan without a plan).
    n_repeaters : int
    total_length_km : float
        Sum of the lengths of all elementary links of all paths (km).
    status : str
        ``optimal``, ``feasible`` (time limit hit with a plan), ``infeasible`` or ``no_solution``.
    bound : float
        Best lower bound on the objective from the solver (nan if unknown).
    gap : float
        ``(objective - bound) / objective`` (0 when proven optimal; nan if unknown).
    timings_s : dict
        ``prepare``, ``build`` (``prepare`` + model arrays), ``solve`` (hand-off + HiGHS), ``extract``,
        ``total`` (s).
    sizes : dict
        ``variables``, ``constraints``, ``nonzeros`` of the model.
    diagnosis : list of str
        For infeasible instances, one line per pair that cannot be served and why.
    params : dict
        ``L_max_km``, ``N_max``, ``D``, ``K``, ``eps``.
    """

    repeaters: list = field(default_factory=list)
    chains: dict = field(default_factory=dict)
    segments: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)
    objective: float = math.nan
    n_repeaters: int = 0
    total_length_km: float = math.nan
    status: str = "no_solution"
    bound: float = math.nan
    gap: float = math.nan
    timings_s: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    diagnosis: list = field(default_factory=list)
    params: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the plan holds a solution (``optimal`` or ``feasible``)."""
        return Status(self.status).has_plan

    def marked_paths(self) -> dict:
        """``(s, t) -> [[(node, is_repeater), ...], ...]``: each fibre path with the nodes where that path
        swaps entanglement (its repeaters) marked by position (a fibre path may pass a node twice)."""
        out = {}
        for key, segs_q in self.segments.items():
            paths = []
            for segs in segs_q:
                marked = [(segs[0][0], False)]
                for a, sg in enumerate(segs):
                    marked += [(v, False) for v in sg[1:-1]]
                    marked.append((sg[-1], a < len(segs) - 1))
                paths.append(marked)
            out[key] = paths
        return out


# ----------------------------------------------------------------------------------------------------------------
# Inputs: elementary links, hop distances, reductions, pruned index sets (NumPy only)
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class _PairSets:
    s: int
    t: int
    direct: bool           # l_st <= L_max: one path is the direct link (reduction 3)
    k_model: int           # paths still routed by the model
    mode: str              # "single" (k_model = 1), "layered" or "indexed" (k_model >= 2), "none" (k_model = 0)
    nodes: np.ndarray      # usable repeater locations (node indices)
    arc_i: np.ndarray      # tail node index of each model arc
    arc_j: np.ndarray      # head node index
    arc_h: np.ndarray      # hop index (layered), path index (indexed) or 0 (single)


@dataclass
class _Inputs:
    nodes: list
    index: dict
    end_idx: list
    is_end: np.ndarray
    dist_km: np.ndarray    # (n, n) shortest fibre distance, inf beyond L_max
    pred: np.ndarray       # (n, n) SciPy predecessor matrix of those shortest paths
    adj: np.ndarray        # (n, n) bool elementary-link adjacency
    comp: np.ndarray       # connected-component label of every node in the fibre graph
    alive: np.ndarray      # (n,) bool: candidate repeater locations kept by the dominance reduction
    hops: dict             # end node index -> (n,) hop distance through kept repeater locations only
    pairs: list            # list[_PairSets]
    dominance: bool        # whether the dominance reduction was applied
    n_dominated: int


def _validate(G: nx.Graph, end_nodes: Sequence, L_max_km: float, N_max: int, D: int, K: int,
              weight: str) -> None:
    problems = []
    if G.is_directed():
        problems.append(Problem("G", "is directed; fibre is undirected", "pass G.to_undirected()"))
    missing = [c for c in end_nodes if c not in G]
    if missing:
        problems.append(Problem("end_nodes", f"not in the graph: {missing!r}", "use node names of G"))
    if len(set(end_nodes)) != len(end_nodes):
        problems.append(Problem("end_nodes", "duplicates", "list each end node once"))
    if len(end_nodes) < 2:
        problems.append(Problem("end_nodes", "fewer than two end nodes", "give at least two"))
    if not (L_max_km > 0):
        problems.append(Problem("L_max_km", f"must be > 0, got {L_max_km!r}"))
    if int(N_max) != N_max or N_max < 0:
        problems.append(Problem("N_max", f"must be an integer >= 0, got {N_max!r}"))
    if int(D) != D or D < 0:
        problems.append(Problem("D", f"must be an integer >= 0, got {D!r}"))
    if int(K) != K or K < 1:
        problems.append(Problem("K", f"must be an integer >= 1, got {K!r}"))
    bad = [(u, v) for u, v, w in G.edges(data=weight) if w is None or not (w >= 0) or not math.isfinite(w)]
    if bad:
        problems.append(Problem(f"edge attribute {weight!r}", f"missing, negative or not finite on {bad[:5]!r}"
                                f"{' ...' if len(bad) > 5 else ''}", "give every edge a length in km"))
    if problems:
        raise InputError(problems, "invalid repeater-placement input")


def _hops_from(adj: np.ndarray, members: np.ndarray, c: int) -> np.ndarray:
    """Hop distance from end node ``c`` to every node through ``members`` (repeater locations) only."""
    n = adj.shape[0]
    idx = np.concatenate((members, [c]))
    sub = adj[np.ix_(idx, idx)].copy()
    h_sub = shortest_path(csr_matrix(sub), unweighted=True, directed=False, indices=len(members))
    h = np.full(n, np.inf)
    h[members] = h_sub[:-1]
    h[c] = 0.0
    return h


def _dominated(adj: np.ndarray, dist: np.ndarray, is_end: np.ndarray) -> np.ndarray:
    """Dominance reduction (exact only for single paths and non-binding capacity).

    Candidate u is removed if a kept candidate v is an elementary-link neighbour of every other
    neighbour a of u (end nodes included) and, for any two such neighbours a != b,
    l_av + l_vb <= l_au + l_ub. Then every path a -> u -> b can use v instead, no longer; and a path
    that already contains v is shortcut by one elementary link from v (triangle inequality). Repeater
    count, hop count and length never increase, so an optimal solution avoiding u exists.

    Returns
    -------
    numpy.ndarray
        (n,) bool, True for kept candidates (end nodes False).
    """
    n = adj.shape[0]
    alive = ~is_end.copy()
    closed = adj | np.eye(n, dtype=bool)
    changed = True
    while changed:
        changed = False
        for u in np.flatnonzero(alive):
            member = alive | is_end
            member[u] = False
            A = np.flatnonzero(adj[u] & member)           # neighbours of u that paths can come from / go to
            cand = np.flatnonzero(alive)
            cand = cand[cand != u]
            if len(cand) == 0:
                continue
            ok = closed[np.ix_(cand, A)].all(axis=1)      # v adjacent to (or equal to) every neighbour of u
            if not ok.any():
                continue
            cand = cand[ok]
            if len(A) >= 2:
                f = dist[np.ix_(A, cand)] - dist[A, u][:, None]   # (|A|, |cand|): l_av - l_au
                f[A[:, None] == cand[None, :]] = -np.inf          # a = v is a shortcut, never a detour
                top2 = -np.partition(-f, 1, axis=0)[:2]
                ok = (top2[0] + top2[1]) <= 1e-9
                cand = cand[ok]
            if len(cand):
                alive[u] = False
                changed = True
    return alive


def _pair_arcs(adj, hs, ht, s, t, V, H, mode, k_model):
    tails = np.concatenate(([s], V)).astype(np.int64)
    heads = np.concatenate((V, [t])).astype(np.int64)
    ok = adj[np.ix_(tails, heads)]
    ok &= (hs[tails][:, None] + 1 + ht[heads][None, :]) <= H
    ok[0, -1] = False  # the direct link is handled by reduction 3
    ii, jj = np.nonzero(ok)
    ai, aj = tails[ii], heads[jj]
    if mode == "single":
        return ai, aj, np.zeros(len(ai), dtype=np.int64)
    if mode == "indexed":
        reps = np.arange(k_model)
        return np.tile(ai, k_model), np.tile(aj, k_model), np.repeat(reps, len(ai))
    # layered: tail at layer h-1 >= h_s(tail) (tail = s only at layer 0), head at layer h <= H - h_t(head)
    lo = np.where(ai == s, 1, hs[ai] + 1).astype(np.int64)
    hi = np.where(ai == s, 1, H - ht[aj]).astype(np.int64)
    cnt = np.maximum(hi - lo + 1, 0)
    rep = np.repeat(np.arange(len(ai)), cnt)
    offs = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return ai[rep], aj[rep], lo[rep] + offs


def _shortest_parallel(G: nx.Graph, weight: str) -> nx.Graph:
    """``G`` without parallel fibres: of several between two nodes the shortest counts (to_scipy would add them
    up)."""
    if not G.is_multigraph():
        return G
    S = nx.Graph()
    S.add_nodes_from(G.nodes)
    for u, v, w in G.edges(data=weight):
        if not S.has_edge(u, v) or w < S.edges[u, v][weight]:
            S.add_edge(u, v, **{weight: w})
    return S


def _reach(G: nx.Graph, nodes: list, weight: str, L_max_km: float) -> tuple:
    """Shortest fibre distances up to ``L_max_km`` (+ tolerance) between all nodes: ``(dist, pred, adj, comp)``,
    ``adj[i, j]`` when an elementary link i-j is possible, ``comp`` the connected component of each node."""
    W = csr_matrix(nx.to_scipy_sparse_array(G, nodelist=nodes, weight=weight, format="csr"))
    if W.nnz and (W.data == 0).any():  # zero-length fibre must stay an explicit edge for SciPy
        W.data[W.data == 0] = 1e-12
    lim = float(L_max_km) + LENGTH_TOL_KM
    dist, pred = dijkstra(W, directed=False, limit=lim, return_predecessors=True)
    np.fill_diagonal(dist, 0.0)
    adj = np.isfinite(dist)
    np.fill_diagonal(adj, False)
    _, comp = connected_components(W, directed=False)
    return dist, pred, adj, comp


def _hops_and_sets(adj: np.ndarray, alive: np.ndarray, end_idx: list, pairs_idx: list, k_model: dict,
                   H: int) -> tuple:
    """Hop distances from every end node over the live candidates, and each pair's candidate repeaters (those
    on some path of at most ``H`` elementary links; none for a pair its direct links serve in full)."""
    members = np.flatnonzero(alive)
    hops = {c: _hops_from(adj, members, c) for c in end_idx}
    sets = {}
    for s, t in pairs_idx:
        if k_model[(s, t)] == 0:
            sets[(s, t)] = np.zeros(0, dtype=np.int64)
            continue
        ok = alive & (hops[s] + hops[t] <= H)
        sets[(s, t)] = np.flatnonzero(ok)
    return hops, sets


def _pair_sets(adj: np.ndarray, hops: dict, s: int, t: int, V: np.ndarray, H: int, km: int, direct: bool,
               multi_path: str) -> _PairSets:
    """One pair's model arcs: none (served by direct links), one path, or ``km`` paths (layered or hop-indexed,
    ``auto``: whichever has fewer arcs)."""
    if km == 0:
        mode = "none"
        ai = aj = ah = np.zeros(0, dtype=np.int64)
    else:
        if km == 1:
            mode = "single"
        elif multi_path in ("layered", "indexed"):
            mode = multi_path
        else:  # auto: fewer model arcs
            n_lay = len(_pair_arcs(adj, hops[s], hops[t], s, t, V, H, "layered", km)[0])
            n_idx = km * len(_pair_arcs(adj, hops[s], hops[t], s, t, V, H, "single", 1)[0])
            mode = "layered" if n_lay <= n_idx else "indexed"
        ai, aj, ah = _pair_arcs(adj, hops[s], hops[t], s, t, V, H, mode, km)
    return _PairSets(s=s, t=t, direct=direct, k_model=km, mode=mode, nodes=V, arc_i=ai, arc_j=aj, arc_h=ah)


def _prepare(G: nx.Graph, end_nodes: Sequence, L_max_km: float, N_max: int, D: int, K: int, weight: str,
             reduce: bool = True, multi_path: str = "auto") -> _Inputs:
    G = _shortest_parallel(G, weight)
    nodes = list(G.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    n = len(nodes)
    dist, pred, adj, comp = _reach(G, nodes, weight, L_max_km)
    end_idx = [index[c] for c in end_nodes]
    is_end = np.zeros(n, dtype=bool)
    is_end[end_idx] = True
    H = N_max + 1
    pairs_idx = list(itertools.combinations(end_idx, 2))
    direct = {(s, t): bool(adj[s, t]) for s, t in pairs_idx}
    k_model = {q: K - int(d) for q, d in direct.items()}

    alive = ~is_end
    hops, sets = _hops_and_sets(adj, alive, end_idx, pairs_idx, k_model, H)
    # reduction: dominance, valid when every pair routes at most one path through repeaters and no
    # repeater can be asked for more than D uses (users(v) <= D for every candidate v)
    users = np.zeros(n, dtype=np.int64)
    for q, V in sets.items():
        users[V] += 1
    single = all(k <= 1 for k in k_model.values())
    use_dominance = bool(reduce and single and users.max(initial=0) <= D)
    n_dom = 0
    if use_dominance:
        kept = _dominated(adj, dist, is_end)
        n_dom = int(alive.sum() - kept.sum())
        if n_dom:
            alive = kept
            hops, sets = _hops_and_sets(adj, alive, end_idx, pairs_idx, k_model, H)

    inp = _Inputs(nodes=nodes, index=index, end_idx=end_idx, is_end=is_end, dist_km=dist, pred=pred, adj=adj,
                  comp=comp, alive=alive, hops=hops, pairs=[], dominance=use_dominance, n_dominated=n_dom)
    inp.pairs = [_pair_sets(adj, hops, s, t, sets[(s, t)], H, k_model[(s, t)], direct[(s, t)], multi_path)
                 for s, t in pairs_idx]
    return inp


def _disjoint_path_count(inp: _Inputs, s: int, t: int, nodes: np.ndarray) -> int:
    """Largest number of repeater-disjoint s-t paths in the elementary-link graph on ``nodes + {s, t}``,
    no hop limit, the direct link counted once (networkx local node connectivity)."""
    members = np.concatenate(([s, t], nodes)).astype(int)
    H = nx.Graph()
    H.add_nodes_from(members.tolist())
    ii, jj = np.nonzero(np.triu(inp.adj[np.ix_(members, members)], 1))
    H.add_edges_from((int(members[a]), int(members[b])) for a, b in zip(ii, jj))
    direct = H.has_edge(s, t)
    if direct:
        H.remove_edge(s, t)
    k = nx.algorithms.connectivity.local_node_connectivity(H, s, t) if nx.has_path(H, s, t) else 0
    return int(k) + int(direct)


def _pair_precheck(inp: _Inputs, N_max: int, K: int) -> list[str]:
    """Diagnose pairs that cannot be served even alone: disconnected, too many hops, too few disjoint paths."""
    out = []
    names = inp.nodes
    R = np.flatnonzero(~inp.is_end)
    hops = {c: _hops_from(inp.adj, R, c) for c in inp.end_idx}  # all candidates, not only the kept ones
    for p in inp.pairs:
        s, t = p.s, p.t
        label = f"pair ({names[s]!r}, {names[t]!r})"
        if inp.comp[s] != inp.comp[t]:
            out.append(f"{label}: disconnected (no fibre path between them)")
            continue
        hs, ht = hops[s], hops[t]
        h_st = 1.0 if inp.adj[s, t] else float(np.min(hs[R][inp.adj[R, t]], initial=np.inf) + 1)
        if not math.isfinite(h_st):
            out.append(f"{label}: no chain of elementary links of at most L_max joins them (connected by "
                       f"fibre, but a stretch without any repeater location is longer than L_max)")
            continue
        if h_st > N_max + 1:
            out.append(f"{label}: the shortest chain of elementary links has {int(h_st)} links "
                       f"({int(h_st) - 1} repeaters) > N_max + 1 = {N_max + 1}")
            continue
        if K >= 2:
            reach = R[np.isfinite(hs[R]) & np.isfinite(ht[R])]
            k_all = _disjoint_path_count(inp, s, t, reach)
            if k_all < K:
                out.append(f"{label}: only {k_all} repeater-disjoint chain(s) of elementary links exist "
                           f"(networkx node connectivity), K = {K} needed")
    return out


# ----------------------------------------------------------------------------------------------------------------
# Model (NumPy/SciPy arrays; a recipe of add_* functions over the precomputed index sets)
# ----------------------------------------------------------------------------------------------------------------
def _group(keys, values) -> dict:
    out: dict = {}
    for k, v in zip(keys, values):
        out.setdefault(k, []).append(v)
    return out


@dataclass
class _Model:
    """The fast formulation as arrays: columns ``y[u]`` (repeater at u, for u in ``U``) then ``x[a]`` (pair q uses
    elementary link i -> j; ``a = (q, h, i, j)``, h = hop index in layered mode, path index in indexed mode,
    else 0), all binary; rows ``row_lower <= A x <= row_upper`` in the order the ``add_*`` steps wrote them."""

    U: list                      # candidate nodes with a y column (node indices)
    arcs: list                   # (q, h, i, j) of every x column
    lens: np.ndarray             # km of each arc's elementary link
    cost: np.ndarray             # objective (LBF-0): repeaters + eps * km
    offset: float                # eps * km of the fixed direct links
    A: object = None             # scipy.sparse.csr_matrix, filled by :meth:`_Rows.finish`
    row_lower: np.ndarray = None
    row_upper: np.ndarray = None
    n_capacity: int = 0          # capacity rows written (they decide the ``auto`` strategy)
    col_of_arc: dict = field(default_factory=dict)

    @property
    def n_col(self) -> int:
        return len(self.U) + len(self.arcs)

    @property
    def ycol(self) -> np.ndarray:
        return np.arange(len(self.U), dtype=np.int64)

    @property
    def xcol(self) -> np.ndarray:
        return np.arange(len(self.U), self.n_col, dtype=np.int64)


class _Rows:
    """Rows collected as coordinates (row, column, value) and bounds, turned into one sparse matrix at the end."""

    def __init__(self) -> None:
        self.ri: list[int] = []
        self.ci: list[int] = []
        self.v: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: list[int], vals: list[float] | float, lo: float, hi: float) -> None:
        r = len(self.lo)
        self.ri.extend([r] * len(cols))
        self.ci.extend(cols)
        self.v.extend(vals if isinstance(vals, list) else [float(vals)] * len(cols))
        self.lo.append(lo)
        self.hi.append(hi)

    def finish(self, m: _Model) -> None:
        m.A = csr_matrix((np.asarray(self.v, dtype=float), (np.asarray(self.ri, dtype=np.int64),
                                                            np.asarray(self.ci, dtype=np.int64))),
                         shape=(len(self.lo), m.n_col))
        m.row_lower = np.asarray(self.lo, dtype=float)
        m.row_upper = np.asarray(self.hi, dtype=float)


def build_model(inp: _Inputs, N_max: int, D: int, eps: float) -> tuple[_Model, dict]:
    """Build the fast formulation on the pruned index sets of ``inp`` (recipe of ``add_*`` steps).

    Returns
    -------
    (_Model, dict)
        The model and its sizes (``variables``, ``constraints``, ``nonzeros``; objective excluded).
    """
    arcs, lens = [], []
    for q, p in enumerate(inp.pairs):
        arcs.extend(zip(itertools.repeat(q), p.arc_h.tolist(), p.arc_i.tolist(), p.arc_j.tolist()))
        lens.append(inp.dist_km[p.arc_i, p.arc_j])
    lens = np.concatenate(lens) if lens else np.zeros(0)
    used = sorted({int(v) for p in inp.pairs for v in p.nodes.tolist()})
    m = _Model(U=used, arcs=arcs, lens=lens, cost=np.zeros(0), offset=0.0)
    m.col_of_arc = {a: len(used) + k for k, a in enumerate(arcs)}
    sizes = dict(variables=len(used) + len(arcs), constraints=0, nonzeros=0)
    rows = _Rows()
    add_objective(m, inp, eps)
    add_paths(m, rows, inp, sizes)
    add_repeater_count(m, rows, inp, N_max, sizes)
    add_symmetry_breaking(m, rows, inp, sizes)
    add_linking(m, rows, inp, sizes)
    add_capacity(m, rows, inp, D, sizes)
    rows.finish(m)
    return m, sizes


def add_objective(m: _Model, inp: _Inputs, eps: float) -> None:
    """(LBF-0) repeaters + eps * km of elementary links; fixed direct links enter as a constant."""
    m.offset = eps * sum(float(inp.dist_km[p.s, p.t]) for p in inp.pairs if p.direct)
    m.cost = np.concatenate((np.ones(len(m.U)), eps * m.lens))


def _flow_rows(q: int, p: _PairSets) -> list[tuple[list, list, int]]:
    a = list(zip(itertools.repeat(q), p.arc_h.tolist(), p.arc_i.tolist(), p.arc_j.tolist()))
    rows = []
    if p.mode == "layered":                       # node (v, layer): in at hop h, out at hop h + 1
        out = _group(((i, h - 1) for _, h, i, _ in a), a)
        inn = _group(((j, h) for _, h, _, j in a), a)
        rows.append((out.pop((p.s, 0), []), [], p.k_model))
        rows.append(([], [arc for key, arcs in inn.items() if key[0] == p.t for arc in arcs], -p.k_model))
        keys = set(out) | set(inn)
    else:                                         # one flow per path index (0 in single mode)
        out = _group(((h, i) for _, h, i, _ in a), a)
        inn = _group(((h, j) for _, h, _, j in a), a)
        for k in range(p.k_model):
            rows.append((out.pop((k, p.s), []), [], 1))
            rows.append(([], inn.pop((k, p.t), []), -1))
        keys = set(out) | set(inn)
    for key in sorted(keys):
        v = key[0] if p.mode == "layered" else key[1]
        if v in (p.s, p.t):
            continue
        rows.append((out.get(key, []), inn.get(key, []), 0))
    return rows


def add_paths(m: _Model, rows: _Rows, inp: _Inputs, sizes: dict) -> None:
    """(LBF-1..3) flow conservation: ``k_model`` s-t units per pair (one row per node and layer/path)."""
    col = m.col_of_arc
    flows = [r for q, p in enumerate(inp.pairs) if p.k_model > 0 for r in _flow_rows(q, p)]
    for out, inn, rhs in flows:
        rows.add([col[a] for a in out] + [col[a] for a in inn], [1.0] * len(out) + [-1.0] * len(inn), rhs, rhs)
    sizes["constraints"] += len(flows)
    sizes["nonzeros"] += sum(len(o) + len(i) for o, i, _ in flows)


def add_repeater_count(m: _Model, rows: _Rows, inp: _Inputs, N_max: int, sizes: dict) -> None:
    """(LBF-4) at most N_max repeaters per path (single/indexed modes; only where it can bind)."""
    col = m.col_of_arc
    n = 0
    for q, p in enumerate(inp.pairs):
        if p.mode not in ("single", "indexed") or len(p.nodes) <= N_max:
            continue
        by_k = _group(p.arc_h.tolist(), zip(p.arc_i.tolist(), p.arc_j.tolist()))
        for k, ij in by_k.items():
            cols = [col[(q, k, i, j)] for i, j in ij if j != p.t]
            rows.add(cols, 1.0, -math.inf, N_max)
            n += 1
            sizes["nonzeros"] += len(cols)
    sizes["constraints"] += n


def add_symmetry_breaking(m: _Model, rows: _Rows, inp: _Inputs, sizes: dict) -> None:
    """Indexed mode: paths ordered by their (distinct) first repeater, so no path permutation repeats."""
    col = m.col_of_arc
    for q, p in enumerate(inp.pairs):
        if p.mode != "indexed":
            continue
        rank = {int(v): r + 1 for r, v in enumerate(p.nodes.tolist())}
        first = [(int(h), int(j)) for h, i, j in zip(p.arc_h, p.arc_i, p.arc_j) if i == p.s]
        for k in range(p.k_model - 1):
            terms = ([(col[(q, k + 1, p.s, j)], float(rank[j])) for h, j in first if h == k + 1]
                     + [(col[(q, k, p.s, j)], -float(rank[j])) for h, j in first if h == k])
            rows.add([c for c, _ in terms], [v for _, v in terms], 1.0, math.inf)
            sizes["constraints"] += 1
            sizes["nonzeros"] += len(terms)


def add_linking(m: _Model, rows: _Rows, inp: _Inputs, sizes: dict) -> None:
    """(LBF-6) strengthened: the paths of pair q enter candidate u at most once in all, and only if y_u = 1."""
    col = m.col_of_arc
    ycol = {u: k for k, u in enumerate(m.U)}
    into: dict = {}
    for q, p in enumerate(inp.pairs):
        for h, i, j in zip(p.arc_h.tolist(), p.arc_i.tolist(), p.arc_j.tolist()):
            if j != p.t:
                into.setdefault((q, j), []).append(col[(q, h, i, j)])
    for (q, u), cols in into.items():
        rows.add(cols + [ycol[u]], [1.0] * len(cols) + [-1.0], -math.inf, 0.0)
    sizes["constraints"] += len(into)
    sizes["nonzeros"] += sum(len(v) + 1 for v in into.values())


def add_capacity(m: _Model, rows: _Rows, inp: _Inputs, D: int, sizes: dict) -> None:
    """(LBF-7) capacity D, written only at candidates more than D pairs can use (elsewhere implied)."""
    users: dict[int, int] = {}
    for p in inp.pairs:
        for v in p.nodes.tolist():
            users[v] = users.get(v, 0) + 1
    into: dict[int, list] = {u: [] for u, c in users.items() if c > D}
    for a in m.arcs:
        if a[3] in into:
            into[a[3]].append(m.col_of_arc[a])
    ycol = {u: k for k, u in enumerate(m.U)}
    tight = sorted(into)
    for u in tight:
        rows.add(into[u] + [ycol[u]], [1.0] * len(into[u]) + [-float(D)], -math.inf, 0.0)
    m.n_capacity = len(tight)
    sizes["constraints"] += len(tight)
    sizes["nonzeros"] += sum(len(v) + 1 for v in into.values())


# ----------------------------------------------------------------------------------------------------------------
# Solve (arrays -> HiGHS through the back-end qtopo.highs), extract
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class _SolveResult:
    status: str
    objective: float
    bound: float
    log: str = ""
    values: np.ndarray | None = None
    duals: np.ndarray | None = None    # reduced costs of an optimal LP relaxation


class _Highs:
    """The model in one HiGHS instance (handed over as arrays by :func:`qtopo.highs.from_arrays`); objective,
    column bounds, integrality and extra rows are changed in place between solves."""

    def __init__(self, m: _Model, threads: int | None, mip_gap: float):
        self.threads = threads
        n_col = m.n_col
        self.cost, self.offset = np.asarray(m.cost, dtype=float), float(m.offset)
        self.lower, self.upper = np.zeros(n_col), np.ones(n_col)
        self.is_int = np.ones(n_col, dtype=bool)
        self.h = highs.from_arrays(self.cost, self.lower, self.upper, m.row_lower, m.row_upper, m.A, self.is_int,
                                   offset=self.offset, options={"output_flag": bool(_HIGHS_LOG),
                                                                "mip_rel_gap": float(mip_gap), "mip_abs_gap": 1e-9,
                                                                **_HIGHS_OPTIONS})
        self.n_row = int(m.A.shape[0])
        self.A, self.row_lower, self.row_upper = m.A, m.row_lower, m.row_upper
        self.extra_rows: dict[int, tuple] = {}   # rows added after the hand-off: index -> (cols, lo, hi)
        self.cur_cost, self.cur_offset = self.cost.copy(), self.offset

    def set_objective(self, cost: np.ndarray, offset: float) -> None:
        idx = np.arange(len(cost), dtype=np.int32)
        self.h.changeColsCost(len(cost), idx, np.asarray(cost, dtype=float))
        self.h.changeObjectiveOffset(float(offset))
        self.cur_cost, self.cur_offset = np.asarray(cost, dtype=float), float(offset)

    def objective_of(self, values: np.ndarray) -> float:
        return float(self.cur_cost @ values + self.cur_offset)

    def set_bounds(self, lower: np.ndarray | None = None, upper: np.ndarray | None = None) -> None:
        lower = self.lower if lower is None else lower
        upper = self.upper if upper is None else upper
        idx = np.arange(len(upper), dtype=np.int32)
        self.h.changeColsBounds(len(upper), idx, np.asarray(lower, dtype=float), np.asarray(upper, dtype=float))

    def add_row(self, cols: np.ndarray, lo: float, hi: float) -> int:
        self.h.addRow(float(lo), float(hi), len(cols), np.asarray(cols, dtype=np.int32), np.ones(len(cols)))
        self.extra_rows[self.n_row] = (np.asarray(cols), float(lo), float(hi))
        self.n_row += 1
        return self.n_row - 1

    def delete_row(self, r: int) -> None:
        self.h.deleteRows(1, np.array([r], dtype=np.int32))
        self.extra_rows.pop(r)
        self.n_row -= 1

    def integral_plan(self, values: np.ndarray | None, tol: float = 1e-9) -> np.ndarray | None:
        """``values`` rounded, if they are integral (within ``tol``) and the rounded point satisfies every row and
        bound exactly (within 1e-9): an optimal LP solution that passes is an optimal plan. Else None."""
        if values is None or np.max(np.abs(values - np.round(values)), initial=0.0) > tol:
            return None
        x = np.round(values)
        act = self.A @ x
        ok = (np.all(act >= self.row_lower - 1e-9) and np.all(act <= self.row_upper + 1e-9)
              and np.all(x >= self.lower) and np.all(x <= self.upper))
        for cols, lo, hi in self.extra_rows.values():
            a = x[cols].sum()
            ok = ok and lo - 1e-9 <= a <= hi + 1e-9
        return x if ok else None

    def solve(self, time_limit_s: float, start: np.ndarray | None = None, relax: bool = False) -> _SolveResult:
        h = self.h
        idx = np.arange(len(self.is_int), dtype=np.int32)
        kind = np.where(self.is_int & (not relax), 1, 0).astype(np.uint8)  # kContinuous = 0, kInteger = 1
        h.changeColsIntegrality(len(kind), idx, kind)
        h.setOptionValue("time_limit", float(max(time_limit_s, 0.01)))
        h.clearSolver()
        if start is not None and not relax:
            highs.set_start(h, start)
        highs.run(h, self.threads)
        out = highs.outcome(h)
        vals = out.values
        if vals is not None and not relax:
            vals = np.where(self.is_int, np.round(vals), vals)
        obj = self.objective_of(vals) if vals is not None else math.nan
        optimal = out.status is highs.Status.OPTIMAL
        duals = None
        if relax:
            bound = obj if optimal else math.nan
            duals = out.col_dual if optimal else None
        else:
            bound = out.bound if out.bound is not None else math.nan
        return _SolveResult(out.status.value, obj, bound, out.termination, vals, duals)


def _gap_closed(obj: float, bound: float, gap: float) -> bool:
    return math.isfinite(obj) and math.isfinite(bound) and obj - bound <= gap * max(abs(obj), 1e-9) + 1e-9


class _ExactSolve:
    """The exact solve of :func:`_solve_fast` on one HiGHS instance: LP bound, support-restricted MIP, reduced-cost
    fixing, full MIP; ``info`` collects timings (``*_s``) and the path taken."""

    def __init__(self, m: _Model, time_limit_s: float, mip_gap: float, threads: int | None):
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + time_limit_s
        self.time_limit_s, self.mip_gap = time_limit_s, mip_gap
        self.info: dict = {}
        self.hs = _Highs(m, threads, mip_gap)
        self.info["handoff_s"] = time.perf_counter() - self.t0
        self.ycol, self.xcol = m.ycol, m.xcol
        self.ynode = np.array(m.U, dtype=np.int64)
        self.xi = np.array([a[2] for a in m.arcs], dtype=np.int64)
        self.xj = np.array([a[3] for a in m.arcs], dtype=np.int64)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def _solve(self, key: str, time_limit_s: float, **kw) -> _SolveResult:
        t = time.perf_counter()
        r = self.hs.solve(time_limit_s, **kw)
        self.info[key] = time.perf_counter() - t
        return r

    def attempt(self, tag: str, integral_objective: bool, incumbent: np.ndarray | None) -> _SolveResult:
        """One optimisation of the current objective (rows and bounds as they are)."""
        hs, info = self.hs, self.info
        lp = self._solve(f"{tag}_lp_s", self.left(), relax=True)
        if lp.status == "infeasible":
            return lp
        lb = lp.objective if lp.status == "optimal" else -math.inf
        if integral_objective and math.isfinite(lb):
            lb = math.ceil(lb - 1e-6)
        info[f"{tag}_lp_bound"] = lb
        x = hs.integral_plan(lp.values) if lp.status == "optimal" else None
        if x is not None:  # the LP optimum is a plan: optimal (HiGHS ran no MIP); Colt's LP is integral
            info[f"{tag}_closed_by"] = "integral_lp"
            return _SolveResult("optimal", hs.objective_of(x), lb, "integral lp", x)
        best = None
        if incumbent is not None:
            best = _SolveResult("feasible", hs.objective_of(incumbent), lb, "start", incumbent)
        r = self._restricted(tag, lp)
        if r is not None and r.values is not None and (best is None or r.objective < best.objective):
            best = r
        if best is not None and _gap_closed(best.objective, lb, self.mip_gap):
            info[f"{tag}_closed_by"] = "lp_bound"
            return _SolveResult("optimal", best.objective, lb, "lp bound", best.values)
        fixed = self._fix_by_reduced_cost(tag, lp, best, integral_objective)
        return self._full_mip(tag, best, fixed, lb)

    def _restricted(self, tag: str, lp: _SolveResult) -> _SolveResult | None:
        """The MIP on the candidates the LP uses (arcs touching unused candidates fixed to 0)."""
        if lp.values is None:
            return None
        hs = self.hs
        off = self.ynode[lp.values[self.ycol] <= 1e-6]
        upper = hs.upper.copy()
        upper[self.ycol[np.isin(self.ynode, off)]] = 0.0
        upper[self.xcol[np.isin(self.xi, off) | np.isin(self.xj, off)]] = 0.0
        hs.set_bounds(upper=upper)
        r = self._solve(f"{tag}_restricted_s", min(self.left(), max(0.25 * self.time_limit_s, 1.0)))
        hs.set_bounds()
        self.info[f"{tag}_restricted"] = (r.status, r.objective, int(len(self.ynode) - len(off)))
        return r

    def _fix_by_reduced_cost(self, tag: str, lp: _SolveResult, best: _SolveResult | None,
                             integral_objective: bool) -> bool:
        """Reduced-cost fixing: a column whose reduced cost lifts the LP bound above the objective a better plan
        must reach is 0 (or 1) in every such plan; the MIP then only searches the rest. True if any was fixed
        (the caller restores the bounds)."""
        if best is None or lp.duals is None:
            return False
        hs = self.hs
        target = best.objective - (1.0 - 1e-6 if integral_objective else 0.0)
        slack = target - lp.objective + 1e-7  # margin for the dual feasibility tolerance
        v, d = lp.values, lp.duals
        fix0 = hs.is_int & (v <= 1e-9) & (d > slack)
        fix1 = hs.is_int & (v >= hs.upper - 1e-9) & (-d > slack)
        self.info[f"{tag}_rc_fixed"] = int(fix0.sum() + fix1.sum())
        if not (fix0.any() or fix1.any()):
            return False
        lo, up = hs.lower.copy(), hs.upper.copy()
        up[fix0] = lo[fix0]
        lo[fix1] = up[fix1]
        hs.set_bounds(lo, up)
        return True

    def _full_mip(self, tag: str, best: _SolveResult | None, fixed: bool, lb: float) -> _SolveResult:
        """The MIP, warm-started from ``best``; its bound combined with the LP bound ``lb``."""
        r = self._solve(f"{tag}_mip_s", self.left(), start=None if best is None else best.values)
        if fixed:
            self.hs.set_bounds()
            if math.isfinite(r.bound) and best is not None:
                r.bound = min(r.bound, best.objective)  # valid for the full model (see _fix_by_reduced_cost)
        self.info[f"{tag}_closed_by"] = "mip"
        if r.values is None and best is not None:   # time limit before HiGHS took the start
            r = _SolveResult("feasible", best.objective, r.bound, r.log, best.values)
        if math.isfinite(lb):
            r.bound = max(r.bound, lb) if math.isfinite(r.bound) else lb
        return r

    def lexicographic(self, eps: float) -> _SolveResult:
        """Prove the fewest repeaters n*, then minimise the paper's objective with ``sum y == n*``."""
        hs, info = self.hs, self.info
        w_cost, w_off = hs.cost.copy(), hs.offset
        count = np.zeros_like(w_cost)
        count[self.ycol] = 1.0
        hs.set_objective(count, 0.0)
        r1 = self.attempt("count", True, None)
        info["phase1_s"] = time.perf_counter() - self.t0
        hs.set_objective(w_cost, w_off)
        if r1.status != "optimal":
            if r1.values is not None:
                r1 = _SolveResult("feasible", hs.objective_of(r1.values), math.nan, r1.log, r1.values)
            return r1
        n_star = int(round(r1.objective))
        info["n_star"] = n_star
        row = hs.add_row(self.ycol, n_star, n_star)
        res = self.attempt("length", False, r1.values)
        if res.values is not None and eps * (res.objective - n_star) >= 1.0:
            hs.delete_row(row)  # eps too large for the lexicographic argument: plain weighted solve
            info["fallback"] = True
            return self.attempt("weighted", False, res.values)
        if math.isfinite(res.bound):
            res.bound = max(res.bound, float(n_star))
        return res


def _solve_fast(m: _Model, inp: _Inputs, eps: float, strategy: str, time_limit_s: float, mip_gap: float,
                threads: int | None) -> tuple[_SolveResult, dict]:
    """Solve the fast model exactly: LP bound, support-restricted MIP, then the full MIP if needed.

    Each optimisation first solves the LP relaxation (a valid lower bound; rounded up when the
    objective is the repeater count); an integral LP optimum is the plan. Otherwise it solves the MIP
    restricted to the candidates the LP uses. If that plan meets the LP bound within the gap it is optimal;
    otherwise it warm-starts the full MIP, after reduced-cost fixing against that plan.

    ``weighted`` does this once with the paper's objective. ``lexicographic`` does it first for the
    repeater count (proving n*), then for the paper's objective with ``sum y == n*`` (valid: no plan has
    fewer repeaters). The result is the weighted optimum whenever eps * km < 1, since every plan with
    more repeaters costs at least n* + 1; otherwise the row is dropped and the weighted model solved.
    """
    s = _ExactSolve(m, time_limit_s, mip_gap, threads)
    res = s.attempt("weighted", False, None) if strategy == "weighted" else s.lexicographic(eps)
    s.info["solve_s"] = time.perf_counter() - s.t0
    return res, s.info


def _physical(inp: _Inputs, i: int, j: int) -> list[int]:
    path = [j]
    while path[-1] != i:
        path.append(int(inp.pred[i, path[-1]]))
    return path[::-1]


def _extract(m: _Model, values: np.ndarray, inp: _Inputs) -> dict[int, list[list[int]]]:
    used = [a for a, x in zip(m.arcs, values[m.xcol]) if round(x) == 1]
    chains: dict[int, list[list[int]]] = {}
    by_pair = _group((a[0] for a in used), used)
    for q, p in enumerate(inp.pairs):
        cs = [[p.s, p.t]] if p.direct else []
        arcs_q = by_pair.get(q, [])
        if p.mode == "indexed":
            succ = {(h, i): j for _, h, i, j in arcs_q}
            starts = [(h, j) for _, h, i, j in arcs_q if i == p.s]
            for h, j in sorted(starts):
                c = [p.s, j]
                while c[-1] != p.t and len(c) <= len(inp.nodes) + 1:
                    c.append(succ[(h, c[-1])])
                cs.append(c)
        else:
            succ = _group((i for _, _, i, _ in arcs_q), (j for _, _, _, j in arcs_q))
            for j in succ.get(p.s, []):
                c = [p.s, j]
                while c[-1] != p.t and len(c) <= len(inp.nodes) + 1:
                    c.append(succ[c[-1]][0])
                cs.append(c)
        chains[q] = cs
    return chains


def plan_repeaters(
    G: nx.Graph,
    end_nodes: Iterable[Hashable],
    L_max_km: float,
    N_max: int,
    D: int,
    K: int = 1,
    eps: float | None = None,
    time_limit_s: float = 600.0,
    mip_gap: float = 1e-6,
    threads: int | None = 1,
    weight: str = "length_km",
    diagnose: bool = True,
    reduce: bool = True,
    multi_path: str = "auto",
    strategy: str = "auto",
) -> RepeaterPlan:
    """Place the fewest quantum repeaters so every end-node pair has K short repeater chains.

    Same problem and optimum as the link-based formulation of Rabbie et al., npj Quantum Inf. 8, 5
    (2022); see the module docstring for the model and the exact reductions used.

    Parameters
    ----------
    G : networkx.Graph
        Undirected fibre graph; edge attribute ``weight`` = fibre length (km). Parallel edges of a
        MultiGraph count by the shortest.
    end_nodes : iterable of node
        End nodes; every other node is a candidate repeater location.
    L_max_km : float
        Maximum elementary-link length (km).
    N_max : int
        Maximum number of repeaters on one path (``math.inf``: no limit).
    D : int
        Repeater capacity: number of (pair, path) uses one repeater serves (``math.inf``: no limit).
    K : int
        Repeater-disjoint paths per pair (the paper's robustness parameter).
    eps : float, optional
        Weight (1/km) of the total elementary-link length; default :func:`default_eps`.
    time_limit_s : float
        HiGHS time limit (s), shared by all solves of the call.
    mip_gap : float
        Relative MIP gap (the authors used 1e-6).
    threads : int, optional
        HiGHS threads (HiGHS fixes the thread count per process at the first solve).
    weight : str
        Edge attribute with lengths in km.
    diagnose : bool
        On infeasibility, find which pairs cannot be served and why (may solve one small model per pair).
    reduce : bool
        Apply the dominance reduction where it is exact (for testing; the hop pruning is always on).
    multi_path : {"auto", "layered", "indexed"}
        Model of K >= 2 paths per pair: hop-indexed arcs, K path copies with symmetry breaking, or
        whichever has fewer arcs.
    strategy : {"auto", "weighted", "lexicographic"}
        ``weighted``: one solve of the paper's objective. ``lexicographic``: prove the repeater count
        first, then minimise the paper's objective with that count (same optimum, see
        :func:`_solve_fast`). ``auto``: lexicographic when a capacity row can bind (there the LP
        bound of the weighted objective stays about one repeater below the optimum, so HiGHS cannot
        prove the length tie-break), else weighted.

    Returns
    -------
    RepeaterPlan
        Never raises on infeasibility: ``status == 'infeasible'`` with ``diagnosis``. Raises
        :class:`qtopo.errors.InputError` on invalid input.
    """
    t0 = time.perf_counter()
    C = list(end_nodes)
    N_max, D, eps = _resolved_limits(G, C, L_max_km, N_max, D, K, eps, weight)
    plan = RepeaterPlan(params=dict(L_max_km=float(L_max_km), N_max=N_max, D=D, K=int(K), eps=eps))

    inp = _prepare(G, C, L_max_km, int(N_max), int(D), int(K), weight, reduce=reduce, multi_path=multi_path)
    t1 = time.perf_counter()
    diag = _pair_precheck(inp, int(N_max), int(K))
    if diag:
        plan.status, plan.diagnosis = "infeasible", diag
        t = time.perf_counter() - t0
        plan.timings_s = dict(prepare=t1 - t0, build=t, solve=0.0, extract=0.0, total=t)
        return plan

    gc_on = gc.isenabled()
    gc.disable()
    try:
        m, sizes = build_model(inp, int(N_max), int(D), float(eps))
    finally:
        if gc_on:
            gc.enable()
    sizes.update(dominated=inp.n_dominated, modes=sorted({p.mode for p in inp.pairs}))
    plan.sizes = sizes
    t2 = time.perf_counter()
    res = _solve_model(m, inp, plan, float(eps), strategy, time_limit_s, mip_gap, threads)
    t3 = time.perf_counter()
    plan.status = res.status
    if Status(res.status).has_plan:
        values = res.values if res.values is not None else np.zeros(m.n_col)
        _fill_plan(plan, inp, _extract(m, values, inp), res, float(eps))
    elif res.status == "infeasible" and diagnose:
        plan.diagnosis = _diagnose_joint(inp, G, C, L_max_km, int(N_max), int(D), int(K), weight, threads)
    t4 = time.perf_counter()
    plan.timings_s.update(prepare=t1 - t0, build=t2 - t0, solve=t3 - t2, extract=t4 - t3, total=t4 - t0)
    log.info("repeaters: %s, %d repeaters, objective %.6f, build %.2f s, solve %.2f s", plan.status,
             plan.n_repeaters, plan.objective, t2 - t0, t3 - t2)
    return plan


def _resolved_limits(G: nx.Graph, C: list, L_max_km: float, N_max, D, K: int, eps, weight: str) -> tuple:
    """``(N_max, D, eps)`` with "no limit" (None or ``math.inf``) made finite and the default eps; the input
    validated (:class:`InputError` on a bad one)."""
    n_pairs = len(C) * (len(C) - 1) // 2
    if D is None or D == math.inf:  # unlimited capacity: a repeater serves at most one path per pair
        D = max(n_pairs, 1)
    if N_max is None or N_max == math.inf:
        N_max = max(G.number_of_nodes() - len(C), 0)
    _validate(G, C, L_max_km, N_max, D, K, weight)
    if eps is None:
        eps = default_eps(n_pairs, int(K), int(N_max), L_max_km)
    return int(N_max), int(D), float(eps)


def _solve_model(m, inp: _Inputs, plan: RepeaterPlan, eps: float, strategy: str, time_limit_s: float,
                 mip_gap: float, threads) -> _SolveResult:
    """Solve the built model (``auto`` strategy resolved); the solve path and its timings go into ``plan``."""
    if len(m.arcs) == 0:  # every pair is served by fixed direct links
        return _SolveResult(status="optimal", objective=math.nan, bound=math.nan)
    if strategy == "auto":
        strategy = "lexicographic" if m.n_capacity > 0 else "weighted"
    plan.sizes["strategy"] = strategy
    res, info = _solve_fast(m, inp, eps, strategy, time_limit_s, mip_gap, threads)
    plan.timings_s.update({k: v for k, v in info.items() if k.endswith("_s")})
    plan.sizes["solve_path"] = {k: v for k, v in info.items() if not k.endswith("_s")}
    return res


def _fill_plan(plan: RepeaterPlan, inp: _Inputs, chains: dict, res: _SolveResult, eps: float) -> None:
    """Chains (node indices) -> the plan's chains, fibre segments and paths by node name; objective, bound, gap."""
    names = inp.nodes
    total_km = 0.0
    for q, p in enumerate(inp.pairs):
        key = (names[p.s], names[p.t])
        segs_q, paths_q, chains_q = [], [], []
        for c in chains[q]:
            segs = [_physical(inp, a, b) for a, b in zip(c[:-1], c[1:])]
            total_km += float(sum(inp.dist_km[a, b] for a, b in zip(c[:-1], c[1:])))
            segs_q.append([[names[v] for v in sg] for sg in segs])
            paths_q.append([names[v] for v in segs[0] + [v for sg in segs[1:] for v in sg[1:]]])
            chains_q.append([names[v] for v in c])
        plan.chains[key], plan.segments[key], plan.paths[key] = chains_q, segs_q, paths_q
    reps = sorted({v for cs in chains.values() for c in cs for v in c[1:-1]})
    plan.repeaters = [names[v] for v in reps]
    plan.n_repeaters = len(reps)
    plan.total_length_km = total_km
    plan.objective = len(reps) + eps * total_km
    if math.isfinite(res.bound):
        plan.bound = min(res.bound, plan.objective)
    elif res.status == "optimal":
        plan.bound = plan.objective
    plan.gap = max(0.0, (plan.objective - plan.bound) / max(abs(plan.objective), 1e-12)) \
        if math.isfinite(plan.bound) else math.nan


def _diagnose_joint(inp, G, C, L_max_km, N_max, D, K, weight, threads) -> list[str]:
    """Each pair alone (capacity irrelevant): which cannot get K disjoint chains within N_max repeaters."""
    out = []
    for p in inp.pairs:
        if p.k_model == 0:
            continue
        s, t = inp.nodes[p.s], inp.nodes[p.t]
        alone = plan_repeaters(G, [s, t], L_max_km, N_max, max(D, 1), K, time_limit_s=60, threads=threads,
                               weight=weight, diagnose=False)
        if alone.status == "infeasible":
            out.append(f"pair ({s!r}, {t!r}): fewer than K = {K} repeater-disjoint chains with at most "
                       f"N_max = {N_max} repeaters each exist (the pair alone is infeasible)")
    if not out:
        out.append(f"every pair can be served on its own, but not all together: repeater capacity D = {D} "
                   f"is too small for the chains the pairs must share")
    return out


# ----------------------------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------------------------
def verify_repeater_plan(G: nx.Graph, end_nodes: Iterable[Hashable], plan: RepeaterPlan, L_max_km: float,
                         N_max: int, D: int, K: int, weight: str = "length_km", rel_tol: float = 1e-9) -> list[str]:
    """Check a plan against the problem by independent recomputation from its fibre paths.

    Recomputes each elementary link's length from the graph edges of its fibre segment (and checks that
    it is a shortest path, as the paper defines link length), the repeaters per path, repeater-
    disjointness of each pair's K paths, the direct link used at most once, repeater capacity, that
    every path runs between its pair's end nodes through placed repeaters only, and the objective.

    Returns
    -------
    list of str
        Violations; empty if the plan is valid. A plan without a solution returns ``[]``.
    """
    if not plan.ok:
        return []
    v: list[str] = []
    C = list(end_nodes)
    Cset = set(C)
    reps = set(plan.repeaters)
    if reps & Cset:
        v.append(f"repeaters placed on end nodes: {sorted(map(str, reps & Cset))}")
    missing = [r for r in reps if r not in G]
    if missing:
        v.append(f"repeaters not in the graph: {missing}")
    use: dict = {}
    total_km = 0.0
    for s, t in itertools.combinations(C, 2):
        key = (s, t) if (s, t) in plan.segments else (t, s)
        if key not in plan.segments:
            v.append(f"pair ({s!r}, {t!r}): no paths")
            continue
        total_km += _check_pair(G, v, key, s, t, plan.segments[key], use, Cset, reps, L_max_km, N_max, K, weight,
                                rel_tol)
    _check_totals(v, plan, reps, use, D, total_km)
    return v


def _check_pair(G: nx.Graph, v: list, key: tuple, s, t, segs_q: list, use: dict, Cset: set, reps: set,
                L_max_km: float, N_max: int, K: int, weight: str, rel_tol: float) -> float:
    """Check one pair's K paths (appending to ``v``; counting repeater uses in ``use``); their total km."""
    if len(segs_q) != K:
        v.append(f"pair {key}: {len(segs_q)} paths, K = {K} required")
    seen_reps: set = set()
    direct_uses = 0
    km = 0.0
    for k, segs in enumerate(segs_q):
        if not segs:
            v.append(f"pair {key} path {k}: empty")
            continue
        chain = [segs[0][0]] + [sg[-1] for sg in segs]
        inner = chain[1:-1]
        _check_chain(v, f"pair {key} path {k}", chain, s, t, N_max, Cset, reps)
        if seen_reps & set(inner):
            v.append(f"pair {key}: paths share repeater(s) {sorted(map(str, seen_reps & set(inner)))}")
        seen_reps |= set(inner)
        if not inner:
            direct_uses += 1
        for r in inner:
            use[r] = use.get(r, 0) + 1
        km += _check_links(G, v, f"pair {key} path {k}", chain, segs, L_max_km, weight, rel_tol)
    if direct_uses > 1:
        v.append(f"pair {key}: the direct link is used by {direct_uses} paths")
    return km


def _check_chain(v: list, where: str, chain: list, s, t, N_max: int, Cset: set, reps: set) -> None:
    """A repeater chain runs between its pair's end nodes through at most N_max distinct placed repeaters."""
    if {chain[0], chain[-1]} != {s, t}:
        v.append(f"{where}: runs {chain[0]!r} -> {chain[-1]!r}")
    inner = chain[1:-1]
    if len(inner) > N_max:
        v.append(f"{where}: {len(inner)} repeaters > N_max = {N_max}")
    for r in inner:
        if r in Cset:
            v.append(f"{where}: end node {r!r} used as a repeater")
        elif r not in reps:
            v.append(f"{where}: uses {r!r}, which holds no repeater")
    if len(set(inner)) != len(inner):
        v.append(f"{where}: repeats a repeater")


def _check_links(G: nx.Graph, v: list, where: str, chain: list, segs: list, L_max_km: float, weight: str,
                 rel_tol: float) -> float:
    """Each elementary link's fibre segment joins its chain nodes, exists in ``G``, is at most L_max long and a
    shortest fibre path (the paper's link length); returns the total km of the segments that exist."""
    total = 0.0
    for a, sg in enumerate(segs):
        if sg[0] != chain[a] or sg[-1] != chain[a + 1]:
            v.append(f"{where} link {a}: segment does not join {chain[a]!r}-{chain[a + 1]!r}")
        L = 0.0
        for u, w in zip(sg[:-1], sg[1:]):
            if not G.has_edge(u, w):
                v.append(f"{where} link {a}: no fibre {u!r}-{w!r}")
                L = math.nan
                break
            L += (float(G.edges[u, w][weight]) if not G.is_multigraph()
                  else min(float(d[weight]) for d in G.get_edge_data(u, w).values()))
        if not math.isfinite(L):
            continue
        total += L
        if L > L_max_km * (1 + rel_tol) + LENGTH_TOL_KM:
            v.append(f"{where} link {a} ({chain[a]!r}-{chain[a + 1]!r}): {L:.6f} km > L_max = {L_max_km} km")
        sp = nx.shortest_path_length(G, sg[0], sg[-1], weight=weight)
        if L > sp * (1 + rel_tol) + LENGTH_TOL_KM:
            v.append(f"{where} link {a}: segment {L:.6f} km is not a shortest fibre path ({sp:.6f} km)")
    return total


def _check_totals(v: list, plan: RepeaterPlan, reps: set, use: dict, D: int, total_km: float) -> None:
    """Repeater capacity, no idle repeater, the count and the objective recomputed."""
    for r, n_use in use.items():
        if n_use > D:
            v.append(f"repeater {r!r}: used by {n_use} paths > D = {D}")
    unused = reps - set(use)
    if unused:
        v.append(f"repeaters placed but used by no path: {sorted(map(str, unused))}")
    if plan.n_repeaters != len(reps):
        v.append(f"n_repeaters = {plan.n_repeaters} but {len(reps)} repeaters listed")
    eps = plan.params.get("eps")
    if eps is not None and math.isfinite(plan.objective):
        obj = len(reps) + eps * total_km
        if abs(obj - plan.objective) > 1e-7 * max(1.0, abs(obj)):
            v.append(f"objective {plan.objective!r} differs from recomputed {obj!r}")
