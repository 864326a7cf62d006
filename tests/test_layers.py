"""The architecture contracts of ``.importlinter`` (layers of the data flow, click only in the CLI, verify
independent of the optimiser, pure physics) hold, and they do catch a violation."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(LINT), "--no-cache", "--no-logo", str(root / ".importlinter")], cwd=root, env=env,
                          capture_output=True, text=True)


def test_contracts_hold():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    shutil.copytree(ROOT / "qtopo", tmp_path / "qtopo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    io = tmp_path / "qtopo" / "io.py"
    io.write_text(io.read_text() + "\n\ndef _x():\n    from .report import write_report  # noqa\n")
    r = _lint(tmp_path)
    assert r.returncode != 0
    assert "qtopo.io is not allowed to import qtopo.report" in r.stdout
    (tmp_path / "qtopo" / "newmod.py").write_text('"""A module nobody placed in a layer."""\n')
    io.write_text(io.read_text().replace("from .report import write_report", "import click"))
    r = _lint(tmp_path)
    assert "qtopo.newmod" in r.stdout  # exhaustive: every module must be named in a layer
    assert "qtopo.io is not allowed to import click" in r.stdout


def test_highspy_outside_the_backend_breaks_a_contract(tmp_path):
    """Only qtopo.highs imports highspy (issue 14: one HiGHS back-end); a lazy import elsewhere is caught."""
    shutil.copytree(ROOT / "qtopo", tmp_path / "qtopo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    cb = tmp_path / "qtopo" / "cutbound.py"
    cb.write_text(cb.read_text() + "\n\ndef _x():\n    import highspy  # noqa\n")
    r = _lint(tmp_path)
    assert r.returncode != 0
    assert "qtopo is not allowed to import highspy" in r.stdout and "qtopo.cutbound -> highspy" in r.stdout
