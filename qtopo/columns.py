"""The input tables' columns as data: name, type, unit, default, plausible range, example, meaning.

This is the single source of truth for the columns of the sites, routes, demands and existing-links tables.
The readers (:mod:`qtopo.io`, :mod:`qtopo.requirements`) take their ranges and known column names from here,
and ``docs/inputs.md`` is generated from it (``python -m qtopo.columns > docs/inputs.md``; a test fails when
the committed file drifts).

Columns that are not listed are kept and ignored (a GIS layer often carries its own attributes), except a
column whose name is a near miss of a listed one (``k_route``, ``Target_bps``): that is an error naming the
column meant, because ignoring it silently would plan something the user did not ask for.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

#: Plausible key-rate targets (bit/s): below, a target is a unit mistake or noise that breaks the MILP's
#: numerics (1e-300); above, beyond any QKD system.
MIN_TARGET_BPS = 1e-3
MAX_TARGET_BPS = 1e12


@dataclass(frozen=True)
class Column:
    """One input column.

    ``lo``/``hi`` are inclusive bounds of a number (``None``: unbounded); ``hi_plausible`` marks an upper bound
    that is a plausibility cap rather than a physical limit.
    """

    name: str
    dtype: str              # text | number | integer | boolean | list of text
    unit: str = ""
    default: str = "required"
    description: str = ""
    example: str = ""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False   # lo itself is excluded (e.g. a length must be > 0)

    @property
    def required(self) -> bool:
        return self.default == "required"

    def range_text(self) -> str:
        if self.lo is None and self.hi is None:
            return ""
        lo = "" if self.lo is None else f"{'>' if self.lo_open else '>='} {self.lo:g}"
        hi = "" if self.hi is None else f"<= {self.hi:g}"
        return ", ".join(x for x in (lo, hi) if x)

    def in_range(self, v: float) -> bool:
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return self.hi is None or v <= self.hi


_MAX_ITEM_EUR = 1e10  # = qtopo.scenario.MAX_ITEM_EUR (not imported: this module stays dependency-free)

SITES: tuple[Column, ...] = (
    Column("id", "text", description="unique site id (compared after trimming and Unicode NFC normalisation; "
           "ids differing only by letter case are refused)", example="amsterdam"),
    Column("geometry", "Point", "lon/lat or any CRS declared by the file", description="site location; the "
           "layer must declare its CRS", example="POINT (4.90 52.37)"),
    Column("name", "text", default="the id", description="display name in reports and maps", example="Amsterdam"),
    Column("kind", "text", default="site", description="`datacenter`, `pop`, ... (free text; shown in reports)",
           example="datacenter"),
    Column("capex_eur", "number", "EUR", default="scenario costs.trusted_node_eur",
           description="capex of a trusted node at this site", example="250000", lo=0.0, hi=_MAX_ITEM_EUR),
    Column("country", "text", "ISO 3166-1 alpha-2", default="from the bundled country polygons",
           description="country of the site, for `allowed_countries` (a country name is refused with its code)",
           example="NL"),
    Column("operator", "text", default="(none)", description="operator of the site, for `excluded_operators`",
           example="surf"),
    Column("existing", "boolean", default="false", description="brownfield: a trusted node is already built "
           "here (its capex is sunk); `true`/`1`/`yes`", example="true"),
)

ROUTES: tuple[Column, ...] = (
    Column("geometry", "LineString or MultiLineString", "any CRS declared by the file",
           description="the fibre route as drawn; a line that crosses itself is refused",
           example="LINESTRING (4.90 52.37, 5.12 52.09)"),
    Column("id", "text", default="route0, route1, ...", description="unique route id (names fibre cuts in "
           "reports)", example="ams-utr"),
    Column("length_km", "number", "km", default="geodesic length x network.route_factor",
           description="surveyed fibre length. The drawn line's geodesic length is a lower bound: below 2% "
           "of it is an error (a placeholder or unit mistake), below it by more than 2% / 50 m a note (schematic "
           "drawing)", example="48.3", lo=0.0, hi=40000.0,
           lo_open=True),
    Column("attenuation_db_per_km", "number", "dB/km", default="scenario fibre.attenuation_db_per_km",
           description="fibre attenuation of this route", example="0.21", lo=0.0, hi=10.0),
    Column("operator", "text", default="(none)", description="operator of the route (reports, huts' operator)",
           example="surf"),
    Column("dark_fibre", "boolean", default="true", description="a dark fibre strand can be leased along this "
           "route for each QKD device pair (`true`/`false`, `1`/`0`, `yes`/`no`); a hop is dark only if every "
           "route it follows is (docs/lit_fibre.md)", example="false"),
    Column("dark_lease_eur", "number", "EUR", default="0", description="cost of leasing one dark fibre strand "
           "along the whole route, per device pair (added to costs.fibre_eur_per_km; a hop over part of the route "
           "pays its share by length)", example="20000", lo=0.0, hi=_MAX_ITEM_EUR),
    Column("lit_launch_dbm", "number", "dBm", default="(no lit option)", description="total classical DWDM launch "
           "power in the route's lit fibre: QKD may share it at no lease, its rate reduced by Raman noise "
           "(fibre.raman_* scenario keys); a hop is offered lit only if every route it follows has a value, at the "
           "highest of them over its whole length", example="0", lo=-60.0, hi=30.0),
)

DEMANDS: tuple[Column, ...] = (
    Column("source", "text", description="site id of one end", example="amsterdam"),
    Column("target", "text", description="site id of the other end (a pair appears once, in either "
           "direction)", example="utrecht"),
    Column("target_bps", "number", "bit/s", description="secret-key rate the pair must get",
           example="10000", lo=MIN_TARGET_BPS, hi=MAX_TARGET_BPS),
    Column("k_routes", "integer", default="1", description="number of disjoint key routes", example="2",
           lo=1, hi=8),
    Column("disjoint", "text", default="node", description="`node`: routes share no node nor fibre; `link`: "
           "routes share no fibre segment nor corridor risk group", example="link"),
    Column("protection", "text", default="1+1", description="`1+1`: every route carries the full target; "
           "`k-1`: each carries target/(k_routes-1)", example="k-1"),
    Column("max_trusted_nodes", "integer", default="(no limit)", description="most intermediate trusted nodes "
           "that may hold this demand's key, per route", example="2", lo=0, hi=1000),
    Column("allowed_countries", "list of text", "ISO 3166-1 alpha-2, `;`-separated", default="(any)",
           description="every trusted node on the routes must lie in one of these countries", example="NL;BE"),
    Column("excluded_nodes", "list of text", "`;`-separated ids", default="(none)",
           description="site or fibre-node ids that must not hold this demand's key (an unknown id is an "
           "error naming close matches)", example="utrecht"),
    Column("excluded_operators", "list of text", "`;`-separated", default="(none)",
           description="operators whose nodes must not hold this demand's key", example="acme"),
    Column("weight", "number", default="1", description="weight of the delivered rate in budget mode "
           "(objective.mode = \"max_rate\")", example="2", lo=0.0, hi=1e6),
)

EXISTING_LINKS: tuple[Column, ...] = (
    Column("from", "text", description="site or fibre-node id of one end", example="amsterdam"),
    Column("to", "text", description="site or fibre-node id of the other end", example="utrecht"),
    Column("device", "text", description="device name from the scenario's [devices] tables", example="apd"),
    Column("pairs", "integer", description="installed device pairs (their cost is sunk); at most the device's "
           "max_pairs_per_link; one row per hop and device", example="2", lo=1, hi=10000),
)

TABLES: dict[str, tuple[tuple[Column, ...], str]] = {
    "sites": (SITES, "GeoPackage, GeoJSON, Shapefile or FlatGeobuf; Points (`[inputs] sites`)"),
    "routes": (ROUTES, "GeoPackage, GeoJSON, Shapefile or FlatGeobuf; LineStrings (`[inputs] routes`)"),
    "demands": (DEMANDS, "CSV, comma-separated, UTF-8 (`[inputs] demands`)"),
    "existing_links": (EXISTING_LINKS, "CSV, comma-separated, UTF-8 (`[inputs] existing_links`, optional)"),
}


def column(table: str, name: str) -> Column:
    return next(c for c in TABLES[table][0] if c.name == name)


def near_misses(columns, table: str) -> list[tuple[str, str]]:
    """``(given, meant)`` for each given column that is not known but nearly spells a known one."""
    known = [c.name for c in TABLES[table][0] if c.name != "geometry"]
    out = []
    for g in map(str, columns):
        if g in known or g == "geometry":
            continue
        folded = {k.casefold(): k for k in known}
        meant = folded.get(g.strip().casefold().replace(" ", "_").replace("-", "_"))
        if meant is None:
            close = difflib.get_close_matches(g, known, n=1, cutoff=0.8)
            meant = close[0] if close else None
        if meant is not None:
            out.append((g, meant))
    return out


def markdown() -> str:
    """``docs/inputs.md``: every input column with type, unit, default, range and example."""
    lines = ["# Input columns", "",
             "<!-- generated by `python -m qtopo.columns > docs/inputs.md` from qtopo/columns.py; do not edit -->",
             "",
             "Every column qtopo reads from the input tables, with its type, unit, default, accepted range and an "
             "example. The readers take names and ranges from the same table (`qtopo/columns.py`), so this page "
             "cannot drift from what is validated. Columns not listed here are kept and ignored, except near "
             "misses of a listed name (`k_route`, `Target_bps`), which are errors naming the column meant. "
             "Scenario keys (TOML) are described in `qtopo/scenario.py` (`SCHEMA`).", ""]
    for table, (cols, fmt) in TABLES.items():
        lines += [f"## {table}", "", f"{fmt}.", "",
                  "| column | type | unit | default | range | example | meaning |",
                  "|---|---|---|---|---|---|---|"]
        for c in cols:
            cells = [f"`{c.name}`", c.dtype, c.unit, c.default, c.range_text(), f"`{c.example}`" if c.example
                     else "", c.description]
            lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(markdown(), end="")
