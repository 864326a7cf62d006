"""``qtopo export``: hand a plan on (ETSI GS QKD 015-shaped documents, key-relay tables). Logic: qtopo.export."""
from __future__ import annotations

import sys

import click


@click.group("export")
def export_group() -> None:
    """Export a plan for deployment: ETSI GS QKD 015 node/topology documents, key-relay tables, map layers."""


@export_group.command("etsi")
@click.argument("plan", type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(),
              help="Output folder (written atomically): topology.json and nodes/<id>.json.")
def etsi_command(plan: str, out_dir: str) -> None:
    """Write PLAN (plan.json or its folder) as ETSI GS QKD 015 etsi-qkd-sdn-node documents, validated against
    the schema derived from the YANG modules."""
    from ..export import write_etsi

    topo = write_etsi(plan, out_dir)
    nodes = topo["qtopo-plan:topology"]["qkd_nodes"]
    links = [L for n in nodes for L in n["etsi-qkd-sdn-node:qkd_node"].get("qkd_links", {}).get("qkd_link", [])]
    phys = len({L["qkdl_id"] for L in links if L["qkdl_type"].endswith(":PHYS")})
    virt = len({L["qkdl_id"] for L in links if L["qkdl_type"].endswith(":VIRT")})
    click.echo(f"{len(nodes)} QKD nodes, {phys} physical and {virt} virtual (key-relay) links, validated "
               f"-> {out_dir}/topology.json, {out_dir}/nodes/")


@export_group.command("relay-table")
@click.argument("plan", type=click.Path())
@click.option("--out", "out_dir", type=click.Path(), default=None,
              help="Output folder (written atomically): relay_table.csv and relay_table.json. "
                   "Without it the table is printed.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="What to print when there is no --out.")
def relay_table_command(plan: str, out_dir: str | None, fmt: str) -> None:
    """Key-relay table of PLAN (plan.json or its folder) for a key-management system (ITU-T Y.3803): per
    demand its routes, the nodes holding its key, the rate reserved per hop and the routes' disjointness."""
    import json
    from pathlib import Path

    from ..export import relay_rows, relay_table
    from ..atomic import atomic_output_dir, write_json_atomic

    table = relay_table(plan)
    rows = relay_rows(table)
    if out_dir is None:
        if fmt == "json":
            click.echo(json.dumps(table, indent=1))
        else:
            rows.to_csv(sys.stdout, index=False)
        return
    with atomic_output_dir(out_dir) as tmp:
        rows.to_csv(Path(tmp) / "relay_table.csv", index=False)
        write_json_atomic(Path(tmp) / "relay_table.json", table)
    click.echo(f"{len(table['demands'])} demands, {len(rows)} hops -> {out_dir}/relay_table.csv, "
               f"{out_dir}/relay_table.json")


@export_group.command("layers")
@click.argument("plan", type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output folder (written atomically).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "fgb", "gpkg"]), default="parquet", show_default=True,
              help="GeoParquet, FlatGeobuf or GeoPackage; one file per layer.")
def layers_command(plan: str, out_dir: str, fmt: str) -> None:
    """Write the map layers of PLAN (nodes, links, demand_routes; sites and fibre from the plan.gpkg beside
    it) as GeoParquet, FlatGeobuf or GeoPackage files."""
    from ..export.layers import write_plan_layers

    names = write_plan_layers(plan, out_dir, fmt)
    click.echo(f"{len(names)} layers ({', '.join(names)}) -> {out_dir}")
