"""``qtopo failures``: single-failure analysis of a stored plan."""
from __future__ import annotations

import click

from ..failures import analyse_failures, format_table


@click.command("failures")
@click.argument("plan_path", type=click.Path())
@click.option("--scenario", type=click.Path(), default=None, help="Scenario file (default: the one named in the plan).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--out", "out_file", type=click.Path(), default=None, help="Also write the full analysis to this JSON file.")
@click.option("--node-availability", type=float, default=None, help="Availability of a node, e.g. 0.9999.")
@click.option("--bypass-node-availability", type=float, default=None,
              help="Availability of a node passed optically (default: --node-availability).")
@click.option("--fibre-unavailability-per-km", type=float, default=None,
              help="Fibre unavailability per km = cuts per km-year x repair time in years, e.g. 2e-6.")
@click.option("--corridor-availability", type=float, default=None, help="Availability of a corridor shared-risk group.")
@click.option("--srg-buffer-m", type=float, default=None, help="Override [risk] srg_buffer_m (corridor buffer, m).")
def failures_command(plan_path, scenario, fmt, out_file, node_availability, bypass_node_availability,
                     fibre_unavailability_per_km, corridor_availability, srg_buffer_m):
    """Single-failure analysis of PLAN (plan.json or its folder): key rate kept per demand, availability."""
    import json

    from ..atomic import write_json_atomic
    from ..plan import Plan

    p = Plan.from_json(plan_path)
    av = {k: v for k, v in (("node", node_availability), ("bypass_node", bypass_node_availability),
                            ("fibre_per_km_unavailability", fibre_unavailability_per_km),
                            ("corridor", corridor_availability)) if v is not None}
    risk = {"srg_buffer_m": srg_buffer_m} if srg_buffer_m is not None else None
    res = analyse_failures(p, scenario, availability=av or None, risk=risk)
    if out_file:
        write_json_atomic(out_file, res)
    if fmt == "json":
        click.echo(json.dumps(res, indent=1))
    else:
        click.echo(f"failure analysis of {p.path}")
        click.echo(format_table(res))
        if out_file:
            click.echo(f"-> {out_file}")
