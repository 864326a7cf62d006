"""Repeater placement (qtopo.repeaters) against hand-derived answers, a brute force and the paper's model.

Reference model: J. Rabbie, K. Chakraborty, G. Avis, S. Wehner, npj Quantum Inf. 8, 5 (2022), link-based
formulation, reproduced in ``benchmarks/repeater_baseline.py``. Expected values below are derived in the
comments of each test (lengths in km); every plan is checked with ``verify_repeater_plan``.
"""
from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import networkx as nx
import pytest

from benchmarks.repeater_baseline import solve_link_based
from qtopo.errors import InputError
from qtopo.repeaters import (RepeaterPlan, default_eps, fibre_graph_from_graphml, plan_repeaters,
                             verify_repeater_plan)

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "data" / "zoo"
EPS = 1e-4
W = "length_km"


def _graph(edges) -> nx.Graph:
    G = nx.Graph()
    for u, v, km in edges:
        G.add_edge(u, v, length_km=float(km))
    return G


def _plan(G, C, L, N, D, K, **kw) -> RepeaterPlan:
    kw.setdefault("eps", EPS)
    kw.setdefault("mip_gap", 0.0)
    p = plan_repeaters(G, C, L, N, D, K, threads=1, **kw)
    assert verify_repeater_plan(G, C, p, L, N, D, K) == []
    return p


def _baseline(G, C, L, N, D, K, eps=EPS):
    return solve_link_based(G, C, L, N, D, K, eps=eps, time_limit=60, threads=1, mip_gap=0.0, weight=W)


def _zoo(name):
    for suffix in (".graphml", ".graphml.gz"):
        if (ZOO / f"{name}{suffix}").exists():
            return fibre_graph_from_graphml(ZOO / f"{name}{suffix}")
    pytest.skip(f"data/zoo/{name}.graphml(.gz) not present")


# --------------------------------------------------------------------------------------------- hand-derived
def path_graph(n_links=6, km=50.0):
    """A - n1 - ... - n5 - B, 6 links of 50 km (300 km)."""
    names = ["A"] + [f"n{i}" for i in range(1, n_links)] + ["B"]
    return _graph((names[i], names[i + 1], km) for i in range(n_links))


def test_path_300km_needs_exactly_two_repeaters():
    # 300 km in links of at most 100 km: 3 links, each exactly 100 km, so the repeaters sit at
    # 100 km (n2) and 200 km (n4), uniquely. Objective 2 + eps * 300.
    G = path_graph()
    p = _plan(G, ["A", "B"], 100, 5, 10, 1)
    assert p.status == "optimal"
    assert p.repeaters == ["n2", "n4"] and p.n_repeaters == 2
    assert p.chains[("A", "B")] == [["A", "n2", "n4", "B"]]
    assert p.paths[("A", "B")] == [["A", "n1", "n2", "n3", "n4", "n5", "B"]]
    assert p.segments[("A", "B")][0] == [["A", "n1", "n2"], ["n2", "n3", "n4"], ["n4", "n5", "B"]]
    assert [v for v, rep in p.marked_paths()[("A", "B")][0] if rep] == ["n2", "n4"]
    assert p.total_length_km == pytest.approx(300.0)
    assert p.objective == pytest.approx(2 + EPS * 300)
    assert p.gap == pytest.approx(0.0, abs=1e-12)


def test_path_with_direct_reach_needs_none():
    # L_max = 300 km: the end nodes share one elementary link, no repeater.
    p = _plan(path_graph(), ["A", "B"], 300, 5, 10, 1)
    assert p.status == "optimal" and p.repeaters == [] and p.chains[("A", "B")] == [["A", "B"]]
    assert p.objective == pytest.approx(EPS * 300)


def ring_graph():
    """A and B opposite on a ring: A-a1-a2-a3-B and A-b1-b2-b3-B, links of 50 km (200 km per side)."""
    e = []
    for side in "ab":
        names = ["A", f"{side}1", f"{side}2", f"{side}3", "B"]
        e += [(names[i], names[i + 1], 50) for i in range(4)]
    return _graph(e)


def test_ring_k1_one_repeater_k2_both_sides():
    G = ring_graph()
    # K = 1: one side, its midpoint (100 km from both ends) is the only single repeater that works.
    p1 = _plan(G, ["A", "B"], 100, 3, 10, 1)
    assert p1.n_repeaters == 1 and p1.repeaters[0] in ("a2", "b2")
    assert p1.objective == pytest.approx(1 + EPS * 200)
    # K = 2: two repeater-disjoint chains. On one side only its midpoint reaches both ends within
    # 100 km (a1 -> B and a3 <- A are 150 km), so the chains use a2 and b2: one repeater per side.
    p2 = _plan(G, ["A", "B"], 100, 3, 10, 2)
    assert sorted(p2.repeaters) == ["a2", "b2"]
    assert sorted(map(tuple, p2.chains[("A", "B")])) == [("A", "a2", "B"), ("A", "b2", "B")]
    assert p2.objective == pytest.approx(2 + EPS * 400)


def star_graph():
    """End nodes A, B, C; hub h at 80 km from each, second hub h2 at 90 km from each (h, h2 not linked)."""
    return _graph([(c, "h", 80) for c in "ABC"] + [(c, "h2", 90) for c in "ABC"])


def test_capacity_forces_an_extra_repeater():
    G = star_graph()
    # End nodes are 160 km apart via h (180 via h2), L_max = 100: every pair needs one repeater.
    # D = 3: h serves all three pairs. Objective 1 + eps * 3 * 160.
    p = _plan(G, list("ABC"), 100, 2, 3, 1)
    assert p.repeaters == ["h"] and p.objective == pytest.approx(1 + EPS * 480)
    # D = 2: h serves two pairs, the third goes through h2: 2 + eps * (2 * 160 + 180).
    p = _plan(G, list("ABC"), 100, 2, 2, 1)
    assert sorted(p.repeaters) == ["h", "h2"] and p.objective == pytest.approx(2 + EPS * 500)
    for strategy in ("weighted", "lexicographic"):
        assert _plan(G, list("ABC"), 100, 2, 2, 1, strategy=strategy).objective == pytest.approx(p.objective)


# --------------------------------------------------------------------------------------------- infeasible
def test_infeasible_hop_limit():
    # 300 km needs 2 repeaters; N_max = 1 allows one.
    p = plan_repeaters(path_graph(), ["A", "B"], 100, 1, 10, 1, threads=1)
    assert p.status == "infeasible" and not p.ok
    assert len(p.diagnosis) == 1 and "('A', 'B')" in p.diagnosis[0] and "3 links" in p.diagnosis[0]
    assert "N_max + 1 = 2" in p.diagnosis[0]
    assert verify_repeater_plan(path_graph(), ["A", "B"], p, 100, 1, 10, 1) == []


def test_infeasible_disconnected_and_long_fibre():
    G = path_graph()
    G.add_edge("C", "x", length_km=10.0)      # separate component
    G.add_edge("B", "E", length_km=150.0)     # fibre stretch longer than L_max, no node on it
    p = plan_repeaters(G, ["A", "B", "C", "E"], 100, 5, 10, 1, threads=1)
    assert p.status == "infeasible"
    text = "\n".join(p.diagnosis)
    assert "('A', 'C'): disconnected" in text and "('B', 'C'): disconnected" in text
    assert "('A', 'E'): no chain of elementary links" in text and "('B', 'E'): no chain" in text
    assert "('A', 'B')" not in text           # that pair is fine


def test_k2_disjoint_in_repeaters_not_in_fibre():
    # The paper's K paths are disjoint in repeaters (and elementary links), not physically: on a single
    # fibre with L_max = 100 km, chain A-n2-n4-B and chain A-n1-n3-n5-B share no repeater. That is the
    # only split (a chain must visit one of any two consecutive 50 km nodes), so 5 repeaters, 2 x 300 km.
    p = _plan(path_graph(), ["A", "B"], 100, 5, 10, 2)
    assert p.n_repeaters == 5 and p.objective == pytest.approx(5 + EPS * 600)
    assert sorted(map(tuple, p.chains[("A", "B")])) == [("A", "n1", "n3", "n5", "B"), ("A", "n2", "n4", "B")]
    assert _baseline(path_graph(), ["A", "B"], 100, 5, 10, 2)["objective"] == pytest.approx(p.objective)


def test_infeasible_k2_on_a_path():
    # L_max = 60 km: every chain must stop at every 50 km node, so there is only one chain.
    p = plan_repeaters(path_graph(), ["A", "B"], 60, 5, 10, 2, threads=1)
    assert p.status == "infeasible"
    assert p.diagnosis == ["pair ('A', 'B'): only 1 repeater-disjoint chain(s) of elementary links exist "
                           "(networkx node connectivity), K = 2 needed"]


def test_infeasible_capacity_jointly():
    # D = 1: three pairs need three repeater uses, at most one per hub, two hubs.
    G = star_graph()
    p = plan_repeaters(G, list("ABC"), 100, 2, 1, 1, threads=1)
    assert p.status == "infeasible"
    assert len(p.diagnosis) == 1 and "capacity D = 1" in p.diagnosis[0]
    assert math.isnan(_baseline(G, list("ABC"), 100, 2, 1, 1)["objective"])


def test_invalid_input_raises_all_problems():
    with pytest.raises(InputError) as e:
        plan_repeaters(path_graph(), ["A", "Z"], -1, 2, 1, 0)
    msg = str(e.value)
    assert "'Z'" in msg and "L_max_km" in msg and "K" in msg


# --------------------------------------------------------------------------------------------- brute force
def brute_force(G, C, L, N, D, K, eps):
    """Enumerate every combination of chains (all pairs, K repeater-disjoint chains each)."""
    d = dict(nx.all_pairs_dijkstra_path_length(G, weight=W))
    R = [v for v in G if v not in C]

    def chains(s, t):
        out = []

        def rec(c):
            if d[c[-1]].get(t, math.inf) <= L:
                out.append(c + [t])
            if len(c) - 1 < N:
                for r in R:
                    if r not in c and d[c[-1]].get(r, math.inf) <= L:
                        rec(c + [r])
        rec([s])
        return out

    def length(c):
        return sum(d[a][b] for a, b in zip(c[:-1], c[1:]))

    options = []
    for s, t in itertools.combinations(C, 2):
        opts = [combo for combo in itertools.combinations(chains(s, t), K)
                if len({r for c in combo for r in c[1:-1]}) == sum(len(c) - 2 for c in combo)]
        options.append(opts)
    best = [math.inf]

    def rec(q, use, reps, km):
        if q == len(options):
            best[0] = min(best[0], len(reps) + eps * km)
            return
        for combo in options[q]:
            rs = [r for c in combo for r in c[1:-1]]
            if any(use.get(r, 0) + 1 > D for r in rs):
                continue
            for r in rs:
                use[r] = use.get(r, 0) + 1
            rec(q + 1, use, reps | set(rs), km + sum(length(c) for c in combo))
            for r in rs:
                use[r] -= 1
    rec(0, {}, frozenset(), 0.0)
    return best[0]


def tiny_graph(seed):
    """9 nodes on a 200 km x 200 km square, geometric links up to 110 km (connected), 3 end nodes."""
    rng = random.Random(seed)
    while True:
        pos = {i: (rng.uniform(0, 200), rng.uniform(0, 200)) for i in range(9)}
        G = nx.Graph()
        G.add_nodes_from(pos)
        for u, v in itertools.combinations(pos, 2):
            km = math.dist(pos[u], pos[v])
            if km <= 110:
                G.add_edge(u, v, length_km=round(km, 3))
        if nx.is_connected(G):
            return G


# Values found by the brute force (capacity binds in each: D one higher gives fewer repeaters; the
# last case is infeasible only because of capacity).
@pytest.mark.parametrize("seed,L,N,D,K", [(4, 100, 2, 1, 1), (4, 100, 2, 2, 1), (6, 80, 3, 2, 1), (3, 120, 2, 2, 2),
                                          (6, 100, 2, 2, 2), (6, 100, 2, 3, 2), (4, 80, 2, 2, 1)])
def test_brute_force_agrees(seed, L, N, D, K):
    G = tiny_graph(seed)
    C = [0, 1, 2]
    expected = brute_force(G, C, L, N, D, K, EPS)
    p = plan_repeaters(G, C, L, N, D, K, eps=EPS, mip_gap=0.0, threads=1)
    base = _baseline(G, C, L, N, D, K)
    if math.isinf(expected):
        assert p.status == "infeasible" and p.diagnosis and math.isnan(base["objective"])
        return
    assert p.status == "optimal" and verify_repeater_plan(G, C, p, L, N, D, K) == []
    assert p.objective == pytest.approx(expected, abs=1e-9)
    assert base["objective"] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed,L", [(3, 80), (4, 100), (8, 100)])
def test_dominance_reduction_is_exact(seed, L):
    # K = 1 and D = 3 >= number of pairs: the dominance reduction applies and removes candidates here;
    # the optimum equals the brute force and the unreduced model's.
    G = tiny_graph(seed)
    C = [0, 1, 2]
    p = _plan(G, C, L, 3, 3, 1)
    assert p.sizes["dominated"] > 0
    assert p.objective == pytest.approx(brute_force(G, C, L, 3, 3, 1, EPS), abs=1e-9)
    assert _plan(G, C, L, 3, 3, 1, reduce=False).objective == pytest.approx(p.objective, abs=1e-9)


# --------------------------------------------------------------------------------------------- vs the paper's model
def random_fibre_graph(seed=7, n=30, size_km=500.0, radius_km=150.0):
    """Random geometric fibre graph (fixed seed); end nodes: the nodes nearest to the four corners."""
    rng = random.Random(seed)
    pos = {i: (rng.uniform(0, size_km), rng.uniform(0, size_km)) for i in range(n)}
    G = nx.Graph()
    G.add_nodes_from(pos)
    for u, v in itertools.combinations(pos, 2):
        km = math.dist(pos[u], pos[v])
        if km <= radius_km:
            G.add_edge(u, v, length_km=km)
    G = G.subgraph(max(nx.connected_components(G), key=len)).copy()
    corners = [(0, 0), (size_km, 0), (0, size_km), (size_km, size_km)]
    return G, [min(G, key=lambda v: math.dist(pos[v], c)) for c in corners]


@pytest.mark.parametrize("L,N,D,K", [(200, 6, 10, 1), (200, 6, 2, 1), (300, 4, 2, 2)])
def test_random_graph_matches_baseline(L, N, D, K):
    G, C = random_fibre_graph()
    base = _baseline(G, C, L, N, D, K)
    p = _plan(G, C, L, N, D, K)
    assert base["status"] == "optimal" and p.status == "optimal"
    assert p.objective == pytest.approx(base["objective"], rel=1e-9)
    assert p.n_repeaters == base["n_repeaters"]
    # the reductions and strategies change the model, not the optimum
    if K == 1:
        variants = [dict(reduce=False), dict(strategy="weighted"), dict(strategy="lexicographic")]
    else:
        variants = [dict(multi_path="layered"), dict(multi_path="indexed")]
    for kw in variants:
        assert _plan(G, C, L, N, D, K, **kw).objective == pytest.approx(base["objective"], rel=1e-9), kw


@pytest.mark.parametrize("D,n_rep", [(100, 3), (4, 4), (3, None)])
def test_abilene_matches_baseline(D, n_rep):
    G = _zoo("Abilene")
    C = ["Seattle", "New York", "Los Angeles", "Houston"]
    # Longest Abilene link (Los Angeles-Houston) is 2211 km geodesic; L_max = 1800 km keeps the
    # network connected through the other links. D = 4 binds (one more repeater), D = 3 is infeasible.
    base = _baseline(G, C, 1800, 4, D, 1)
    p = _plan(G, C, 1800, 4, D, 1)
    if n_rep is None:
        assert base["status"] == p.status == "infeasible"
        assert p.diagnosis == [f"every pair can be served on its own, but not all together: repeater capacity "
                               f"D = {D} is too small for the chains the pairs must share"]
        return
    assert base["status"] == p.status == "optimal"
    assert p.n_repeaters == base["n_repeaters"] == n_rep
    assert p.objective == pytest.approx(base["objective"], rel=1e-9)


def test_default_eps_keeps_length_below_one_repeater():
    eps = default_eps(n_pairs=15, K=2, N_max=6, L_max_km=900)
    assert eps * 15 * 2 * 7 * 900 < 1


# --------------------------------------------------------------------------------------------- verification
def test_verify_catches_broken_plans():
    G = path_graph()
    p = _plan(G, ["A", "B"], 100, 5, 10, 1)
    # a repeater removed from the list, but still used by the path
    bad = RepeaterPlan(**{**p.__dict__, "repeaters": ["n2"], "n_repeaters": 1})
    v = verify_repeater_plan(G, ["A", "B"], bad, 100, 5, 10, 1)
    assert any("'n4', which holds no repeater" in s for s in v)
    # an elementary link that is too long for a tighter L_max, and too many repeaters for N_max = 1
    v = verify_repeater_plan(G, ["A", "B"], p, 90, 1, 10, 1)
    assert any("> L_max = 90" in s for s in v) and any("2 repeaters > N_max = 1" in s for s in v)
    # capacity: one repeater used by two paths with D = 1
    Gs = star_graph()
    ps = _plan(Gs, list("ABC"), 100, 2, 3, 1)
    assert any("used by 3 paths > D = 1" in s for s in verify_repeater_plan(Gs, list("ABC"), ps, 100, 2, 1, 1))
    # K = 2 required but one path given
    assert any("K = 2 required" in s for s in verify_repeater_plan(G, ["A", "B"], p, 100, 5, 10, 2))


def test_multigraph_and_unlimited_parameters():
    # A parallel 500 km fibre does not change anything (the shortest parallel edge counts);
    # N_max = D = inf mean no limit.
    M = nx.MultiGraph(path_graph())
    M.add_edge("A", "n1", length_km=500.0)
    p = plan_repeaters(M, ["A", "B"], 100, math.inf, math.inf, 1, eps=EPS, threads=1)
    assert p.repeaters == ["n2", "n4"] and p.objective == pytest.approx(2 + EPS * 300)
    assert verify_repeater_plan(M, ["A", "B"], p, 100, 10, 10, 1) == []


def test_graphml_loader(tmp_path):
    import gzip

    xml = """<?xml version="1.0" encoding="utf-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key attr.name="label" attr.type="string" for="node" id="d0"/>
  <key attr.name="Latitude" attr.type="double" for="node" id="d1"/>
  <key attr.name="Longitude" attr.type="double" for="node" id="d2"/>
  <graph edgedefault="undirected">
    <node id="0"><data key="d0">East</data><data key="d1">0.0</data><data key="d2">1.0</data></node>
    <node id="1"><data key="d0">West</data><data key="d1">0.0</data><data key="d2">0.0</data></node>
    <node id="2"><data key="d0">Nowhere</data></node>
    <edge source="0" target="1"/><edge source="0" target="1"/><edge source="1" target="2"/>
  </graph>
</graphml>"""
    path = tmp_path / "tiny.graphml.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(xml)
    G = fibre_graph_from_graphml(path)
    assert sorted(G) == ["East", "West"] and G.number_of_edges() == 1
    # one degree of longitude on the WGS84 equator: 111.319 km
    assert G.edges["East", "West"]["length_km"] == pytest.approx(111.319, abs=1e-3)


def test_large_eps_trades_repeaters_for_length():
    # A-x-B: 100 + 100 km, one repeater; A-y1-y2-B: 3 x 60 km, two repeaters (A-y2 is 120 km > L_max).
    # eps = 0.1/km: 1 + 20 = 21 against 2 + 18 = 20, so the paper's objective takes two repeaters. The
    # lexicographic strategy proves n* = 1 first, sees eps * km >= 1 and falls back to the weighted model.
    G = _graph([("A", "x", 100), ("x", "B", 100), ("A", "y1", 60), ("y1", "y2", 60), ("y2", "B", 60)])
    for strategy in ("weighted", "lexicographic"):
        p = _plan(G, ["A", "B"], 100, 3, 1, 1, eps=0.1, strategy=strategy)
        assert sorted(p.repeaters) == ["y1", "y2"] and p.objective == pytest.approx(20.0)
    assert p.sizes["solve_path"].get("fallback") is True
    assert _baseline(G, ["A", "B"], 100, 3, 1, 1, eps=0.1)["objective"] == pytest.approx(20.0)
