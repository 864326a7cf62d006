"""CONTRIBUTING.md's data-flow snippet runs as written, and its module table names every module of qtopo."""
from __future__ import annotations

import doctest
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "CONTRIBUTING.md"


def test_data_flow_snippet_runs(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    res = doctest.testfile(str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                           raise_on_error=False, verbose=False)
    assert res.attempted >= 10
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples of CONTRIBUTING.md failed (see output above)"


def test_module_table_names_every_module():
    text = DOC.read_text()
    table = {m.strip("`/") for row in re.findall(r"^\| (.+?) \|", text, re.M) for m in re.findall(r"`([^`]+)`", row)}
    pkg = ROOT / "qtopo"
    have = {p.name for p in pkg.glob("*.py") if p.name != "__main__.py"}
    have |= {p.name for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    missing = sorted(h for h in have if h not in table)
    assert not missing, f"CONTRIBUTING.md's module table does not mention {missing}"
