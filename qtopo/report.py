"""Plan reports: ``report.md`` and a self-contained ``report.html``, with the maps ``map.png`` and ``map.html``.

A report is written from the plan only (``plan.json``): every number in it is either a value of the plan or a
sum, ratio or allocation of such values, and the rule of each derived number is stated in the report. The
report is first built as a list of :class:`Section` objects (paragraphs, key-value lists, tables, figures) and
then rendered to Markdown and to HTML, so both carry the same numbers.

Derived numbers and their rules
-------------------------------
- Opex over the horizon: ``opex_fraction_per_year x capex x horizon_years`` with both factors from the
  scenario's ``[costs]`` (scenario defaults when absent: no opex, a one-year horizon). Total cost of ownership
  (TCO) = capex + opex over the horizon.
- Cost per delivered key bit: TCO / (delivered key rate x horizon in seconds), a year being 365.25 days.
- Cost per demand: each link's cost is shared among the demands whose routes use the link's hop, in proportion
  to the key rate each routes over that hop; each node's cost is shared among the demands whose routes visit
  the node (as an end or as an intermediate trusted node), in proportion to the key rate of those routes; a
  node on no route but inside the fibre path of used links (an untrusted relay or a repeater) is shared like
  those links. Costs of links or nodes that carry no route are reported as unallocated.
"""
from __future__ import annotations

import base64
import dataclasses
import functools
import html as _html
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .contract import CostBreakdown, DemandResult, Node, Plan
from .numeric import fmt_eur  # noqa: F401 (EUR amounts are formatted in one place; kept here for callers)

log = logging.getLogger(__name__)

__all__ = ["write_report", "build_report", "render_markdown", "render_html", "cost_summary",
           "allocate_costs", "Section", "Table", "Figure"]

SECONDS_PER_YEAR = 365.25 * 86400.0
_MET_TOL = 1e-6  # relative: delivered >= target (1 - tol) counts as met


# ------------------------------------------------------------------------------------------------------
# document model
# ------------------------------------------------------------------------------------------------------
@dataclass
class Table:
    """A table: column names and rows of already formatted cells.

    Attributes
    ----------
    columns : list of str
    rows : list of list of str
    numeric : list of bool
        Right-align these columns.
    caption : str
    """

    columns: list
    rows: list
    numeric: list = field(default_factory=list)
    caption: str = ""


@dataclass
class Figure:
    """A PNG figure: a file name (relative to the report) and its bytes for embedding."""

    path: str
    png: bytes
    caption: str = ""


@dataclass
class KeyValues:
    """A list of (label, value) pairs, shown as a bullet list (Markdown) or a two-column table (HTML)."""

    items: list


@dataclass
class Section:
    """A report section: a title and blocks (str paragraphs, :class:`Table`, :class:`Figure`, :class:`KeyValues`)."""

    title: str
    blocks: list
    anchor: str = ""


# ------------------------------------------------------------------------------------------------------
# formatting
# ------------------------------------------------------------------------------------------------------
def fmt_bps(v) -> str:
    """Bit rate in bit/s: whole numbers with separators from 100 bit/s, else 3 significant digits."""
    if v is None or not _finite(v):
        return "-"
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def fmt_pct(v, digits: int = 2) -> str:
    """Fraction as percent (``0.4393 -> 43.93%``)."""
    if v is None or not _finite(v):
        return "-"
    s = f"{100.0 * float(v):.{digits}f}%"
    return s[1:] if s.startswith("-") and float(s[1:-1]) == 0 else s


def fmt_num(v, digits: int = 2) -> str:
    if v is None or not _finite(v):
        return "-"
    return f"{float(v):,.{digits}f}"


def fmt_sci(v, digits: int = 3) -> str:
    """Scientific notation with ``digits`` significant digits (``2.345e-09``)."""
    if v is None or not _finite(v):
        return "-"
    return f"{float(v):.{digits - 1}e}"


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _dkey(dm) -> str:
    return f"{dm.source}->{dm.target}"


# ------------------------------------------------------------------------------------------------------
# derived numbers (sums and allocations of plan values; rules in the module docstring)
# ------------------------------------------------------------------------------------------------------
def _scenario_value(d: Plan, section: str, key: str):
    """(value, given): a scenario value from ``plan.inputs.scenario``, else the schema default."""
    raw = d.inputs.scenario.get(section) or {}
    if key in raw:
        return raw[key], True
    try:
        from .scenario import SCHEMA

        return SCHEMA[section][key][1], False
    except (ImportError, KeyError):
        return None, False


def cost_summary(plan) -> dict:
    """Capex split, opex over the horizon, TCO and cost per delivered key bit of a plan.

    Parameters
    ----------
    plan : Plan or dict

    Returns
    -------
    dict
        ``nodes_eur`` (trusted nodes and sites), ``nodes_by_kind`` (kind -> EUR), ``relays_eur`` (untrusted
        relays), ``sunk_brownfield_eur`` (existing equipment, not in capex), ``device_pairs_eur``, ``fibre_eur``,
        ``capex_eur``,
        ``opex_fraction_per_year``, ``horizon_years`` (and ``*_given`` flags), ``opex_per_year_eur``,
        ``opex_horizon_eur``, ``tco_eur``, ``delivered_bps``, ``target_bps``, ``key_bits_horizon``,
        ``eur_per_bit``. Values come from ``cost_breakdown``; fibre = devices-and-fibre minus device pairs.
    """
    d = _data(plan)
    cb = d.cost_breakdown or CostBreakdown(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    nodes = d.nodes
    nodes_eur = cb.nodes_eur
    relays_eur = cb.relays_eur
    links_eur = cb.devices_and_fibre_eur
    pairs_eur = cb.device_pairs_eur
    capex = cb.total_eur
    by_kind = {}
    for n in nodes:
        if n.kind == "relay":
            continue
        k = _node_label(n)
        by_kind[k] = by_kind.get(k, 0.0) + n.cost_eur
    opex_f, opex_given = _scenario_value(d, "costs", "opex_fraction_per_year")
    horizon, horizon_given = _scenario_value(d, "costs", "horizon_years")
    opex_f = float(opex_f or 0.0)
    horizon = float(horizon if horizon is not None else 1.0)
    delivered = sum(x.delivered_bps for x in d.demands)
    target = sum(x.target_bps for x in d.demands)
    opex_year = opex_f * capex
    tco = capex + opex_year * horizon
    bits = delivered * horizon * SECONDS_PER_YEAR
    return {
        "nodes_eur": nodes_eur, "nodes_by_kind": by_kind, "relays_eur": relays_eur, "device_pairs_eur": pairs_eur,
        "sunk_brownfield_eur": cb.sunk_brownfield_eur,
        "fibre_eur": links_eur - pairs_eur, "links_eur": links_eur, "capex_eur": capex,
        "opex_fraction_per_year": opex_f, "opex_fraction_given": opex_given,
        "horizon_years": horizon, "horizon_given": horizon_given,
        "opex_per_year_eur": opex_year, "opex_horizon_eur": opex_year * horizon, "tco_eur": tco,
        "delivered_bps": delivered, "target_bps": target, "key_bits_horizon": bits,
        "eur_per_bit": tco / bits if bits > 0 else None,
    }


def allocate_costs(plan) -> dict:
    """Allocate link and node costs to demands (rule in the module docstring).

    Parameters
    ----------
    plan : Plan or dict

    Returns
    -------
    dict
        ``per_demand``: ``"src->dst"`` -> {``links_eur``, ``nodes_eur``, ``capex_eur``}; ``unallocated_eur``
        (cost of links and nodes that carry no route). Per-demand capex plus unallocated equals the sum of
        link and node costs.
    """
    d = _data(plan)
    demands = d.demands
    per = {_dkey(dm): {"links_eur": 0.0, "nodes_eur": 0.0} for dm in demands}
    # rate per demand over each hop (unordered node pair) and through each node
    hop_rate, node_rate = {}, {}
    for dm in demands:
        k = _dkey(dm)
        for r in dm.routes:
            rate = r.rate_bps
            for a, b in zip(r.nodes[:-1], r.nodes[1:]):
                hk = (min(a, b), max(a, b))
                hop_rate.setdefault(hk, {}).setdefault(k, 0.0)
                hop_rate[hk][k] += rate
            for n in set(r.nodes):
                node_rate.setdefault(n, {}).setdefault(k, 0.0)
                node_rate[n][k] += rate
    unalloc = 0.0
    for L in d.links:
        hk = (min(L.from_node, L.to_node), max(L.from_node, L.to_node))
        shares = hop_rate.get(hk, {})
        tot = sum(shares.values())
        if tot <= 0:
            unalloc += L.cost_eur
            continue
        for k, v in shares.items():
            per[k]["links_eur"] += L.cost_eur * v / tot
    # nodes on no route but inside used links' fibre paths (untrusted relays, repeaters) follow those links
    link_nodes = {}
    for L in d.links:
        hk = (min(L.from_node, L.to_node), max(L.from_node, L.to_node))
        for x in set(L.fibre_path[1:-1]) | ({L.relay} if L.relay else set()):
            for k, v in hop_rate.get(hk, {}).items():
                link_nodes.setdefault(x, {}).setdefault(k, 0.0)
                link_nodes[x][k] += v
    for n in d.nodes:
        # a relay entry is shared like its links, even when the same place is also a trusted node on routes
        shares = (link_nodes.get(n.id) if n.kind == "relay" else None) or node_rate.get(n.id) \
            or link_nodes.get(n.id, {})
        tot = sum(shares.values())
        if tot <= 0:
            unalloc += n.cost_eur
            continue
        for k, v in shares.items():
            per[k]["nodes_eur"] += n.cost_eur * v / tot
    for v in per.values():
        v["capex_eur"] = v["links_eur"] + v["nodes_eur"]
    return {"per_demand": per, "unallocated_eur": unalloc}


def _data(plan) -> Plan:
    """The typed plan (a ``plan.json`` dict is read through the contract: migrated and validated)."""
    return plan if isinstance(plan, Plan) else Plan.from_dict(plan, source="plan")


def _node_label(n: Node) -> str:
    from .viz import KIND_STYLE, node_kind

    return KIND_STYLE[node_kind(n)][0]


def _margin(dm: DemandResult):
    t = dm.target_bps
    return dm.delivered_bps / t - 1.0 if t > 0 else None


# ------------------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------------------
def _headline(d: Plan, cs: dict | None) -> Section:
    status = d.status.value
    ok = d.has_plan
    desc = (d.inputs.scenario.get("scenario") or {}).get("description", "")
    blocks = []
    if desc:
        blocks.append(desc)
    if not ok:
        n = len(d.diagnosis)
        blocks.append(f"**No plan: the scenario is {status}.** The solver status is `{status}` "
                      f"(termination `{d.termination or '-'}`). {n} diagnosis item(s) below say why.")
    dem = d.demands
    met = sum(1 for x in dem if x.delivered_bps >= x.target_bps * (1 - _MET_TOL))
    items = [("Status", str(status))]
    if d.budget_mode:
        items += [("Objective", f"maximise the weighted delivered key rate within a budget of "
                                f"{fmt_eur(d.objective.budget_eur)} EUR"),
                  ("Objective value", f"{fmt_bps(d.objective_value)} bit/s (weighted)"),
                  ("Best bound", f"{fmt_bps(d.best_bound)} bit/s (weighted)"),
                  ("MIP gap", fmt_pct(d.gap)),
                  ("Total cost (capex)", f"{fmt_eur(d.cost_eur)} EUR")]
    else:
        items += [("Total cost (capex)", f"{fmt_eur(d.cost_eur)} EUR"),
                  ("Best bound", f"{fmt_eur(d.best_bound)} EUR"),
                  ("MIP gap", fmt_pct(d.gap))]
    if ok and cs is not None:
        items += [(f"TCO over {cs['horizon_years']:g} year(s)", f"{fmt_eur(cs['tco_eur'])} EUR"),
                  ("Demands met", f"{met} of {len(dem)}"),
                  ("Key rate delivered", f"{fmt_bps(cs['delivered_bps'])} bit/s (target {fmt_bps(cs['target_bps'])} bit/s)"),
                  ("Cost per delivered key bit", f"{fmt_sci(cs['eur_per_bit'])} EUR/bit"),
                  ("Nodes", f"{len(d.nodes)} ({sum(1 for n in d.nodes if n.kind != 'site')} besides the sites)"),
                  ("QKD links", f"{len(d.links)} with {sum(L.device_pairs for L in d.links)} device pairs"
                   + _lit_note(d.links))]
    v = d.verification
    if v is not None:
        items.append(("Verification", "passed" if v.ok else "FAILED"))
    blocks.insert(0 if not desc else 1, KeyValues(items))
    return Section("Summary", blocks, "summary")


def _diagnosis(d: Plan) -> Section | None:
    diag = d.diagnosis
    if not diag:
        return None
    rows = [[x.source, x.target, x.reason, x.detail] for x in diag]
    intro = ("Why the scenario has no plan: each row is a demand (or `*` for all) and the reason found."
             if not d.has_plan else "Remarks from the planner's pre-checks.")
    return Section("Diagnosis", [intro, Table(["Source", "Target", "Reason", "Detail"], rows)], "diagnosis")


def _costs(d: dict, cs: dict) -> Section:
    rows = []
    for k, v in sorted(cs["nodes_by_kind"].items()):
        rows.append([f"Node capex: {k}", fmt_eur(v)])
    rows += [["Node capex (total)", fmt_eur(cs["nodes_eur"])]]
    if cs["relays_eur"] or any(n.kind == "relay" for n in d.nodes):
        rows.append(["Untrusted relays (MDI / twin-field)", fmt_eur(cs["relays_eur"])])
    rows += [["QKD device pairs", fmt_eur(cs["device_pairs_eur"])],
             ["Fibre (per device pair and km)", fmt_eur(cs["fibre_eur"])],
             ["**Capex total**", fmt_eur(cs["capex_eur"])],
             [f"Opex per year ({fmt_pct(cs['opex_fraction_per_year'])} of capex)", fmt_eur(cs["opex_per_year_eur"])],
             [f"Opex over {cs['horizon_years']:g} year(s)", fmt_eur(cs["opex_horizon_eur"])],
             [f"**TCO over {cs['horizon_years']:g} year(s)**", fmt_eur(cs["tco_eur"])]]
    if cs["sunk_brownfield_eur"]:
        rows.append(["Existing equipment (brownfield, sunk: not in capex)", fmt_eur(cs["sunk_brownfield_eur"])])
    t = Table(["Item", "EUR"], rows, [False, True])
    given = []
    for key, g in (("opex_fraction_per_year", cs["opex_fraction_given"]), ("horizon_years", cs["horizon_given"])):
        given.append(f"`{key}` = {cs[key]:g}" + ("" if g else " (not in the scenario: default)"))
    bits = cs["key_bits_horizon"]
    blocks = [t, "Opex and horizon from the scenario's `[costs]`: " + ", ".join(given) + ". "
              "Opex over the horizon = opex fraction x capex x years; TCO = capex + opex over the horizon.",
              KeyValues([("Key delivered over the horizon", f"{fmt_sci(bits)} bit "
                                                            f"({fmt_bps(cs['delivered_bps'])} bit/s x "
                                                            f"{cs['horizon_years']:g} year(s) of 365.25 days)"),
                         ("Cost per delivered key bit", f"{fmt_sci(cs['eur_per_bit'])} EUR/bit (TCO / key bits)")])]
    return Section("Cost breakdown", blocks, "costs")


def _demand_costs(d: dict, cs: dict, alloc: dict) -> Section:
    per = alloc["per_demand"]
    secs = cs["horizon_years"] * SECONDS_PER_YEAR
    tco_factor = cs["tco_eur"] / cs["capex_eur"] if cs["capex_eur"] else 1.0
    rows = []
    for dm in d.demands:
        a = per[_dkey(dm)]
        tco = a["capex_eur"] * tco_factor
        bits = dm.delivered_bps * secs
        rows.append([dm.source, dm.target, fmt_eur(a["links_eur"]), fmt_eur(a["nodes_eur"]),
                     fmt_eur(a["capex_eur"]), fmt_eur(tco), fmt_sci(tco / bits if bits > 0 else None)])
    if alloc["unallocated_eur"] > 0:
        rows.append(["(unallocated)", "", "", "", fmt_eur(alloc["unallocated_eur"]),
                     fmt_eur(alloc["unallocated_eur"] * tco_factor), ""])
    t = Table(["Source", "Target", "Links EUR", "Nodes EUR", "Capex EUR", f"TCO EUR ({cs['horizon_years']:g} y)",
               "EUR per key bit"], rows, [False, False, True, True, True, True, True])
    rule = ("Allocation rule: each link's cost is shared among the demands routed over its hop, in proportion "
            "to the key rate each routes over that hop; each node's cost (sites included) is shared among the "
            "demands whose routes visit it, as an end or as an intermediate trusted node, in proportion to the "
            "key rate of those routes; a relay or repeater inside a link's fibre path is shared like that "
            "link. Opex follows capex (same fraction). Links or nodes that carry no route are unallocated. EUR per key bit = allocated TCO / (delivered rate x horizon).")
    return Section("Cost per demand", [rule, t], "demand-costs")


def _protection(dm: DemandResult) -> str:
    k = dm.k_routes
    if k <= 1:
        return "none"
    return f"K={k} {dm.protection or '1+1'}" + (f", {dm.disjoint}-disjoint" if dm.disjoint else "")


def _demands(d: Plan) -> Section:
    rows = []
    protected = any(dm.k_routes > 1 for dm in d.demands)
    for dm in d.demands:
        routes = "; ".join(f"{' > '.join(r.nodes)} ({fmt_bps(r.rate_bps)})" for r in dm.routes)
        inter = dm.intermediate_trusted_nodes
        rows.append([dm.source, dm.target, fmt_bps(dm.target_bps), fmt_bps(dm.delivered_bps),
                     fmt_pct(_margin(dm), 1), str(len(dm.routes)), routes or "-",
                     str(len(inter)), ", ".join(dm.trusted_nodes) or "-"])
        if protected:
            rows[-1].insert(6, _protection(dm))
    cols = ["Source", "Target", "Target bit/s", "Delivered bit/s", "Margin", "Routes", "Route nodes (bit/s)",
            "Intermediate trusted", "Trusted nodes holding the key"]
    num = [False, False, True, True, True, True, False, True, False]
    text = ("Margin = delivered / target - 1. Every trusted node on a route, the two ends included, holds the "
            "demand's key in the clear.")
    if protected:
        cols.insert(6, "Protection")
        num.insert(6, False)
        text += (" With protection, delivered is what the routes guarantee (1+1: the smallest route rate, any "
                 "one route alone carries it; k-1: the sum minus the largest route rate), as in the plan.")
    return Section("Demands", [text, Table(cols, rows, num)], "demands")


def _lit_note(links) -> str:
    """', k of them on lit fibre' when any link shares a lit fibre (nothing otherwise)."""
    k = sum(1 for L in links if getattr(L, "fibre", "dark") == "lit")
    return f" ({k} on lit fibre, {len(links) - k} on dark fibre)" if k else ""


def _links(d: Plan) -> Section:
    links = d.links
    brown = any(L.existing_pairs for L in links)
    relay = any(L.relay for L in links)
    lit = any(getattr(L, "fibre", "dark") == "lit" for L in links)
    rows = []
    for L in links:
        r = [L.id, L.from_node, L.to_node, L.device, L.protocol, str(L.device_pairs),
             fmt_num(L.length_km), fmt_num(L.loss_db), fmt_bps(L.rate_bps_per_pair),
             fmt_bps(L.capacity_bps), fmt_bps(L.load_bps), fmt_pct(L.utilisation, 1),
             fmt_eur(L.cost_eur)]
        if lit:
            r.insert(5, getattr(L, "fibre", "dark"))
        if brown:
            r.insert(6, str(L.existing_pairs))
        if relay:
            r.insert(3, str(L.relay or "-"))
        rows.append(r)
    cols = ["Link", "From", "To", "Device", "Protocol", "Pairs", "Length km", "Loss dB", "Rate/pair bit/s",
            "Capacity bit/s", "Load bit/s", "Utilisation", "Cost EUR"]
    num = [False] * 5 + [True] * 8
    if lit:
        cols.insert(5, "Fibre")
        num.insert(5, False)
    if brown:
        cols.insert(6, "Existing pairs")
        num.insert(6, True)
    if relay:
        cols.insert(3, "Relay")
        num.insert(3, False)
    text = ("Loss is the total channel loss between the link's trusted ends (fibre, splices, connectors); for a "
            "link through an untrusted relay (MDI, twin-field) the end-to-end loss. Cost = new pairs x (device "
            "pair + fibre per km x length)" + (": existing (brownfield) pairs cost nothing." if brown else ".")
            + (" Fibre: 'dark' pairs lease a dark fibre strand (the routes' dark_lease_eur is in their cost); "
               "'lit' pairs share a fibre carrying classical DWDM traffic at no lease, their rate per pair reduced "
               "by its Raman noise (docs/lit_fibre.md)." if lit else ""))
    return Section("QKD links", [text, Table(cols, rows, num)], "links")


def _nodes(d: Plan) -> Section:
    from .viz import through_traffic_bps

    thr = through_traffic_bps(d)
    brown = any(n.existing for n in d.nodes)
    rows = [[n.id, _node_label(n), n.site_kind, fmt_num(n.lon, 5), fmt_num(n.lat, 5),
             str(n.degree), fmt_bps(thr.get(n.id, 0.0) if n.kind != "relay" else 0.0),
             fmt_eur(n.cost_eur)] + (["yes" if n.existing else "no"] if brown else [])
            for n in d.nodes]
    t = Table(["Node", "Kind", "Site kind", "Lon", "Lat", "Links", "Key relayed bit/s", "Cost EUR"]
              + (["Existing"] if brown else []), rows, [False, False, False, True, True, True, True, True, False])
    return Section("Nodes", ["Key relayed = sum of the rates of routes passing through the node as an "
                             "intermediate trusted node.", t], "nodes")


def normalise_failures(failures, plan) -> dict | None:
    """Failure-analysis results in one shape, from either format.

    Parameters
    ----------
    failures : list or dict or None
        Either a list of ``{component, kind, demands: {"src->dst": kept_bps}}``, or the dict returned by
        :func:`qtopo.failures.analyse_failures` (``components`` with ``kept_static_bps`` and
        ``kept_reroute_bps`` per demand, ``summary``, ``assumptions``, ``availability_model``, ``warnings``).
    plan : Plan or dict
        For the demands' targets and delivered rates (the rate kept when a demand is not listed).

    Returns
    -------
    dict or None
        ``components``: list of {``component``, ``kind``, ``label``, ``demands``: key -> {``static``,
        ``reroute`` (None when not analysed), ``target``}}; ``summary`` (dict or None), ``assumptions``,
        ``warnings``, ``availability`` (bool: the summary has availability figures).
    """
    if not failures:
        return None
    d = _data(plan)
    dem = {_dkey(x): x for x in d.demands}
    comps_in = failures.get("components", []) if isinstance(failures, dict) else list(failures)
    comps = []
    for c in comps_in:
        per = {}
        for k, dm in dem.items():
            v = (c.get("demands") or {}).get(k)
            t = dm.target_bps
            if isinstance(v, dict):
                per[k] = {"static": float(v.get("kept_static_bps", 0.0)), "target": float(v.get("target_bps", t)),
                          "reroute": None if v.get("kept_reroute_bps") is None else float(v["kept_reroute_bps"])}
            else:
                per[k] = {"static": float(dm.delivered_bps if v is None else v), "reroute": None,
                          "target": t}
        comps.append({"component": str(c.get("component")), "kind": str(c.get("kind", "")),
                      "label": str(c.get("label", "")), "demands": per})
    fd = failures if isinstance(failures, dict) else {}
    summary = fd.get("summary") or None
    return {"components": comps, "summary": summary, "assumptions": list(fd.get("assumptions") or []),
            "warnings": list(fd.get("warnings") or []),
            "availability": bool(summary) and any(v.get("availability") is not None for v in summary.values())}


def _find_failures(plan, failures):
    if failures is not None:
        if isinstance(failures, (str, Path)):
            import json

            return json.loads(Path(failures).read_text(encoding="utf-8"))
        return failures
    p = getattr(plan, "path", None)
    f = Path(p).with_name("failures.json") if p else None
    if f is not None and f.is_file():
        import json

        try:
            return json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            log.warning("cannot read %s: %s", f, e)
    return None


def _failures(d: Plan, fails: dict | None, max_rows: int = 60) -> Section | None:
    if not fails or not fails["components"]:
        return None
    keys = [_dkey(dm) for dm in d.demands]
    total_t = sum(dm.target_bps for dm in d.demands)
    has_rr = any(v["reroute"] is not None for c in fails["components"] for v in c["demands"].values())
    blocks = ["Single failures, one component at a time (from the failure analysis). A demand is *lost* when it "
              "keeps no key, *degraded* when it keeps less than its target. Kept static: the plan's own routes "
              "that avoid the failure; kept reroute (where analysed): what rerouting over the surviving links "
              "could restore, ignoring the other demands (optimistic). Target kept: share of the total target "
              "still delivered, each demand counted up to its target. The failure of a demand's own end node loses it "
              "and is counted here."]
    if fails["assumptions"]:
        blocks.append(Table(["Failure-analysis assumption"], [[a] for a in fails["assumptions"]]))
    # per demand
    rows = []
    sm_all = fails["summary"]
    for k in keys:
        if sm_all and k in sm_all:
            sm = sm_all[k]
            wc = sm.get("worst_component")
            r = [k, fmt_bps(sm.get("target_bps")), f"{sm.get('survives')} of {sm.get('single_failures')}", wc or "none",
                 fmt_bps(sm.get("worst_kept_static_bps")) if wc else "-",
                 fmt_bps(sm.get("worst_kept_reroute_bps")) if wc else "-"]
            if fails["availability"]:
                a = sm.get("availability")
                r += ["-" if a is None else f"{a:.6f}",
                      "-" if a is None else f"{sm.get('downtime_min_per_year'):,.0f}"]
        else:
            vals = [(c["component"], c["demands"][k]) for c in fails["components"]]
            ok = [v["static"] >= v["target"] * (1 - _MET_TOL) for _, v in vals]
            worst = min(vals, key=lambda x: x[1]["static"]) if vals else None
            broke = worst is not None and worst[1]["static"] < worst[1]["target"] * (1 - _MET_TOL)
            r = [k, fmt_bps(worst[1]["target"] if worst else None), f"{sum(ok)} of {len(ok)}",
                 worst[0] if broke else "none", fmt_bps(worst[1]["static"]) if broke else "-",
                 fmt_bps(worst[1]["reroute"]) if broke and worst[1]["reroute"] is not None else "-"]
        rows.append(r)
    cols = ["Demand", "Target bit/s", "Single failures survived", "Worst failure", "Kept static bit/s",
            "Kept reroute bit/s"] + (["Availability", "Downtime min/year"] if fails["availability"] else [])
    blocks += ["Per demand:", Table(cols, rows, [False, True, True, False, True, True, True, True])]
    # per component, those that break something, worst first
    crow = []
    for c in fails["components"]:
        lost = degraded = 0
        kept_s = kept_r = 0.0
        worst, wf = None, None
        for k, v in c["demands"].items():
            t = v["target"]
            frac = v["static"] / t if t > 0 else 1.0
            lost += frac <= _MET_TOL
            degraded += _MET_TOL < frac < 1 - _MET_TOL
            kept_s += min(v["static"], t) if t > 0 else v["static"]
            kept_r += min(v["reroute"] if v["reroute"] is not None else v["static"], t) if t > 0 else 0.0
            if wf is None or frac < wf:
                worst, wf = k, frac
        if lost or degraded:
            crow.append((-lost, -degraded, kept_s, c, lost, degraded, kept_s, kept_r, worst, wf))
    crow.sort(key=lambda x: x[:3])
    n_harmless = len(fails["components"]) - len(crow)
    shown = crow[:max_rows]
    trows = []
    for *_, c, lost, degraded, ks, kr, worst, wf in shown:
        r = [c["component"], c["kind"], c["label"] or "-", str(lost), str(degraded),
             fmt_pct(ks / total_t if total_t else None, 1)]
        if has_rr:
            r.append(fmt_pct(kr / total_t if total_t else None, 1))
        r.append(f"{worst} ({fmt_pct(wf, 1)})")
        trows.append(r)
    tcols = ["Component", "Kind", "Label", "Demands lost", "Demands degraded", "Target kept"] + \
        (["Target kept (reroute)"] if has_rr else []) + ["Worst hit"]
    blocks += [f"Components whose failure loses or degrades a demand ({len(crow)} of {len(fails['components'])} "
               f"analysed; {n_harmless} break none" + (f"; the {max_rows} worst shown" if len(crow) > max_rows
                                                        else "") + "):",
               Table(tcols, trows, [False, False, False, True, True, True] + ([True] if has_rr else []) + [False])]
    if shown and 0 < len(keys) <= 10:
        mrows = [[c["component"]] + [fmt_bps(c["demands"][k]["static"]) for k in keys] for *_, c, _l, _g, _s, _r, _w,
                 _f in shown]
        blocks += ["Key rate kept per demand (bit/s, static routes) when the component fails:",
                   Table(["Component"] + keys, mrows, [False] + [True] * len(keys))]
    for w in fails["warnings"]:
        blocks.append(f"Warning from the failure analysis: {w}")
    return Section("Failure impact", blocks, "failures")


def _rollout(d: Plan) -> Section | None:
    ro = d.rollout
    if ro is None:
        return None
    stages = ro.stages
    if not stages:
        return Section("Staged rollout", [f"No rollout schedule: {ro.message or ro.status.value}."], "rollout")
    n_dem = len(d.demands)
    rows = [[str(st.year), fmt_eur(st.budget_eur), fmt_eur(st.spend_eur),
             fmt_eur(st.cumulative_spend_eur), fmt_eur(st.cumulative_budget_eur),
             ", ".join(st.nodes) or "-", ", ".join(st.relays) or "-",
             ", ".join(st.links) or "-", f"{len(st.demands_served)} of {n_dem}"]
            for st in stages]
    blocks = [f"Which elements of the plan to build in which year within the yearly budgets (schedule status "
              f"`{ro.status.value}`). Rule: {ro.rule or '-'}.",
              Table(["Year", "Budget EUR", "Spend EUR", "Cumulative spend EUR", "Cumulative budget EUR",
                     "Nodes built", "Relays built", "Links built", "Demands served"], rows,
                    [False, True, True, True, True, False, False, False, True])]
    unbuilt = ro.unbuilt
    if unbuilt:
        blocks.append("Left unbuilt within these budgets: " + ", ".join(f"`{x}`" for x in unbuilt) + ".")
    return Section("Staged rollout", blocks, "rollout")


def _solver(d: Plan) -> Section:
    s = d.solver
    items = [("Solver", f"{s.name or '-'} {s.version or ''}".strip()),
             ("Status", d.status.value), ("Termination", d.termination or "-"),
             ("MIP gap", fmt_pct(d.gap))]
    if d.budget_mode:
        items[3:3] = [("Objective (weighted key rate)", f"{fmt_bps(d.objective_value)} bit/s"),
                      ("Best bound", f"{fmt_bps(d.best_bound)} bit/s")]
    else:
        items[3:3] = [("Objective (cost)", f"{fmt_eur(d.objective_value)} EUR"),
                      ("Best bound", f"{fmt_eur(d.best_bound)} EUR")]
    if s.options:
        items.append(("Options", ", ".join(f"{k} = {v}" for k, v in s.options.items())))
    if s.sizes:
        items.append(("Model size", ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                                              for k, v in s.sizes.items())))
    if s.message:
        items.append(("Message", s.message))
    items.append(("Random seed", str(d.seed)))
    blocks = [KeyValues(items)]
    T = d.timings_s
    if T:
        blocks.append(Table(["Phase", "Seconds"], [[k, f"{float(v):.2f}"] for k, v in T.items()], [False, True]))
    st = d.stats
    if st:
        blocks.append(Table(["Problem statistic", "Value"], [[k, str(v)] for k, v in st.items()], [False, True]))
    return Section("Solver", blocks, "solver")


def _verification(d: Plan) -> Section | None:
    v = d.verification
    if v is None:
        return Section("Verification", ["The plan carries no verification record."], "verification")
    blocks = [f"**{'Passed' if v.ok else 'FAILED'}**: {v.checks} independent checks; "
              f"{len(v.violations)} violation(s), {len(v.warnings)} warning(s)."]
    for title, items in (("Violations", v.violations), ("Warnings", v.warnings)):
        if items:
            blocks.append(Table([title], [[str(x)] for x in items]))
    return Section("Verification", blocks, "verification")


def _assumptions(d: Plan) -> Section:
    raw = d.inputs.scenario

    def val(sec, key, unit=""):
        v, given = _scenario_value(d, sec, key)
        if v is None:
            return "-"
        return f"{v:,g}{unit}" + ("" if given else " (default)") if isinstance(v, (int, float)) \
            else f"{v}" + ("" if given else " (default)")

    items = [
        ("Route factor (fibre / geodesic length, routes without surveyed length)", val("network", "route_factor")),
        ("Node merge tolerance", val("network", "node_tolerance_m", " m")),
        ("Site snap tolerance", val("network", "snap_tolerance_m", " m")),
        ("Candidate hut spacing", val("network", "hut_spacing_km", " km")),
        ("Fibre attenuation", val("fibre", "attenuation_db_per_km", " dB/km")),
        ("Splice loss", val("fibre", "splice_loss_db_per_km", " dB/km")),
        ("Connector loss per hop", val("fibre", "connector_loss_db", " dB")),
        ("Trusted node at an existing PoP", val("costs", "trusted_node_eur", " EUR")),
        ("Trusted node in a new hut", val("costs", "hut_node_eur", " EUR")),
        ("Fibre", val("costs", "fibre_eur_per_km", " EUR per device pair and km")),
        ("Opex", val("costs", "opex_fraction_per_year", " x capex per year")),
        ("Horizon", val("costs", "horizon_years", " years")),
    ]
    if any(getattr(L, "fibre", "dark") == "lit" for L in d.links):  # only plans with lit links list the Raman model
        items += [
            ("Lit fibre: Raman cross-section", val("fibre", "raman_cross_section_per_km_nm", " per km per nm")),
            ("Lit fibre: receiver filter", val("fibre", "raman_filter_nm", " nm")),
            ("Lit fibre: detection gate (0: one clock period)", val("fibre", "raman_window_ns", " ns")),
            ("Lit fibre: classical light direction", val("fibre", "raman_direction")),
        ]
    blocks = ["Loss model: hop loss = (attenuation + splice loss) x fibre length + connector loss; the detector is "
              "part of the device. Key rates are asymptotic or finite-key as the device's protocol states. Cost "
              "figures are as given in the scenario (illustrative unless the scenario says otherwise); "
              "`(default)` marks values the scenario does not set.", KeyValues(items)]
    devs = raw.get("devices") or {}
    used = {}
    for L in d.links:
        used[L.device] = used.get(L.device, 0) + L.device_pairs
    if devs:
        rows = []
        for name, spec in devs.items():
            spec = dict(spec or {})
            preset = spec.pop("preset", "-")
            extra = {k: v for k, v in spec.items() if k not in ("pair_cost_eur", "max_pairs_per_link", "enabled")}
            phys = _preset_summary(preset, extra)
            rows.append([name, str(preset), phys, fmt_eur(spec.get("pair_cost_eur")),
                         str(spec.get("max_pairs_per_link", "-")),
                         ", ".join(f"{k}={v}" for k, v in extra.items()) or "-", str(used.get(name, 0))])
        blocks += ["Devices (key-rate presets from `qtopo.keyrate`, costs from the scenario):",
                   Table(["Device", "Preset", "Protocol and physics", "Pair cost EUR", "Max pairs per link",
                          "Overrides", "Pairs used"], rows, [False, False, False, True, True, False, True])]
    notes = d.notes
    if notes:
        blocks += ["Network preparation notes:", Table(["Note"], [[str(n)] for n in notes])]
    return Section("Assumptions", blocks, "assumptions")


def _preset_summary(preset: str, overrides: dict) -> str:
    try:
        from .keyrate import get_device

        dev = get_device(preset, **overrides)
    except Exception as e:  # noqa: BLE001 - the catalog may have moved on since the plan was made
        log.debug("preset %s not resolvable: %s", preset, e)
        return "-"
    a = dataclasses.asdict(dev) if dataclasses.is_dataclass(dev) else {}
    parts = [str(a.get("protocol", ""))]
    for k, lab, f in (("repetition_rate_hz", "clock", lambda v: f"{v / 1e6:g} MHz"),
                      ("detector_efficiency", "detector eff.", lambda v: f"{v:g}"),
                      ("dark_count_prob", "dark counts", lambda v: f"{v:g}"),
                      ("misalignment_error", "misalignment", lambda v: f"{v:g}"),
                      ("block_size", "block", lambda v: f"{v:g}")):
        if a.get(k) is not None:
            parts.append(f"{lab} {f(a[k])}")
    return ", ".join(p for p in parts if p)


def _inputs(d: Plan) -> Section:
    files = d.inputs.files
    blocks = []
    if files:
        blocks.append(Table(["Role", "Path", "SHA-256"], [[f.role, f.path, f.sha256 or "-"] for f in files]))
        blocks.append("`qtopo verify PLAN` recomputes these hashes and says if an input file changed.")
    else:
        blocks.append("The plan records no input files.")
    ver = d.versions
    if ver:
        blocks.append(Table(["Software", "Version"], [[k, str(v)] for k, v in ver.items()]))
    return Section("Inputs and software", blocks, "inputs")


# ------------------------------------------------------------------------------------------------------
# build and render
# ------------------------------------------------------------------------------------------------------
def build_report(plan, figures: list | None = None, failures=None) -> list:
    """The report of a plan as a list of :class:`Section`.

    Parameters
    ----------
    plan : Plan or dict
    figures : list of Figure, optional
        Figures for the "Maps and figures" section.
    failures : list, dict, path or None
        Failure analysis (see :func:`normalise_failures`); None: the ``failures.json`` beside a plan read from
        disk, if any.

    Returns
    -------
    list of Section
    """
    d = _data(plan)
    ok = d.has_plan
    cs = cost_summary(d) if ok else None
    secs = [_headline(d, cs)]
    diag = _diagnosis(d)
    if diag is not None:
        secs.append(diag)
    if figures:
        secs.append(Section("Maps and figures", list(figures) + ["The interactive map is in `map.html` (works "
                                                                  "offline)."], "figures"))
    if ok:
        secs += [_costs(d, cs), _demand_costs(d, cs, allocate_costs(d)), _demands(d)]
        f = _failures(d, normalise_failures(_find_failures(plan, failures), d))
        if f is not None:
            secs.append(f)
        r = _rollout(d)
        if r is not None:
            secs.append(r)
        secs += [_links(d), _nodes(d)]
    secs += [_solver(d)]
    v = _verification(d)
    if v is not None:
        secs.append(v)
    secs += [_assumptions(d), _inputs(d)]
    return secs


def _numeric(t: Table) -> list:
    n = len(t.columns)
    return (list(t.numeric) + [False] * n)[:n]


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, sections: list) -> str:
    """Render sections as GitHub-flavoured Markdown."""
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, str):
                out += [b, ""]
            elif isinstance(b, KeyValues):
                out += [f"- **{k}:** {v}" for k, v in b.items] + [""]
            elif isinstance(b, Table):
                if b.caption:
                    out += [b.caption, ""]
                num = _numeric(b)
                out.append("| " + " | ".join(_md_cell(c) for c in b.columns) + " |")
                out.append("|" + "|".join("---:" if n else "---" for n in num) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
                out.append("")
            elif isinstance(b, Figure):
                out += [f"![{b.caption}]({b.path})", ""]
                if b.caption:
                    out += [f"*{b.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


def _inline(s: str) -> str:
    s = _html.escape(str(s), quote=False)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)




def _html_block(b) -> dict:
    """One report block as plain data for the HTML template."""
    if isinstance(b, str):
        return {"kind": "text", "text": b, "bad": b.startswith(("**No plan", "**FAILED"))}
    if isinstance(b, KeyValues):
        return {"kind": "kv", "items": list(b.items)}
    if isinstance(b, Table):
        num = _numeric(b)
        return {"kind": "table", "caption": b.caption, "columns": list(b.columns),
                "rows": [list(zip(r, num)) for r in b.rows]}
    if isinstance(b, Figure):
        return {"kind": "figure", "caption": b.caption, "path": str(b.path),
                "png_base64": base64.b64encode(b.png).decode("ascii")}
    raise TypeError(f"unknown report block {type(b).__name__}")


@functools.lru_cache(maxsize=1)
def _templates():
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["inline"] = lambda s: Markup(_inline(s))
    return env


def render_html(title: str, sections: list) -> str:
    """Render sections as one self-contained HTML page (inline CSS, figures as base64 PNG), from the jinja2
    template ``qtopo/templates/report.html.j2``."""
    secs = [{"anchor": s.anchor, "title": s.title, "blocks": [_html_block(b) for b in s.blocks]} for s in sections]
    return _templates().get_template("report.html.j2").render(title=title, sections=secs)


def demands_png(plan, path) -> Path | None:
    """Bar chart of target and delivered key rate per demand (log scale), or None without demands.

    Parameters
    ----------
    plan : Plan or dict
    path : str or Path

    Returns
    -------
    Path or None
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    import numpy as np

    d = _data(plan)
    dem = d.demands
    if not dem:
        return None
    labels = [f"{x.source} - {x.target}" for x in dem]
    tgt = np.array([x.target_bps for x in dem])
    dlv = np.array([x.delivered_bps for x in dem])
    h = 1.6 + 0.32 * len(dem)
    fig = MplFigure(figsize=(8, min(h, 14)), dpi=130)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(dem))
    ax.barh(y - 0.2, tgt, height=0.38, color="#bdbdbd", label="target")
    ax.barh(y + 0.2, dlv, height=0.38, color="#1f3b73", label="delivered")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    pos = np.concatenate([tgt[tgt > 0], dlv[dlv > 0]])
    if pos.size and pos.max() / pos.min() > 100:
        ax.set_xscale("log")
        ax.set_xlim(pos.min() / 3, pos.max() * 3)
    ax.set_xlabel("key rate (bit/s)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Key rate per demand: target and delivered", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def write_report(plan, out_dir, network=None, *, failures=None, tiles: str | None = None) -> dict:
    """Write ``report.md``, ``report.html``, ``map.png``, ``map.html`` (and ``demands.png``) for a plan.

    Parameters
    ----------
    plan : qtopo.plan.Plan or dict
        The plan (``plan.json`` content); the report uses nothing else.
    out_dir : str or Path
        Folder to write into (created if needed).
    network : qtopo.topology.FibreNetwork, optional
        Only for the maps: all fibre segments are drawn.
    failures : list, dict, path or None
        Failure analysis for the "Failure impact" section: the result of
        :func:`qtopo.failures.analyse_failures`, a ``failures.json`` path, or a list of
        ``{component, kind, demands: {"src->dst": kept_bps}}``. None: the ``failures.json`` beside a plan read
        from disk; no section without any.
    tiles : str, optional
        Base tiles for ``map.html`` (default none: works offline).

    Returns
    -------
    dict
        Name -> Path of the files written.

    Notes
    -----
    A map that cannot be drawn (e.g. missing coordinates) is logged and left out; the report is still
    written. ``report.html`` embeds the figures as base64 PNG and needs no other file.
    """
    from .viz import plan_map_folium, plan_map_png, save_map_html, write_text_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    d = _data(plan)
    written = {}
    figures = []
    try:
        written["map.png"] = plan_map_png(plan, out / "map.png", network=network)
        figures.append(Figure("map.png", written["map.png"].read_bytes(),
                              "Plan map: QKD links coloured by capacity (log scale), width by device pairs; "
                              "fibre routes in grey."))
    except Exception as e:  # noqa: BLE001 - a figure must not cost the report
        log.warning("map.png not drawn: %s", e, exc_info=log.isEnabledFor(logging.DEBUG))
    try:
        p = demands_png(plan, out / "demands.png")
        if p is not None:
            written["demands.png"] = p
            figures.append(Figure("demands.png", p.read_bytes(), "Key rate per demand: target and delivered."))
    except Exception as e:  # noqa: BLE001
        log.warning("demands.png not drawn: %s", e, exc_info=log.isEnabledFor(logging.DEBUG))
    try:
        written["map.html"] = save_map_html(plan_map_folium(plan, network=network, tiles=tiles), out / "map.html")
    except Exception as e:  # noqa: BLE001
        log.warning("map.html not written: %s", e, exc_info=log.isEnabledFor(logging.DEBUG))
    name = d.scenario.name or "plan"
    title = f"QKD network plan: {name}"
    secs = build_report(plan, figures, failures=failures)
    written["report.md"] = write_text_atomic(out / "report.md", render_markdown(title, secs))
    written["report.html"] = write_text_atomic(out / "report.html", render_html(title, secs))
    return written
