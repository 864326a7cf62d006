"""``qtopo compare``: what changed between two plans."""
from __future__ import annotations

import json

import click

from ..compare import compare_plans, format_comparison


@click.command("compare")
@click.argument("plan_a", type=click.Path(exists=True))
@click.argument("plan_b", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare_command(plan_a: str, plan_b: str, as_json: bool) -> None:
    """Show what changed from PLAN_A to PLAN_B (plan.json files or output folders): nodes, links, cost,
    delivered rates and the trusted nodes holding each demand's key."""
    from ..plan import Plan

    d = compare_plans(Plan.from_json(plan_a), Plan.from_json(plan_b))
    click.echo(json.dumps(d, indent=1) if as_json else format_comparison(d).rstrip("\n"))
