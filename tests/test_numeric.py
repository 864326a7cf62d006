"""Shared number helpers: EUR amounts never print as -0, gaps of a zero-cost plan are not spurious."""
from __future__ import annotations

import math

import pytest

from qtopo.numeric import finite_or_none, fmt_eur
from qtopo.solve import relative_gap


@pytest.mark.parametrize("v, s", [(-1.4551915228366852e-11, "0"), (-0.0, "0"), (0.4, "0"), (-0.4, "0"),
                                  (1617832.4, "1,617,832"), (-2500.0, "-2,500"), (None, "-"), (math.nan, "-"),
                                  (math.inf, "-"), ("x", "-")])
def test_fmt_eur(v, s):
    assert fmt_eur(v) == s


def test_finite_or_none():
    assert finite_or_none("4.5") == 4.5 and finite_or_none(3) == 3.0
    assert finite_or_none("nan") is None and finite_or_none("-inf") is None
    assert finite_or_none("") is None and finite_or_none(None) is None and finite_or_none("abc") is None


def test_relative_gap_of_a_zero_cost_plan():
    # a brownfield plan whose installed links serve every demand: cost 0, less the sunk cost in floating point
    assert relative_gap(1.4551915228366852e-11, 0.0) < 1e-10
    assert relative_gap(100.0, 90.0) == pytest.approx(0.1)
    assert relative_gap(None, 1.0) is None and relative_gap(1.0, math.inf) is None


def test_plans_former_geo_methods_name_their_new_place():
    from qtopo.contract import Plan

    p = Plan(status="optimal")
    with pytest.raises(AttributeError, match=r"qtopo\.explore\(plan"):
        p.explore()
    with pytest.raises(AttributeError, match=r"qtopo\.plan\.write_gpkg\(plan"):
        p.write_gpkg("x.gpkg")
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        p.nonsense
