"""``qtopo import zoo|sndlib|csv``: turn public network files into a scenario folder.

Each subcommand reads a network, marks data-center sites, generates key-rate demands and writes
``sites.gpkg``, ``routes.gpkg``, ``demands.csv`` and a commented starter ``scenario.toml`` into ``--out``
(atomically). Bad input raises :class:`qtopo.errors.InputError`, which ``qtopo`` prints with every problem.
"""
from __future__ import annotations

import click

from qtopo.errors import InputError, Problem

_DEMANDS = ("all-pairs", "gravity", "none")


def _split(s: str | None) -> list[str]:
    return [x.strip() for x in (s or "").split(",") if x.strip()]


def _common_options(fn):
    opts = [
        click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
                     help="Scenario folder to write (must not exist or be empty, unless --overwrite)."),
        click.option("--route-factor", type=float, default=1.3, show_default=True,
                     help="Fibre length / geodesic length for routes without surveyed length "
                          "(ducts follow roads and rail: typically 1.2-1.5)."),
        click.option("--datacenters", default="", metavar="ID,ID,...",
                     help="Comma list of site ids to mark kind=datacenter (the demand endpoints)."),
        click.option("--target-bps", type=float, default=5000.0, show_default=True,
                     help="Key-rate target per pair (all-pairs), or mean per pair (gravity), bit/s."),
        click.option("--name", default=None, help="Scenario name (default: the --out folder name)."),
        click.option("--overwrite", is_flag=True, help="Replace an existing --out folder."),
        click.option("--vector-format", type=click.Choice(["gpkg", "parquet", "fgb"]), default="gpkg",
                     show_default=True, help="Format of the sites and routes files: GeoPackage, GeoParquet "
                                             "(needs pyarrow) or FlatGeobuf."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _demands_for(sites, how: str, target_bps: float):
    from qtopo.importers import demands as dm

    if how == "none":
        return None
    if how == "all-pairs":
        return dm.all_pairs(sites, target_bps=target_bps)
    chosen = dm.all_pairs(sites, target_bps=target_bps)          # validates the chosen sites, counts pairs
    return dm.gravity(sites, total_bps=target_bps * len(chosen))


def _check_common(route_factor: float, target_bps: float, out_dir: str, overwrite: bool) -> None:
    """Every command-line problem, --out included, before any file is read or converted."""
    from qtopo.importers import project_dir_problems

    probs = list(project_dir_problems(out_dir, overwrite))
    if not (1.0 <= route_factor <= 5.0):
        probs.append(Problem("--route-factor", f"{route_factor:g} is outside [1, 5]",
                             "fibre is never shorter than the geodesic; typical values are 1.2-1.5"))
    if not (target_bps > 0):
        probs.append(Problem("--target-bps", f"{target_bps:g} is not positive", "give a key rate in bit/s"))
    if probs:
        raise InputError(probs, "invalid command line")


def _finish(sites, routes, demands, report, out_dir, route_factor, name, overwrite, vector_format, description):
    from qtopo.importers import write_project

    out = write_project(sites, routes, demands, out_dir, route_factor=route_factor, name=name,
                        description=description, overwrite=overwrite, vector_format=vector_format,
                        scenario_header=f"Imported by `qtopo import` from {report.source}")
    click.echo(str(report))
    n_dem = 0 if demands is None else len(demands)
    click.echo(f"wrote {out}: {len(sites)} sites, {len(routes)} routes, {n_dem} demands")
    click.echo(f"next: qtopo plan {out}/scenario.toml --out {out}/plan")


@click.group("import")
def import_group():
    """Import public network data (Topology Zoo, SNDlib, CSV) into a scenario folder."""


@import_group.command("zoo")
@click.argument("graphml", type=click.Path(dir_okay=False))
@_common_options
@click.option("--demands", "how", type=click.Choice(_DEMANDS), default="all-pairs", show_default=True,
              help="all-pairs: every pair of data centers; gravity: population-weighted (bundled GeoNames, "
                   "Europe); none: header-only demands.csv.")
def zoo_command(graphml, out_dir, route_factor, datacenters, target_bps, name, overwrite, vector_format, how):
    """Import a Topology Zoo GraphML file (.graphml or .graphml.gz)."""
    from qtopo.importers import read_zoo

    _check_common(route_factor, target_bps, out_dir, overwrite)
    sites, routes, report = read_zoo(graphml, datacenters=_split(datacenters))
    demands = _demands_for(sites, how, target_bps)
    _finish(sites.drop(columns=["source_id"]), routes, demands, report, out_dir, route_factor, name, overwrite,
            vector_format, f"Imported from Topology Zoo {report.network} (CC BY 4.0, Knight et al., IEEE JSAC 2011).")


@import_group.command("sndlib")
@click.argument("network_file", type=click.Path(dir_okay=False))
@_common_options
@click.option("--demands", "how", type=click.Choice(_DEMANDS + ("file",)), default="all-pairs",
              show_default=True,
              help="As for zoo, or 'file': the SNDlib demand pairs, each with --target-bps.")
@click.option("--coordinates", type=click.Choice(["auto", "geographical", "pixel"]), default="auto",
              show_default=True,
              help="Coordinate type when the file does not state it (native format); pixel files are refused.")
def sndlib_command(network_file, out_dir, route_factor, datacenters, target_bps, name, overwrite, vector_format,
                   how, coordinates):
    """Import an SNDlib network file (native .txt or .xml) with geographical coordinates."""
    import pandas as pd

    from qtopo.importers.sndlib import read_sndlib

    _check_common(route_factor, target_bps, out_dir, overwrite)
    sites, routes, sdem, report = read_sndlib(network_file, datacenters=_split(datacenters),
                                              coordinates=coordinates)
    if how == "file":
        if sdem.empty:
            raise InputError([Problem(network_file, "the file has no demands", "use --demands all-pairs")],
                             "cannot import SNDlib file")
        a = sdem[["source", "target"]].to_numpy(dtype=object)
        a.sort(axis=1)                                               # undirected: A-B and B-A are one pair
        pairs = pd.DataFrame(a, columns=["source", "target"]).drop_duplicates()
        demands = pairs.assign(target_bps=float(target_bps)).reset_index(drop=True)
    else:
        demands = _demands_for(sites, how, target_bps)
    _finish(sites, routes, demands, report, out_dir, route_factor, name, overwrite, vector_format,
            f"Imported from SNDlib network {report.network}.")


@import_group.command("csv")
@click.argument("nodes_csv", type=click.Path(dir_okay=False))
@click.argument("links_csv", type=click.Path(dir_okay=False))
@_common_options
@click.option("--demands", "how", type=click.Choice(_DEMANDS), default="all-pairs", show_default=True,
              help="As for zoo.")
def csv_command(nodes_csv, links_csv, out_dir, route_factor, datacenters, target_bps, name, overwrite,
                vector_format, how):
    """Import a network from NODES_CSV (id,lon,lat[,name,kind]) and LINKS_CSV (from,to[,length_km])."""
    from qtopo.importers.csvnet import read_csv_network

    _check_common(route_factor, target_bps, out_dir, overwrite)
    sites, routes, report = read_csv_network(nodes_csv, links_csv, datacenters=_split(datacenters))
    demands = _demands_for(sites, how, target_bps)
    _finish(sites, routes, demands, report, out_dir, route_factor, name, overwrite, vector_format,
            "Imported from CSV files.")
