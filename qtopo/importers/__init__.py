"""Importers of public network data into qtopo project folders.

Readers
-------
- :func:`read_zoo` -- Topology Zoo GraphML (``.graphml`` / ``.graphml.gz``).
- :func:`read_sndlib` -- SNDlib native (``.txt``) and XML network files with geographical coordinates.
- :func:`read_csv_network` -- generic CSV of nodes and links.

Each returns ``(sites, routes, report)`` (sndlib also returns demands), with GeoDataFrames in EPSG:4326.
:func:`write_project` writes them as a scenario folder the planner reads (``qtopo plan DIR/scenario.toml``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from qtopo.errors import InputError, Problem

__all__ = ["read_zoo", "read_sndlib", "read_csv_network", "write_project", "scenario_toml",
           "DEFAULT_ROUTE_FACTOR"]

#: Fibre route length / great-circle length when no surveyed length is known. Ducts follow roads, rail and
#: rights of way, so real routes are typically 1.2-1.5 times the geodesic distance; 1.3 is a middle value.
DEFAULT_ROUTE_FACTOR = 1.3


def __getattr__(name):  # lazy: keep `import qtopo.importers` light (no pandas/GeoPandas) and free of cycles
    if name == "read_zoo":
        from qtopo.importers.zoo import read_zoo
        return read_zoo
    if name == "read_sndlib":
        from qtopo.importers.sndlib import read_sndlib
        return read_sndlib
    if name == "read_csv_network":
        from qtopo.importers.csvnet import read_csv_network
        return read_csv_network
    raise AttributeError(name)


def scenario_toml(name: str, description: str = "", *, route_factor: float = DEFAULT_ROUTE_FACTOR,
                  sites: str = "sites.gpkg", routes: str = "routes.gpkg", demands: str = "demands.csv",
                  snap_tolerance_m: float = 2000.0, hut_spacing_km: float = 25.0,
                  time_limit_s: float = 60.0, header: str = "") -> str:
    """Text of a commented starter ``scenario.toml`` in the schema of ``CONTRIBUTING.md``.

    Parameters
    ----------
    name, description : str
        ``[scenario]`` name and description.
    route_factor : float
        Fibre length / geodesic length applied to routes without a surveyed ``length_km``.
    sites, routes, demands : str
        Input file names, relative to the scenario file.
    snap_tolerance_m, hut_spacing_km, time_limit_s : float
        Values of the corresponding keys.
    header : str
        Optional comment lines (without ``#``) put at the top of the file.

    Returns
    -------
    str
        TOML text; every cost is marked as an illustrative assumption.
    """
    from ..scenario import toml_value

    head = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return f"""{head}[scenario]
name = {toml_value(name)}
description = {toml_value(description)}

[inputs]
sites = {toml_value(sites)}
routes = {toml_value(routes)}
demands = {toml_value(demands)}

[network]
# Fibre length = geodesic length x route_factor for routes without a surveyed length_km. Ducts follow roads,
# rail and rights of way: the ratio of duct length to great-circle distance is typically about 1.2-1.5.
route_factor = {toml_value(float(route_factor))}
# route endpoints closer than node_tolerance_m are one fibre node; a site must lie within snap_tolerance_m
# of a route vertex; candidate in-line huts (relay sites) are placed every hut_spacing_km along routes.
node_tolerance_m = 500.0
snap_tolerance_m = {toml_value(float(snap_tolerance_m))}
hut_spacing_km = {toml_value(float(hut_spacing_km))}

[fibre]
attenuation_db_per_km = 0.2   # standard single-mode fibre (ITU-T G.652) at 1550 nm: about 0.2 dB/km
connector_loss_db = 1.0       # illustrative: patch panels and connectors at both ends of a link
splice_loss_db_per_km = 0.02  # illustrative: about one 0.05-0.1 dB fusion splice every 2-5 km of cable

[costs]
trusted_node_eur = 150000.0   # illustrative assumption: secure room, key management, rack and site works
hut_node_eur = 400000.0       # illustrative assumption: new secured hut on a route (shelter, power, access)
fibre_eur_per_km = 500.0      # illustrative assumption: using (leasing and lighting) one km of a fibre pair

[devices.apd]
preset = "apd-bb84"           # decoy-state BB84 with InGaAs avalanche photodiodes (commercial systems)
pair_cost_eur = 120000.0      # illustrative assumption: one transmitter/receiver pair (commercial QKD
                              # systems are commonly quoted at around 100 kEUR per link)
max_pairs_per_link = 8

[devices.snspd]
preset = "snspd-bb84"         # decoy-state BB84 with superconducting nanowire detectors (cryostat needed)
pair_cost_eur = 300000.0      # illustrative assumption: pair plus a share of a cryostat
max_pairs_per_link = 8

[solver]
time_limit_s = {toml_value(float(time_limit_s))}
mip_gap = 0.01
threads = 2
"""


def project_dir_problems(out_dir, overwrite: bool = False) -> list[Problem]:
    """Everything that would stop :func:`write_project` from writing ``out_dir`` (empty list: it can).

    The same checks as ``qtopo plan --out`` (:func:`qtopo.atomic.check_output_dir`: a file or symlink in its
    place, a parent that is a file or not writable, ``..`` after a missing folder, a mount point) plus: a
    non-empty folder needs ``overwrite``, and ``overwrite`` replaces only a folder ``qtopo import`` wrote (its
    ``.qtopo-import`` marker). Cheap (no network is read): ``qtopo import`` calls it before converting anything.
    """
    from qtopo.atomic import IMPORT_MARKER, check_output_dir

    out = Path(out_dir)
    if out.is_dir() and not out.is_symlink() and any(out.iterdir()) and not overwrite:
        return [Problem(str(out), "folder exists and is not empty", "choose another --out or overwrite")]
    try:  # --overwrite replaces only a folder qtopo wrote (its marker), never the user's own folder
        check_output_dir(out, marker=IMPORT_MARKER)
    except InputError as e:
        return list(e.problems)
    return []


def write_project(sites, routes, demands, out_dir, *, route_factor: float = DEFAULT_ROUTE_FACTOR,
                  name: str | None = None, description: str = "", overwrite: bool = False,
                  scenario_header: str = "", vector_format: str = "gpkg", **scenario_kw) -> Path:
    """Write a scenario folder atomically: ``sites.gpkg``, ``routes.gpkg``, ``demands.csv``, ``scenario.toml``.

    Files are written into a temporary folder next to ``out_dir`` and moved into place with
    :func:`os.replace`, so a reader never sees a half-written project.

    Parameters
    ----------
    sites : geopandas.GeoDataFrame
        Points with a unique string ``id``.
    routes : geopandas.GeoDataFrame
        LineStrings.
    demands : pandas.DataFrame or None
        Columns ``source, target, target_bps``; ``None`` writes a header-only file.
    out_dir : str or Path
        Project folder to create.
    route_factor : float
        Written to ``[network] route_factor``.
    name : str, optional
        Scenario name; default: the folder name.
    description : str
        Scenario description.
    overwrite : bool
        Replace an existing non-empty ``out_dir``; otherwise that is an :class:`InputError`.
    scenario_header : str
        Comment lines at the top of ``scenario.toml`` (e.g. data attribution).
    vector_format : {"gpkg", "parquet", "fgb"}
        Format of the sites and routes files: GeoPackage, GeoParquet or FlatGeobuf.
    **scenario_kw
        Passed to :func:`scenario_toml` (``snap_tolerance_m``, ``hut_spacing_km``, ``time_limit_s``).

    Returns
    -------
    pathlib.Path
        The project folder.
    """
    from qtopo.atomic import IMPORT_MARKER, write_marker

    out = Path(out_dir)
    if demands is None:
        import pandas as pd

        demands = pd.DataFrame({"source": [], "target": [], "target_bps": []})
    probs = _project_problems(out, overwrite, vector_format, sites, demands)
    if probs:
        raise InputError(probs, "cannot write project")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)                             # mkdtemp makes 0700; use normal folder mode
    try:
        scenario_kw = _write_tables(tmp, sites, routes, demands, vector_format, scenario_kw)
        (tmp / "scenario.toml").write_text(
            scenario_toml(name or out.name, description, route_factor=route_factor,
                          header=scenario_header, **scenario_kw), encoding="utf-8")
        write_marker(tmp, IMPORT_MARKER)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
            os.replace(out, old / "x")
            try:
                os.replace(tmp, out)
            except OSError:
                os.replace(old / "x", out)                    # put the previous project back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _project_problems(out: Path, overwrite: bool, vector_format: str, sites, demands) -> list:
    """Everything wrong with a project before writing it: the folder, the format, site ids, demand columns and
    endpoints."""
    probs = project_dir_problems(out, overwrite)
    if vector_format not in ("gpkg", "parquet", "fgb"):
        probs.append(Problem("vector_format", f"unknown format {vector_format!r}", "use gpkg, parquet or fgb"))
    if "id" not in sites.columns or not sites["id"].is_unique:
        probs.append(Problem("sites", "column id missing or not unique", "give every site a unique id"))
    missing = {"source", "target", "target_bps"} - set(demands.columns)
    if missing:
        probs.append(Problem("demands", f"missing column(s) {sorted(missing)}",
                             "demands need source, target, target_bps"))
    elif "id" in sites.columns:
        bad = sorted((set(demands["source"]) | set(demands["target"])) - set(sites["id"]))
        if bad:
            probs.append(Problem("demands", f"unknown site id(s) {bad}", "demand endpoints must be site ids"))
    return probs


def _write_tables(tmp: Path, sites, routes, demands, vector_format: str, scenario_kw: dict) -> dict:
    """Sites and routes in ``vector_format`` and ``demands.csv`` into ``tmp``; returns ``scenario_kw`` naming the
    vector files when they are not the default GeoPackages."""
    from qtopo.io import VECTOR_FORMATS, write_gpkg, write_vector

    ext = VECTOR_FORMATS[vector_format]
    if vector_format == "gpkg":
        write_gpkg(sites, tmp / "sites.gpkg", layer="sites")
        write_gpkg(routes, tmp / "routes.gpkg", layer="routes")
    else:
        write_vector(sites, tmp / f"sites{ext}")
        write_vector(routes, tmp / f"routes{ext}")
        scenario_kw = {**scenario_kw, "sites": f"sites{ext}", "routes": f"routes{ext}"}
    demands[["source", "target", "target_bps"]].to_csv(tmp / "demands.csv", index=False, lineterminator="\n")
    return scenario_kw
