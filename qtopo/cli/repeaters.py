"""``qtopo repeaters``: quantum-repeater placement (Rabbie et al. 2022) from the command line.

The network is a Topology Zoo GraphML file (geodesic lengths x ``--route-factor``) or a qtopo scenario (its
noded fibre network, lengths as the planner uses them; end nodes default to the demand endpoints). L_max and
N_max are given, or derived from rate and fidelity targets with the key-rate library's repeater-chain model.
"""
from __future__ import annotations

import math
from pathlib import Path

import click
import networkx as nx

from ..contract import Status


def _graph_from_scenario(path):
    from ..scenario import load_scenario
    from ..topology import read_network

    scen = load_scenario(path)
    net, demands = read_network(scen)
    G = nx.Graph()
    for nid, row in net.nodes.iterrows():
        G.add_node(nid, lon=float(row.lon), lat=float(row.lat))
    for u, v, L in sorted(zip(net.edges.u, net.edges.v, net.edges.length_km), key=lambda e: -e[2]):
        if u != v:
            G.add_edge(u, v, length_km=float(L))  # parallel segments: the shortest wins (added last)
    ends = sorted(set(demands.source.map(net.site_node)) | set(demands.target.map(net.site_node)))
    return G, ends


def plan_repeaters_from(network: str, end_nodes=None, L_max_km=None, N_max=None, D=4, K=1, route_factor=1.0,
                        rate_target_bps=None, fidelity_target=None, time_limit_s=600.0, threads=1) -> dict:
    """Run the repeater mode on a GraphML file or scenario; returns a JSON-ready result with its verification."""
    from ..errors import InputError

    p = Path(network)
    if not p.exists():
        raise InputError([f"{network}: file does not exist"], "cannot read network")
    from ..repeaters import fibre_graph_from_graphml, plan_repeaters, verify_repeater_plan

    if p.suffix == ".toml":
        G, ends = _graph_from_scenario(p)
    else:
        G = fibre_graph_from_graphml(p)
        for _, _, d in G.edges(data=True):
            d["length_km"] *= route_factor
        ends = None
    if end_nodes:
        # a GraphML node may also be named by the site id `qtopo import zoo` gives it
        alias = {d["site_id"]: n for n, d in G.nodes(data=True) if d.get("site_id") and d["site_id"] not in G}
        ends = [alias.get(e, e) for e in end_nodes]
    if not ends:
        raise InputError(["no end nodes: give --end-nodes a,b,c (node names of the network)"], "repeater mode")
    unknown = [e for e in ends if e not in G]
    if unknown:
        import difflib

        raise InputError([f"end node {e!r} is not in the network"
                          + (f" (did you mean {difflib.get_close_matches(e, list(map(str, G)), 1)[0]!r}?)"
                             if difflib.get_close_matches(e, list(map(str, G)), 1) else "") for e in unknown],
                         "repeater mode")
    derived = None
    if L_max_km is None or N_max is None:
        if rate_target_bps is None or fidelity_target is None:
            raise InputError(["give --l-max-km and --n-max, or --rate-target-bps and --fidelity-target to derive them"],
                             "repeater mode")
        from ..keyrate import repeater_chain_limits

        L, N = repeater_chain_limits(rate_target_bps, fidelity_target)
        derived = {"L_max_km": float(L), "N_max": int(N), "rate_target_bps": rate_target_bps,
                   "fidelity_target": fidelity_target, "model": "qtopo.keyrate.repeater_chain_limits"}
        L_max_km = float(L) if L_max_km is None else L_max_km
        N_max = int(N) if N_max is None else N_max
    plan = plan_repeaters(G, ends, L_max_km, int(N_max), int(D), int(K), time_limit_s=time_limit_s, threads=threads)
    violations = verify_repeater_plan(G, ends, plan, L_max_km, int(N_max), int(D), int(K)) if plan.ok else []
    key = (lambda q: f"{q[0]}->{q[1]}")
    return {
        "status": plan.status, "n_repeaters": plan.n_repeaters, "repeaters": [str(r) for r in plan.repeaters],
        "objective": plan.objective, "bound": None if math.isnan(plan.bound) else plan.bound,
        "gap": None if math.isnan(plan.gap) else plan.gap, "total_length_km": plan.total_length_km,
        "params": {**plan.params, "end_nodes": [str(e) for e in ends], "network": str(network),
                   "route_factor": route_factor},
        "derived_limits": derived,
        "chains": {key(q): [[str(x) for x in c] for c in cs] for q, cs in plan.chains.items()},
        "paths": {key(q): [[str(x) for x in c] for c in cs] for q, cs in plan.paths.items()},
        "diagnosis": list(plan.diagnosis), "timings_s": plan.timings_s, "sizes": plan.sizes,
        "verification": {"ok": not violations, "violations": violations},
        "coords": {str(n): [d.get("lon"), d.get("lat")] for n, d in G.nodes(data=True)},
    }


@click.command("repeaters")
@click.argument("network", type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Folder for repeaters.json (atomic).")
@click.option("--end-nodes", default=None, help="Comma-separated end nodes (default: a scenario's demand endpoints).")
@click.option("--l-max-km", type=float, default=None, help="Longest elementary link (km).")
@click.option("--n-max", type=int, default=None, help="Most repeaters per path.")
@click.option("--capacity", "D", type=int, default=4, show_default=True, help="Paths one repeater can serve (D).")
@click.option("--k", "K", type=int, default=1, show_default=True, help="Repeater-disjoint paths per pair.")
@click.option("--route-factor", type=float, default=1.0, show_default=True,
              help="Fibre length / geodesic length for GraphML input.")
@click.option("--rate-target-bps", type=float, default=None, help="Derive L_max from this rate target.")
@click.option("--fidelity-target", type=float, default=None, help="Derive N_max from this fidelity target.")
@click.option("--time-limit", type=float, default=600.0, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True)
def repeaters_command(network, out_dir, end_nodes, l_max_km, n_max, D, K, route_factor, rate_target_bps,
                      fidelity_target, time_limit, threads):
    """Place the fewest quantum repeaters (Rabbie et al., npj Quantum Inf. 8, 5 (2022)) on NETWORK
    (a Topology Zoo .graphml[.gz] or a qtopo scenario .toml)."""
    import sys

    from ..errors import VerificationError
    from ..atomic import atomic_output_dir, write_json_atomic

    ends = [e.strip() for e in end_nodes.split(",") if e.strip()] if end_nodes else None
    res = plan_repeaters_from(network, ends, l_max_km, n_max, D, K, route_factor, rate_target_bps,
                              fidelity_target, time_limit, threads)
    if Status(res["status"]).has_plan and not res["verification"]["ok"]:
        raise VerificationError(res["verification"]["violations"])
    with atomic_output_dir(out_dir) as tmp:
        write_json_atomic(tmp / "repeaters.json", res)
    if Status(res["status"]).has_plan:
        gap = f", gap {res['gap']:.2%}" if res["gap"] is not None else ""
        click.echo(f"{res['status']}: {res['n_repeaters']} repeaters at {', '.join(res['repeaters']) or '-'}"
                   f"{gap}; verified -> {Path(out_dir) / 'repeaters.json'}")
        return
    if res["status"] == "infeasible":
        click.echo("infeasible:", err=True)
        for line in res["diagnosis"]:
            click.echo(f"  - {line}", err=True)
        sys.exit(2)
    click.echo(f"{res['status']}: no placement found within the time limit", err=True)
    sys.exit(3)
