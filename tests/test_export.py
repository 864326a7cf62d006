"""Exports for deployment (issue 16): ETSI GS QKD 015-shaped documents validated against the schema derived from
the YANG modules, key-relay tables that agree with verify, brownfield import round trip, GeoParquet/FlatGeobuf."""
from __future__ import annotations

import copy
import json
import math
import uuid
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import SURFNET
from qtopo.export import (etsi_topology, existing_links_from_etsi, relay_rows, relay_table, validate_node_document,
                          validate_topology, write_etsi)
from qtopo.contract import Plan
from qtopo.etsi import NODE_KEY, schema

NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:qtopo:etsi-export")  # the documented ID rule (docs/standards.md)
T = "etsi-qkd-node-types"


def N(x):
    return str(uuid.uuid5(NS, f"qkdn/{x}"))


def typed(p) -> Plan:
    """The typed plan (qtopo.contract) of whatever the planner returns or a plan folder."""
    if isinstance(p, Plan):
        return p
    if isinstance(p, (str, Path)):
        return Plan.from_json(p)
    return Plan.from_dict(p.data if hasattr(p, "data") else p)


def _nodes(topo):
    return {d[NODE_KEY]["qkdn_location_id"]: d[NODE_KEY] for d in topo["qtopo-plan:topology"]["qkd_nodes"]}


# ------------------------------------------------------------------------------------------------ hand-made plan
def two_hop_plan() -> dict:
    """A -- H -- B: one BB84 pair A-H, two CV pairs H-B (one installed), one demand A->B relayed at H."""
    node = lambda i, kind, sk, lon: {"id": i, "kind": kind, "site_kind": sk, "lon": lon, "lat": 52.0,  # noqa: E731
                                     "existing": False, "cost": 1.0}
    return {
        "status": "optimal", "termination": "optimal", "objective_cost": 10.0,
        "scenario": {"name": "two-hop", "path": None}, "objective": {"mode": "min_cost"},
        "solver": {"name": "hand-made", "version": "0"},
        # the scenario states the CV device's wavelength, not d1's (exported as unknown)
        "inputs": {"files": [], "scenario": {"devices": {"d1": {"preset": "apd-bb84"},
                                                         "cv": {"preset": "cv-jouguet-2013", "wavelength_nm": 1550}}}},
        "nodes": [node("A", "site", "datacenter", 5.0), node("H", "trusted", "hut", 6.0),
                  node("B", "site", "datacenter", 7.0)],
        "links": [
            {"id": "A--H:d1", "from": "A", "to": "H", "device": "d1", "protocol": "bb84-decoy", "device_pairs": 1,
             "existing_pairs": 0, "length_km": 50.0, "loss_db": 11.0, "rate_bps_per_pair": 2000.6,
             "capacity_bps": 2000.6, "load_bps": 1500.0, "cost": 5.0, "cost_per_pair_eur": 5.0, "fiber_path": ["A", "x1", "H"]},
            {"id": "H--B:cv", "from": "H", "to": "B", "device": "cv", "protocol": "cv-gg02", "device_pairs": 2,
             "existing_pairs": 1, "length_km": 20.0, "loss_db": 5.1234, "rate_bps_per_pair": 800.0,
             "capacity_bps": 1600.0, "load_bps": 1500.0, "cost": 2.0, "cost_per_pair_eur": 2.0, "fiber_path": ["H", "B"]},
        ],
        "demands": [{"source": "A", "target": "B", "source_node": "A", "target_node": "B", "target_bps": 1500.0,
                     "delivered_bps": 1500.0, "k_routes": 1, "routes": [{"nodes": ["A", "H", "B"], "rate_bps": 1500.0}]}],
    }


def test_two_hop_plan_exports_exactly_the_expected_document():
    P = lambda link, k: str(uuid.uuid5(NS, f"qkdl/phys/{link}/{k}"))  # noqa: E731
    V = str(uuid.uuid5(NS, "qkdl/virt/A/B/0"))

    WL = {"d1": None, "cv": 1550}

    def iface(i, model, tech, role, link, pair, protocol, existing):
        caps = {"role_support": f"{T}:{role}", **({"wavelength_range": "1550"} if WL[model] else {})}
        return {"qkdi_id": i, "qkdi_model": model, "qkdi_type": f"{T}:{tech}",
                "qkdi_capabilities": caps,
                "qtopo-plan:interface": {"link": link, "pair": pair, "device": model, "protocol": protocol,
                                         "wavelength_nm": WL[model], "existing": existing}}

    ah_ext = {"link": "A--H:d1", "pair": 0, "device": "d1", "protocol": "bb84-decoy", "length_km": 50.0,
              "loss_db": 11.0, "wavelength_nm": None, "fibre_path": ["A", "x1", "H"], "existing": False}
    hb_ext = lambda k: {"link": "H--B:cv", "pair": k, "device": "cv", "protocol": "cv-gg02",  # noqa: E731
                        "length_km": 20.0, "loss_db": 5.1234, "wavelength_nm": 1550, "fibre_path": ["H", "B"],
                        "existing": k < 1}

    def phys(lid, here, hi, there, ti, att, role, cons, skr, ext):
        wl = {"phys_wavelength": str(ext["wavelength_nm"])} if ext["wavelength_nm"] else {}
        return {"qkdl_id": lid, "qkdl_local": {"qkdn_id": N(here), "qkdi_id": hi},
                "qkdl_remote": {"qkdn_id": N(there), "qkdi_id": ti}, "qkdl_type": f"{T}:PHYS", **wl,
                "phys_channel_att": att, "phys_qkd_role": f"{T}:{role}",
                "qkdl_performance": {"expected_consumption": cons, "skr": skr}, "qtopo-plan:link": ext}

    relay = lambda pos: {"demand": "A->B", "route": 0, "hops": ["A", "H", "B"], "position": pos,  # noqa: E731
                         "rate_bps": 1500.0}
    expected_nodes = [
        {NODE_KEY: {
            "qkdn_id": N("A"), "qkdn_location_id": "A", "qkdn_capabilities": {"key_relay_mode_enable": False},
            "qkd_interfaces": {"qkd_interface": [iface(1, "d1", "DV-QKD", "TRANSMITTER", "A--H:d1", 0, "bb84-decoy",
                                                       False)]},
            "qkd_links": {"qkd_link": [
                phys(P("A--H:d1", 0), "A", 1, "H", 1, "11.000", "TRANSMITTER", 1500, 2000, ah_ext),
                {"qkdl_id": V, "qkdl_local": {"qkdn_id": N("A")}, "qkdl_remote": {"qkdn_id": N("B")},
                 "qkdl_type": f"{T}:VIRT", "virt_next_hop": [N("H")], "virt_bandwidth": 1500,
                 "qtopo-plan:key_relay": relay(0)}]},
            "qtopo-plan:node": {"id": "A", "roles": ["endpoint"], "site_kind": "datacenter", "lon": 5.0, "lat": 52.0,
                                "existing": False}}},
        {NODE_KEY: {
            "qkdn_id": N("B"), "qkdn_location_id": "B", "qkdn_capabilities": {"key_relay_mode_enable": False},
            "qkd_interfaces": {"qkd_interface": [
                iface(1, "cv", "CV-QKD", "RECEIVER", "H--B:cv", 0, "cv-gg02", True),
                iface(2, "cv", "CV-QKD", "RECEIVER", "H--B:cv", 1, "cv-gg02", False)]},
            "qkd_links": {"qkd_link": [
                phys(P("H--B:cv", 0), "B", 1, "H", 2, "5.123", "RECEIVER", 750, 800, hb_ext(0)),
                phys(P("H--B:cv", 1), "B", 2, "H", 3, "5.123", "RECEIVER", 750, 800, hb_ext(1)),
                {"qkdl_id": V, "qkdl_local": {"qkdn_id": N("B")}, "qkdl_remote": {"qkdn_id": N("A")},
                 "qkdl_type": f"{T}:VIRT", "virt_prev_hop": N("H"), "virt_bandwidth": 1500,
                 "qtopo-plan:key_relay": relay(2)}]},
            "qtopo-plan:node": {"id": "B", "roles": ["endpoint"], "site_kind": "datacenter", "lon": 7.0, "lat": 52.0,
                                "existing": False}}},
        {NODE_KEY: {
            "qkdn_id": N("H"), "qkdn_location_id": "H", "qkdn_capabilities": {"key_relay_mode_enable": True},
            "qkd_interfaces": {"qkd_interface": [
                iface(1, "d1", "DV-QKD", "RECEIVER", "A--H:d1", 0, "bb84-decoy", False),
                iface(2, "cv", "CV-QKD", "TRANSMITTER", "H--B:cv", 0, "cv-gg02", True),
                iface(3, "cv", "CV-QKD", "TRANSMITTER", "H--B:cv", 1, "cv-gg02", False)]},
            "qkd_links": {"qkd_link": [
                phys(P("A--H:d1", 0), "H", 1, "A", 1, "11.000", "RECEIVER", 1500, 2000, ah_ext),
                phys(P("H--B:cv", 0), "H", 2, "B", 1, "5.123", "TRANSMITTER", 750, 800, hb_ext(0)),
                phys(P("H--B:cv", 1), "H", 3, "B", 2, "5.123", "TRANSMITTER", 750, 800, hb_ext(1)),
                {"qkdl_id": V, "qkdl_local": {"qkdn_id": N("A")}, "qkdl_remote": {"qkdn_id": N("B")},
                 "qkdl_type": f"{T}:VIRT", "virt_prev_hop": N("A"), "virt_next_hop": [N("B")],
                 "virt_bandwidth": 1500, "qtopo-plan:key_relay": relay(1)}]},
            "qtopo-plan:node": {"id": "H", "roles": ["trusted-node"], "site_kind": "hut", "lon": 6.0, "lat": 52.0,
                                "existing": False}}},
    ]
    topo = etsi_topology(two_hop_plan())
    body = topo["qtopo-plan:topology"]
    assert body["qkd_nodes"] == expected_nodes
    assert body["format"] == "qtopo-etsi-topology/1" and body["scenario"] == "two-hop"
    assert body["device_wavelength_nm"] == {"cv": 1550, "d1": None}
    assert validate_topology(topo) == []


def test_schema_rejects_what_the_yang_module_forbids():
    topo = etsi_topology(two_hop_plan())
    good = topo["qtopo-plan:topology"]["qkd_nodes"][2]
    assert validate_node_document(good) == []

    def broken(edit):
        d = copy.deepcopy(good)
        edit(d[NODE_KEY])
        return validate_node_document(d)

    # a misspelled member (not in the YANG module, not in the qtopo-plan augment namespace)
    assert any("qkdl_bandwidth" in p for p in broken(lambda b: b["qkd_links"]["qkd_link"][3].update(qkdl_bandwidth=1)))
    # an identity that is not derived from QKD-LINK-TYPES
    assert broken(lambda b: b["qkd_links"]["qkd_link"][0].update(qkdl_type=f"{T}:DV-QKD"))
    # unqualified identityref (RFC 7951 6.8 requires the module name here)
    assert broken(lambda b: b["qkd_links"]["qkd_link"][0].update(qkdl_type="PHYS"))
    # when "qkdl_type = 'PHYS'": a virtual link has no channel attenuation
    assert broken(lambda b: b["qkd_links"]["qkd_link"][3].update(phys_channel_att="1.0"))
    # decimal64 with 3 fraction digits is a string in RFC 7951
    assert broken(lambda b: b["qkd_links"]["qkd_link"][0].update(phys_channel_att=11.0))
    assert broken(lambda b: b["qkd_links"]["qkd_link"][0].update(phys_channel_att="11.0001"))
    # uint32 range, uuid pattern, mandatory qkdn_id, unique list keys, interface references
    assert broken(lambda b: b["qkd_links"]["qkd_link"][0]["qkdl_performance"].update(skr=2**32))
    assert broken(lambda b: b.update(qkdn_id="H"))
    assert broken(lambda b: b.pop("qkdn_id"))
    assert any("duplicate list key" in p for p in broken(
        lambda b: b["qkd_interfaces"]["qkd_interface"][1].update(qkdi_id=1)))
    assert any("not an interface" in p for p in broken(
        lambda b: b["qkd_links"]["qkd_link"][0]["qkdl_local"].update(qkdi_id=9)))


def test_bundled_schema_names_its_provenance():
    prov = schema()["x-provenance"]
    assert prov["module"] == "etsi-qkd-sdn-node" and prov["module_revision"] == "2022-01-30"
    assert "GS QKD 015 V2.1.1" in prov["specification"]
    assert len(prov["source_commit"]) == 40 and prov["source_repository"]
    for f in ("etsi-qkd-sdn-node.yang", "etsi-qkd-node-types.yang"):
        assert len(prov["yang_files"][f]["sha256"]) == 64


def _derive_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("derive", Path(__file__).parents[1] / "tools" / "derive_etsi_schema.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bundled_schema_is_what_the_script_derives_from_the_named_yang_files():
    """Reproducibility: with the YANG files at hand (QTOPO_ETSI_YANG_DIR), the script gives the bundled schema."""
    import hashlib
    import os

    pytest.importorskip("pyang")
    d = os.environ.get("QTOPO_ETSI_YANG_DIR")
    if not d:
        pytest.skip("set QTOPO_ETSI_YANG_DIR to a folder with the two YANG files named in x-provenance")
    prov = schema()["x-provenance"]
    for f, meta in prov["yang_files"].items():
        assert hashlib.sha256((Path(d) / f).read_bytes()).hexdigest() == meta["sha256"], f
    again = _derive_module().derive(Path(d), prov["source_repository"], prov["source_commit"], prov["augment_prefix"])
    again["x-provenance"]["derived_with"] = prov["derived_with"]
    assert again == schema()


def test_derivation_script_maps_yang_to_json_schema(tmp_path):
    """tools/derive_etsi_schema.py on a small module of our own in the shape of the ETSI ones."""
    pytest.importorskip("pyang")
    mod = _derive_module()
    (tmp_path / "etsi-qkd-node-types.yang").write_text("""module etsi-qkd-node-types {
  yang-version 1; namespace "urn:t:types"; prefix t; revision 2022-01-30 { description "r"; }
  identity LT; identity VIRT { base LT; } identity PHYS { base LT; }
  typedef lt { type identityref { base LT; } }
}""")
    (tmp_path / "etsi-qkd-sdn-node.yang").write_text("""module etsi-qkd-sdn-node {
  yang-version 1; namespace "urn:t:node"; prefix n; import etsi-qkd-node-types { prefix t; }
  revision 2022-01-30 { description "r"; reference "TEST SPEC"; }
  grouping phys { leaf att { type decimal64 { fraction-digits 2; } } }
  container qkd_node {
    leaf id { type string { pattern "[a-z]+"; } mandatory true; }
    list link { key "lid"; leaf lid { type uint32; } leaf kind { type t:lt; }
      uses phys { when "kind = 'PHYS'"; } leaf-list next { type string; } }
  }
}""")
    s = mod.derive(tmp_path, "o/r", "0" * 40, "ext")
    node = s["properties"]["etsi-qkd-sdn-node:qkd_node"]
    assert node["required"] == ["id"] and node["properties"]["id"]["pattern"] == "^(?:[a-z]+)$"
    link = node["properties"]["link"]
    assert link["x-yang-key"] == ["lid"] and link["items"]["required"] == ["lid"]
    p = link["items"]["properties"]
    assert p["lid"] == {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
    assert p["kind"]["enum"] == ["etsi-qkd-node-types:PHYS", "etsi-qkd-node-types:VIRT"]
    assert p["att"]["type"] == "string" and p["next"]["type"] == "array"
    import jsonschema

    v = jsonschema.Draft202012Validator(s)
    ok = {"etsi-qkd-sdn-node:qkd_node": {"id": "a", "link": [{"lid": 1, "kind": "etsi-qkd-node-types:PHYS",
                                                               "att": "1.25", "ext:x": 1}]}}
    assert not list(v.iter_errors(ok))
    bad = copy.deepcopy(ok)
    bad["etsi-qkd-sdn-node:qkd_node"]["link"][0]["kind"] = "etsi-qkd-node-types:VIRT"  # att only when PHYS
    assert list(v.iter_errors(bad))
    assert s["x-provenance"]["specification"] == "TEST SPEC"


# ------------------------------------------------------------------------------------------------ bundled plans
def _check_export_against_plan(plan_dir: Path, tmp_path: Path):
    plan = Plan.from_json(plan_dir)
    topo = write_etsi(plan_dir, tmp_path / "etsi")
    assert validate_topology(json.loads((tmp_path / "etsi" / "topology.json").read_text())) == []
    files = sorted((tmp_path / "etsi" / "nodes").glob("*.json"))
    for f in files:
        assert validate_node_document(json.loads(f.read_text())) == [], f
    nodes = _nodes(topo)
    assert len(files) == len(nodes) == len({n.id for n in plan.nodes})
    by_id = {}
    for b in nodes.values():
        for L in b.get("qkd_links", {}).get("qkd_link", []):
            by_id.setdefault(L["qkdl_id"], []).append((b["qkdn_location_id"], L))
    phys = {k: v for k, v in by_id.items() if v[0][1]["qkdl_type"].endswith("PHYS")}
    assert len(phys) == sum(L.device_pairs for L in plan.links)
    for lid, ends in phys.items():  # every device pair at both of its ends, with the plan's loss and rate
        assert len(ends) == 2
        ext = ends[0][1]["qtopo-plan:link"]
        L = next(x for x in plan.links if x.id == ext["link"])
        assert {e[0] for e in ends} == {L.from_node, L.to_node}
        for _, e in ends:
            assert float(e["phys_channel_att"]) == pytest.approx(L.loss_db, abs=5e-4)
            assert e["qkdl_performance"]["skr"] == math.floor(L.rate_bps_per_pair)
    virt = {k: v for k, v in by_id.items() if v[0][1]["qkdl_type"].endswith("VIRT")}
    routes = [(d, r) for d in plan.demands for r in d.routes]
    assert len(virt) == len(routes)
    for lid, at in virt.items():
        kr = at[0][1]["qtopo-plan:key_relay"]
        assert [a for a, _ in sorted(at, key=lambda x: x[1]["qtopo-plan:key_relay"]["position"])] == kr["hops"]
        for pos, (here, e) in enumerate(sorted(at, key=lambda x: x[1]["qtopo-plan:key_relay"]["position"])):
            if pos:
                assert e["virt_prev_hop"] == nodes[kr["hops"][pos - 1]]["qkdn_id"]
            if pos < len(kr["hops"]) - 1:
                assert e["virt_next_hop"] == [nodes[kr["hops"][pos + 1]]["qkdn_id"]]
            assert e["virt_bandwidth"] == math.ceil(kr["rate_bps"] - 1e-9)
    return topo


def test_bundled_plan_exports_and_validates(surfnet_plan_dir, tmp_path):
    _check_export_against_plan(surfnet_plan_dir, tmp_path)


def test_k2_plan_exports_and_validates(surfnet_k2_plan_dir, tmp_path):
    topo = _check_export_against_plan(surfnet_k2_plan_dir, tmp_path)
    relays = [L["qtopo-plan:key_relay"] for b in _nodes(topo).values()
              for L in b.get("qkd_links", {}).get("qkd_link", []) if "qtopo-plan:key_relay" in L]
    assert {r["route"] for r in relays} == {0, 1}  # two key-relay routes per protected demand


@pytest.mark.parametrize("fixture", ["surfnet_plan_dir", "surfnet_k2_plan_dir"])
def test_relay_table_agrees_with_verify(fixture, request):
    from qtopo.verify import _check_disjoint, verify

    plan_dir = request.getfixturevalue(fixture)
    plan = Plan.from_json(plan_dir)
    from qtopo.plan import Plan as StoredPlan

    assert verify(StoredPlan.from_json(plan_dir)).ok  # the routes below are the ones verify accepts
    table = relay_table(plan_dir)
    given = {(d.source, d.target): d for d in plan.demands}
    links = {tuple(sorted((L.from_node, L.to_node))): L for L in plan.links}
    reserved: dict = {}
    for e in table["demands"]:
        d = given[(e["source"], e["target"])]
        assert [r["nodes"] for r in e["routes"]] == [r.nodes for r in d.routes]
        assert e["key_holding_nodes"] == sorted(d.trusted_nodes)
        for r, rd in zip(e["routes"], d.routes):
            assert [(h["from"], h["to"]) for h in r["hops"]] == list(zip(rd.nodes[:-1], rd.nodes[1:]))
            for h in r["hops"]:
                key = tuple(sorted((h["from"], h["to"])))
                # shown without solver noise (9999.999999999955 -> 10000.0)
                assert h["reserved_bps"] == pytest.approx(rd.rate_bps, rel=1e-9) and links[key].id in h["links"]
                reserved[key] = reserved.get(key, 0.0) + h["reserved_bps"]
        if len(d.routes) > 1:  # disjointness as verify judges it from the fibre paths
            fp = {k: L.fibre_path for k, L in links.items()}
            rts = d.routes
            nodes_clash = _check_disjoint("d", rts, "node", fp, {}, [], d.source_node, d.target_node)
            assert e["disjointness"]["node_disjoint"] == (not nodes_clash)
            if d.disjoint == "node":  # required, and verify accepted the plan
                assert e["disjointness"]["node_disjoint"]
    for key, x in reserved.items():  # reservations fit the planned capacity (what verify checks as load)
        assert x <= links[key].capacity_bps * (1 + 1e-9)
    rows = relay_rows(table)
    assert len(rows) == sum(len(r.nodes) - 1 for d in plan.demands for r in d.routes)
    if fixture == "surfnet_k2_plan_dir":
        assert sum("disjointness" in e for e in table["demands"]) == 3  # the three 1+1 demands


def test_round_trip_export_import_plan_again_builds_nothing(surfnet_plan_dir, tmp_path):
    """Export the bundled plan, read it back as the installed network, plan again: no new capex."""
    from qtopo.planner import plan as run_plan

    first = Plan.from_json(surfnet_plan_dir)
    write_etsi(surfnet_plan_dir, tmp_path / "etsi")
    ex = existing_links_from_etsi(tmp_path / "etsi" / "topology.json", devices=["apd", "snspd"])
    assert int(ex["pairs"].sum()) == sum(L.device_pairs for L in first.links)
    again = run_plan(SURFNET, overrides={"inputs.existing_links": str(tmp_path / "etsi" / "topology.json"),
                                         "solver.threads": 1}, write_outputs=False)
    assert again.has_plan  # plan() verified it independently (it raises otherwise)
    again = typed(again)
    assert again.cost_breakdown.total_eur == pytest.approx(0.0, abs=1e-6)
    assert again.cost_eur == pytest.approx(0.0, abs=1e-3)
    assert again.cost_breakdown.sunk_brownfield_eur == pytest.approx(first.cost_eur, rel=1e-9)
    # the folder of node documents reads the same as topology.json
    ex2 = existing_links_from_etsi(tmp_path / "etsi" / "nodes", devices=["apd", "snspd"])
    pd.testing.assert_frame_equal(ex, ex2)


def _round_trip(scenario, tmp_path, overrides=None):
    """Plan ``scenario``, export it, plan it again with the export as installed network: (first, again)."""
    from qtopo.planner import plan as run_plan

    ov = {"solver.threads": 1, **(overrides or {})}
    first = typed(run_plan(scenario, overrides=ov, write_outputs=False))
    assert first.has_plan
    write_etsi(first, tmp_path / "etsi")
    again = run_plan(scenario, overrides={**ov, "inputs.existing_links": str(tmp_path / "etsi" / "topology.json")},
                     write_outputs=False)
    assert again.has_plan  # verified independently by plan() (it raises otherwise)
    return first, typed(again)


def test_round_trip_counts_untrusted_relays_as_built(tmp_path):
    """260 km MDI corridor (tests/test_optimizer_features.py): the relay station M of the installed MDI pair is
    not bought again; its capex is reported as sunk."""
    from test_optimizer_features import PAIR, SITE, network

    nodes = {"A": (5.0, 52.0), "M": (6.0, 52.0), "C": (7.0, 52.0)}
    extra = f'[devices.mdi]\npreset = "mdi-snspd"\npair_cost_eur = {PAIR}\nmax_pairs_per_link = 4\n'
    scen = network(tmp_path / "s", nodes, [("A", "M", 130.0), ("M", "C", 130.0)], [("A", "C", 10.0)],
                   extra_site_cols={"capex_eur": {"M": 1_000_000.0, "A": SITE, "C": SITE}}, extra_devices=extra)
    first, again = _round_trip(scen, tmp_path)
    assert [L.relay for L in first.links] == ["M"] and first.cost_breakdown.relays_eur == pytest.approx(20_000.0)
    assert again.cost_eur == pytest.approx(0.0, abs=1e-3)
    assert again.cost_breakdown.relays_eur == pytest.approx(0.0, abs=1e-6)
    assert again.cost_breakdown.sunk_brownfield_eur == pytest.approx(first.cost_eur, rel=1e-9)
    (relay,) = [n for n in again.nodes if n.kind == "relay"]
    assert relay.id == "M" and relay.existing and relay.cost_eur == 0.0
    assert [(L.relay, L.existing_pairs) for L in again.links] == [("M", first.links[0].device_pairs)]


def test_round_trip_counts_repeater_stations_as_built(corridor_factory, tmp_path):
    """300 km corridor with a repeater chain (two repeaters; tests/test_optimizer_features.py): exported, read
    back and planned again, nothing is bought, repeaters included."""
    path = corridor_factory(length_km=300.0, hut_spacing_km=50.0, target_bps=10.0, pair_cost=100_000.0,
                            hut_cost=300_000.0, site_cost=50_000.0, fibre_eur_per_km=100.0)
    rep = {"repeaters.enabled": True, "repeaters.l_max_km": 100.0, "repeaters.n_max": 4,
           "repeaters.rate_bps": 100.0, "repeaters.repeater_node_eur": 50_000.0,
           "repeaters.chain_cost_eur": 100_000.0}
    first, again = _round_trip(path, tmp_path, rep)
    assert [L.protocol for L in first.links] == ["repeater-chain"] and len(first.links[0].repeaters) == 2
    assert first.cost_breakdown.repeaters_eur == pytest.approx(100_000.0)
    assert again.cost_eur == pytest.approx(0.0, abs=1e-3)
    assert again.cost_breakdown.repeaters_eur == pytest.approx(0.0, abs=1e-6)
    assert again.cost_breakdown.sunk_brownfield_eur == pytest.approx(first.cost_eur, rel=1e-9)
    assert sorted(n.id for n in again.nodes if n.kind == "repeater") == sorted(first.links[0].repeaters)
    assert all(n.existing and n.cost_eur == 0.0 for n in again.nodes if n.kind == "repeater")


def test_import_reports_every_problem(tmp_path):
    from qtopo.errors import InputError

    topo = etsi_topology(two_hop_plan())
    nodes = topo["qtopo-plan:topology"]["qkd_nodes"]
    p = tmp_path / "t.json"
    p.write_text(json.dumps(topo))
    with pytest.raises(InputError) as e:
        existing_links_from_etsi(p, devices=["d1"])
    msg = e.value.format()
    assert "'cv'" in msg and "not a device of the scenario" in msg
    nodes[0][NODE_KEY]["qkd_links"]["qkd_link"][0]["qkdl_type"] = "PHYS"
    nodes[1][NODE_KEY]["qkdn_id"] = "B"
    p.write_text(json.dumps(topo))
    with pytest.raises(InputError) as e:
        existing_links_from_etsi(p)
    msg = e.value.format()
    assert "qkd_nodes[0]" in msg and "qkd_nodes[1]" in msg  # both problems at once
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        existing_links_from_etsi(p)


def test_cli_exports(surfnet_plan_dir, tmp_path):
    from qtopo.cli import main

    r = CliRunner().invoke(main, ["export", "etsi", str(surfnet_plan_dir), "--out", str(tmp_path / "e")])
    assert r.exit_code == 0, r.output
    assert "validated" in r.output and (tmp_path / "e" / "topology.json").is_file()
    r = CliRunner().invoke(main, ["export", "relay-table", str(surfnet_plan_dir), "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    csv = pd.read_csv(tmp_path / "r" / "relay_table.csv")
    assert list(csv.columns)[:3] == ["demand", "source", "target"] and len(csv)
    assert json.loads((tmp_path / "r" / "relay_table.json").read_text())["format"] == "qtopo-relay-table/1"
    r = CliRunner().invoke(main, ["export", "relay-table", str(surfnet_plan_dir), "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.output)["demands"]
    r = CliRunner().invoke(main, ["export", "etsi", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 4 and "does not exist" in r.output and not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------------------------ GIS formats
@pytest.mark.parametrize("fmt", ["parquet", "fgb"])
def test_inputs_read_from_geoparquet_and_flatgeobuf(fmt, tmp_path):
    from qtopo.io import read_routes, read_sites, write_vector

    d = SURFNET.parent
    for what, reader in (("sites", read_sites), ("routes", read_routes)):
        ref = reader(d / f"{what}.gpkg")
        write_vector(gpd.read_file(d / f"{what}.gpkg"), tmp_path / f"{what}.{fmt}")
        got = reader(tmp_path / f"{what}.{fmt}")
        # FlatGeobuf's spatial index (written by default) orders features along a Hilbert curve
        ref, got = (g.sort_values("id").reset_index(drop=True) for g in (ref, got))
        assert list(got["id"]) == list(ref["id"])
        assert got.crs == ref.crs
        assert got.geometry.geom_equals_exact(ref.geometry, tolerance=1e-9).all()


@pytest.mark.parametrize("fmt", ["parquet", "fgb"])
def test_plan_from_geoparquet_and_flatgeobuf_inputs_matches_gpkg(fmt, corridor_factory):
    from qtopo.io import write_vector
    from qtopo.planner import plan as run_plan

    toml = corridor_factory()
    ref = run_plan(toml, write_outputs=False)
    for what in ("sites", "routes"):
        write_vector(gpd.read_file(toml.parent / f"{what}.gpkg"), toml.parent / f"{what}.{fmt}")
    got = run_plan(toml, write_outputs=False, overrides={"inputs.sites": f"sites.{fmt}",
                                                         "inputs.routes": f"routes.{fmt}"})
    assert got.status == ref.status == "optimal"
    assert got.cost_eur == pytest.approx(ref.cost_eur, rel=1e-9)


def test_geoparquet_without_crs_is_a_clear_error(tmp_path):
    from qtopo.errors import InputError
    from qtopo.io import read_sites

    g = gpd.read_file(SURFNET.parent / "sites.gpkg").set_crs(None, allow_override=True)
    g.to_parquet(tmp_path / "s.parquet")
    with pytest.raises(InputError, match="no CRS"):
        read_sites(tmp_path / "s.parquet")
    (tmp_path / "t.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(InputError, match="GeoParquet"):
        read_sites(tmp_path / "t.parquet")


@pytest.mark.parametrize("fmt", ["parquet", "fgb", "gpkg"])
def test_plan_layers_written_and_read_back(fmt, surfnet_plan_dir, tmp_path):
    from qtopo.cli import main

    r = CliRunner().invoke(main, ["export", "layers", str(surfnet_plan_dir), "--out", str(tmp_path / "l"),
                                  "--format", fmt])
    assert r.exit_code == 0, r.output
    plan = Plan.from_json(surfnet_plan_dir)
    read = gpd.read_parquet if fmt == "parquet" else gpd.read_file
    links = read(tmp_path / "l" / f"links.{fmt}")
    assert sorted(links["id"]) == sorted(L.id for L in plan.links)
    routes = read(tmp_path / "l" / f"demand_routes.{fmt}")
    assert len(routes) == sum(len(d.routes) for d in plan.demands)
    assert {"sites", "fibre", "nodes"} <= {p.stem for p in (tmp_path / "l").iterdir() if p.suffix == f".{fmt}"}
    assert links.crs.to_epsg() == 4326


def test_untrusted_relay_is_a_node_without_key_and_both_ends_transmit():
    """MDI-QKD: the relay measures and holds no key; it is no SD-QKD key-association end (GS QKD 015)."""
    d = two_hop_plan()
    d["nodes"] = [d["nodes"][0], d["nodes"][2], {**d["nodes"][1], "id": "R", "kind": "relay"}]
    L = {**d["links"][0], "id": "A--B:mdi", "to": "B", "device": "mdi", "protocol": "mdi-qkd", "relay": "R",
         "fiber_path": ["A", "R", "B"], "load_bps": 1500.0}
    d["links"] = [L]
    d["demands"][0]["routes"] = [{"nodes": ["A", "B"], "rate_bps": 1500.0}]
    topo = etsi_topology(d)
    assert validate_topology(topo) == []
    n = _nodes(topo)
    assert n["R"]["qtopo-plan:node"]["roles"] == ["untrusted-relay"]
    assert "qkd_links" not in n["R"] and "qkd_interfaces" not in n["R"] and "qkdn_capabilities" not in n["R"]
    for end in ("A", "B"):
        (phys,) = [x for x in n[end]["qkd_links"]["qkd_link"] if x["qkdl_type"] == f"{T}:PHYS"]
        assert phys["phys_qkd_role"] == f"{T}:TRANSMITTER" and phys["qtopo-plan:link"]["untrusted_relay"] == "R"
        assert n[end]["qkd_interfaces"]["qkd_interface"][0]["qkdi_type"] == f"{T}:DV-QKD"
    # the relay is not a key-relay hop: the route's virtual link goes A -> B directly
    virt = [x for x in n["A"]["qkd_links"]["qkd_link"] if x["qkdl_type"] == f"{T}:VIRT"]
    assert virt[0]["virt_next_hop"] == [N("B")]


def test_plan_without_network_is_not_exported(tmp_path):
    from qtopo.errors import InputError

    d = two_hop_plan()
    d.update(status="infeasible", nodes=[], links=[], demands=[], objective_cost=None)
    with pytest.raises(InputError, match="no network to export"):
        etsi_topology(d)
    with pytest.raises(InputError, match="no network to export"):
        relay_table(d)


@pytest.mark.parametrize("fmt", ["parquet", "fgb"])
def test_import_writes_geoparquet_or_flatgeobuf_scenario_that_validates(fmt, tmp_path):
    from qtopo.cli import main

    fix = Path(__file__).parent / "data" / "importers"
    out = tmp_path / "proj"
    r = CliRunner().invoke(main, ["import", "csv", str(fix / "csv_nodes.csv"), str(fix / "csv_links.csv"),
                                  "--out", str(out), "--datacenters", "ams,utr", "--vector-format", fmt])
    assert r.exit_code == 0, r.output
    assert (out / f"sites.{fmt}").is_file() and (out / f"routes.{fmt}").is_file()
    assert f'sites = "sites.{fmt}"' in (out / "scenario.toml").read_text()
    r = CliRunner().invoke(main, ["validate", str(out / "scenario.toml")])
    assert r.exit_code == 0, r.output
    assert "4 sites" in r.output


def _strip_ext(o):
    """The document without any qtopo-plan member: what another tool that knows only GS QKD 015 would write."""
    if isinstance(o, dict):
        return {k: _strip_ext(v) for k, v in o.items() if not k.startswith("qtopo-plan:")}
    if isinstance(o, list):
        return [_strip_ext(v) for v in o]
    return o


def test_import_needs_only_the_etsi_members(surfnet_plan_dir, tmp_path):
    """Node documents with no qtopo-plan member (a folder of plain etsi-qkd-sdn-node files) give the same
    installed pairs; the export is byte-for-byte deterministic."""
    write_etsi(surfnet_plan_dir, tmp_path / "a")
    write_etsi(surfnet_plan_dir, tmp_path / "b")
    for f in sorted((tmp_path / "a").rglob("*.json")):
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in (tmp_path / "a" / "nodes").glob("*.json"):
        doc = _strip_ext(json.loads(f.read_text()))
        assert validate_node_document(doc) == []
        (plain / f.name).write_text(json.dumps(doc))
    pd.testing.assert_frame_equal(existing_links_from_etsi(plain),
                                  existing_links_from_etsi(tmp_path / "a" / "topology.json"))


def test_rates_become_uint32_without_solver_noise():
    from qtopo.etsi import uint32

    assert uint32(10000.000000000018, up=True) == 10000 and uint32(1e6 * (1 + 1e-12), up=True) == 1_000_000
    assert uint32(2_500_000.4, up=True) == 2_500_001 and uint32(2_500_000.6) == 2_500_000
    assert uint32(1999.9999999999998) == 2000 and uint32(-1e-12) == 0 and uint32(1e12) == 2**32 - 1


def test_device_wavelength_is_validated_and_exported(surfnet_plan_dir, tmp_path):
    """`[devices.X] wavelength_nm` (vendor data) reaches phys_wavelength / wavelength_range; absent, it is null."""
    from qtopo.errors import InputError
    from qtopo.scenario import load_scenario

    with pytest.raises(InputError, match="wavelength_nm' = 100 is below its minimum 400"):
        load_scenario(SURFNET, overrides={"devices.apd.wavelength_nm": 100})
    assert load_scenario(SURFNET, overrides={"devices.apd.wavelength_nm": 1550}).devices  # accepted
    d = json.loads((surfnet_plan_dir / "plan.json").read_text())
    topo = etsi_topology(d)
    assert set(topo["qtopo-plan:topology"]["device_wavelength_nm"].values()) == {None}
    assert not any("phys_wavelength" in L for b in _nodes(topo).values() for L in b["qkd_links"]["qkd_link"])
    d["inputs"]["scenario"]["devices"]["apd"]["wavelength_nm"] = 1550
    topo = etsi_topology(d)
    assert validate_topology(topo) == []
    phys = [L for b in _nodes(topo).values() for L in b["qkd_links"]["qkd_link"] if L["qkdl_type"].endswith("PHYS")]
    assert phys and all(L.get("phys_wavelength") == ("1550" if L["qtopo-plan:link"]["device"] == "apd" else None)
                        for L in phys)
    assert all(L["qtopo-plan:link"]["wavelength_nm"] == (1550 if L["qtopo-plan:link"]["device"] == "apd" else None)
               for L in phys)
