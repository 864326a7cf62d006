"""Turn registry instances into scenario folders the planner reads (deterministic, cached).

- ``bundled``: the scenario file as shipped.
- ``zoo``: a Topology Zoo GraphML through :func:`qtopo.importers.read_zoo` and
  :func:`qtopo.importers.write_project` (route factor 1.3, the importers' device catalog and costs, which are
  those of ``data/surfnet/scenario.toml``). Demand endpoints: the ``endpoints`` internal sites of the largest
  connected component with the highest degree (ties: higher closeness centrality in hops, then id); one demand
  of ``target_bps`` per unordered pair (:func:`qtopo.importers.demands.all_pairs`).
- ``synthetic``: ``n`` points uniform in a square box centred on 10 E, 50 N with side ``sqrt(n) x 70 km``
  (constant density, so larger instances are larger areas, not denser ones), joined by their Gabriel graph
  (the Delaunay edges whose diametral circle holds no other point: planar and connected, mean degree about 4,
  like a duct network); ``e`` endpoints drawn with ``numpy.random.default_rng(seed)``; all pairs.

Zoo clean-up (the raw import does not plan): sites without any route are dropped (the planner cannot snap
them), and routes shorter than :data:`MIN_ROUTE_KM` between co-located PoPs are dropped (their degenerate
LineStrings are rejected; the two PoPs become one fibre node anyway). Both are listed in the scenario header.

Folders are cached under ``$QTOPO_BENCH_CACHE`` (default ``<tmp>/qtopo-bench-instances``) by a hash of the
parameters and of this file, so a rerun reuses them and a change of generator rebuilds them.

Variant folders (:func:`variant_scenario_path`): the ``k2`` variant plans a derived copy of the instance in
``<name>-k2-<hash>/`` next to it: ``demands.csv`` is the instance's demand table with every demand set to
:data:`K2_REQUIREMENTS` (``k_routes = 2``, ``disjoint = node``, ``protection = 1+1``: the settings of the bundled
K=2 example ``data/surfnet/scenario_k2.toml``; other columns are kept), and ``scenario.toml`` is the instance's
scenario with ``[inputs] demands`` pointing at it and the other input paths made absolute (so the folder plans
with ``qtopo plan``). Its hash also covers the bytes of the instance's scenario and demand files, so an edited
bundled scenario is re-derived.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.registry import ROOT, InstanceSpec

#: Fibre length / geodesic length of the imported and synthetic routes.
ROUTE_FACTOR = 1.3
#: Synthetic box: centre and spacing (km per sqrt(node)).
SYN_CENTER = (10.0, 50.0)
SYN_KM_PER_SQRT_NODE = 70.0
#: Zoo routes shorter than this (km) join co-located PoPs and are dropped (the planner merges such PoPs).
MIN_ROUTE_KM = 0.5


def cache_dir() -> Path:
    env = os.environ.get("QTOPO_BENCH_CACHE")
    return Path(env) if env else Path(tempfile.gettempdir()) / "qtopo-bench-instances"


def _key(spec: InstanceSpec) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"name": spec.name, "family": spec.family, "params": spec.params}, sort_keys=True).encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:12]


def scenario_path(spec: InstanceSpec, cache: Path | None = None) -> Path:
    """Path of the scenario TOML of ``spec``, generating its folder if needed."""
    if spec.family == "bundled":
        return ROOT / spec.params["scenario"]
    if spec.family not in ("zoo", "synthetic"):
        raise ValueError(f"instance {spec.name!r} of family {spec.family!r} has no scenario")
    folder = (cache or cache_dir()) / f"{spec.name}-{_key(spec)}"
    toml = folder / "scenario.toml"
    if toml.is_file():
        return toml
    sites, routes, demands, header = (_zoo(spec) if spec.family == "zoo" else _synthetic(spec))
    from qtopo.importers import write_project

    try:
        write_project(sites, routes, demands, folder, route_factor=ROUTE_FACTOR, name=spec.name,
                      description=spec.description, overwrite=True, scenario_header=header,
                      hut_spacing_km=float(spec.params.get("hut_spacing_km", 0.0)), snap_tolerance_m=2000.0,
                      time_limit_s=300.0)
    except OSError:
        if not toml.is_file():  # another worker wrote it first: fine
            raise
    return toml


#: Per-demand requirement columns (see ``qtopo/requirements.py``) that the ``k2`` variant sets on every demand:
#: two node-disjoint routes, each carrying the full target (1+1), as in ``data/surfnet/demands_k2.csv``.
K2_REQUIREMENTS = {"k_routes": 2, "disjoint": "node", "protection": "1+1"}

#: Derived variants: name -> requirement columns set on every demand of the instance.
VARIANT_DEMANDS = {"k2": K2_REQUIREMENTS}

#: ``[inputs]`` / ``[governance]`` keys that name files (relative to the scenario's folder).
_PATH_KEYS = (("inputs", "sites"), ("inputs", "routes"), ("inputs", "demands"), ("inputs", "existing_links"),
              ("governance", "countries_file"))


def variant_scenario_path(spec: InstanceSpec, variant: str, cache: Path | None = None) -> Path:
    """Path of the scenario TOML of ``spec`` as planned by ``variant`` (a derived, cached folder for ``k2``).

    Variants without derived demands (``trusted``) plan :func:`scenario_path` itself.
    """
    base = scenario_path(spec, cache)
    if variant not in VARIANT_DEMANDS:
        return base
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
        import tomli as tomllib

    from qtopo.io import read_demands

    raw = tomllib.loads(base.read_text(encoding="utf-8"))
    src_demands = _resolve(base.parent, raw["inputs"]["demands"])
    h = hashlib.sha256()
    h.update(_key(spec).encode())
    where_possible = bool(spec.params.get("k2_where_possible")) and variant == "k2"
    h.update(json.dumps({"variant": variant, "requirements": VARIANT_DEMANDS[variant],
                         "where_possible": where_possible}, sort_keys=True).encode())
    h.update(base.read_bytes())
    h.update(src_demands.read_bytes())
    folder = (cache or cache_dir()) / f"{spec.name}-{variant}-{h.hexdigest()[:12]}"
    toml = folder / "scenario.toml"
    if toml.is_file():
        return toml
    demands = read_demands(src_demands)
    for col, val in VARIANT_DEMANDS[variant].items():
        demands[col] = val
    for sec, key in _PATH_KEYS:
        v = raw.get(sec, {}).get(key)
        if isinstance(v, str) and v:
            raw[sec][key] = str(_resolve(base.parent, v))
    raw["inputs"]["demands"] = "demands.csv"
    sc = raw.setdefault("scenario", {})
    sc["name"] = f"{sc.get('name', spec.name)}-{variant}"
    req = ", ".join(f"{k} = {v}" for k, v in VARIANT_DEMANDS[variant].items())
    scope = f"every demand of {src_demands.name}"
    if where_possible:
        single = _single_path_demands(raw, demands)
        demands.loc[single, "k_routes"] = 1
        scope = (f"every demand of {src_demands.name} whose endpoints have two node-disjoint fibre paths "
                 f"({int((~single).sum())} of {len(demands)}; qtopo's precheck finds the others, kept at k_routes = 1)")
    header = (f"Benchmark instance {spec.name}, variant {variant}: generated by benchmarks/instances.py (do not "
              f"edit).\nDerived from {base} (see its comments): {scope} with {req}.")
    text = _toml(raw, header)
    if tomllib.loads(text) != raw:  # pragma: no cover - the writer below covers what scenarios hold
        raise ValueError(f"cannot write {spec.name}/{variant} scenario as TOML faithfully")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    demands.to_csv(tmp / "demands.csv", index=False)
    (tmp / "scenario.toml").write_text(text, encoding="utf-8")
    try:
        tmp.rename(folder)
    except OSError:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if not toml.is_file():  # another worker wrote it first: fine
            raise
    return toml


def _single_path_demands(raw: dict, demands):
    """Boolean mask of the demands whose endpoints have no two node-disjoint fibre paths (qtopo's own precheck:
    :func:`qtopo.candidates.diagnose_demands`, reason ``disjoint_routes``), for variants that protect every demand
    the fibre allows to protect (a single-homed PoP cannot have two node-disjoint routes)."""
    import tempfile as _tf

    from qtopo.candidates import build_inputs
    from qtopo.planner import load_scenario_and_inputs, read_network

    with _tf.TemporaryDirectory() as tmp:
        demands.to_csv(Path(tmp) / "demands.csv", index=False)
        (Path(tmp) / "scenario.toml").write_text(_toml(raw, "probe"), encoding="utf-8")
        scen = load_scenario_and_inputs(Path(tmp) / "scenario.toml")
        net, dem = read_network(scen)
        diag = build_inputs(net, dem, scen).diagnosis
    bad = {(x["source"], x["target"]) for x in diag if x.get("reason") == "disjoint_routes"}
    return np.array([(s_, t_) in bad for s_, t_ in zip(demands["source"], demands["target"])], bool)


def _resolve(base_dir: Path, p: str) -> Path:
    q = Path(p)
    return q if q.is_absolute() else (base_dir / q).resolve()


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)                     # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} as TOML")


def _toml_key(k: str) -> str:
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _toml(raw: dict, header: str) -> str:
    """TOML text of a scenario dict (sections of scalars and lists; sub-tables such as ``[devices.NAME]``)."""
    out = [f"# {ln}" for ln in header.splitlines()]

    def table(name: str, d: dict):
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        subs = {k: v for k, v in d.items() if isinstance(v, dict)}
        if scalars or not subs:
            out.append(f"\n[{name}]")
            out.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items())
        for k, v in subs.items():
            table(f"{name}.{_toml_key(k)}", v)

    for sec, d in raw.items():
        if not isinstance(d, dict):
            raise TypeError(f"top-level key {sec!r} is not a table")
        table(_toml_key(sec), d)
    return "\n".join(out) + "\n"


def choose_endpoints(sites, routes, k: int) -> list[str]:
    """The ``k`` internal sites of the largest component with the highest degree (ties: closeness, then id)."""
    import networkx as nx

    G = nx.Graph()
    G.add_nodes_from(sites["id"])
    G.add_edges_from(zip(routes["from_pop"], routes["to_pop"]))
    comp = max(nx.connected_components(G), key=lambda c: (len(c), sorted(c)))
    H = G.subgraph(comp)
    internal = dict(zip(sites["id"], sites["internal"])) if "internal" in sites.columns else {}
    clo = nx.closeness_centrality(H)
    cands = [v for v in H if internal.get(v, True)]
    cands.sort(key=lambda v: (-H.degree(v), -clo[v], v))
    if len(cands) < k:
        raise ValueError(f"only {len(cands)} internal sites in the largest component, {k} endpoints asked")
    return cands[:k]


def _zoo(spec: InstanceSpec):
    from qtopo.importers import read_zoo
    from qtopo.importers.demands import all_pairs

    p = spec.params
    sites, routes, report = read_zoo(ROOT / p["file"])
    ends = list(p["endpoint_ids"]) if "endpoint_ids" in p else choose_endpoints(sites, routes, int(p["endpoints"]))
    # Clean-up the planner needs (qtopo.plan rejects the raw import, see benchmarks/README.md):
    # - sites that no route touches cannot be snapped to the fibre network: dropped;
    # - routes between co-located PoPs (shorter than the 500 m node tolerance, degenerate LineStrings) are
    #   dropped: their two PoPs become one fibre node anyway.
    on_route = set(routes["from_pop"]) | set(routes["to_pop"])
    lonely = sorted(set(sites["id"]) - on_route)
    short = routes["geodesic_km"].to_numpy(float) < MIN_ROUTE_KM
    dropped_routes = routes.loc[short, "id"].tolist()
    sites = sites[sites["id"].isin(on_route)].copy()
    routes = routes[~short].copy()
    sites["kind"] = np.where(sites["id"].isin(ends), "datacenter", "pop")
    demands = all_pairs(sites, ids=ends, target_bps=float(p["target_bps"]))
    header = (f"Benchmark instance {spec.name}, generated by benchmarks/instances.py (do not edit).\n"
              f"Topology: The Internet Topology Zoo, {Path(p['file']).name}, CC BY 4.0 (Knight et al., IEEE JSAC "
              f"29(9), 2011).\nEndpoints: {'the PoPs fixed in benchmarks/registry.py' if 'endpoint_ids' in p else f'the {len(ends)} highest-degree internal PoPs'}: {', '.join(ends)}.\n"
              f"Import: {report.n_sites} sites, {report.n_routes} routes, {len(report.skipped_nodes)} nodes "
              f"without coordinates skipped.\nDropped {len(lonely)} site(s) without any route"
              f"{': ' + ', '.join(lonely) if lonely else ''}; {len(dropped_routes)} route(s) shorter than "
              f"{MIN_ROUTE_KM * 1000:.0f} m between co-located PoPs{': ' + ', '.join(dropped_routes) if dropped_routes else ''}.")
    return (sites.drop(columns=["internal", "source_id"]), routes.drop(columns=["source_ids"]), demands, header)


def gabriel_edges(xy: np.ndarray) -> np.ndarray:
    """Edges (i < j) of the Gabriel graph of planar points ``xy`` (n x 2), from their Delaunay triangulation."""
    from scipy.spatial import Delaunay, cKDTree

    tri = Delaunay(xy)
    s = tri.simplices
    e = np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    mid = (xy[e[:, 0]] + xy[e[:, 1]]) / 2.0
    r = np.linalg.norm(xy[e[:, 0]] - xy[e[:, 1]], axis=1) / 2.0
    tree = cKDTree(xy)
    # an edge is Gabriel if no point other than its ends lies strictly inside its diametral circle
    counts = np.array([len(tree.query_ball_point(m, rr * (1 - 1e-9))) for m, rr in zip(mid, r)])
    return e[counts == 0]


def synthetic_network(n: int, e: int, seed: int):
    """Sites (``e`` of kind datacenter) and Gabriel-graph routes of a synthetic instance (EPSG:4326)."""
    import geopandas as gpd

    from qtopo.importers._common import CRS, routes_between

    rng = np.random.default_rng(seed)
    side_km = np.sqrt(n) * SYN_KM_PER_SQRT_NODE
    xy = rng.uniform(-side_km / 2, side_km / 2, size=(n, 2))                 # km east / north of the centre
    lon0, lat0 = SYN_CENTER
    lat = lat0 + xy[:, 1] / 111.2
    lon = lon0 + xy[:, 0] / (111.2 * np.cos(np.radians(lat0)))
    width = len(str(n - 1))
    ids = [f"p{i:0{width}d}" for i in range(n)]
    ends = set(rng.choice(n, size=e, replace=False).tolist())
    kinds = ["datacenter" if i in ends else "pop" for i in range(n)]
    sites = gpd.GeoDataFrame({"id": ids, "name": ids, "kind": kinds},
                             geometry=gpd.points_from_xy(lon, lat), crs=CRS)
    ed = gabriel_edges(xy)
    routes, _ = routes_between(sites, [ids[i] for i in ed[:, 0]], [ids[j] for j in ed[:, 1]],
                               [f"e{k}" for k in range(len(ed))], operator="synthetic")
    return sites, routes.drop(columns=["source_ids"]), [ids[i] for i in sorted(ends)]


def _synthetic(spec: InstanceSpec):
    from qtopo.importers.demands import all_pairs

    p = spec.params
    sites, routes, ends = synthetic_network(int(p["n"]), int(p["e"]), int(p["seed"]))
    demands = all_pairs(sites, ids=ends, target_bps=float(p["target_bps"]))
    header = (f"Benchmark instance {spec.name}, generated by benchmarks/instances.py (do not edit).\n"
              f"Synthetic: {p['n']} uniform random points (seed {p['seed']}), Gabriel graph, {p['e']} endpoints.")
    return sites, routes, demands, header
