"""Fuzzing ``--set`` and every input column (issue 15): any value gives a validated result or an InputError.

Never another exception (the adversarial pass found ``--set a.b.c=1`` through a scalar and ``pairs = inf`` as
internal errors, exit 70), and a result that is returned obeys the column's documented range
(:mod:`qtopo.columns`). Bounded: ~40 examples per test, no solver.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qtopo
from qtopo.columns import TABLES, column
from qtopo.scenario import DEVICE_KEYS, SCHEMA

HERE = Path(__file__).resolve().parent
BASE = HERE / "data" / "bad" / "_base" / "scenario.toml"
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

_KEYS = [f"{s}.{k}" for s, ks in SCHEMA.items() for k in ks] + [f"devices.apd.{k}" for k in DEVICE_KEYS]
_PART = st.sampled_from(["", "a", "b", "x", "devices", "apd", "costs", "route_factor", "network", "é", " "])
key_st = st.one_of(st.sampled_from(_KEYS),
                   st.builds(lambda k, extra: ".".join([k, *extra]), st.sampled_from(_KEYS), st.lists(_PART, max_size=2)),
                   st.lists(_PART, min_size=1, max_size=4).map(".".join))
value_text_st = st.one_of(
    st.sampled_from(["1", "0", "-1", "1e300", "-1e300", "1e-300", "inf", "nan", "true", "false", '"x"', "[1, 2]",
                     "[]", "{a = 1}", '"./"', '"plan.json"', "2027-01-01", "0x10", "", "=", '"']),
    st.text(max_size=12))


def _outcome(fn):
    """Run ``fn``: its result, or None for an InputError; anything else fails the test."""
    try:
        return fn()
    except qtopo.InputError as e:
        assert e.problems and all(p.what for p in e.problems)
        return None


@FAST
@given(st.lists(st.tuples(key_st, value_text_st), min_size=1, max_size=3))
def test_fuzz_set_overrides(pairs):
    """``--set KEY=VALUE`` as the CLI parses it: a validated scenario or an InputError naming the problem."""
    from qtopo.cli.plan import _parse_sets

    def run():
        ov = _parse_sets([f"{k}={v}" for k, v in pairs])
        return qtopo.load_scenario(BASE, ov)

    scen = _outcome(run)
    if scen is not None:
        for sec, keys in SCHEMA.items():
            for k, (typ, _, lo, hi, _) in keys.items():
                v = getattr(scen, sec)[k]
                if isinstance(v, float):
                    assert math.isfinite(v) and (lo is None or v >= lo) and (hi is None or v <= hi), (sec, k, v)


cell_st = st.one_of(
    st.sampled_from(["", "1", "0", "-1", "2", "8", "9", "1.5", "inf", "-inf", "nan", "NaN", "1e300", "1e-300",
                     "node", "link", "1+1", "k-1", "NL", "nl", "NL;BE", "Netherlands", "XX", "bravo", "brav", "alpha",
                     "apd", "ap d", "zürich", "x;y", "\"a,b\"", "true"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=8))


def _csv(header: list[str], rows: list[list[str]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


@FAST
@given(st.sampled_from([c.name for c in TABLES["demands"][0]]), st.lists(cell_st, min_size=1, max_size=3))
def test_fuzz_demand_columns(col_name, cells):
    """Any value in any demands column: validated demands (targets within the documented range, requirements
    parsed) or an InputError."""
    from qtopo.io import read_demands
    from qtopo.requirements import parse_requirements

    base = {"source": "alpha", "target": "charlie", "target_bps": "1000"}
    pairs = [("alpha", "charlie"), ("alpha", "bravo"), ("bravo", "charlie")]
    rows = []
    for (s, t), v in zip(pairs, cells):
        r = {**base, "source": s, "target": t, col_name: v}
        rows.append(r)
    header = list(dict.fromkeys(["source", "target", "target_bps", col_name]))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "demands.csv"
        p.write_text(_csv(header, [[r[h] for h in header] for r in rows]), encoding="utf-8")
        df = _outcome(lambda: parse_requirements(read_demands(p, ["alpha", "bravo", "charlie"])))
    if df is not None:
        spec = column("demands", "target_bps")
        assert df["target_bps"].between(spec.lo, spec.hi).all()
        assert df["k_routes"].between(1, 8).all()
        assert set(df["disjoint"]) <= {"node", "link"} and set(df["protection"]) <= {"1+1", "k-1"}
        assert all(len(c) == 2 and c.upper() == c for cs in df["allowed_countries"] for c in cs)


@FAST
@given(st.sampled_from([c.name for c in TABLES["existing_links"][0]]), st.lists(cell_st, min_size=1, max_size=3))
def test_fuzz_existing_link_columns(col_name, cells):
    from qtopo.io import read_existing_links

    pairs = [("alpha", "bravo"), ("bravo", "charlie"), ("alpha", "charlie")]
    header = ["from", "to", "device", "pairs"]
    rows = []
    for (a, b), v in zip(pairs, cells):
        r = {"from": a, "to": b, "device": "apd", "pairs": "1", col_name: v}
        rows.append([r[h] for h in header])
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "existing.csv"
        p.write_text(_csv(header, rows), encoding="utf-8")
        ex = _outcome(lambda: read_existing_links(p, {"apd": 4}))
    if ex is not None:
        assert ex["pairs"].between(1, 4).all() and set(ex["device"]) == {"apd"}
        keys = {(min(a, b), max(a, b), dv) for a, b, dv in zip(ex["from"], ex["to"], ex["device"])}
        assert len(keys) == len(ex)  # no duplicate hop and device


_SITE_VALUES = st.one_of(cell_st, st.floats(allow_nan=True, allow_infinity=False), st.integers(-10, 10**12),
                         st.none())


@FAST
@given(st.sampled_from([c.name for c in TABLES["sites"][0] if c.name != "geometry"]),
       st.lists(_SITE_VALUES, min_size=3, max_size=3))
def test_fuzz_site_columns(col_name, values):
    from qtopo.io import read_sites

    ids = ["alpha", "bravo", "charlie"]
    feats = []
    for i, (sid, v) in enumerate(zip(ids, values)):
        props = {"id": sid, "kind": "pop", col_name: v}
        feats.append({"type": "Feature", "properties": props,
                      "geometry": {"type": "Point", "coordinates": [5.0 + 0.1 * i, 52.0]}})
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "sites.geojson"
        p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, allow_nan=True), encoding="utf-8")
        sites = _outcome(lambda: read_sites(p))
    if sites is not None:
        assert sites["id"].is_unique and sites["id"].str.casefold().is_unique
        if "capex_eur" in sites.columns:
            cap = pd.to_numeric(sites["capex_eur"], errors="coerce").dropna()
            assert cap.between(0, column("sites", "capex_eur").hi).all()


@FAST
@given(st.sampled_from([c.name for c in TABLES["routes"][0] if c.name != "geometry"]),
       st.lists(_SITE_VALUES, min_size=2, max_size=2))
def test_fuzz_route_columns(col_name, values):
    from qtopo.io import read_routes

    coords = [[[5.0, 52.0], [5.25, 52.01], [5.5, 52.0]], [[5.5, 52.0], [5.5, 52.3]]]
    feats = [{"type": "Feature", "properties": {"id": f"r{i}", col_name: v} if col_name != "id" else {"id": v},
              "geometry": {"type": "LineString", "coordinates": c}} for i, (c, v) in enumerate(zip(coords, values))]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "routes.geojson"
        p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, allow_nan=True), encoding="utf-8")
        routes = _outcome(lambda: read_routes(p))
    if routes is not None:
        assert routes["id"].is_unique
        if "length_km" in routes.columns:
            lk = pd.to_numeric(routes["length_km"], errors="coerce").dropna()
            # never below 2% of the drawn geodesic length (a lower bound), never absurd
            assert (lk >= 0.02 * routes.loc[lk.index, "geodesic_km"] - 1e-9).all() and (lk <= 40000).all()
