"""Candidate trusted nodes and the hop table: every number the optimiser needs, as pruned NumPy tables.

A *hop* is a pair of candidate nodes joined by their lowest-loss fibre path; QKD devices on a hop bypass any
nodes in between optically. Hop loss = sum over fibre segments of (attenuation + splice loss per km) x length
+ the connector loss of the hop. For each hop and each device type of the catalog, the secret-key rate per
device pair comes from :mod:`qtopo.keyrate`; (hop, device) entries with zero rate are dropped.

Pruning (exact):
- components of the fibre graph without any demand endpoint are dropped;
- blocks of the fibre graph hanging off a cut vertex with no demand endpoint are dropped when none of their
  nodes is cheaper than the cut vertex: a key route entering such a block must leave through the same cut
  vertex, so the cut vertex serves as relay with shorter (lower-loss) hops at no higher cost;
- hops are only built up to the loss at which the best device's rate reaches zero.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra, maximum_flow

from .errors import ProblemCollector
from .topology import FibreNetwork

log = logging.getLogger(__name__)

REACH_GRID_DB = np.arange(0.0, 120.0, 0.01)
#: Hop-device options whose whole capacity (``max_pairs_per_link`` x rate per pair) is below this share of the
#: smallest demand target are not candidates (see :func:`build_inputs`).
MIN_CAPACITY_SHARE = 1e-3


@dataclass
class PlanningInputs:
    """Everything the model needs, precomputed and pruned.

    Attributes
    ----------
    network : FibreNetwork
        The full noded fibre network (for maps and verification).
    nodes : DataFrame
        Candidate nodes kept after pruning, indexed by node id: ``lon``, ``lat``, ``kind``, ``capex_eur``
        (resolved), ``terminal`` (bool: a demand endpoint, always open).
    hops : DataFrame
        ``u``, ``v`` (node ids, u < v), ``length_km``, ``loss_db``, ``path`` (tuple of node ids along the fibre).
    hop_devices : DataFrame
        One row per usable (hop, device): ``hop``, ``device``, ``protocol``, ``rate_bps_per_pair``,
        ``max_pairs``, ``pair_cost_eur``, ``cost_per_pair_eur`` (device pair + fibre), ``ub_pairs``.
    demands : DataFrame
        ``source``, ``target`` (site ids), ``source_node``, ``target_node``, ``target_bps``, ``commodity``.
    diagnosis : list of dict
        Demands that cannot be served, with the reason (found before the MILP).
    """

    network: FibreNetwork
    nodes: pd.DataFrame
    hops: pd.DataFrame
    hop_devices: pd.DataFrame
    demands: pd.DataFrame
    devices: dict
    params: dict
    diagnosis: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)

    @property
    def feasible_precheck(self) -> bool:
        return not self.diagnosis


def edge_loss_db(edges: pd.DataFrame, attenuation_db_per_km: float, splice_loss_db_per_km: float) -> np.ndarray:
    """Loss of each fibre segment in dB: (attenuation + splice loss per km) x length; per-route override wins."""
    att = edges["attenuation_db_per_km"].to_numpy(dtype=float)
    att = np.where(np.isfinite(att), att, attenuation_db_per_km)
    return (att + splice_loss_db_per_km) * edges["length_km"].to_numpy(dtype=float)


def device_reach_db(device) -> float:
    """Largest total channel loss (dB) at which ``device`` still yields a positive key rate (0.01 dB grid)."""
    from .keyrate import secret_key_rate_bps

    r = secret_key_rate_bps(REACH_GRID_DB, device)
    pos = np.flatnonzero(r > 0)
    return float(REACH_GRID_DB[pos[-1]]) if len(pos) else 0.0


def _prune_blocks(G: nx.Graph, terminals: set, capex: dict) -> set:
    """Nodes to drop: terminal-free components, and terminal-free hanging blocks (see module docstring)."""
    drop = set()
    for comp in nx.connected_components(G):
        if not (comp & terminals):
            drop |= comp
    H = G.subgraph(set(G) - drop)
    blocks = [set(b) for b in nx.biconnected_components(H)]
    cuts = set(nx.articulation_points(H))
    # block-cut tree adjacency
    blocks_of = {c: set() for c in cuts}
    for i, b in enumerate(blocks):
        for c in b & cuts:
            blocks_of[c].add(i)
    alive = set(range(len(blocks)))
    changed = True
    while changed:
        changed = False
        for i in list(alive):
            b = blocks[i]
            bc = [c for c in b & cuts if len(blocks_of[c]) > 1]
            if len(bc) != 1:
                continue
            c = bc[0]
            inner = b - {c}
            if inner & terminals:
                continue
            if min(capex[n] for n in inner) < capex[c]:
                continue
            drop |= inner
            alive.discard(i)
            blocks_of[c].discard(i)
            changed = True
    return drop


def _choose_sources(pairs: list[tuple[str, str]]) -> list[str]:
    """Orient each demand so that few sources cover all (greedy vertex cover); returns the source per demand."""
    remaining = set(range(len(pairs)))
    src = [None] * len(pairs)
    while remaining:
        count: dict[str, int] = {}
        for i in remaining:
            for n in pairs[i]:
                count[n] = count.get(n, 0) + 1
        best = min(count, key=lambda n: (-count[n], n))
        for i in list(remaining):
            if best in pairs[i]:
                src[i] = best
                remaining.discard(i)
    return src


#: ``commodities = "auto"`` keeps one commodity per demand (the tighter LP) only while that gives at most this many
#: flow columns (demands x 2 x hops); above it demands are aggregated by source (exact; 3x fewer columns for
#: all-pairs demands). Measured on nat-grnet (15 demands, 10,012 hops, 2 cores, loaded): per demand 311k columns /
#: 2.04M nonzeros, LP relaxation 4.382 M in 286 s by interior point; by source 113k / 0.72M, LP 4.376 M in 69 s --
#: the same bound (0.1 % apart) from a model whose root LP finishes within the time limit.
PER_DEMAND_MAX_FLOW_COLUMNS = 100_000


def build_inputs(net: FibreNetwork, demands: pd.DataFrame, scenario, *, prune: bool = True,
                 aggregate: bool | None = None) -> PlanningInputs:
    """Compute candidates, hops, per-device rates and demand commodities.

    The steps, each a function of this module: :func:`_candidate_nodes` (capex, brownfield nodes),
    :func:`_place_demands` (requirements, fibre nodes of the endpoints), :func:`_fibre_graph` and
    :func:`_prune_blocks`, :func:`_devices_and_reach`, :func:`_lowest_loss_paths`, :func:`_hop_device_options`
    (rates per hop and device, repeater chains), :func:`_hop_table` (used hops, costs, pair bounds),
    :func:`_apply_brownfield`, governance (:func:`_forbidden_nodes`), :func:`_hop_risks`, commodities.

    Parameters
    ----------
    net : FibreNetwork
    demands : DataFrame
        From :func:`qtopo.io.read_demands` (site ids).
    scenario : Scenario
    prune : bool
        Apply the exact pruning rules of the module docstring.
    aggregate : bool, optional
        Aggregate demands into one commodity per source (exact for the basic design problem, smaller model,
        weaker LP bound). Default from ``solver.commodities``: ``auto`` aggregates above 40 demands or above
        :data:`PER_DEMAND_MAX_FLOW_COLUMNS` per-demand flow columns.
    """
    from .requirements import has_governance

    t0 = time.perf_counter()
    auto = False
    if aggregate is None:
        mode = scenario.solver.get("commodities", "auto")
        aggregate = mode == "source" or (mode == "auto" and len(demands) > 40)
        auto = mode == "auto" and not aggregate
    fib = scenario.fibre
    nodes = _candidate_nodes(net, scenario.costs)
    d = _place_demands(demands, net)
    budget_mode = scenario.objective.get("mode") == "max_rate"
    if d["routed"].any() or has_governance(d) or budget_mode:
        aggregate = auto = False  # per-demand commodities: filters and per-route limits are per demand
    terminals = set(d.source_node) | set(d.target_node)
    nodes["terminal"] = nodes.index.isin(terminals)

    edges = net.edges
    loss_e = edge_loss_db(edges, fib["attenuation_db_per_km"], fib["splice_loss_db_per_km"])
    G = _fibre_graph(nodes.index, edges, loss_e)
    n_fibre_nodes = G.number_of_nodes()
    dropped = _prune_blocks(G, terminals, nodes["capex_eur"].to_dict()) if prune else set()
    nodes = nodes.loc[[n for n in nodes.index if n not in dropped]]
    t_prune = time.perf_counter()

    devices, reach, path_limit, rep = _devices_and_reach(scenario)
    conn = fib["connector_loss_db"]
    paths = _lowest_loss_paths(nodes.index, edges, loss_e, path_limit)
    t_paths = time.perf_counter()

    min_target = float(d["target_bps"].min()) if len(d) else 0.0
    floor_share = 0.0 if scenario.inputs.get("existing_links") else MIN_CAPACITY_SHARE
    hd, n_tiny = _hop_device_options(paths, devices, rep, conn, floor_share * min_target)
    hd, n_lit = _fibre_options(hd, paths, edges, loss_e, devices, conn, fib, floor_share * min_target)
    total = float(d["target_bps"].sum() * max(1, d["k_routes"].max()))
    hops, hd = _hop_table(paths, hd, conn, scenario.costs["fibre_eur_per_km"], total)
    if scenario.inputs.get("existing_links"):
        _apply_brownfield(hd, hops, nodes, net, scenario)
    d["forbidden"] = _forbidden_nodes(d, nodes, net, scenario)  # governance: who may not hold each key
    if (d["k_routes"] > 1).any():
        hops["risk"] = _hop_risks(hops["path"], edges, loss_e, scenario.risk)
    t_rates = time.perf_counter()

    pairs = list(zip(d.source_node, d.target_node))
    if auto and len(d) * 2 * len(hops) > PER_DEMAND_MAX_FLOW_COLUMNS:
        aggregate = True  # the per-demand model would be too large for its root LP to finish (see the constant)
    d["commodity"] = _choose_sources(pairs) if aggregate else [f"{s}|{t}" for s, t in pairs]
    inputs = PlanningInputs(
        network=net, nodes=nodes, hops=hops, hop_devices=hd.reset_index(drop=True), demands=d,
        devices={k: v[1] for k, v in devices.items()},
        params={"connector_loss_db": conn, "attenuation_db_per_km": fib["attenuation_db_per_km"],
                "splice_loss_db_per_km": fib["splice_loss_db_per_km"], "reach_db": reach,
                "aggregate": aggregate, "budget_mode": budget_mode, "repeaters": rep},
    )
    inputs.diagnosis = diagnose_demands(inputs, G)
    n_options = len(hd)
    n_dominated = 0
    if prune:
        keep = dominated_options_keep(inputs)
        n_dominated = int((~keep).sum())
        if n_dominated:
            inputs.hop_devices = inputs.hop_devices[keep].reset_index(drop=True)
    inputs.stats = {"fibre_nodes": n_fibre_nodes, "fibre_edges": int(len(edges)),
                    "candidates": int(len(nodes)), "pruned_nodes": len(dropped), "hops": int(len(hops)),
                    "hop_devices": int(len(inputs.hop_devices)), "hop_devices_before_dominance": int(n_options),
                    "dominated_options": n_dominated, "tiny_capacity_options": n_tiny, "demands": int(len(d)),
                    "commodities": int(d["commodity"].nunique())}
    if n_lit is not None:  # only for networks with lit / dark fibre columns (other plans keep their stats)
        inputs.stats["lit_options"] = n_lit
    inputs.timings_s = {"prune": t_prune - t0, "paths": t_paths - t_prune, "rates": t_rates - t_paths,
                        "diagnose": time.perf_counter() - t_rates}
    log.info("hops: %s", inputs.stats)
    return inputs


def _candidate_nodes(net: FibreNetwork, costs: dict) -> pd.DataFrame:
    """The fibre nodes with their capex (a site's own, else the default of its kind) and brownfield state
    (an existing node's capex is sunk: ``sunk_capex_eur``, and costs nothing more)."""
    nodes = net.nodes.copy()
    default = np.where(nodes["kind"].to_numpy() == "hut", costs["hut_node_eur"], costs["trusted_node_eur"])
    nodes["capex_eur"] = np.where(np.isfinite(nodes["capex_eur"].to_numpy(float)), nodes["capex_eur"], default)
    if "existing" not in nodes.columns:
        nodes["existing"] = False
    nodes["existing"] = nodes["existing"].fillna(False).astype(bool)
    nodes["sunk_capex_eur"] = np.where(nodes["existing"], nodes["capex_eur"], 0.0)
    nodes.loc[nodes["existing"], "capex_eur"] = 0.0  # brownfield: already built
    return nodes


def _place_demands(demands: pd.DataFrame, net: FibreNetwork) -> pd.DataFrame:
    """Demands with their requirements parsed and the fibre nodes of their endpoints; two endpoints on one
    fibre node raise :class:`InputError` (all such demands at once)."""
    from .requirements import parse_requirements

    d = parse_requirements(demands)
    _check_governance_ids(d, net, demands.attrs.get("file", "demands"))
    col = ProblemCollector("demands cannot be placed on the network")
    d["source_node"] = d["source"].map(net.site_node)
    d["target_node"] = d["target"].map(net.site_node)
    for i, r in d.iterrows():
        if r.source_node == r.target_node and isinstance(r.source_node, str):
            col.add(f"demand {r.source}->{r.target}",
                    f"both sites snap to the same fibre node {r.source_node!r}",
                    "the sites are closer than the snapping tolerance: merge them or lower network.snap_tolerance_m")
    col.raise_if_any()
    return d


def _fibre_graph(node_ids, edges, loss_e: np.ndarray) -> nx.Graph:
    """The fibre graph with each edge's ``loss_db`` (the lowest-loss segment of parallel ones) and index ``e``."""
    G = nx.Graph()
    G.add_nodes_from(node_ids)
    order = np.argsort(-loss_e)  # keep the lowest-loss parallel segment (added last)
    G.add_edges_from((edges.u.iat[i], edges.v.iat[i], {"loss_db": loss_e[i], "e": int(i)}) for i in order)
    return G


def _devices_and_reach(scenario) -> tuple[dict, dict, float, dict | None]:
    """``({name: (spec, Device)}, {name: reach_db}, path loss limit in dB, repeater limits or None)``.

    The path limit is the longest reach less the connectors (or ``network.max_hop_loss_db``), or further when
    repeater chains are offered."""
    fib = scenario.fibre
    devices, reach = {}, {}
    for spec in scenario.devices:
        dev = spec.device()
        devices[spec.name] = (spec, dev)
        reach[spec.name] = device_reach_db(dev)
    max_loss = max(reach.values()) if reach else 0.0
    if scenario.network.get("max_hop_loss_db"):
        max_loss = min(max_loss, scenario.network["max_hop_loss_db"])
    path_limit = max_loss - fib["connector_loss_db"]
    rep = resolve_repeater_limits(scenario)
    if rep is not None:  # repeater chains reach further than any single QKD link
        per_km = fib["attenuation_db_per_km"] + fib["splice_loss_db_per_km"]
        path_limit = max(path_limit, (rep["n_max"] + 1) * rep["l_max_km"] * per_km * 1.05)
    return devices, reach, path_limit, rep


@dataclass
class _Paths:
    """Lowest-loss fibre paths between candidate pairs ``(iu[k], iv[k])`` within the loss limit."""

    ids: np.ndarray        # candidate node ids, by index
    idx: dict              # node id -> index
    iu: np.ndarray
    iv: np.ndarray
    dist: np.ndarray       # all-pairs path loss (dB, inf beyond the limit)
    loss_db: np.ndarray    # per pair: path loss (without connectors)
    length_km: np.ndarray  # per pair
    nodes: list            # per pair: fibre node ids along the path
    Lk: csr_matrix         # segment lengths (km) between adjacent nodes


def _lowest_loss_paths(node_ids, edges, loss_e: np.ndarray, path_limit: float) -> _Paths:
    """All-pairs lowest-loss paths among the kept nodes (scipy Dijkstra, limited to ``path_limit`` dB)."""
    idx = {n: i for i, n in enumerate(node_ids)}
    ids = np.asarray(node_ids)
    eu = edges.u.map(idx).to_numpy()
    ev = edges.v.map(idx).to_numpy()
    ok = ~(pd.isna(eu) | pd.isna(ev))
    eu, ev, le = eu[ok].astype(int), ev[ok].astype(int), loss_e[ok]
    len_e = edges.length_km.to_numpy()[ok]
    n = len(ids)
    # lowest loss per node pair (parallel segments): sort descending, later assignment wins
    o = np.argsort(-le)
    W = {}
    for a, b, l, k in zip(eu[o], ev[o], le[o], len_e[o]):
        W[(a, b)] = W[(b, a)] = (l, k)
    if W:
        keys = np.array(list(W.keys()))
        vals = np.array(list(W.values()))
        A = csr_matrix((np.maximum(vals[:, 0], 1e-12), (keys[:, 0], keys[:, 1])), shape=(n, n))
        Lk = csr_matrix((vals[:, 1], (keys[:, 0], keys[:, 1])), shape=(n, n))
    else:
        A = csr_matrix((n, n)); Lk = csr_matrix((n, n))
    if path_limit > 0 and n:
        dist, pred = dijkstra(A, directed=False, return_predecessors=True, limit=path_limit)
    else:
        dist = np.full((n, n), np.inf); pred = np.full((n, n), -9999)
    iu, iv = np.nonzero(np.isfinite(dist) & (np.arange(n)[:, None] < np.arange(n)[None, :]))
    lengths, nodes = _walk_paths(pred, iu, iv, Lk, ids)
    return _Paths(ids=ids, idx=idx, iu=iu, iv=iv, dist=dist, loss_db=dist[iu, iv], length_km=lengths,
                  nodes=nodes, Lk=Lk)


_HOP_DEVICE_COLUMNS = ["hop", "device", "protocol", "rate_bps_per_pair", "max_pairs", "pair_cost_eur", "relay",
                       "repeaters"]


def _hop_device_options(paths: _Paths, devices: dict, rep: dict | None, conn: float,
                        floor_bps: float) -> tuple[pd.DataFrame, int]:
    """One row per usable (path, device): rate per pair, pair bounds and cost; repeater chains as device
    ``repeater``. Returns the table (``hop`` indexes ``paths``) and the number of options dropped as too small.

    An option whose whole capacity (max pairs x rate) is below ``floor_bps`` cannot carry a meaningful share
    of any demand; its tiny coefficients (down to 1e-7 bit/s) made HiGHS's presolve return an inconsistent
    objective on a fuzzed instance (brownfield scenarios pass 0 and keep every option: an installed link must
    stay matchable)."""
    from .keyrate import PROTOCOLS, secret_key_rate_bps

    hop_loss = paths.loss_db + conn
    rows = []
    n_tiny = 0
    for name, (spec, dev) in devices.items():
        if PROTOCOLS[dev.protocol].relay_in_middle:
            relay, r = _relay_rates(paths.nodes, paths.iu, paths.dist, paths.idx, dev, conn)
        else:
            relay, r = np.full(len(paths.iu), None, dtype=object), secret_key_rate_bps(hop_loss, dev)
        m = (r > 0) & (r * spec.max_pairs_per_link >= floor_bps)
        n_tiny += int(((r > 0) & ~m).sum())
        rows.append(pd.DataFrame({"hop": np.flatnonzero(m), "device": name, "protocol": dev.protocol,
                                  "rate_bps_per_pair": r[m], "max_pairs": spec.max_pairs_per_link,
                                  "pair_cost_eur": spec.pair_cost_eur, "relay": relay[m]}))
    for r_ in rows:
        r_["repeaters"] = [()] * len(r_)
    if rep is not None:
        chains = _repeater_chains(paths.nodes, paths.Lk, paths.idx, rep["l_max_km"], rep["n_max"])
        ok = np.array([c_ is not None for c_ in chains], bool)
        rows.append(pd.DataFrame({
            "hop": np.flatnonzero(ok), "device": "repeater", "protocol": "repeater-chain",
            "rate_bps_per_pair": rep["rate_bps"], "max_pairs": rep["max_chains_per_link"],
            "pair_cost_eur": rep["chain_cost_eur"], "relay": None,
            "repeaters": [chains[k] for k in np.flatnonzero(ok)]}))
    hd = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=_HOP_DEVICE_COLUMNS)
    return hd, n_tiny


def hop_fibre(paths_nodes, edges, loss_e: np.ndarray) -> dict | None:
    """Lit / dark fibre attributes of each hop's fibre path, or None when the routes carry none of the columns.

    Per hop (in the order of ``paths_nodes``): ``dark`` (every segment on the path offers dark fibre),
    ``lease_eur`` (sum of the segments' shares of their routes' dark-fibre leases), ``lit`` (every segment is
    lit) and ``launch_dbm`` (the highest launch power of its segments; ``-inf`` if not lit). Between two nodes
    the lowest-loss segment is the one a path uses (as in :func:`_lowest_loss_paths`). Vectorised over all
    path steps: one ``reduceat`` per attribute.
    """
    from .risk import lowest_loss_segment_index
    from .topology import FIBRE_COLUMNS

    if not any(c in edges.columns for c in FIBRE_COLUMNS):
        return None
    n = len(paths_nodes)
    seg_of = lowest_loss_segment_index(edges, loss_e)
    counts = np.fromiter((len(p) - 1 for p in paths_nodes), int, n)
    seg = np.fromiter((seg_of[(a, b)] for p in paths_nodes for a, b in zip(p[:-1], p[1:])), int, int(counts.sum()))
    dark_e = edges["dark_fibre"].to_numpy(bool) if "dark_fibre" in edges.columns else np.ones(len(edges), bool)
    lease_e = (np.nan_to_num(edges["dark_lease_eur"].to_numpy(float)) if "dark_lease_eur" in edges.columns
               else np.zeros(len(edges)))
    launch_e = (edges["lit_launch_dbm"].to_numpy(float) if "lit_launch_dbm" in edges.columns
                else np.full(len(edges), np.nan))
    out = {"dark": np.ones(n, bool), "lease_eur": np.zeros(n), "lit": np.zeros(n, bool),
           "launch_dbm": np.full(n, -np.inf)}
    ok = counts > 0
    if seg.size:
        start = np.r_[0, np.cumsum(counts)[:-1]][ok]
        lit_s = np.isfinite(launch_e[seg])
        out["dark"][ok] = np.minimum.reduceat(dark_e[seg].astype(int), start).astype(bool)
        out["lease_eur"][ok] = np.add.reduceat(lease_e[seg], start)
        out["lit"][ok] = np.minimum.reduceat(lit_s.astype(int), start).astype(bool)
        out["launch_dbm"][ok] = np.maximum.reduceat(np.where(lit_s, launch_e[seg], -np.inf), start)
    out["launch_dbm"] = np.where(out["lit"], out["launch_dbm"], -np.inf)
    return out


def lit_fibre_params(fib: dict, launch_dbm: float | None = None):
    """The scenario's Raman parameters (``[fibre] raman_*``) as a :class:`qtopo.keyrate.raman.LitFibre`."""
    from .keyrate.raman import LitFibre

    w = fib.get("raman_window_ns", 0.0)
    return LitFibre(launch_dbm, cross_section_per_km_nm=fib.get("raman_cross_section_per_km_nm", 3e-9),
                    filter_nm=fib.get("raman_filter_nm", 0.8), window_ns=w if w else None,
                    direction=fib.get("raman_direction", "forward"))


def lit_hop_rates(dev, length_km, fibre_loss_db, loss_db, launch_dbm, fib: dict) -> np.ndarray:
    """Key rate per device pair (bit/s) on lit hops: Raman noise of the classical launch power ``launch_dbm``
    (per hop) over the hop's whole length, added to the receiver's dark counts (docs/lit_fibre.md)."""
    from .keyrate.raman import lit_key_rate_bps, noise_photons_per_window, raman_power_w

    lit = lit_fibre_params(fib)
    p = raman_power_w(np.asarray(launch_dbm, float), length_km, fibre_loss_db, lit.beta_per_km, lit.direction)
    noise = noise_photons_per_window(p, lit.window_s(dev), lit.wavelength_nm)
    return lit_key_rate_bps(np.asarray(loss_db, float), dev, noise)


def _fibre_options(hd: pd.DataFrame, paths: _Paths, edges, loss_e: np.ndarray, devices: dict, conn: float,
                   fib: dict, floor_bps: float) -> tuple[pd.DataFrame, int | None]:
    """Dark and lit fibre per hop (docs/lit_fibre.md). Returns the options and the number of lit options (None
    when the routes carry no lit / dark fibre columns: then every option is dark, as before, at no lease).

    A hop is *dark* only if every route segment it follows offers dark fibre; a dark pair pays the sum of the
    segments' lease shares (``lease_eur``, on top of ``fibre_eur_per_km``). A hop is offered *lit* only if every
    segment is lit; its noise is that of the highest segment launch power over the hop's whole length (the
    classical channels run the hop end to end; no amplification inside a hop), and a lit pair pays its device
    pair only. Lit options are added for point-to-point DV devices (not MDI / twin-field relays, CV-QKD or
    repeater chains) where the device has a dark-fibre key, after the dark options, so row order of plans
    without the columns is unchanged.
    """
    from .keyrate import PROTOCOLS

    hd = hd.copy()
    hd["fibre"] = "dark"
    info = hop_fibre(paths.nodes, edges, loss_e)
    if info is None:
        return hd, None
    h = hd["hop"].to_numpy(int)
    hd["lease_eur"] = info["lease_eur"][h] if len(hd) else []
    rows = []
    for name, (spec, dev) in devices.items():
        if PROTOCOLS[dev.protocol].relay_in_middle or dev.protocol == "cv-gg02":
            continue
        cand = np.unique(h[(hd["device"] == name).to_numpy()])
        cand = cand[info["lit"][cand]]
        if cand.size == 0:
            continue
        r = lit_hop_rates(dev, paths.length_km[cand], paths.loss_db[cand], paths.loss_db[cand] + conn,
                          info["launch_dbm"][cand], fib)
        m = (r > 0) & (r * spec.max_pairs_per_link >= floor_bps)
        rows.append(pd.DataFrame({"hop": cand[m], "device": name, "protocol": dev.protocol,
                                  "rate_bps_per_pair": r[m], "max_pairs": spec.max_pairs_per_link,
                                  "pair_cost_eur": spec.pair_cost_eur, "relay": None,
                                  "repeaters": [()] * int(m.sum()), "fibre": "lit", "lease_eur": 0.0}))
    keep = info["dark"][h] if len(hd) else np.zeros(0, bool)
    n_lit = int(sum(len(x) for x in rows))
    out = pd.concat([hd[keep], *rows], ignore_index=True) if rows or not keep.all() else hd
    return out, n_lit


def _hop_table(paths: _Paths, hd: pd.DataFrame, conn: float, fibre_eur_per_km: float,
               total_bps: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The hops that have an option (renumbered), and the options with length, cost per pair and the tight
    pair bound ``min(max_pairs, ceil(total demand / rate))``."""
    used_hops = np.unique(hd["hop"].to_numpy(int))
    remap = -np.ones(len(paths.iu), int)
    remap[used_hops] = np.arange(len(used_hops))
    iu, iv = paths.iu[used_hops], paths.iv[used_hops]
    hd["hop"] = remap[hd["hop"].to_numpy(int)]
    lengths = paths.length_km[used_hops]
    hops = pd.DataFrame({"u": paths.ids[iu], "v": paths.ids[iv], "length_km": lengths,
                         "loss_db": paths.loss_db[used_hops] + conn, "path": [paths.nodes[i] for i in used_hops]})
    hd["length_km"] = lengths[hd["hop"].to_numpy(int)] if len(hd) else []
    hd["cost_per_pair_eur"] = hd["pair_cost_eur"] + fibre_eur_per_km * hd["length_km"]
    if "lease_eur" in hd.columns:  # lit / dark fibre (see _fibre_options): dark pairs lease, lit pairs share
        lit = (hd["fibre"] == "lit").to_numpy()
        hd["cost_per_pair_eur"] = np.where(lit, hd["pair_cost_eur"], hd["cost_per_pair_eur"] + hd["lease_eur"])
    hd["ub_pairs"] = np.minimum(hd["max_pairs"], np.ceil(total_bps / hd["rate_bps_per_pair"] - 1e-9)).astype(int)
    hd["existing_pairs"] = 0
    return hops, hd


def _apply_brownfield(hd: pd.DataFrame, hops: pd.DataFrame, nodes: pd.DataFrame, net, scenario) -> None:
    """Installed device pairs bound their options' pairs from below; the nodes holding them are built (their
    capex is sunk, like an ``existing`` site's). An installed pair of an MDI / twin-field device comes with its
    untrusted relay station, an installed repeater chain with its repeater stations (both are fixed by the hop and
    the device): those stations are built too (``relay_built`` / ``repeater_built``; capex 0, nominal capex
    reported as sunk), so a plan read back from its own export buys nothing again."""
    _apply_existing_links(hd, hops, net, scenario)
    hd["ub_pairs"] = np.maximum(hd["ub_pairs"], hd["existing_pairs"])
    ex_opt = hd["existing_pairs"].to_numpy(int) > 0
    h_ex = hd.loc[ex_opt, "hop"].to_numpy(int)
    ex_nodes = set(hops.u.to_numpy()[h_ex]) | set(hops.v.to_numpy()[h_ex])
    relays = {r for r in hd.loc[ex_opt, "relay"] if r is not None} if "relay" in hd.columns else set()
    reps = {x for rs in hd.loc[ex_opt, "repeaters"] for x in rs} if "repeaters" in hd.columns else set()
    nodes["relay_built"] = nodes.index.isin(relays)
    nodes["repeater_built"] = nodes.index.isin(reps)
    costs = scenario.costs
    nominal_relay = np.where(nodes["kind"].to_numpy() == "hut", costs["hut_node_eur"], costs["relay_node_eur"])
    rep_eur = float(scenario.repeaters["repeater_node_eur"]) if getattr(scenario, "repeaters", None) else 0.0
    nodes["relay_sunk_eur"] = np.where(nodes["relay_built"].to_numpy(bool), nominal_relay, 0.0)
    nodes["repeater_sunk_eur"] = np.where(nodes["repeater_built"].to_numpy(bool), rep_eur, 0.0)
    mask = nodes.index.isin(ex_nodes) & ~nodes["existing"].to_numpy(bool)
    nodes.loc[mask, "sunk_capex_eur"] = nodes.loc[mask, "capex_eur"]
    nodes.loc[mask, "capex_eur"] = 0.0
    nodes.loc[mask, "existing"] = True


def _hop_risks(hop_paths, edges, loss_e: np.ndarray, risk: dict) -> list:
    """Shared-risk groups of each hop's fibre path (for disjoint routes)."""
    from .risk import lowest_loss_segment_index, path_risks, segment_risks

    seg_risk = segment_risks(edges, risk["srg_buffer_m"], risk["srg_min_overlap_km"])
    seg_index = lowest_loss_segment_index(edges, loss_e)
    return [path_risks(p, seg_index, seg_risk) for p in hop_paths]


def _walk_paths(pred, iu, iv, Lk, ids):
    """Fibre paths and lengths of all hops at once, walking predecessors for every hop in parallel."""
    cur = iv.copy()
    lengths = np.zeros(len(iu))
    steps = [cur.copy()]
    active = cur != iu
    Lk = Lk.tocsr()
    while active.any():
        prev = np.where(active, pred[iu, cur], cur)
        a = np.flatnonzero(active)
        lengths[a] += np.asarray(Lk[prev[a], cur[a]]).ravel()
        cur = prev
        steps.append(cur.copy())
        active = cur != iu
    S = np.vstack(steps).T  # hop x steps, v ... u then repeated u
    paths = []
    for h in range(len(iu)):
        row = S[h]
        k = int(np.argmax(row == iu[h]))
        paths.append(tuple(ids[row[k::-1]]))
    return lengths, paths


def resolve_repeater_limits(scenario) -> dict | None:
    """The scenario's repeater-chain parameters, with L_max / N_max derived from targets when not given.

    Derivation (``l_max_km = 0``): :func:`qtopo.keyrate.repeater_chain_limits` turns ``rate_bps`` and
    ``fidelity_target`` into the longest elementary link and the most repeaters per chain, the placement
    constraints of Rabbie et al., npj Quantum Inf. 8, 5 (2022).
    """
    rp = getattr(scenario, "repeaters", None) or {}
    if not rp.get("enabled"):
        return None
    out = dict(rp)
    if not rp.get("l_max_km"):
        from .keyrate import repeater_chain_limits

        L, N = repeater_chain_limits(rp["rate_bps"], rp["fidelity_target"],
                                     attenuation_db_per_km=scenario.fibre["attenuation_db_per_km"])
        out["l_max_km"], out["n_max"] = float(L), int(N)
        out["derived"] = True
    return out


def repeater_segments(path, seg_len, l_max_km: float):
    """Greedy repeater placement along a fibre path: each elementary link as long as possible, <= l_max_km.

    Parameters
    ----------
    path : sequence of node ids
    seg_len : callable (a, b) -> km of the fibre segment between consecutive nodes

    Returns
    -------
    tuple of node ids (the repeaters, in order), or None if one fibre segment alone exceeds l_max_km.
    Greedy is optimal here: it minimises the number of repeaters on a fixed path.
    """
    reps = []
    acc = 0.0
    for k in range(len(path) - 1):
        L = seg_len(path[k], path[k + 1])
        if L > l_max_km + 1e-9:
            return None
        if acc + L > l_max_km + 1e-9:
            reps.append(path[k])
            acc = 0.0
        acc += L
    return tuple(reps)


def _repeater_chains(paths, Lk, idx, l_max_km, n_max):
    """Per hop: the repeater nodes of its chain, or None (infeasible or more than n_max repeaters)."""
    Lk = Lk.tocsr()

    def seg(a, b):
        return float(Lk[idx[a], idx[b]])

    out = []
    for p in paths:
        r = repeater_segments(p, seg, l_max_km)
        out.append(r if r is not None and len(r) <= n_max else None)
    return out


def _relay_rates(paths, iu, dist, idx, dev, conn):
    """Untrusted middle relays (MDI-QKD, twin-field) for each hop.

    The relay sits at the interior fibre node whose loss from u is closest to half the hop's loss. The rate is
    evaluated for a symmetric channel of total loss ``2 x max(arm) + connectors``: a conservative value, since
    an asymmetric channel can be made symmetric by adding loss to the shorter arm.
    Hops whose fibre path has no interior node get no relay option (rate 0).
    """
    from .keyrate import secret_key_rate_bps

    relay = np.full(len(paths), None, dtype=object)
    eff = np.full(len(paths), np.inf)
    for h, p in enumerate(paths):
        if len(p) < 3:
            continue
        u = iu[h]
        inner = np.array([idx[x] for x in p[1:-1]])
        a = dist[u, inner]
        total = dist[u, idx[p[-1]]]
        k = int(np.argmin(np.abs(a - total / 2)))
        relay[h] = p[1 + k]
        eff[h] = 2 * max(a[k], total - a[k]) + conn
    r = np.zeros(len(paths))
    ok = np.isfinite(eff)
    r[ok] = secret_key_rate_bps(eff[ok], dev)
    return relay, r


def _apply_existing_links(hd, hops, net, scenario) -> None:
    """Brownfield: installed device pairs become lower bounds on the hop's pairs (their cost is sunk)."""
    from .io import check_existing_devices, read_existing_links

    path = scenario.input_path("existing_links")
    ex = read_existing_links(path)
    caps = {d.name: d.max_pairs_per_link for d in scenario.devices}
    if (hd["device"] == "repeater").any():  # repeater chains: the option's device name (see _hop_device_options)
        caps["repeater"] = int(hd.loc[hd["device"] == "repeater", "max_pairs"].max())
    check_existing_devices(ex, caps, path)
    col = ProblemCollector(f"invalid existing links file {path}")
    key = {}
    fibre = hd["fibre"].to_numpy() if "fibre" in hd.columns else np.full(len(hd), "dark")
    for i, (u, v, dv) in enumerate(zip(hops.u.to_numpy()[hd.hop], hops.v.to_numpy()[hd.hop], hd.device)):
        if fibre[i] == "dark":  # installed pairs are on dark fibre (lit options are new)
            key[(u, v, dv)] = key[(v, u, dv)] = i
    for i, (a, b, dv, pairs) in enumerate(ex.itertuples(index=False)):
        u, v = net.site_node.get(a, a), net.site_node.get(b, b)
        j = key.get((u, v, dv))
        if j is None:
            col.add(f"{path.name}, line {i + 2}", f"no usable hop {a}-{b} with device {dv!r} (unknown node or "
                    "device, or the hop is beyond the device's reach)", "check ids against the sites file and [devices]")
            continue
        hd.at[j, "existing_pairs"] = int(pairs)
    col.raise_if_any()


def _check_governance_ids(d, net, fname: str = "demands") -> None:
    """Every ``excluded_nodes`` id names a site or fibre node: a misspelt id would exclude nothing."""
    import difflib

    known = set(net.site_node) | set(map(str, net.nodes.index))
    col = ProblemCollector("invalid demand requirements")
    for i, ids in enumerate(d["excluded_nodes"]):
        for x in ids:
            if x in known:
                continue
            close = difflib.get_close_matches(x, sorted(known), n=3, cutoff=0.6)
            col.add(f"{fname}, line {i + 2}", f"excluded_nodes names {x!r}, which is not a site or fibre node id "
                    "(it would exclude nothing)",
                    f"did you mean {' or '.join(map(repr, close))}?" if close else "use ids from the sites file")
    col.raise_if_any()


def _forbidden_nodes(d, nodes, net, scenario) -> list:
    """Per demand: node ids that may not hold its key (jurisdiction, excluded sites, excluded operators)."""
    out = []
    country = None
    if d["allowed_countries"].map(len).any():
        from .geo import countries_of_points

        c = nodes["country"].fillna("").astype(str).to_numpy() if "country" in nodes.columns else np.full(len(nodes), "")
        missing = c == ""
        if missing.any():
            c = c.copy()
            c[missing] = countries_of_points(nodes["lon"].to_numpy()[missing], nodes["lat"].to_numpy()[missing],
                                             scenario.governance.get("countries_file") or None,
                                             base_dir=scenario.base_dir)
        country = pd.Series(c, index=nodes.index)
    oper = nodes["operator"].fillna("").astype(str) if "operator" in nodes.columns else pd.Series("", index=nodes.index)
    for r in d.itertuples():
        bad = set()
        if r.allowed_countries:
            allowed = {x.upper() for x in r.allowed_countries}
            bad |= set(country.index[~country.str.upper().isin(allowed)])
        if r.excluded_nodes:
            bad |= {net.site_node.get(x, x) for x in r.excluded_nodes}
        if r.excluded_operators:
            bad |= set(oper.index[oper.isin(set(r.excluded_operators))])
        bad -= {r.source_node, r.target_node}
        out.append(frozenset(bad))
    return out


def hop_capacity_bps(inputs: PlanningInputs) -> np.ndarray:
    """Most key rate each hop can carry: sum over devices of max_pairs x rate per pair."""
    hd = inputs.hop_devices
    cap = np.zeros(len(inputs.hops))
    np.add.at(cap, hd["hop"].to_numpy(int), (hd["max_pairs"] * hd["rate_bps_per_pair"]).to_numpy())
    return cap


def diagnose_demands(inputs: PlanningInputs, fibre_graph: nx.Graph | None = None) -> list[dict]:
    """Name each demand that no plan can serve, and why (before any MILP).

    Reasons: ``disconnected`` (endpoints in different fibre components), ``no_hop_chain`` (every fibre path has a
    span longer than any device can bridge, even with a trusted node at every candidate), ``capacity`` (target
    above the maximum flow through the hop graph with every device slot filled).
    """
    out = []
    d = inputs.demands
    nodes = list(inputs.nodes.index)
    idx = {n: i for i, n in enumerate(nodes)}
    n = len(nodes)
    hops = inputs.hops
    cap = hop_capacity_bps(inputs)
    hu = hops.u.map(idx).to_numpy(int) if len(hops) else np.zeros(0, int)
    hv = hops.v.map(idx).to_numpy(int) if len(hops) else np.zeros(0, int)
    H = nx.Graph()
    H.add_nodes_from(range(n))
    H.add_edges_from(zip(hu, hv))
    hop_comp = _component_labels(H)
    fib_comp = _component_labels(fibre_graph) if fibre_graph is not None else {}
    capm = None
    for r in d.itertuples():
        s, t = r.source_node, r.target_node
        if s not in idx or t not in idx:
            out.append({"source": r.source, "target": r.target, "reason": "disconnected",
                        "detail": "an endpoint was removed as it has no fibre connection to the other endpoints"})
            continue
        if fib_comp and fib_comp.get(s) != fib_comp.get(t):
            out.append({"source": r.source, "target": r.target, "reason": "disconnected",
                        "detail": f"{r.source} and {r.target} lie in different fibre components: no route joins them"})
            continue
        if hop_comp.get(idx[s]) != hop_comp.get(idx[t]):
            detail = ("every fibre path between them has a span without a candidate node that is longer than "
                      "any device can bridge")
            if fibre_graph is not None:
                detail += _bottleneck_detail(inputs, fibre_graph, s, t)
            out.append({"source": r.source, "target": r.target, "reason": "no_hop_chain", "detail": detail})
            continue
        # governance: hop graph without the nodes this demand may not trust
        bad = getattr(r, "forbidden", frozenset()) or frozenset()
        if bad:
            keep = [k for k, x in enumerate(nodes) if x not in bad]
            Hs = H.subgraph(keep)
            if not nx.has_path(Hs, idx[s], idx[t]):
                out.append({"source": r.source, "target": r.target, "reason": "governance",
                            "detail": f"no chain of hops avoids the {len(bad)} nodes this demand may not trust "
                                      "(allowed_countries / excluded_nodes / excluded_operators)"})
                continue
        else:
            Hs = H
        mt = getattr(r, "max_trusted_nodes", float("nan"))
        if mt == mt and mt is not None:  # not NaN
            hops_needed = nx.shortest_path_length(Hs, idx[s], idx[t])
            if hops_needed > int(mt) + 1:
                out.append({"source": r.source, "target": r.target, "reason": "trusted_hop_limit",
                            "detail": f"the shortest chain needs {hops_needed - 1} intermediate trusted nodes, "
                                      f"more than max_trusted_nodes = {int(mt)}"})
                continue
        k = int(getattr(r, "k_routes", 1))
        if k > 1 and fibre_graph is not None:
            detail = _too_few_disjoint_routes(fibre_graph, s, t, k, getattr(r, "disjoint", "node"))
            if detail:
                out.append({"source": r.source, "target": r.target, "reason": "disjoint_routes", "detail": detail})
                continue
        if capm is None:
            scale = 1.0
            c = np.ceil(cap * scale).astype(np.int64)
            capm = csr_matrix((np.r_[c, c], (np.r_[hu, hv], np.r_[hv, hu])), shape=(n, n))
            capm.sum_duplicates()
            widest = _widest_path_capacity(capm)
        if widest(idx[s], idx[t]) >= r.target_bps:  # one path alone carries the target: max flow >= target
            continue
        mf = maximum_flow(capm.astype(np.int32) if capm.max() < 2**31 - 1 else capm, idx[s], idx[t]).flow_value
        if mf + 1e-9 < r.target_bps:
            out.append({"source": r.source, "target": r.target, "reason": "capacity",
                        "detail": f"target {r.target_bps:g} bit/s exceeds the {mf:g} bit/s that all hops together "
                                  f"could deliver with every device slot filled (max_pairs_per_link)"})
    return out


def _component_labels(G: nx.Graph) -> dict:
    """Node -> the number of its connected component in ``G``."""
    return {x: k for k, comp in enumerate(nx.connected_components(G)) for x in comp}


def _too_few_disjoint_routes(G0: nx.Graph, s, t, k: int, mode: str) -> str | None:
    """Why fewer than ``k`` node-disjoint (``mode`` "node") or fibre-disjoint (otherwise) paths of the fibre graph
    ``G0`` join ``s`` and ``t`` (with the cut every path passes), or None if there are ``k``."""
    if mode == "node":
        conn = nx.algorithms.connectivity.local_node_connectivity(G0, s, t) if not G0.has_edge(s, t) \
            else 1 + nx.algorithms.connectivity.local_node_connectivity(
                nx.restricted_view(G0, [], [(s, t)]), s, t)
        if conn >= k:
            return None
        try:
            cut = sorted(nx.minimum_node_cut(G0, s, t)) if not G0.has_edge(s, t) else []
        except nx.NetworkXError:
            cut = []
        return (f"only {conn} node-disjoint fibre paths join them, {k} required"
                + (f"; every path passes {', '.join(cut)}" if cut else ""))
    conn = nx.algorithms.connectivity.local_edge_connectivity(G0, s, t)
    if conn >= k:
        return None
    cut = sorted(tuple(sorted(e)) for e in nx.minimum_edge_cut(G0, s, t))
    return (f"only {conn} fibre-disjoint paths join them, {k} required; every path uses one of the fibre spans "
            f"{cut}")


def _widest_path_capacity(capm):
    """``f(s, t)``: the largest bottleneck capacity of any path from s to t (0 if none).

    The widest path between two nodes runs along a maximum spanning tree (Hu 1961, "The maximum capacity route
    problem", Oper. Res. 9(6)); one tree and one traversal per source replace a max-flow per demand whenever a
    single path already carries the target.
    """
    from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

    c = capm.tocoo()
    m = c.data > 0
    big = float(c.data[m].max()) if m.any() else 1.0
    # maximum spanning tree = minimum spanning tree of (big + 1 - capacity) > 0
    w = csr_matrix((big + 1.0 - c.data[m].astype(float), (c.row[m], c.col[m])), shape=capm.shape)
    T = minimum_spanning_tree(w)
    T = T + T.T
    T.data = big + 1.0 - T.data  # back to capacities
    T = T.tocsr()
    cache: dict = {}

    def f(s, t):
        b = cache.get(s)
        if b is None:
            order, pred = breadth_first_order(T, s, directed=False, return_predecessors=True)
            b = np.zeros(capm.shape[0])
            b[s] = np.inf
            for v in order[1:]:
                p = pred[v]
                b[v] = min(b[p], T[p, v])
            cache[s] = b
        return float(b[t])

    return f


def _bottleneck_detail(inputs, G: nx.Graph, s, t) -> str:
    """Describe the unbridgeable span on the best (minimax-loss) path between s and t."""
    try:
        T = nx.minimum_spanning_tree(G, weight="loss_db")
        path = nx.shortest_path(T, s, t)
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        return ""
    cand = set(inputs.nodes.index)
    # spans between consecutive candidate nodes along that path
    worst, acc, start, wa = 0.0, 0.0, path[0], None
    for a, b in zip(path[:-1], path[1:]):
        acc += G.edges[a, b]["loss_db"]
        if b in cand:
            if acc > worst:
                worst, wa = acc, (start, b)
            acc, start = 0.0, b
    reach = max(inputs.params["reach_db"].values()) if inputs.params["reach_db"] else 0.0
    conn = inputs.params["connector_loss_db"]
    if wa is None:
        return ""
    return (f"; the best path still has a span {wa[0]} - {wa[1]} of {worst + conn:.1f} dB ({worst:.1f} dB fibre + "
            f"{conn:g} dB connectors), beyond the best device's reach of {reach:.1f} dB. Add candidate huts "
            f"(network.hut_spacing_km) or a longer-reach device" + _block_time_detail(inputs, worst + conn))


def _block_time_detail(inputs, span_loss_db: float) -> str:
    """Name finite-key devices whose reach is set by the block accumulation time rather than by physics.

    A finite-key device has no rate where even its smallest block (``min_block_size``) cannot fill within
    ``max_block_time_s``; if it would reach ``span_loss_db`` without that limit, the diagnosis says so.
    """
    from .keyrate import max_reach_db

    out = []
    for name, dev in (getattr(inputs, "devices", None) or {}).items():
        if dev.protocol != "bb84-finite" or dev.max_block_time_s is None:
            continue
        reach = inputs.params["reach_db"].get(name, 0.0)
        if reach >= span_loss_db:
            continue
        free = max_reach_db(dev.with_(max_block_time_s=None))
        if free > reach + 0.05:
            out.append(f"; device {name!r}: beyond {reach:.1f} dB not even its smallest finite-key block "
                       f"(n_X = {dev.min_block_size:.3g}) fills within max_block_time_s = {dev.max_block_time_s:g} s "
                       f"(without that limit it would reach {free:.1f} dB)")
    return "".join(out)


def dominated_options_keep(inputs: PlanningInputs) -> np.ndarray:
    """Exact reduction: which hop-device options to keep (False: dominated on its own hop).

    Let ``top`` be the total demand (sum of target x routes; the model's capacity coefficients are capped at it
    because a hop of a cycle-free plan never carries more). A *plain* option ``j`` (no relay, no repeaters, no
    installed pairs, no cost but its pairs) carries any load of its hop with ``K_j = ceil(top / r_j)`` pairs,
    within its pair limit when ``K_j <= max_pairs_j``, at ``K_j c_j``. Every other option ``i`` of the same hop
    with no installed pairs and ``c_i >= K_j c_j`` (one pair of ``i`` costs at least that) is dominated: in an
    optimal plan (made cycle-free) replace all of ``i``'s pairs by ``max(n_j, K_j)`` pairs of ``j``. The
    capacity rows (plain and per commodity, ``min(D_k, r) n``), the route rows and the node-linking rows (same
    hop, same ends) still hold, and the cost does not rise; relay and repeater costs only fall. So the optimum
    is unchanged (tests/test_reductions.py asserts it against the unreduced model). Per hop the dominating
    option is the plain one with the least ``K_j c_j``, which is itself kept.
    """
    hd = inputs.hop_devices
    n = len(hd)
    if n == 0:
        return np.ones(0, bool)
    d = inputs.demands
    top = float((d["target_bps"] * d["k_routes"]).sum()) if "k_routes" in d.columns else float(
        d["target_bps"].sum())
    rate = hd["rate_bps_per_pair"].to_numpy(float)
    cost = hd["cost_per_pair_eur"].to_numpy(float)
    hop = hd["hop"].to_numpy(int)
    existing = hd["existing_pairs"].to_numpy(int) > 0 if "existing_pairs" in hd.columns else np.zeros(n, bool)
    plain = ~existing
    if "relay" in hd.columns:
        plain &= hd["relay"].isna().to_numpy(bool)
    if "repeaters" in hd.columns:
        plain &= np.array([not r for r in hd["repeaters"]], bool)
    k = np.ceil(top / np.maximum(rate, 1e-300) - 1e-9)
    can = plain & (rate > 0) & (k <= hd["max_pairs"].to_numpy(float))
    if not can.any() or top <= 0:
        return np.ones(n, bool)
    val = np.where(can, k * cost, np.inf)
    order = np.lexsort((np.arange(n), val, hop))  # per hop: the least K_j c_j first (ties: lowest index)
    first = np.ones(n, bool)
    first[1:] = hop[order][1:] != hop[order][:-1]
    best_idx = np.full(int(hop.max()) + 1, -1)
    best_val = np.full(int(hop.max()) + 1, np.inf)
    best_idx[hop[order][first]] = order[first]
    best_val[hop[order][first]] = val[order][first]
    dominated = (~existing) & (cost + 1e-9 >= best_val[hop]) & (best_idx[hop] != np.arange(n))
    return ~dominated


def prune_by_bound(inputs: PlanningInputs, upper_bound_eur: float) -> PlanningInputs:
    """Drop (hop, device) options and nodes that no plan cheaper than ``upper_bound_eur`` can use.

    A degree argument gives an exact lower bound on any plan that installs a pair of option i: every demand
    endpoint needs at least one link end, every opened non-terminal node at least two, and each link has two
    ends. With T endpoints and ``N_i`` non-terminal ends of option i, such a plan has at least
    ``1 + ceil((T + 2 N_i - 2) / 2)`` links, so it costs at least
    ``terminal capex + capex(N_i) + cost_i + (links - 1) x (cheapest pair cost)``.
    Connectivity gives a second count: the links join the endpoints of each connected component of the demand
    graph, so a plan has at least ``endpoints - components`` links besides option i (one fewer when both ends of
    i are endpoints); the larger count is used.
    Options whose bound exceeds the upper bound (a known plan's cost) cannot be in an optimal plan.
    """
    hd = inputs.hop_devices
    if len(hd) == 0 or not math.isfinite(upper_bound_eur):
        return inputs
    existing = hd["existing_pairs"].to_numpy(int) > 0 if "existing_pairs" in hd.columns else np.zeros(len(hd), bool)
    nodes = inputs.nodes
    term = nodes["terminal"]
    if inputs.params.get("budget_mode"):
        keep = _budget_keep(inputs, upper_bound_eur, existing)
        return _pruned(inputs, keep) if not keep.all() else inputs
    d = inputs.demands
    kmax: dict = {}
    for s_, t_, k_ in zip(d["source_node"], d["target_node"], d.get("k_routes", [1] * len(d))):
        kmax[s_] = max(kmax.get(s_, 1), int(k_))
        kmax[t_] = max(kmax.get(t_, 1), int(k_))
    T = int(sum(kmax.values()))  # link ends the demand endpoints need (K disjoint routes need K ends)
    const = float(nodes.loc[term, "capex_eur"].sum())
    hops = inputs.hops
    h = hd["hop"].to_numpy(int)
    u = hops.u.to_numpy()[h]
    v = hops.v.to_numpy()[h]
    tu = term.reindex(u).to_numpy(bool)
    tv = term.reindex(v).to_numpy(bool)
    cap = nodes["capex_eur"]
    capex_ends = np.where(tu, 0.0, cap.reindex(u).to_numpy()) + np.where(tv, 0.0, cap.reindex(v).to_numpy())
    n_non = (~tu).astype(int) + (~tv).astype(int)
    cpp = np.where(existing, 0.0, hd["cost_per_pair_eur"].to_numpy())  # installed pairs cost nothing more
    cheapest = float(cpp.min())  # 0 with brownfield pairs: then only an option's own cost counts
    links = 1 + np.ceil(np.maximum(T + 2 * n_non - 2, 0) / 2.0)
    # connectivity: the plan's links join the endpoints of each connected component of the demand graph, so
    # besides option i it has at least (endpoints - components) links, one fewer when i joins two endpoints
    # itself (i then is one of those links; with a non-terminal end, i may lie off that forest: no credit)
    tree_others = _demand_forest_links(d) - (n_non == 0).astype(int)
    links = np.maximum(links, 1 + tree_others)
    lb = const + capex_ends + cpp + (links - 1) * cheapest
    keep = (lb <= upper_bound_eur * (1 + 1e-9) + 1e-6) | existing
    if keep.all():
        return inputs
    return _pruned(inputs, keep)


def _demand_forest_links(d: pd.DataFrame) -> int:
    """Fewest links joining the endpoints of every demand with a positive target: endpoints minus the connected
    components of the demand graph (a spanning forest of the demands' endpoints)."""
    g = nx.Graph()
    pos = d[d["target_bps"] > 0]
    g.add_edges_from(zip(pos["source_node"], pos["target_node"]))
    return g.number_of_nodes() - nx.number_connected_components(g) if g.number_of_nodes() else 0


def _budget_keep(inputs: PlanningInputs, budget_eur: float, existing: np.ndarray) -> np.ndarray:
    """Budget mode: options that some plan within ``budget_eur`` can use to deliver key.

    A pair of option i that carries key has both its ends open (endpoints are bought in budget mode), each
    non-terminal end has a second link (at least the cheapest pair), and the key it carries runs between two
    bought demand endpoints: ``capex(u) + capex(v) + cost_i + N_i x cheapest pair + (2 - T_i) x cheapest
    endpoint capex`` with ``N_i``/``T_i`` its non-terminal/terminal ends is a lower bound on such a plan.
    """
    hd = inputs.hop_devices
    nodes = inputs.nodes
    term = nodes["terminal"]
    h = hd["hop"].to_numpy(int)
    u = inputs.hops.u.to_numpy()[h]
    v = inputs.hops.v.to_numpy()[h]
    tu = term.reindex(u).to_numpy(bool)
    tv = term.reindex(v).to_numpy(bool)
    cap = nodes["capex_eur"]
    cpp = np.where(existing, 0.0, hd["cost_per_pair_eur"].to_numpy())
    cheapest = float(cpp.min())
    t_cap = nodes.loc[term, "capex_eur"].to_numpy(float)
    min_t = float(t_cap.min()) if len(t_cap) else 0.0
    n_term = tu.astype(int) + tv.astype(int)
    lb = (cap.reindex(u).to_numpy() + cap.reindex(v).to_numpy() + cpp
          + ((~tu).astype(int) + (~tv).astype(int)) * cheapest + np.maximum(2 - n_term, 0) * min_t)
    return (lb <= budget_eur * (1 + 1e-9) + 1e-6) | existing


def _pruned(inputs: PlanningInputs, keep: np.ndarray) -> PlanningInputs:
    """``inputs`` without the hop-device options where ``keep`` is False (and hops and nodes left unused)."""
    hd = inputs.hop_devices
    nodes = inputs.nodes
    term = nodes["terminal"]
    hops = inputs.hops
    hd2 = hd[keep].copy()
    used_h = np.unique(hd2["hop"].to_numpy(int))
    remap = -np.ones(len(hops), int)
    remap[used_h] = np.arange(len(used_h))
    hops2 = hops.iloc[used_h].reset_index(drop=True)
    hd2["hop"] = remap[hd2["hop"].to_numpy(int)]
    used_nodes = set(hops2.u) | set(hops2.v) | set(nodes.index[term])
    if "relay" in hd2.columns:
        used_nodes |= {r for r in hd2["relay"] if r is not None}
    if "repeaters" in hd2.columns:
        used_nodes |= {x for rs in hd2["repeaters"] for x in rs}
    nodes2 = nodes.loc[[n for n in nodes.index if n in used_nodes]]
    out = PlanningInputs(network=inputs.network, nodes=nodes2, hops=hops2, hop_devices=hd2.reset_index(drop=True),
                         demands=inputs.demands, devices=inputs.devices, params=dict(inputs.params),
                         diagnosis=list(inputs.diagnosis), stats=dict(inputs.stats), timings_s=dict(inputs.timings_s))
    out.stats.update({"bound_pruned_options": int((~keep).sum()), "hops_after_bound": int(len(hops2)),
                      "candidates_after_bound": int(len(nodes2))})
    log.info("bound pruning: %d of %d hop-device options dropped", int((~keep).sum()), len(hd))
    return out
