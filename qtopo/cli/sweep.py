"""``qtopo sweep``: run a scenario sweep on Dask and summarise it."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..sweep import load_sweep, run_sweep, summary_line


@click.command("sweep")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: runs/<id>.json, results.csv, results.parquet, pareto.png. Rerun to resume.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Address of an existing Dask scheduler (default: a LocalCluster on this machine).")
@click.option("--workers", "n_workers", type=click.IntRange(min=1), default=None,
              help="Worker processes of the LocalCluster (default: one per available core).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def sweep_command(sweep_file, out_dir, scheduler, n_workers, quiet):
    """Run the scenarios of SWEEP_FILE (a TOML grid or list of overrides) on Dask; skip finished ones.

    Exit 0 when every scenario finished (whatever its status: the summary counts infeasible and failed
    ones), 3 when some were lost with their workers (rerun to finish them), 4 on a bad sweep file or an
    unreachable scheduler, 130 when interrupted (finished scenarios are kept; rerun to resume).
    """
    spec = load_sweep(sweep_file)
    if scheduler is not None and n_workers is not None:
        click.echo("note: --workers is ignored with --scheduler", err=True)
    click.echo(f"sweep {spec.name}: {len(spec)} scenarios of {spec.scenario}", err=True)
    df = run_sweep(spec, out_dir, scheduler=scheduler, n_workers=n_workers, progress=not quiet)
    click.echo(summary_line(df))
    for _, r in df[df["status"] == "error"].head(5).iterrows():
        click.echo(f"  error [{r['label']}] {r['id']}: {str(r['error']).splitlines()[0]}", err=True)
    click.echo(f"results: {Path(out_dir) / 'results.csv'}, {Path(out_dir) / 'pareto.png'}")
    lost = df.attrs.get("sweep", {}).get("lost", 0) or int(df["status"].isna().sum())
    if lost:
        click.echo(f"{lost} scenario(s) did not finish (worker lost); rerun the same command to finish them",
                   err=True)
        sys.exit(3)
