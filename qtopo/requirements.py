"""Per-demand requirements: survivability, trust governance and weights, as optional demand-table columns.

The demand table (CSV) may carry, besides ``source, target, target_bps``:

=====================  ========  ==========================================================================
column                 default   meaning
=====================  ========  ==========================================================================
``k_routes``           1         number of disjoint key routes
``disjoint``           node      ``node``: routes share no node (trusted or passed optically) nor fibre;
                                 ``link``: routes share no fibre segment nor corridor shared-risk group
``protection``         1+1       ``1+1``: every route carries the full target; ``k-1``: each carries
                                 target/(K-1), so any K-1 routes still meet the target
``max_trusted_nodes``  (none)    most intermediate trusted nodes that may hold this demand's key, per route
``allowed_countries``  (none)    ``;``-separated ISO codes (``NL;BE``): every trusted node on the routes must
                                 lie in one of them
``excluded_nodes``     (none)    ``;``-separated node/site ids that must not hold this demand's key
``excluded_operators`` (none)    ``;``-separated operators whose nodes must not hold this demand's key
``weight``             1         weight of the delivered rate in budget mode
=====================  ========  ==========================================================================

A demand with ``k_routes > 1`` or ``max_trusted_nodes`` is *routed*: its key travels on whole, unsplit routes
(binary route variables), so per-route limits and disjointness are exact.
"""
from __future__ import annotations

import math
import unicodedata

import numpy as np
import pandas as pd

from .columns import column
from .errors import ProblemCollector

WEIGHT = column("demands", "weight")

COLUMNS = {
    "k_routes": 1,
    "disjoint": "node",
    "protection": "1+1",
    "max_trusted_nodes": np.nan,
    "allowed_countries": "",
    "excluded_nodes": "",
    "excluded_operators": "",
    "weight": 1.0,
}


def _fmt(v) -> str:
    """A user's value as they wrote it (1.0 -> 1, strings quoted)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)):
        return repr(v)
    return repr(v)


def _split(v) -> tuple:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ()
    return tuple(unicodedata.normalize("NFC", x.strip()) for x in str(v).replace(",", ";").split(";") if x.strip())


def iso_country_problem(value: str) -> str | None:
    """Why ``value`` is not an ISO 3166-1 alpha-2 code (a fix naming the code for a country name), or None."""
    from .importers._countries import COUNTRY_CODES

    v = str(value).strip()
    codes = set(COUNTRY_CODES.values())
    if v.upper() in codes and len(v) == 2:
        return None
    code = COUNTRY_CODES.get(v.casefold())
    if code is not None:
        return f"{v!r} is a country name, not an ISO 3166-1 alpha-2 code: use the ISO code {code}"
    return f"{v!r} is not an ISO 3166-1 alpha-2 country code (e.g. NL, BE, DE)"


def _iso_problems(v) -> list[str]:
    return [p for p in map(iso_country_problem, _split(v)) if p]


def parse_requirements(demands: pd.DataFrame, where: str = "demands") -> pd.DataFrame:
    """Validate and normalise the optional requirement columns (all problems at once)."""
    d = demands.copy()
    col = ProblemCollector(f"invalid demand requirements in {where}")
    for c, default in COLUMNS.items():
        if c not in d.columns:
            d[c] = default
    for i in range(len(d)):
        line = f"{where}, line {i + 2}"
        k = d["k_routes"].iat[i]
        try:
            kf = float(k) if not (isinstance(k, float) and math.isnan(k)) else 1.0
        except (TypeError, ValueError):
            kf = -1
        if not (math.isfinite(kf) and kf >= 1 and kf == int(kf) and kf <= 8):
            col.add(line, f"k_routes {_fmt(k)} must be an integer from 1 to 8", "use 1 (no protection) or 2 (1+1)")
        disj = d["disjoint"].iat[i]
        disj = "node" if disj is None or (isinstance(disj, float) and math.isnan(disj)) else str(disj).strip()
        if disj not in ("node", "link"):
            col.add(line, f"disjoint {disj!r} must be 'node' or 'link'", "use node or link")
        prot = d["protection"].iat[i]
        prot = "1+1" if prot is None or (isinstance(prot, float) and math.isnan(prot)) else str(prot).strip()
        if prot not in ("1+1", "k-1"):
            col.add(line, f"protection {prot!r} must be '1+1' or 'k-1'", "use 1+1 or k-1")
        elif prot == "k-1" and kf < 2:
            col.add(line, "protection k-1 needs k_routes >= 2", "set k_routes = 2 or more")
        m = d["max_trusted_nodes"].iat[i]
        if not (m is None or (isinstance(m, float) and math.isnan(m)) or str(m).strip() == ""):
            try:
                mf = float(m)
                if not (math.isfinite(mf) and mf >= 0 and mf == int(mf)):
                    raise ValueError
            except (TypeError, ValueError):
                col.add(line, f"max_trusted_nodes {_fmt(m)} must be a whole number >= 0", "e.g. 2, or leave empty")
        w = d["weight"].iat[i]
        try:
            wf = float(w)
            if not (wf >= 0 and math.isfinite(wf)):
                raise ValueError
            if not WEIGHT.in_range(wf):
                col.add(line, f"weight {_fmt(w)} is above the plausible maximum {WEIGHT.hi:g}",
                        "weights are relative: scale them down (e.g. 1 to 10)")
        except (TypeError, ValueError):
            col.add(line, f"weight {_fmt(w)} must be a number >= 0", "e.g. 1")
        for c in _iso_problems(d["allowed_countries"].iat[i]):
            col.add(line, f"allowed_countries: {c}", "write ISO codes separated by ';', e.g. NL;BE")
    col.raise_if_any()
    d["k_routes"] = pd.to_numeric(d["k_routes"]).fillna(1).astype(int)
    d["disjoint"] = d["disjoint"].astype(object).fillna("node").astype(str).str.strip()
    d["protection"] = d["protection"].astype(object).fillna("1+1").astype(str).str.strip()
    d["max_trusted_nodes"] = pd.to_numeric(d["max_trusted_nodes"], errors="coerce")
    d["weight"] = pd.to_numeric(d["weight"]).astype(float)
    for c in ("allowed_countries", "excluded_nodes", "excluded_operators"):
        d[c] = d[c].map(_split)
    d["routed"] = (d["k_routes"] > 1) | d["max_trusted_nodes"].notna()
    d["route_rate_bps"] = np.where(d["protection"].eq("k-1") & (d["k_routes"] > 1),
                                   d["target_bps"] / (d["k_routes"] - 1).clip(lower=1), d["target_bps"])
    return d


def has_governance(d: pd.DataFrame) -> bool:
    """True if any demand restricts which nodes may hold its key."""
    return bool(d["allowed_countries"].map(len).any() or d["excluded_nodes"].map(len).any()
                or d["excluded_operators"].map(len).any())
