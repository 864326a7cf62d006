"""``qtopo rollout``: stage a plan over years within yearly budgets."""
from __future__ import annotations

import math

import click

from ..numeric import fmt_eur
from ..rollout import schedule_rollout


@click.command("rollout")
@click.argument("plan_path", type=click.Path(exists=True))
@click.option("--budgets", required=True, help="Comma-separated yearly budgets in EUR, e.g. 5e5,5e5,1e6.")
@click.option("--first-year", type=int, default=2027, show_default=True)
def rollout_command(plan_path, budgets, first_year):
    """Stage a plan over years within yearly budgets; writes rollout.json beside the plan."""
    from pathlib import Path

    from ..errors import InputError
    from ..atomic import write_json_atomic
    from ..contract import to_jsonable
    from ..plan import Plan

    try:
        b = [float(x) for x in budgets.split(",") if x.strip()]
        if not b or any(not math.isfinite(x) or x < 0 for x in b):
            raise ValueError
    except ValueError:
        raise InputError([f"--budgets {budgets!r}: give non-negative numbers separated by commas"],
                         "invalid command line") from None
    p = Plan.from_json(plan_path)
    if not p.has_plan:
        raise InputError([f"{plan_path}: plan status is {p.status.value}: nothing to stage"], "cannot stage plan")
    ro = schedule_rollout(p, b, first_year)
    out = Path(plan_path)
    out = (out if out.is_dir() else out.parent) / "rollout.json"
    write_json_atomic(out, to_jsonable(ro))
    for st in ro.stages:
        click.echo(f"{st.year}: spend {fmt_eur(st.spend_eur):>12} EUR  nodes {', '.join(st.nodes) or '-'}; "
                   f"links {len(st.links)}; serves {len(st.demands_served)} demands "
                   f"({st.served_bps:,.0f} bit/s)")
    if ro.unbuilt:
        click.echo(f"unbuilt within these budgets: {', '.join(ro.unbuilt)}")
    click.echo(f"-> {out}")
