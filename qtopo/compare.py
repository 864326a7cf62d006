"""What changed between two plans: nodes, links, cost, delivered rates and key exposure (for review loops).

``qtopo compare PLAN_A PLAN_B`` prints :func:`format_comparison` of :func:`compare_plans`; both read only the
two ``plan.json`` files. Links are matched by hop (the unordered pair of their end nodes), so a hop that
changes device type or number of device pairs shows as *changed*, not as one link removed and one added.
"""
from __future__ import annotations

import logging
import math


from .contract import Plan, to_jsonable
from .numeric import fmt_eur

log = logging.getLogger(__name__)

__all__ = ["compare_plans", "format_comparison"]

RTOL = 1e-4  # relative change below which numbers count as unchanged (key-rate model noise, rounding)


def _data(plan) -> Plan:
    """The typed plan (a ``plan.json`` dict is read through the contract: migrated and validated)."""
    return plan if isinstance(plan, Plan) else Plan.from_dict(plan, source="plan")


def _hop(L) -> tuple:
    return tuple(sorted((L.from_node, L.to_node)))


def _dkey(dm) -> str:
    return f"{dm.source}->{dm.target}"


def _differs(x, y, rtol: float = RTOL) -> bool:
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return not math.isclose(float(x), float(y), rel_tol=rtol, abs_tol=1e-9)
    return x != y


def _delta(x, y) -> dict:
    out = {"a": x, "b": y, "delta": None, "rel": None}
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        out["delta"] = float(y) - float(x)
        out["rel"] = out["delta"] / float(x) if x else None
    return out


def compare_plans(a, b) -> dict:
    """Compare plan ``a`` (before) with plan ``b`` (after).

    Parameters
    ----------
    a, b : qtopo.contract.Plan or dict
        Plans (a dict is ``plan.json`` content).

    Returns
    -------
    dict
        ``a``, ``b``: name, status and path of each plan.
        ``cost``: {a, b, delta, rel} of the plans' ``cost_eur``; ``cost_breakdown``: the same per breakdown key.
        ``nodes``: ``added`` and ``removed`` (node dicts of b and a), ``changed`` (id and ``changes``:
        field -> [a, b] for kind, site_kind, cost_eur, existing).
        ``links``: per hop; ``added`` / ``removed`` (hop, devices {device: pairs}, capacity_bps, cost),
        ``changed`` (hop, devices_a, devices_b, capacity_bps [a, b], cost [a, b]).
        ``demands``: per demand in either plan: target_bps and delivered_bps as {a, b, delta, rel},
        ``only_in`` ("a", "b" or None).
        ``exposure``: per demand whose trusted nodes differ: ``added`` and ``removed`` trusted nodes (those
        holding the demand's key), and the counts of intermediate trusted nodes in a and b.
        ``same``: True when nothing above changed.

    Notes
    -----
    Numbers that differ by less than :data:`RTOL` (relative) count as unchanged, so that a re-run with a
    slightly different key-rate evaluation does not list every link as changed.
    """
    da, db = _data(a), _data(b)

    def meta(d, p):
        return {"name": d.scenario.name, "status": d.status.value, "path": str(getattr(p, "path", "")) or None}

    out = {"a": meta(da, a), "b": meta(db, b), "cost": _delta(da.cost_eur, db.cost_eur)}
    cba = to_jsonable(da.cost_breakdown) if da.cost_breakdown else {}
    cbb = to_jsonable(db.cost_breakdown) if db.cost_breakdown else {}
    out["cost_breakdown"] = {k: _delta(cba.get(k), cbb.get(k)) for k in list(dict.fromkeys([*cba, *cbb]))}
    out["nodes"] = _compare_nodes(da, db)
    out["links"] = _compare_links(da, db)
    dem, expo = _compare_demands(da, db)
    out["demands"] = dem
    out["exposure"] = expo
    out["same"] = (da.status == db.status and not _differs(da.cost_eur, db.cost_eur)
                   and not any(out["nodes"].values()) and not any(out["links"].values()) and not expo
                   and not any(r["only_in"] or _differs(r["delivered_bps"]["a"], r["delivered_bps"]["b"])
                               or _differs(r["target_bps"]["a"], r["target_bps"]["b"]) for r in dem))
    return out


def _compare_nodes(da: Plan, db: Plan) -> dict:
    """Nodes added, removed, and changed (kind, site kind, cost, brownfield)."""
    # a place can be both a trusted node and an untrusted relay: the relay entry is a node of its own
    def nkey(n):
        return (n.id, n.kind == "relay")

    na = {nkey(n): n for n in da.nodes}
    nb = {nkey(n): n for n in db.nodes}
    changed = []
    for i in sorted(set(na) & set(nb)):
        ch = {f: [getattr(na[i], f), getattr(nb[i], f)] for f in ("kind", "site_kind", "cost_eur", "existing")
              if _differs(getattr(na[i], f), getattr(nb[i], f))}
        if ch:
            changed.append({"id": i[0], "kind": na[i].kind, "changes": ch})
    return {"added": [to_jsonable(nb[i]) for i in sorted(set(nb) - set(na))],
            "removed": [to_jsonable(na[i]) for i in sorted(set(na) - set(nb))], "changed": changed}


def _hops(d: Plan) -> dict:
    """The plan's links summed per hop: device pairs per device, capacity, cost and link ids."""
    h = {}
    for L in d.links:
        e = h.setdefault(_hop(L), {"devices": {}, "capacity_bps": 0.0, "cost": 0.0, "ids": []})
        e["devices"][L.device] = e["devices"].get(L.device, 0) + L.device_pairs
        e["capacity_bps"] += L.capacity_bps
        e["cost"] += L.cost_eur
        e["ids"].append(L.id)
    return h


def _compare_links(da: Plan, db: Plan) -> dict:
    """Hops added, removed, and changed (devices, capacity or cost)."""
    ha, hb = _hops(da), _hops(db)
    lchanged = []
    for h in sorted(set(ha) & set(hb)):
        x, y = ha[h], hb[h]
        if x["devices"] != y["devices"] or _differs(x["capacity_bps"], y["capacity_bps"]) \
                or _differs(x["cost"], y["cost"]):
            lchanged.append({"hop": list(h), "devices_a": x["devices"], "devices_b": y["devices"],
                             "capacity_bps": [x["capacity_bps"], y["capacity_bps"]], "cost": [x["cost"], y["cost"]]})

    def item(h, e):
        return {"hop": list(h), "devices": e["devices"], "capacity_bps": e["capacity_bps"], "cost": e["cost"],
                "ids": e["ids"]}

    return {"added": [item(h, hb[h]) for h in sorted(set(hb) - set(ha))],
            "removed": [item(h, ha[h]) for h in sorted(set(ha) - set(hb))], "changed": lchanged}


def _compare_demands(da: Plan, db: Plan) -> tuple[list, list]:
    """Per demand in either plan its target and delivered rate in both; and, for the demands in both, how the
    trusted nodes holding its key changed (exposure)."""
    ma = {_dkey(x): x for x in da.demands}
    mb = {_dkey(x): x for x in db.demands}
    dem, expo = [], []
    for k in list(dict.fromkeys([*ma, *mb])):
        x, y = ma.get(k), mb.get(k)
        dem.append({"demand": k, "only_in": None if (x and y) else ("a" if x else "b"),
                    "target_bps": _delta(x and x.target_bps, y and y.target_bps),
                    "delivered_bps": _delta(x and x.delivered_bps, y and y.delivered_bps)})
        if x and y:
            ta, tb = set(x.trusted_nodes), set(y.trusted_nodes)
            if ta != tb:
                expo.append({"demand": k, "added": sorted(tb - ta), "removed": sorted(ta - tb),
                             "intermediate_a": len(x.intermediate_trusted_nodes),
                             "intermediate_b": len(y.intermediate_trusted_nodes)})
    return dem, expo


def _eur(v) -> str:
    return "-" if v is None else f"{fmt_eur(v)} EUR"


def _signed(v, unit: str = "") -> str:
    return "-" if v is None else f"{v:+,.0f}{unit}"


def _bps(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _devs(devs: dict) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(devs.items())) or "-"


def format_comparison(d: dict) -> str:
    """Human-readable text of a :func:`compare_plans` result.

    Parameters
    ----------
    d : dict
        From :func:`compare_plans`.

    Returns
    -------
    str
        Sections: plans and cost, nodes, links, demands, exposure; "no changes" when the plans agree.
    """
    a, b = d["a"], d["b"]
    L = [f"A: {a.get('path') or a.get('name')} ({a.get('status')})",
         f"B: {b.get('path') or b.get('name')} ({b.get('status')})"]
    if a.get("status") != b.get("status"):
        L.append(f"status: {a.get('status')} -> {b.get('status')}")
    c = d["cost"]
    rel = f" ({c['rel']:+.1%})" if c.get("rel") is not None else ""
    L.append(f"cost: {_eur(c['a'])} -> {_eur(c['b'])}, delta {_signed(c['delta'], ' EUR')}{rel}")
    for k, v in d.get("cost_breakdown", {}).items():
        if v["delta"] is not None and abs(v["delta"]) > 0.5:
            L.append(f"  {k}: {_eur(v['a'])} -> {_eur(v['b'])} ({_signed(v['delta'], ' EUR')})")
    if d.get("same"):
        L.append("no changes: same nodes, links, cost, delivered rates and trusted nodes")
        return "\n".join(L) + "\n"
    n = d["nodes"]
    L.append(f"nodes: {len(n['added'])} added, {len(n['removed'])} removed, {len(n['changed'])} changed")
    L += [f"  + {x['id']} ({x['kind']}, {x['site_kind']}, {_eur(x['cost_eur'])})" for x in n["added"]]
    L += [f"  - {x['id']} ({x['kind']}, {x['site_kind']}, {_eur(x['cost_eur'])})" for x in n["removed"]]
    L += [f"  ~ {x['id']}: " + ", ".join(f"{f} {v[0]} -> {v[1]}" for f, v in x["changes"].items())
          for x in n["changed"]]
    k = d["links"]
    L.append(f"links (per hop): {len(k['added'])} added, {len(k['removed'])} removed, {len(k['changed'])} changed")
    L += [f"  + {x['hop'][0]} - {x['hop'][1]}: {_devs(x['devices'])}, {_bps(x['capacity_bps'])} bit/s, "
          f"{_eur(x['cost'])}" for x in k["added"]]
    L += [f"  - {x['hop'][0]} - {x['hop'][1]}: {_devs(x['devices'])}, {_bps(x['capacity_bps'])} bit/s, "
          f"{_eur(x['cost'])}" for x in k["removed"]]
    L += [f"  ~ {x['hop'][0]} - {x['hop'][1]}: {_devs(x['devices_a'])} -> {_devs(x['devices_b'])}, "
          f"{_bps(x['capacity_bps'][0])} -> {_bps(x['capacity_bps'][1])} bit/s, "
          f"{_eur(x['cost'][0])} -> {_eur(x['cost'][1])}" for x in k["changed"]]
    rows = [r for r in d["demands"] if r["only_in"] or _differs(r["delivered_bps"]["a"], r["delivered_bps"]["b"])
            or _differs(r["target_bps"]["a"], r["target_bps"]["b"])]
    L.append(f"demands: {len(rows)} of {len(d['demands'])} changed (delivered bit/s)")
    for r in rows:
        if r["only_in"]:
            side = r["only_in"].upper()
            v = r["delivered_bps"]["a" if side == "A" else "b"]
            L.append(f"  {r['demand']}: only in {side} (delivered {_bps(v)})")
        else:
            t = r["target_bps"]
            tgt = f", target {_bps(t['a'])} -> {_bps(t['b'])}" if _differs(t["a"], t["b"]) else ""
            dl = r["delivered_bps"]
            L.append(f"  {r['demand']}: {_bps(dl['a'])} -> {_bps(dl['b'])} ({_signed(dl['delta'])}){tgt}")
    L.append(f"exposure: trusted nodes changed for {len(d['exposure'])} demand(s)")
    for e in d["exposure"]:
        parts = ([f"+{', +'.join(e['added'])}"] if e["added"] else []) + \
                ([f"-{', -'.join(e['removed'])}"] if e["removed"] else [])
        L.append(f"  {e['demand']}: {'; '.join(parts)} (intermediate trusted nodes {e['intermediate_a']} -> "
                 f"{e['intermediate_b']})")
    return "\n".join(L) + "\n"
