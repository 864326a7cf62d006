"""``qtopo report``: tables, maps and charts of a stored plan."""
from __future__ import annotations

from pathlib import Path

import click

from ..report import write_report


@click.command("report")
@click.argument("plan_path", type=click.Path(exists=True))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for the report files (default: the plan's folder).")
@click.option("--failures", "failures_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Failure analysis JSON (default: failures.json beside the plan, if any).")
@click.option("--tiles", default=None, help="Base tiles for map.html, e.g. OpenStreetMap (needs the network "
                                            "when viewed; default none).")
def report_command(plan_path: str, out_dir: str | None, failures_path: str | None, tiles: str | None) -> None:
    """Write report.md, report.html, map.png and map.html for PLAN (plan.json or its folder), e.g. again
    after `qtopo failures PLAN --out failures.json` to add the failure impact table."""
    from ..plan import Plan

    plan = Plan.from_json(plan_path)
    out = Path(out_dir) if out_dir else Path(plan.path).parent
    written = write_report(plan, out, failures=failures_path, tiles=tiles)
    click.echo("\n".join(str(p) for p in written.values()))
