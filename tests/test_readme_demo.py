"""The README's demo block is what the demo prints (docs/readme_demo.py), timings aside."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
try:
    import readme_demo as rd
finally:
    sys.path.pop(0)

STALE = """[    0.3s] read: 123 fibre nodes, 143 fibre segments, 7 demands (0.27 s)
[    0.5s] hops: 113 candidates (10 pruned), 6214 hops, 9318 hop-device options (0.19 s)
[    2.4s] solve: optimal, cost 1,617,832, gap 0.35% (1.03 s; hand-off 0.10 s)
optimal: cost 1,617,832 EUR, gap 0.35% -> out/demo/plan.json"""
NOW = """[    0.7s] read: 123 fibre nodes, 143 fibre segments, 7 demands (0.70 s)
[    1.1s] hops: 113 candidates (10 pruned), 6202 hops, 9306 hop-device options (0.40 s)
[    4.4s] solve: optimal, cost 1,617,832, gap 0.98% (1.01 s; hand-off 0.07 s)
optimal: cost 1,617,832 EUR, gap 0.98% -> out/demo/plan.json"""


def test_compare_catches_stale_counts_and_ignores_timings():
    diffs = rd.compare(STALE, NOW)
    assert any("6214" in d for d in diffs) and any("9318" in d for d in diffs)
    assert not any("0.3" in d.split("says")[-1] for d in diffs)  # timings are not compared
    assert rd.compare(NOW, NOW.replace("0.70 s", "9.99 s").replace("[    0.7s]", "[   12.0s]")) == []
    assert rd.compare(NOW, NOW.replace("1,617,832", "1,700,000"))  # a different cost
    assert rd.compare(NOW, NOW.replace("hops:", "links:"))  # a changed line


def test_readme_demo_block_matches_the_demo():
    """Runs the demo's command (~10 s) and compares it with README.md; regenerate with docs/readme_demo.py."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    text, _ = rd.run_plan()
    diffs = rd.compare(rd.block(readme, "demo"), text)
    assert not diffs, "README demo block is stale (run `python docs/readme_demo.py`):\n" + "\n".join(diffs)
