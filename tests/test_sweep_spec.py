"""Sweep files: every problem of a malformed sweep is one InputError (no raw exception)."""
from __future__ import annotations

import pytest

from conftest import SURFNET
from qtopo.errors import InputError
from qtopo.sweep import sweep_from_dict


def test_bad_demand_scale_in_a_list_entry_is_reported_not_raised(tmp_path):
    raw = {"sweep": {"scenario": str(SURFNET), "mode": "list"}, "fixed": {"costs.hut_node_eur": 1},
           "list": [{"costs.hut_node_eur": 5}, {"demands.bogus_col": 1}, {"demands.scale": "x"}]}
    with pytest.raises(InputError) as e:
        sweep_from_dict(raw, base_dir=tmp_path, path=tmp_path / "s.toml")
    text = e.value.format()
    assert "'demands.scale' = 'x' must be a positive number" in text
    assert "unknown key 'demands.bogus_col'" in text
    assert "'costs.hut_node_eur' is both in [fixed] and in this entry" in text


def test_grid_and_list_expand_to_the_same_runs(tmp_path):
    grid = sweep_from_dict({"sweep": {"scenario": str(SURFNET)},
                            "grid": {"costs.hut_node_eur": [1e5, 2e5], "demands.scale": [1, 2]}}, base_dir=tmp_path)
    lst = sweep_from_dict({"sweep": {"scenario": str(SURFNET), "mode": "list"},
                           "list": [{"costs.hut_node_eur": h, "demands.scale": s} for h in (1e5, 2e5) for s in (1, 2)]},
                          base_dir=tmp_path)
    assert len(grid) == 4 and sorted(grid.ids) == sorted(lst.ids)
    assert grid.varied == lst.varied == ("costs.hut_node_eur", "demands.scale")
