"""Reports: files written, numbers in report.md / report.html equal plan.json, cost allocation, failures,
infeasible plans, and a headless-browser check of report.html and map.html.

The plans here are built by hand (``make_plan``) so every expected number is computed in the test from the
plan's own fields, independently of the report code.
"""
from __future__ import annotations

import html.parser
import json
import math
import re
import subprocess
from pathlib import Path

import pytest

from qtopo.contract import InputRecord, Plan
from qtopo.report import allocate_costs, write_report

SECONDS_PER_YEAR = 365.25 * 86400.0


# ------------------------------------------------------------------------------------------------------
# hand-made plans (also imported by test_viz.py)
# ------------------------------------------------------------------------------------------------------
PAIR_COST = {"apd": 100000.0, "snspd": 250000.0, "mdi": 200000.0}
FIBRE_EUR_PER_KM = 100.0


def _link(a, b, device, protocol, path, length, loss, pairs, rate):
    per_pair = PAIR_COST[device] + FIBRE_EUR_PER_KM * length
    return {"id": f"{a}--{b}:{device}", "from": a, "to": b, "fibre_path": path, "length_km": length,
            "loss_db": loss, "protocol": protocol, "device": device, "device_pairs": pairs, "existing_pairs": 0,
            "rate_bps_per_pair": rate, "capacity_bps": pairs * rate,
            "cost_eur": pairs * per_pair, "cost_per_pair_eur": per_pair, "load_bps": 0.0, "utilisation": 0.0,
            "relay": None, "repeaters": []}


# single failures of make_plan's plan (a hand-made analysis in the list format)
FAILURES = [
    {"component": "T1", "kind": "node", "demands": {"A->B": 0.0, "A->C": 0.0, "B->C": 0.0}},
    {"component": "H1--C:snspd", "kind": "link", "demands": {"A->B": 20000.0, "A->C": 0.0, "B->C": 0.0}},
    {"component": "A--T1:apd", "kind": "link", "demands": {"A->B": 0.0, "A->C": 60000.0, "B->C": 10000.0}},
]


def make_plan(failures: bool = True) -> Plan:
    """Three sites A, B, C; a trusted node T1 at a PoP, one in a new hut H1; an untrusted relay R1 on the
    T1-B fibre; four links (one with 2 pairs, one with 3); three demands, A->C over-delivered by 20 %.
    (The failure analysis of this plan is :data:`FAILURES`: pass it to ``write_report``.)"""
    nodes = [
        {"id": "A", "kind": "site", "site_kind": "datacenter", "lon": 5.0, "lat": 52.0, "cost_eur": 50000.0},
        {"id": "B", "kind": "site", "site_kind": "datacenter", "lon": 6.2, "lat": 52.3, "cost_eur": 50000.0},
        {"id": "C", "kind": "site", "site_kind": "pop", "lon": 5.6, "lat": 51.3, "cost_eur": 50000.0},
        {"id": "T1", "kind": "trusted", "site_kind": "pop", "lon": 5.6, "lat": 52.1, "cost_eur": 150000.0},
        {"id": "H1", "kind": "trusted", "site_kind": "hut", "lon": 5.6, "lat": 51.7, "cost_eur": 400000.0},
        {"id": "R1", "kind": "relay", "site_kind": "hut", "lon": 5.95, "lat": 52.2, "cost_eur": 80000.0},
    ]
    for n in nodes:
        n["existing"] = False
    links = [
        _link("A", "T1", "apd", "bb84-decoy", ["A", "f1", "T1"], 45.0, 10.0, 2, 1.0e6),
        _link("T1", "B", "mdi", "mdi-qkd", ["T1", "R1", "B"], 80.0, 17.0, 1, 5.0e4),
        _link("T1", "H1", "apd", "bb84-decoy", ["T1", "f2", "H1"], 50.0, 11.0, 1, 8.0e5),
        _link("H1", "C", "snspd", "bb84-decoy", ["H1", "C"], 48.0, 10.6, 3, 2.0e6),
    ]
    demands = [
        {"source": "A", "target": "B", "target_bps": 20000.0, "delivered_bps": 20000.0,
         "routes": [{"nodes": ["A", "T1", "B"], "rate_bps": 20000.0}]},
        {"source": "A", "target": "C", "target_bps": 100000.0, "delivered_bps": 120000.0,
         "routes": [{"nodes": ["A", "T1", "H1", "C"], "rate_bps": 90000.0},
                    {"nodes": ["A", "T1", "H1", "C"], "rate_bps": 30000.0}]},
        {"source": "B", "target": "C", "target_bps": 10000.0, "delivered_bps": 10000.0,
         "routes": [{"nodes": ["B", "T1", "H1", "C"], "rate_bps": 10000.0}]},
    ]
    for dm in demands:
        dm["trusted_nodes"] = sorted({n for r in dm["routes"] for n in r["nodes"]})
        dm["intermediate_trusted_nodes"] = sorted({n for r in dm["routes"] for n in r["nodes"][1:-1]})
        dm.update(source_node=dm["source"], target_node=dm["target"], k_routes=1, protection=None, disjoint=None,
                  max_trusted_nodes=None, allowed_countries=[], excluded_nodes=[], excluded_operators=[], weight=1.0)
    load = {}
    for dm in demands:
        for r in dm["routes"]:
            for a, b in zip(r["nodes"][:-1], r["nodes"][1:]):
                load[frozenset((a, b))] = load.get(frozenset((a, b)), 0.0) + r["rate_bps"]
    for L in links:
        L["load_bps"] = load.get(frozenset((L["from"], L["to"])), 0.0)
        L["utilisation"] = L["load_bps"] / L["capacity_bps"]
    links[1]["relay"] = "R1"  # the MDI link's untrusted relay
    for n in nodes:
        n["degree"] = sum(1 for L in links if n["id"] in (L["from"], L["to"]))
    coords = {n["id"]: [n["lon"], n["lat"]] for n in nodes}
    coords.update({"f1": [5.3, 52.08], "f2": [5.62, 51.9]})
    # cost_breakdown as qtopo.plan writes it: relays apart from the (trusted) nodes
    nodes_eur = sum(n["cost_eur"] for n in nodes if n["kind"] != "relay")
    relays_eur = sum(n["cost_eur"] for n in nodes if n["kind"] == "relay")
    links_eur = sum(L["cost_eur"] for L in links)
    pairs_eur = sum(L["device_pairs"] * PAIR_COST[L["device"]] for L in links)
    total = nodes_eur + relays_eur + links_eur
    data = {
        "schema_version": 2, "status": "feasible", "termination": "maxTimeLimit",
        "cost_eur": total, "objective_value": total, "best_bound": 2.0e6, "gap": (total - 2.0e6) / total,
        "delivered_weighted_bps": None, "source": "milp", "heuristic_cost_eur": None,
        "scenario": {"name": "handmade", "path": None}, "objective": {"mode": "min_cost", "budget_eur": 0.0},
        "solver": {"name": "highs", "version": "1.16.0", "options": {"time_limit_s": 10.0, "mip_gap": 0.01},
                   "sizes": {"variables": 120, "constraints": 80, "nonzeros": 400}, "message": ""},
        "diagnosis": [], "stats": {"candidates": 6, "hops": 12},
        "cost_breakdown": {"nodes_eur": nodes_eur, "relays_eur": relays_eur, "devices_and_fibre_eur": links_eur,
                           "device_pairs_eur": pairs_eur, "repeaters_eur": 0.0, "total_eur": total,
                           "sunk_brownfield_eur": 0.0},
        "nodes": nodes, "links": links, "demands": demands, "fibre_coords": coords,
        "inputs": {"files": [{"role": "scenario", "path": "/x/scenario.toml", "sha256": "ab" * 32},
                             {"role": "sites", "path": "/x/sites.gpkg", "sha256": "cd" * 32}],
                   "scenario": {"scenario": {"name": "handmade", "description": "A hand-made test plan."},
                                "network": {"route_factor": 1.3, "hut_spacing_km": 25.0},
                                "fibre": {"attenuation_db_per_km": 0.2, "connector_loss_db": 1.0,
                                          "splice_loss_db_per_km": 0.02},
                                "costs": {"trusted_node_eur": 150000.0, "hut_node_eur": 400000.0,
                                          "fibre_eur_per_km": FIBRE_EUR_PER_KM, "opex_fraction_per_year": 0.1,
                                          "horizon_years": 5.0},
                                "devices": {"apd": {"preset": "apd-bb84", "pair_cost_eur": 100000.0,
                                                    "max_pairs_per_link": 8},
                                            "snspd": {"preset": "snspd-bb84", "pair_cost_eur": 250000.0,
                                                      "max_pairs_per_link": 8},
                                            "mdi": {"preset": "mdi-snspd", "pair_cost_eur": 200000.0,
                                                    "max_pairs_per_link": 4}}}},
        "versions": {"python": "3.11", "qtopo": "0.1.0"}, "seed": 0,
        "timings_s": {"read": 0.1, "solve": 2.5, "total": 3.0},
        "notes": ["2 route endpoints merged"], "solver_log_file": None,
        "verification": {"ok": True, "violations": [], "warnings": [], "checks": 26}, "rollout": None,
    }
    return Plan.from_dict(data)  # through the contract: the hand-made plan must be schema-valid


def make_infeasible_plan() -> Plan:
    d = make_plan().to_dict()
    d.update({"status": "infeasible", "termination": "precheck", "cost_eur": None, "objective_value": None,
              "best_bound": None, "gap": None, "nodes": [], "links": [], "demands": [], "cost_breakdown": None,
              "fibre_coords": {}, "verification": None,
              "diagnosis": [{"source": "A", "target": "B", "reason": "out_of_reach",
                             "detail": "lowest-loss path 61.2 dB exceeds every device's reach"}]})
    return Plan.from_dict(d)


# ------------------------------------------------------------------------------------------------------
# parsing the report back
# ------------------------------------------------------------------------------------------------------
def num(s: str) -> float:
    """Parse a formatted number: '2,066,400', '43.93%', '1.31e-07', '20,000 bit/s' -> float (percent as %)."""
    m = re.search(r"-?[\d,]*\.?\d+(?:e[-+]?\d+)?", s.replace("\u2212", "-"))
    assert m, f"no number in {s!r}"
    return float(m.group(0).replace(",", ""))


def md_tables(md: str) -> list:
    """All GitHub-flavoured Markdown tables as lists of dicts (header -> cell)."""
    out, cur, header = [], None, None
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if header is None:
                header = cells
                cur = []
            elif all(re.fullmatch(r"-+:?", c) for c in cells):
                continue
            else:
                cur.append(dict(zip(header, cells)))
        else:
            if header is not None:
                out.append(cur)
            header, cur = None, None
    if header is not None:
        out.append(cur)
    return out


def md_kv(md: str) -> dict:
    return {m.group(1): m.group(2) for m in re.finditer(r"^- \*\*(.+?):\*\* (.*)$", md, re.M)}


def md_table_with(md: str, column: str) -> list:
    ts = [t for t in md_tables(md) if t and column in t[0]]
    assert ts, f"no table with column {column!r}"
    return ts[0]


class _HTMLTables(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self._row, self._cell, self.imgs = [], None, None, []

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.imgs.append(dict(attrs))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def html_tables(text: str):
    p = _HTMLTables()
    p.feed(text)
    tabs = []
    for t in p.tables:
        if t and len(t) > 1:
            tabs.append([dict(zip(t[0], r)) for r in t[1:]])
    kv = {r[0]: r[1] for t in p.tables for r in t if len(r) == 2}
    return tabs, kv, p.imgs


def close(a: float, b: float, digits_shown: float) -> bool:
    """``a`` (parsed from the report) equals ``b`` (from plan.json) up to the display rounding."""
    return abs(a - b) <= digits_shown / 2 + 1e-9 * abs(b)


# ------------------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    plan = make_plan()
    files = write_report(plan, out, failures=FAILURES)
    (out / "plan.json").write_text(json.dumps(plan.to_dict()))
    return out, plan, files


def test_files_written(written):
    out, _, files = written
    for name in ("report.md", "report.html", "map.png", "map.html", "demands.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
        assert files[name] == out / name
    for png in ("map.png", "demands.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_headline_and_costs_match_plan(written):
    out, plan, _ = written
    d = json.loads((out / "plan.json").read_text())  # the numbers as stored
    md = (out / "report.md").read_text()
    kv = md_kv(md)
    assert kv["Status"] == "feasible"
    assert close(num(kv["Total cost (capex)"]), d["cost_eur"], 1)
    assert close(num(kv["Best bound"]), d["best_bound"], 1)
    assert close(num(kv["MIP gap"]), 100 * d["gap"], 0.01)
    cb = d["cost_breakdown"]
    costs = {r["Item"]: num(r["EUR"]) for r in md_table_with(md, "Item")}
    assert close(costs["Node capex (total)"], cb["nodes_eur"], 1)
    assert close(costs["Untrusted relays (MDI / twin-field)"], cb["relays_eur"], 1)
    assert sum(v for k, v in costs.items() if k.startswith("Node capex: ")) == pytest.approx(cb["nodes_eur"], abs=2)
    assert close(costs["QKD device pairs"], cb["device_pairs_eur"], 1)
    assert close(costs["Fibre (per device pair and km)"], cb["devices_and_fibre_eur"] - cb["device_pairs_eur"], 1)
    assert close(costs["**Capex total**"], cb["total_eur"], 1)
    # opex 10 %/year over 5 years, as in the plan's scenario
    opex = d["inputs"]["scenario"]["costs"]["opex_fraction_per_year"]
    years = d["inputs"]["scenario"]["costs"]["horizon_years"]
    assert close(costs["Opex per year (10.00% of capex)"], opex * cb["total_eur"], 1)
    tco = cb["total_eur"] * (1 + opex * years)
    assert close(costs[f"**TCO over {years:g} year(s)**"], tco, 1)
    # cost per delivered key bit = TCO / (sum of delivered rates x horizon in seconds)
    bits = sum(x["delivered_bps"] for x in d["demands"]) * years * SECONDS_PER_YEAR
    assert math.isclose(num(kv["Cost per delivered key bit"]), tco / bits, rel_tol=5e-3)


def test_markdown_demands_and_links_match_plan(written):
    out, _, _ = written
    d = json.loads((out / "plan.json").read_text())
    md = (out / "report.md").read_text()
    rows = md_table_with(md, "Delivered bit/s")
    assert len(rows) == len(d["demands"])
    for r, dm in zip(rows, d["demands"]):
        assert (r["Source"], r["Target"]) == (dm["source"], dm["target"])
        assert close(num(r["Target bit/s"]), dm["target_bps"], 1)
        assert close(num(r["Delivered bit/s"]), dm["delivered_bps"], 1)
        assert close(num(r["Margin"]), 100 * (dm["delivered_bps"] / dm["target_bps"] - 1), 0.1)
        assert int(r["Routes"]) == len(dm["routes"])
        assert r["Trusted nodes holding the key"].split(", ") == dm["trusted_nodes"]
    assert num(rows[1]["Margin"]) == 20.0  # A->C: 120 kbit/s delivered for 100 kbit/s
    lrows = md_table_with(md, "Capacity bit/s")
    assert [r["Link"] for r in lrows] == [L["id"] for L in d["links"]]
    assert [r["Relay"] for r in lrows] == [L["relay"] or "-" for L in d["links"]]
    for r, L in zip(lrows, d["links"]):
        assert int(r["Pairs"]) == L["device_pairs"]
        assert r["Device"] == L["device"] and r["Protocol"] == L["protocol"]
        assert close(num(r["Length km"]), L["length_km"], 0.01)
        assert close(num(r["Loss dB"]), L["loss_db"], 0.01)
        assert close(num(r["Rate/pair bit/s"]), L["rate_bps_per_pair"], 1)
        assert close(num(r["Capacity bit/s"]), L["capacity_bps"], 1)
        assert close(num(r["Load bit/s"]), L["load_bps"], 1)
        assert close(num(r["Utilisation"]), 100 * L["utilisation"], 0.1)
        assert close(num(r["Cost EUR"]), L["cost_eur"], 1)


def test_cost_allocation_rule():
    plan = make_plan()
    al = allocate_costs(plan)
    total = plan.to_dict()["cost_breakdown"]["total_eur"]
    assert math.isclose(sum(v["capex_eur"] for v in al["per_demand"].values()) + al["unallocated_eur"], total)
    assert al["unallocated_eur"] == 0.0  # the relay R1 follows its link T1-B
    # A->B by hand: link A-T1 (209,000 EUR) carries 20k of 140k bit/s, link T1-B (208,000) 20k of 30k;
    # node A 20k of 140k, T1 20k of 150k, B 20k of 30k (50,000 each for sites, 150,000 for T1);
    # relay R1 (80,000) inside the T1-B fibre path: 20k of 30k.
    links = 209000 * 20 / 140 + 208000 * 20 / 30
    nodes = 50000 * 20 / 140 + 150000 * 20 / 150 + 50000 * 20 / 30 + 80000 * 20 / 30
    ab = al["per_demand"]["A->B"]
    assert math.isclose(ab["links_eur"], links) and math.isclose(ab["nodes_eur"], nodes)


def test_markdown_cost_per_demand_matches_allocation(written):
    out, plan, _ = written
    md = (out / "report.md").read_text()
    al = allocate_costs(plan)["per_demand"]
    rows = md_table_with(md, "Capex EUR")
    for r in rows:
        a = al[f"{r['Source']}->{r['Target']}"]
        assert close(num(r["Capex EUR"]), a["capex_eur"], 1)
        assert close(num(r["TCO EUR (5 y)"]), a["capex_eur"] * 1.5, 1)
    assert "Allocation rule" in md


def test_failure_table(written):
    out, _, _ = written
    md = (out / "report.md").read_text()
    rows = {r["Component"]: r for r in md_table_with(md, "Demands lost")}
    assert rows["T1"]["Demands lost"] == "3" and rows["T1"]["Target kept"] == "0.0%"
    assert rows["H1--C:snspd"]["Demands lost"] == "2"
    # A-T1 down: A->B lost, A->C at 60 %, B->C kept; kept share = (0 + 60k + 10k) / 130k
    r = rows["A--T1:apd"]
    assert (r["Demands lost"], r["Demands degraded"]) == ("1", "1")
    assert close(num(r["Target kept"]), 100 * 70 / 130, 0.1)
    assert r["Worst hit"].startswith("A->B")
    matrix = md_table_with(md, "A->C")
    assert {x["Component"]: num(x["A->C"]) for x in matrix}["A--T1:apd"] == 60000


def test_assumptions_and_inputs(written):
    out, plan, _ = written
    md = (out / "report.md").read_text()
    kv = md_kv(md)
    assert kv["Route factor (fibre / geodesic length, routes without surveyed length)"] == "1.3"
    assert kv["Fibre attenuation"] == "0.2 dB/km"
    assert kv["Connector loss per hop"] == "1 dB"
    assert kv["Splice loss"] == "0.02 dB/km"
    assert "(default)" in kv["Site snap tolerance"]
    devs = {r["Device"]: r for r in md_table_with(md, "Preset")}
    assert devs["apd"]["Preset"] == "apd-bb84" and num(devs["snspd"]["Pair cost EUR"]) == 250000
    assert devs["snspd"]["Pairs used"] == "3"
    for f in plan.to_dict()["inputs"]["files"]:
        assert f["sha256"] in md
    assert "26 independent checks" in md


def test_html_matches_plan_and_is_self_contained(written):
    out, plan, _ = written
    d = plan.to_dict()
    text = (out / "report.html").read_text()
    tabs, kv, imgs = html_tables(text)
    assert close(num(kv["Total cost (capex)"]), d["cost_eur"], 1)
    assert close(num(kv["MIP gap"]), 100 * d["gap"], 0.01)
    links = next(t for t in tabs if "Capacity bit/s" in t[0])
    for r, L in zip(links, d["links"]):
        assert r["Link"] == L["id"]
        assert close(num(r["Capacity bit/s"]), L["capacity_bps"], 1)
        assert close(num(r["Cost EUR"]), L["cost_eur"], 1)
    dem = next(t for t in tabs if "Delivered bit/s" in t[0])
    assert [close(num(r["Delivered bit/s"]), dm["delivered_bps"], 1) for r, dm in zip(dem, d["demands"])] == \
        [True] * len(d["demands"])
    # figures embedded, nothing loaded from elsewhere
    assert len(imgs) >= 2 and all(i["src"].startswith("data:image/png;base64,") for i in imgs)
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", text)
    assert "<style>" in text


def test_infeasible_report(tmp_path):
    plan = make_infeasible_plan()
    write_report(plan, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "**No plan: the scenario is infeasible.**" in md
    diag = md_table_with(md, "Reason")
    assert diag == [{"Source": "A", "Target": "B", "Reason": "out_of_reach",
                     "Detail": "lowest-loss path 61.2 dB exceeds every device's reach"}]
    assert "## Cost breakdown" not in md and "## QKD links" not in md
    assert "## Assumptions" in md and "## Inputs and software" in md
    assert (tmp_path / "map.png").is_file() and (tmp_path / "map.html").is_file()
    assert "status-bad" in (tmp_path / "report.html").read_text()


def test_report_without_optional_fields(tmp_path):
    """A minimal plan (no inputs, versions, verification, failures) still reports; defaults are marked."""
    d = make_plan(failures=False)
    d.inputs, d.versions, d.verification, d.timings_s, d.notes, d.stats = InputRecord(), {}, None, {}, [], {}
    write_report(d, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Failure impact" not in md
    assert "no verification record" in md
    assert "`horizon_years` = 1 (not in the scenario: default)" in md


# ------------------------------------------------------------------------------------------------------
# headless browser
# ------------------------------------------------------------------------------------------------------
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)


def chromium_dom(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after its scripts ran, from headless chromium with every host unresolvable
    (so the page must work offline)."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=5000",
           "--enable-logging=stderr", "--v=0", "--dump-dom", page.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    errors = [x for x in r.stderr.splitlines() if ":CONSOLE" in x and ("Uncaught" in x or "Error" in x)]
    assert not errors, errors  # the page's scripts ran without errors (no missing library)
    return r.stdout


@pytest.mark.browser
def test_browser_loads_report_and_map(written, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium not installed: `apt-get install -y chromium` (Debian) to run the browser test")
    out, plan, _ = written
    dom = chromium_dom(out / "map.html", tmp_path / "profile")
    assert re.search(r'class="[^"]*\bleaflet-container\b', dom), "Leaflet did not initialise the map"
    for name in ("Fibre routes", "QKD links", "Sites", "Trusted nodes", "Relays", "Demand: A - B"):
        assert f"<span> {name}</span>" in dom, name
    # the links and fibre were drawn as SVG paths; the site labels (permanent tooltips) are in the DOM
    assert dom.count('class="leaflet-interactive"') >= len(plan.to_dict()["links"])
    assert re.search(r'role="tooltip"[^>]*>\s*<div>\s*A\s*</div>', dom)
    dom = chromium_dom(out / "report.html", tmp_path / "profile")
    assert "Cost breakdown" in dom and "Failure impact" in dom
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', dom)) >= 2


# ------------------------------------------------------------------------------------------------------
# compare
# ------------------------------------------------------------------------------------------------------
def _plan_b() -> Plan:
    """Plan A changed: the hut H1 replaced by a trusted node T2 at a PoP, H1-C link moved to T2 with one
    more pair, T1-B upgraded from 1 to 2 MDI pairs, B->C delivered 5 kbit/s more, cost down."""
    p = make_plan(failures=False)
    d = p.to_dict()
    d["nodes"] = [n for n in d["nodes"] if n["id"] != "H1"] + [
        {"id": "T2", "kind": "trusted", "site_kind": "pop", "lon": 5.6, "lat": 51.7, "cost_eur": 150000.0, "degree": 2,
         "existing": False}]
    for L in d["links"]:
        if L["id"] == "T1--H1:apd":
            L.update(id="T1--T2:apd", to="T2")
        if L["id"] == "H1--C:snspd":
            L.update({"id": "T2--C:snspd", "from": "T2", "device_pairs": 4, "capacity_bps": 8.0e6,
                      "cost_eur": L["cost_eur"] / 3 * 4})
        if L["id"] == "T1--B:mdi":
            L.update(device_pairs=2, capacity_bps=1.0e5, cost_eur=L["cost_eur"] * 2)
    for dm in d["demands"]:
        for r in dm["routes"]:
            r["nodes"] = ["T2" if n == "H1" else n for n in r["nodes"]]
        dm["trusted_nodes"] = sorted({n for r in dm["routes"] for n in r["nodes"]})
        if _k(dm) == "B->C":
            dm["routes"][0]["rate_bps"] = dm["delivered_bps"] = 15000.0
    d["cost_eur"] = 1.9e6
    return Plan.from_dict(d)


def _k(dm):
    return f"{dm['source']}->{dm['target']}"


def test_compare_plans():
    from qtopo.compare import compare_plans, format_comparison

    a, b = make_plan(failures=False), _plan_b()
    c = compare_plans(a, b)
    assert c["cost"]["delta"] == pytest.approx(1.9e6 - a.cost_eur)
    assert [n["id"] for n in c["nodes"]["added"]] == ["T2"]
    assert [n["id"] for n in c["nodes"]["removed"]] == ["H1"]
    hops = lambda xs: sorted(tuple(x["hop"]) for x in xs)  # noqa: E731
    assert hops(c["links"]["added"]) == [("C", "T2"), ("T1", "T2")]
    assert hops(c["links"]["removed"]) == [("C", "H1"), ("H1", "T1")]
    ch = c["links"]["changed"]
    assert len(ch) == 1 and ch[0]["hop"] == ["B", "T1"]
    assert ch[0]["devices_a"] == {"mdi": 1} and ch[0]["devices_b"] == {"mdi": 2}
    dem = {r["demand"]: r for r in c["demands"]}
    assert dem["B->C"]["delivered_bps"]["delta"] == 5000.0 and dem["A->B"]["delivered_bps"]["delta"] == 0.0
    expo = {e["demand"]: e for e in c["exposure"]}
    assert set(expo) == {"A->C", "B->C"}
    assert expo["A->C"]["added"] == ["T2"] and expo["A->C"]["removed"] == ["H1"]
    assert not c["same"]
    text = format_comparison(c)
    assert "+ T2 (trusted, pop, 150,000 EUR)" in text and "- H1" in text
    assert "~ B - T1: mdi x1 -> mdi x2" in text
    assert "B->C: 10,000 -> 15,000 (+5,000)" in text
    assert "A->C: +T2; -H1" in text
    assert compare_plans(a, a.to_dict())["same"]
    assert "no changes" in format_comparison(compare_plans(a, a))


def test_compare_command(tmp_path):
    from click.testing import CliRunner

    from qtopo.cli.compare import compare_command

    (tmp_path / "a").mkdir()
    make_plan(failures=False).to_json(tmp_path / "a" / "plan.json")
    _plan_b().to_json(tmp_path / "b.json")
    r = CliRunner().invoke(compare_command, [str(tmp_path / "a"), str(tmp_path / "b.json")])
    assert r.exit_code == 0, r.output
    assert "nodes: 1 added, 1 removed, 0 changed" in r.output
    r = CliRunner().invoke(compare_command, ["--json", str(tmp_path / "a"), str(tmp_path / "b.json")])
    assert json.loads(r.output)["nodes"]["added"][0]["id"] == "T2"


# ------------------------------------------------------------------------------------------------------
# failure analysis in the format of qtopo.failures.analyse_failures; the report command; end to end
# ------------------------------------------------------------------------------------------------------
def _analysis(plan: Plan) -> dict:
    """A failures.json as written by qtopo.failures (two components; with availability)."""
    dem = {f"{x['source']}->{x['target']}": x for x in plan.to_dict()["demands"]}

    def entry(cid, kind, label, kept):
        return {"component": cid, "kind": kind, "label": label, "failed_links": [], "unavailability": 1e-4,
                "demands": {k: {"kept_static_bps": kept.get(k, dm["delivered_bps"]),
                                "kept_reroute_bps": kept.get(k, dm["delivered_bps"]) if k != "A->C" else 50000.0,
                                "target_bps": dm["target_bps"],
                                "survives": kept.get(k, dm["target_bps"]) >= dm["target_bps"]}
                            for k, dm in dem.items()}}

    comps = [entry("n:T1", "node", "T1 (pop, trusted node)", {"A->B": 0.0, "A->C": 0.0, "B->C": 0.0}),
             entry("e:3", "fibre", "T1 - f2 (route r1, 25 km)", {"A->C": 0.0, "B->C": 0.0}),
             entry("e:9", "fibre", "A - f1 (route r2, 20 km)", {})]
    summary = {k: {"target_bps": dm["target_bps"], "planned_bps": dm["delivered_bps"], "single_failures": 3,
                   "survives": 1 if k == "A->B" else 2, "breaking": ["n:T1"], "endpoint_failures": [],
                   "worst_component": "n:T1", "worst_kept_static_bps": 0.0, "worst_kept_reroute_bps": 0.0,
                   "availability": 0.9998, "downtime_min_per_year": 105.2} for k, dm in dem.items()}
    return {"plan": "", "status": "feasible", "assumptions": ["single failures only"], "availability_model": {},
            "counts": {"node": 1, "fibre": 2, "corridor": 0}, "components": comps, "summary": summary,
            "warnings": ["an example warning"]}


def test_failures_json_beside_plan_and_report_command(tmp_path):
    from click.testing import CliRunner

    from qtopo.cli.report import report_command

    plan = make_plan(failures=False)
    plan.to_json(tmp_path / "plan.json")
    (tmp_path / "failures.json").write_text(json.dumps(_analysis(plan)))
    r = CliRunner().invoke(report_command, [str(tmp_path)])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "report.md").read_text()
    per = {x["Demand"]: x for x in md_table_with(md, "Single failures survived")}
    assert per["A->B"]["Single failures survived"] == "1 of 3" and per["A->C"]["Worst failure"] == "n:T1"
    assert per["A->C"]["Availability"] == "0.999800" and per["A->C"]["Downtime min/year"] == "105"
    comp = md_table_with(md, "Demands lost")
    assert [x["Component"] for x in comp] == ["n:T1", "e:3"]  # e:9 breaks nothing; worst first
    assert comp[1]["Demands lost"] == "2" and comp[1]["Target kept (reroute)"] == f"{100 * 70 / 130:.1f}%"
    assert "2 of 3 analysed; 1 break none" in md
    assert "Warning from the failure analysis: an example warning" in md
    assert "| single failures only |" in md
    # an explicit --failures file and --out folder
    out = tmp_path / "elsewhere"
    r = CliRunner().invoke(report_command, [str(tmp_path / "plan.json"), "--out", str(out), "--failures",
                                            str(tmp_path / "failures.json")])
    assert r.exit_code == 0, r.output
    assert "## Failure impact" in (out / "report.md").read_text()


def test_markdown_tables_are_well_formed(written):
    out, _, _ = written
    md = (out / "report.md").read_text()
    for block in re.findall(r"(?:^\|.*\|\n)+", md, re.M):
        lines = block.strip("\n").split("\n")
        widths = {len(re.split(r"(?<!\\)\|", x)) for x in lines}
        assert len(widths) == 1, lines[:3]


def test_end_to_end_surfnet(tmp_path):
    """`qtopo plan` on the bundled network writes the report and maps; the numbers match its plan.json."""
    import qtopo.planner as planner
    from conftest import SURFNET

    planner.plan(SURFNET, tmp_path / "out", overrides={"solver.time_limit_s": 30.0})
    out = tmp_path / "out"
    for name in ("plan.json", "report.md", "report.html", "map.png", "map.html"):
        assert (out / name).is_file(), name
    d = json.loads((out / "plan.json").read_text())
    md = (out / "report.md").read_text()
    assert close(num(md_kv(md)["Total cost (capex)"]), d["cost_eur"], 1)
    links = md_table_with(md, "Capacity bit/s")
    assert sorted(r["Link"] for r in links) == sorted(L["id"] for L in d["links"])
    html = (out / "map.html").read_text()
    assert not re.search(r"<script[^>]+src=", html) and '"Fibre routes"' in html


def test_brownfield_protection_max_rate_rollout(tmp_path):
    """Schema extensions: existing pairs and nodes, K=2 protected demands, max-rate objective, staged rollout."""
    d = make_plan(failures=False).to_dict()
    L = d["links"][3]  # H1-C: 1 of its 3 pairs exists already
    L["existing_pairs"] = 1
    L["cost_eur"] = 2 * (PAIR_COST["snspd"] + FIBRE_EUR_PER_KM * L["length_km"])
    for x in d["links"][:3]:
        x["existing_pairs"] = 0
    d["nodes"][2]["existing"] = True
    d["demands"][0].update(k_routes=2, protection="1+1", disjoint="node")
    d["objective"] = {"mode": "max_rate", "budget_eur": 2.5e6}
    d["objective_value"], d["best_bound"], d["gap"] = 150000.0, 160000.0, 0.0625
    d["rollout"] = {"status": "optimal", "first_year": 2027, "budgets_eur": [1.0e6, 1.5e6], "rule": "cumulative",
                    "stages": [{"year": 2027, "budget_eur": 1.0e6, "spend_eur": 9.0e5, "cumulative_spend_eur": 9.0e5,
                                "cumulative_budget_eur": 1.0e6, "nodes": ["A", "T1", "B"], "relays": ["R1"],
                                "links": ["A--T1:apd", "T1--B:mdi"], "demands_served": ["A->B"],
                                "served_bps": 20000.0},
                               {"year": 2028, "budget_eur": 1.5e6, "spend_eur": 1.0e6,
                                "cumulative_spend_eur": 1.9e6, "cumulative_budget_eur": 2.5e6, "nodes": ["H1", "C"],
                                "relays": [], "links": ["T1--H1:apd", "H1--C:snspd"],
                                "demands_served": ["A->B", "A->C", "B->C"], "served_bps": 130000.0}],
                    "unbuilt": [], "message": ""}
    write_report(d, tmp_path)
    md = (tmp_path / "report.md").read_text()
    kv = md_kv(md)
    assert kv["Objective"].startswith("maximise the weighted delivered key rate within a budget of 2,500,000 EUR")
    assert num(kv["Objective value"]) == 150000 and num(kv["Best bound"]) == 160000
    links = {r["Link"]: r for r in md_table_with(md, "Capacity bit/s")}
    assert links["H1--C:snspd"]["Existing pairs"] == "1" and links["A--T1:apd"]["Existing pairs"] == "0"
    assert close(num(links["H1--C:snspd"]["Cost EUR"]), L["cost_eur"], 1)
    dem = md_table_with(md, "Protection")
    assert dem[0]["Protection"] == "K=2 1+1, node-disjoint" and dem[1]["Protection"] == "none"
    assert md_table_with(md, "Existing")[2]["Existing"] == "yes"
    ro = md_table_with(md, "Cumulative spend EUR")
    assert [r["Year"] for r in ro] == ["2027", "2028"] and ro[1]["Demands served"] == "3 of 3"
    assert ro[0]["Relays built"] == "R1"
