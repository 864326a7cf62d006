"""National networks that are NOT in the registry (issue 12's generalisation check), built with the national
family's rules: huts every 25 km, the 6 data centers chosen by :func:`benchmarks.national_endpoints.endpoints`
(largest GeoNames cities), all-pairs 5 kbit/s, the importer's default catalog.

    python -m benchmarks.generalisation [--shared ../shared/data] [NAME ...]

prints one ``scenario.toml`` path per network (written into ``$QTOPO_BENCH_CACHE``, like the registry's);
plan each with ``qtopo plan PATH --time-limit T --threads N --out DIR``. Needs the shared data folder (Topology
Zoo GraphML and GeoNames cities), so it is not part of ``make bench``.
"""
from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from benchmarks.instances import scenario_path
from benchmarks.national_endpoints import endpoints
from benchmarks.registry import NATIONAL_HUT_KM, ROOT, S_FULL, TARGET_BPS, InstanceSpec

#: Topology Zoo national research networks of 30-80 PoPs outside the registry's national family.
NETWORKS = ("Renater2010", "Uninett2010", "Niif", "Litnet", "Garr201201")


def spec(name: str, shared: Path, cities: list) -> InstanceSpec:
    graphml = shared / "topology-zoo" / "graphml" / f"{name}.graphml"
    ids = [i for i, _, _ in endpoints(graphml, cities)]
    return InstanceSpec(f"gen-{name.lower()}", "zoo", f"{name} (Topology Zoo, not in the registry): huts every 25 km,"
                        f" 6 data centers", {"file": str(graphml.resolve()), "endpoint_ids": ids,
                                             "hut_spacing_km": NATIONAL_HUT_KM, "target_bps": TARGET_BPS},
                        S_FULL, {"full": 300.0})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("names", nargs="*", default=list(NETWORKS))
    a = ap.parse_args(argv)
    raw = json.loads(gzip.open(a.shared / "geonames" / "cities15000.json.gz").read())
    cities = list(raw.values()) if isinstance(raw, dict) else raw
    for n in a.names:
        s = spec(n, a.shared, cities)
        print(n, ",".join(s.params["endpoint_ids"]), scenario_path(s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
