"""One network loader and one brownfield reader: every consumer sees the same network and the same links."""
from __future__ import annotations

import numpy as np
import pytest

import qtopo
import qtopo.topology
from conftest import corridor
from qtopo.errors import InputError
from qtopo.io import read_existing_links


def _same_network(a, b) -> None:
    assert list(a.nodes.index) == list(b.nodes.index)
    assert a.site_node == b.site_node
    for c in ("u", "v"):
        assert list(a.edges[c]) == list(b.edges[c])
    np.testing.assert_array_equal(a.edges["length_km"].to_numpy(), b.edges["length_km"].to_numpy())


@pytest.fixture
def scen(tmp_path):
    return qtopo.load_scenario(corridor(tmp_path / "c", length_km=200.0, hut_spacing_km=40.0))


def test_planner_verify_failures_and_repeaters_use_the_one_loader(scen, monkeypatch):
    """Each consumer builds its network through qtopo.topology.read_network, and gets the same network."""
    from qtopo.cli.repeaters import _graph_from_scenario
    from qtopo.failures import _network_for

    import qtopo.planner

    ref, demands = qtopo.read_network(scen)
    calls = []
    real = qtopo.topology.read_network
    assert qtopo.read_network is real and qtopo.planner.read_network is real

    def spy(s):
        calls.append(s)
        return real(s)

    monkeypatch.setattr(qtopo.topology, "read_network", spy)
    monkeypatch.setattr(qtopo.planner, "read_network", spy)
    _same_network(_network_for(scen), ref)
    G, ends = _graph_from_scenario(scen.path)
    assert set(G.nodes) == set(ref.nodes.index)
    assert ends == sorted({ref.site_node["A"], ref.site_node["B"]})
    p = qtopo.plan(scen, write_outputs=False)
    assert p.has_plan
    n_planner = len(calls)
    assert n_planner == 3  # failures, repeaters, planner
    rep = qtopo.verify(p, scen)  # no network given: verify loads it the same way
    assert len(calls) == n_planner + 1
    assert rep.ok, str(rep)


def test_read_existing_links_reports_every_row(tmp_path):
    f = tmp_path / "existing.csv"
    f.write_text("from,to,device,pairs\nA,B,d1,2\n,B,d1,1\nA,B,d1,1.5\nA,B,,0\n")
    with pytest.raises(InputError) as e:
        read_existing_links(f)
    text = e.value.format()
    assert "line 3" in text and "missing from" in text
    assert "line 4" in text and "1.5" in text
    assert "line 5" in text and "missing device" in text and "pairs 0 must" in text
    assert "line 2" not in text
    f.write_text("from, to ,device,pairs\n A ,B,d1,2\n")
    ex = read_existing_links(f)
    assert ex.to_dict("records") == [{"from": "A", "to": "B", "device": "d1", "pairs": 2}]
    assert ex["pairs"].dtype.kind == "i"
    with pytest.raises(InputError, match="does not exist"):
        read_existing_links(tmp_path / "nope.csv")
    f.write_text("from,to,pairs\nA,B,1\n")
    with pytest.raises(InputError, match="missing columns"):
        read_existing_links(f)


def test_planner_and_verify_read_brownfield_through_the_one_reader(tmp_path, monkeypatch):
    import qtopo.io

    folder = tmp_path / "b"
    p = corridor(folder, length_km=100.0, hut_spacing_km=0.0)
    p.write_text(p.read_text().replace('[inputs]\n', '[inputs]\nexisting_links = "existing.csv"\n'))
    (folder / "existing.csv").write_text("from,to,device,pairs\nA,B,d1,1\n")
    seen = []
    real = qtopo.io.read_existing_links

    def spy(path):
        seen.append(path)
        return real(path)

    monkeypatch.setattr(qtopo.io, "read_existing_links", spy)
    plan = qtopo.plan(p, write_outputs=False)
    assert plan.has_plan and plan.cost_eur == pytest.approx(0.0)  # the one needed pair exists
    assert plan.verification.ok
    assert len(seen) >= 2  # build_inputs and verify
    assert all(str(s) == str(folder / "existing.csv") for s in seen)
    # a bad file is one message naming the row, whoever reads it
    (folder / "existing.csv").write_text("from,to,device,pairs\nA,B,d1,zero\n")
    with pytest.raises(InputError, match="line 2"):
        qtopo.plan(p, write_outputs=False)


def test_vector_writer_is_reproducible_and_writes_lists(tmp_path):
    """io.write_vector / io.write_gpkg (one GeoPackage writer for importers, exports and data builds)."""
    import geopandas as gpd
    import shapely

    from qtopo.io import write_gpkg, write_vector

    g = gpd.GeoDataFrame({"id": ["a", "b"], "nodes": [["x", "y"], []]},
                         geometry=[shapely.Point(5, 52), shapely.Point(6, 53)], crs="EPSG:4326")
    write_vector(g, tmp_path / "a.gpkg", layer="pts")
    write_vector(g, tmp_path / "b.gpkg", layer="pts")
    assert (tmp_path / "a.gpkg").read_bytes() == (tmp_path / "b.gpkg").read_bytes()
    back = gpd.read_file(tmp_path / "a.gpkg", layer="pts")
    assert list(back["nodes"]) == ['["x", "y"]', "[]"]
    write_gpkg(g.drop(columns="nodes"), tmp_path / "c.gpkg", "pts")
    assert list(gpd.read_file(tmp_path / "c.gpkg")["id"]) == ["a", "b"]
    with pytest.raises(InputError, match="cannot write vector format"):
        write_vector(g, tmp_path / "x.kml")


def test_one_graphml_reader_names_nodes_like_the_importer(tmp_path):
    """qtopo repeaters reads GraphML through the importer's parser: the same located nodes, with the importer's
    site ids as attributes (and accepted as end-node names), and the importer's checks (line numbers)."""
    import gzip
    from pathlib import Path

    from qtopo.cli.repeaters import plan_repeaters_from
    from qtopo.importers.zoo import read_zoo
    from qtopo.repeaters import fibre_graph_from_graphml

    zoo = Path(__file__).resolve().parents[1] / "data" / "zoo" / "Abilene.graphml"
    G = fibre_graph_from_graphml(zoo)
    sites, routes, _ = read_zoo(zoo)
    assert sorted(d["site_id"] for _, d in G.nodes(data=True)) == sorted(sites["id"])
    assert G.nodes["New York"]["site_id"] in set(sites["id"])
    ny, sea = G.nodes["New York"]["site_id"], G.nodes["Seattle"]["site_id"]
    by_id = plan_repeaters_from(str(zoo), [ny, sea], L_max_km=2500.0, N_max=4, D=4, K=1, time_limit_s=30)
    by_label = plan_repeaters_from(str(zoo), ["New York", "Seattle"], L_max_km=2500.0, N_max=4, D=4, K=1,
                                   time_limit_s=30)
    assert by_id["status"] == by_label["status"] == "optimal"
    assert by_id["repeaters"] == by_label["repeaters"] and by_id["params"]["end_nodes"] == ["New York", "Seattle"]
    bad = tmp_path / "bad.graphml.gz"
    with gzip.open(bad, "wt") as fh:
        fh.write('<?xml version="1.0"?><graphml><key id="d0" for="node" attr.name="Latitude"/>'
                 '<key id="d1" for="node" attr.name="Longitude"/><graph>'
                 '<node id="a"><data key="d0">52</data><data key="d1">5</data></node>'
                 '<edge source="a" target="zz"/></graph></graphml>')
    with pytest.raises(InputError, match="undeclared node"):
        fibre_graph_from_graphml(bad)
