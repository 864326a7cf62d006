"""The pre-MILP lower bound (qtopo.cutbound) before and after the Steiner arborescence bound, per instance.

Usage::

    python -m benchmarks.bench_cutbound [--instances nat-grnet,nat-dfn] [--time-limit 15] [--out FILE]

For each instance the planning inputs are built from its scenario (``build_inputs``; no heuristic, so no pruning
against a plan: the planner's bound can only be as good or better) and bounded twice, each with the same time
limit (default 15 s, the planner's cap ``CUT_BOUND_MAX_S`` at a 300 s limit):

``before``
    the undirected cut-set LP as it was (connectivity, capacity and Chvatal-Gomory cuts):
    ``cutset_bound(directed=False, node_arc=False, dual_ascent=False)``;
``after``
    the default: the arborescence dual ascent first (``steiner_dual_ascent``), then the directed cut-set LP
    with node-arc cuts; the better of the two bounds;
``da_undirected``
    the dual ascent, then the undirected LP of ``before``: ``cutset_bound(directed=False, node_arc=False)``.

Each record carries the 1-minute load average at its end (the machine is shared: seconds are upper bounds).
Instances not in the registry's national family are the held-out ones (``hold-*``): nothing was tuned on them.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

DEFAULT = ("nat-grnet,nat-forthnet,nat-dfn,nat-bellcanada,nat-geant2012,nat-chinanet,nat-evolink,nat-surfnet,"
           "hold-renater,hold-uninett,hold-niif,hold-garr")


def _inputs(name: str):
    from benchmarks.instances import scenario_path
    from benchmarks.registry import INSTANCES
    from qtopo.candidates import build_inputs
    from qtopo.planner import load_scenario_and_inputs, read_network

    scen = load_scenario_and_inputs(scenario_path(INSTANCES[name]))
    net, demands = read_network(scen)
    return build_inputs(net, demands, scen)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", default=DEFAULT)
    ap.add_argument("--time-limit", type=float, default=15.0)
    ap.add_argument("--out", default=None, help="JSON file for the records (default: print only)")
    a = ap.parse_args(argv)
    import qtopo.solve  # noqa: F401  (imported before the clocks start: the planner has it loaded)
    from qtopo.cutbound import cutset_bound

    recs = []
    for name in a.instances.split(","):
        inputs = _inputs(name)
        rec = {"instance": name, "hops": int(inputs.hops.shape[0]), "options": int(len(inputs.hop_devices)),
               "candidates": int(len(inputs.nodes))}
        for label, kw in (("before", {"directed": False, "node_arc": False, "dual_ascent": False}),
                          ("after", {}), ("da_undirected", {"directed": False, "node_arc": False})):
            t = time.perf_counter()
            cb = cutset_bound(inputs, time_limit_s=a.time_limit, **kw)
            rec[label] = {"bound_eur": cb.bound_eur, "seconds": round(time.perf_counter() - t, 2),
                          "rounds": cb.rounds, "status": cb.status, "load_1min": round(os.getloadavg()[0], 1)}
            if label != "before":
                rec[label]["dual_ascent_eur"] = cb.dual_ascent_eur
                rec[label]["dual_ascent_s"] = round(cb.dual_ascent_s, 2)
        recs.append(rec)
        print(json.dumps(rec), flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps({"time_limit_s": a.time_limit, "records": recs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
