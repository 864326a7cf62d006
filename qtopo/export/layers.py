"""A plan's map layers in the formats GIS teams exchange: GeoParquet, FlatGeobuf, GeoPackage."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd


def write_plan_layers(plan, out_dir, fmt: str = "parquet") -> list:
    """Write the layers of ``plan`` (path to plan.json or its folder, or a Plan) to ``out_dir`` atomically.

    Layers ``nodes``, ``links``, ``demand_routes`` come from plan.json; ``sites`` and ``fibre`` from the
    ``plan.gpkg`` written beside it by ``qtopo plan``, when present. One file per layer, ``<layer>.<ext>``.

    Returns
    -------
    list of str
        The file names written.
    """
    from ..atomic import atomic_output_dir
    from ..plan import Plan, write_layers

    p = Plan.from_json(plan) if isinstance(plan, (str, Path)) else plan
    extra = {}
    gpkg = Path(getattr(p, "path", "")).with_name("plan.gpkg") if getattr(p, "path", None) else None
    if gpkg is not None and gpkg.is_file():
        import pyogrio

        names = [str(x) for x in pyogrio.list_layers(gpkg)[:, 0]]
        for layer in ("sites", "fibre"):
            if layer in names:
                extra[layer] = gpd.read_file(gpkg, layer=layer, engine="pyogrio")
    with atomic_output_dir(out_dir) as tmp:
        written = write_layers(p, tmp, fmt, **extra)
    return [w.name for w in written]
