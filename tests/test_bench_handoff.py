"""benchmarks/bench_handoff.py: every Pyomo -> HiGHS hand-off path gives HiGHS the same model.

Timings are measured by the benchmark itself (``python -m benchmarks.bench_handoff``), not asserted here.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_handoff as bh  # noqa: E402


def test_handoff_paths_agree_on_syn_30_5(monkeypatch, tmp_path):
    monkeypatch.setenv("QTOPO_BENCH_CACHE", str(tmp_path))
    rec = bh.run(["syn-30-5"], lp_check="on", tmpdir=str(tmp_path))
    (inst,) = rec["instances"]
    by = {r["path"]: r for r in inst["paths"]}
    assert set(by) == set(bh.PATHS)
    assert inst["reference"] == "appsi"
    for p in ("appsi", "standard_form"):  # the reference, and the path qtopo uses: must work
        assert by[p]["status"] == "ok", by[p]["error"]
    ref = by["appsi"]
    assert ref["model_rows"] == inst["pyomo_model"]["constraints"]
    assert ref["model_cols"] == inst["pyomo_model"]["variables"]
    for p, r in by.items():
        if r["status"] != "ok":  # only a genuinely unavailable interface may be missing, with its error recorded
            assert r["status"] == "unavailable" and r["error"], (p, r["error"])
            continue
        assert r["seconds"] > 0
        assert (r["model_rows"], r["model_cols"], r["model_nonzeros"]) == \
            (ref["model_rows"], ref["model_cols"], ref["model_nonzeros"]), p
        if p != "appsi":
            assert r["vs_reference"]["equivalent"], (p, r["vs_reference"])
        assert r["lp_relaxation"]["status"] == "Optimal", p
    # the standard-form path hands over exactly the model APPSI builds, and its LP relaxation has the same optimum
    assert by["standard_form"]["vs_reference"]["exact"]
    assert by["standard_form"]["rows"] == ref["rows"] and by["standard_form"]["cols"] == ref["cols"]
    o_ref, o_sf = ref["lp_relaxation"]["objective"], by["standard_form"]["lp_relaxation"]["objective"]
    assert abs(o_sf - o_ref) <= 1e-6 * abs(o_ref)
    assert inst["model_sizes_agree"] and inst["all_equivalent"] and inst["lp_relaxation_agree"]
    assert "| syn-30-5 | standard_form |" in bh.render_markdown(rec)


def test_compare_detects_differences_and_handles_ranged_rows(tmp_path):
    """The equivalence check is not vacuous: a changed coefficient or bound is reported; a ranged constraint
    (two standard-form rows) is merged back into one HiGHS row."""
    m = bh._toy_model()
    ctx = {"tmpdir": str(tmp_path), **bh._component_ids(m)}
    ho = bh._appsi(m, ctx)
    bh._appsi_maps(ho)
    ref = bh.canonical(ho)

    def standard_form():
        h = bh._standard_form(m, ctx)
        bh._standard_form_maps(h)
        return h

    h = standard_form()
    assert h.notes["ranged_rows_merged"] == 1 and h.highs.getNumRow() == 3
    assert bh.compare(ref, bh.canonical(h))["exact"]
    h.highs.changeCoeff(0, 0, 1.5)
    out = bh.compare(ref, bh.canonical(h))
    assert not out["equivalent"] and out["max_abs_diff"]["matrix"] == 0.5
    h = standard_form()
    h.highs.changeColBounds(1, 0.0, 7.0)
    assert not bh.compare(ref, bh.canonical(h))["equivalent"]
    h = standard_form()
    h.highs.changeColsIntegrality(1, np.array([0], np.int32), np.array([1], np.uint8))
    assert not bh.compare(ref, bh.canonical(h))["integrality_same"]
