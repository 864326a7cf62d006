"""Shared risks: what one failure takes down.

A *risk element* is something that fails as a whole: a fibre segment (``e:<index>`` of
``FibreNetwork.edges``), a node with everything in it, including fibre passing through optically
(``n:<node id>``), or a *corridor* shared-risk group (``c:<i>|<j>``): two fibre segments that run in the same
corridor, within ``buffer_m`` of each other over at least ``min_overlap_km`` away from their shared end
points, so one digger cuts both. Corridors come from geometry (shapely, in a local metric CRS).
"""
from __future__ import annotations

import logging

import numpy as np
import shapely

from .geo import local_metric_crs

log = logging.getLogger(__name__)


def corridor_pairs(edges, buffer_m: float, min_overlap_km: float = 1.0) -> list[tuple[int, int, float]]:
    """Pairs of fibre segments sharing a corridor.

    Parameters
    ----------
    edges : GeoDataFrame
        ``FibreNetwork.edges`` (EPSG:4326, columns ``u``, ``v``).
    buffer_m : float
        Two segments closer than this share a corridor (m). 0 disables corridor groups.
    min_overlap_km : float
        Least length (km) of one segment inside the other's buffer, measured away from shared end nodes.

    Returns
    -------
    list of (i, j, overlap_km) with i < j (positional indices into ``edges``).
    """
    if buffer_m <= 0 or len(edges) < 2:
        return []
    m = edges.to_crs(local_metric_crs(edges))
    g = m.geometry.values
    tree = shapely.STRtree(g)
    a, b = tree.query(g, predicate="dwithin", distance=buffer_m)
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return []
    u = edges.u.to_numpy()
    v = edges.v.to_numpy()
    # clip away discs around end nodes the two segments share (they meet there by construction)
    starts = shapely.get_point(g, 0)
    ends = shapely.get_point(g, -1)
    out = []
    bufs = shapely.buffer(g[b], buffer_m)
    inter = shapely.intersection(g[a], bufs)
    for k, (i, j) in enumerate(zip(a, b)):
        geom = inter[k]
        if geom.is_empty:
            continue
        shared = {u[i], v[i]} & {u[j], v[j]}
        if shared:
            discs = []
            for nid in shared:
                p = starts[i] if u[i] == nid else ends[i]
                discs.append(shapely.buffer(p, 2 * buffer_m))
            geom = shapely.difference(geom, shapely.union_all(discs))
        L = geom.length / 1000.0
        if L >= min_overlap_km:
            out.append((int(i), int(j), float(L)))
    log.info("corridor shared-risk pairs: %d (buffer %g m)", len(out), buffer_m)
    return out


def segment_risks(edges, buffer_m: float = 0.0, min_overlap_km: float = 1.0) -> list[frozenset]:
    """Risk elements of each fibre segment: itself and every corridor group it belongs to."""
    risks = [{f"e:{i}"} for i in range(len(edges))]
    for i, j, _ in corridor_pairs(edges, buffer_m, min_overlap_km):
        tag = f"c:{i}|{j}"
        risks[i].add(tag)
        risks[j].add(tag)
    return [frozenset(r) for r in risks]


def path_risks(path, seg_index: dict, seg_risk: list, include_interior_nodes: bool = True) -> frozenset:
    """Risk elements of a fibre path (node ids): its segments' risks and, optionally, its interior nodes.

    ``seg_index`` maps an ordered node pair to the positional index of the segment used between them.
    """
    out = set()
    for a, b in zip(path[:-1], path[1:]):
        out |= seg_risk[seg_index[(a, b)]]
    if include_interior_nodes:
        out |= {f"n:{x}" for x in path[1:-1]}
    return frozenset(out)


def lowest_loss_segment_index(edges, loss_db: np.ndarray) -> dict:
    """(u, v) and (v, u) -> positional index of the lowest-loss segment between u and v."""
    idx: dict = {}
    order = np.argsort(-np.asarray(loss_db), kind="stable")
    u = edges.u.to_numpy()
    v = edges.v.to_numpy()
    for i in order:  # later (lower loss) wins
        idx[(u[i], v[i])] = int(i)
        idx[(v[i], u[i])] = int(i)
    return idx
