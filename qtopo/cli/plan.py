"""``qtopo plan``, ``qtopo validate`` and ``qtopo verify``: the trusted-node planner's commands."""
from __future__ import annotations

import os
import sys

import click

from ..numeric import fmt_eur
from ._common import EXIT_INFEASIBLE, EXIT_OK, EXIT_SOLVER, EXIT_VERIFY, _err, _Progress, guarded


def _overrides(time_limit, mip_gap, threads) -> dict:
    o = {}
    if time_limit is not None:
        o["solver.time_limit_s"] = float(time_limit)
    if mip_gap is not None:
        o["solver.mip_gap"] = float(mip_gap)
    if threads is not None:
        o["solver.threads"] = int(threads)
    return o


@click.command("plan")
@click.argument("scenario", type=click.Path(dir_okay=True))
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output directory (written atomically).")
@click.option("--time-limit", type=float, default=None, help="Solver time limit in seconds (0: no limit).")
@click.option("--mip-gap", type=float, default=None, help="Relative MIP gap at which to stop.")
@click.option("--threads", type=int, default=None, help="Solver threads.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario value, e.g. --set costs.hut_node_eur=2e5 (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@guarded
def plan_cmd(scenario, out_dir, time_limit, mip_gap, threads, sets, quiet):
    """Plan SCENARIO (a TOML file) and write a verified plan to --out."""
    from ..planner import plan

    prog = _Progress(quiet)
    ov = _overrides(time_limit, mip_gap, threads)
    ov.update(_parse_sets(sets))
    p = plan(scenario, out_dir, overrides=ov, progress=prog)
    st = p.status.value
    if p.has_plan:
        gap = p.gap
        if gap is not None:
            gap_s = f"gap {gap:.2%}"
        elif st == "feasible":  # stopped before any lower bound: say so rather than hide it
            gap_s = "gap unknown (stopped before a lower bound was found; not proven optimal)"
        else:
            gap_s = "gap 0.00%"
        click.echo(f"{st}: cost {fmt_eur(p.cost_eur)} EUR, {gap_s} -> {os.path.join(out_dir, 'plan.json')}")
        sys.exit(EXIT_OK)
    if st == "infeasible":
        _err("infeasible: no plan can meet every demand")
        for d in p.diagnosis:
            _err(f"  - {d.source} -> {d.target}: {d.reason}: {d.detail}")
        _err(f"diagnosis written to {os.path.join(out_dir, 'plan.json')}")
        sys.exit(EXIT_INFEASIBLE)
    _err(f"{st}: the solver found no plan within the limits "
         f"(termination: {p.termination}); raise --time-limit or simplify the scenario")
    sys.exit(EXIT_SOLVER)


def _parse_sets(sets) -> dict:
    """``KEY=VALUE`` pairs; VALUE is read as a TOML value (number, true/false, "string"), else as text."""
    from ..errors import InputError
    from ..scenario import tomllib

    out = {}
    bad = []
    for s in sets:
        if "=" not in s:
            bad.append(f"--set {s!r}: expected KEY=VALUE, e.g. costs.hut_node_eur=200000")
            continue
        k, v = s.split("=", 1)
        try:
            out[k.strip()] = tomllib.loads(f"v = {v}")["v"]
        except tomllib.TOMLDecodeError:
            out[k.strip()] = v
    if bad:
        raise InputError(bad, "invalid command line")
    return out


@click.command("validate")
@click.argument("scenario", type=click.Path(dir_okay=True))
@guarded
def validate_cmd(scenario):
    """Check SCENARIO and its input files; report every problem at once."""
    from ..candidates import build_inputs
    from ..planner import load_scenario_and_inputs
    from ..topology import read_network

    scen = load_scenario_and_inputs(scenario)
    net, demands = read_network(scen)
    inputs = build_inputs(net, demands, scen)
    st = inputs.stats
    click.echo(f"ok: {len(net.site_node)} sites, {len(net.edges)} fibre segments, {len(demands)} demands, "
               f"{st['candidates']} candidates, {st['hops']} hops")
    for n in net.notes:
        click.echo(f"  note: {n}")
    if inputs.diagnosis:
        _err("but some demands cannot be served:")
        for d in inputs.diagnosis:
            _err(f"  - {d['source']} -> {d['target']}: {d['reason']}: {d['detail']}")
        sys.exit(EXIT_INFEASIBLE)


@click.command("verify")
@click.argument("plan_path", type=click.Path())
@click.option("--scenario", type=click.Path(), default=None, help="Scenario file (default: the one named in the plan).")
@guarded
def verify_cmd(plan_path, scenario):
    """Re-check a stored plan against its input files, independently of the model."""
    from ..plan import Plan
    from ..scenario import load_scenario
    from ..verify import verify

    p = Plan.from_json(plan_path)
    scen = load_scenario(scenario) if scenario else None
    rep = verify(p, scen)
    if rep.ok:
        click.echo(str(rep))
        return
    _err(str(rep))
    if rep.nothing_checked:  # never a success: exit as `qtopo plan` did for this status
        sys.exit(EXIT_INFEASIBLE if p.status.value == "infeasible" else EXIT_SOLVER)
    sys.exit(EXIT_VERIFY)
