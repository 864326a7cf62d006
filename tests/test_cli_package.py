"""The ``qtopo.cli`` package: every command registers explicitly and loads, imports stay lazy.

The import checks run in fresh subprocesses (this test process has long since imported everything).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from qtopo.cli import COMMANDS, load_command, main

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pandas", "geopandas", "shapely", "pyomo", "highspy", "scipy", "networkx", "matplotlib", "dask")


def _modules_after(code: str) -> set[str]:
    """Top-level module names imported by running CODE in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip().splitlines()[-1]
    return {m.split(".")[0] for m in json.loads(out)}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_registers_and_helps(name):
    cmd = load_command(name)
    assert isinstance(cmd, click.Command) and cmd.name == name
    # the one-line help listed by `qtopo --help` (from COMMANDS, without importing) is the command's own
    for limit in (40, 60, 200):
        assert click.Command(name, help=COMMANDS[name][2]).get_short_help_str(limit) == cmd.get_short_help_str(limit)
    r = CliRunner().invoke(main, [name, "--help"])
    assert r.exit_code == 0, r.output
    assert f"Usage: main {name}" in r.output


def test_help_lists_every_command_and_no_other():
    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0
    listed = [ln.split()[0] for ln in r.output.split("Commands:")[1].splitlines() if ln.strip()]
    assert listed == sorted(COMMANDS)


def test_a_broken_registration_fails_loudly(monkeypatch):
    monkeypatch.setitem(COMMANDS, "nosuch", ("qtopo.cli.no_such_module", "cmd", "Broken."))
    with pytest.raises(ModuleNotFoundError):
        load_command("nosuch")
    monkeypatch.setitem(COMMANDS, "nosuch", ("qtopo.cli.plan", "no_such_attr", "Broken."))
    with pytest.raises(AttributeError):
        load_command("nosuch")
    monkeypatch.setitem(COMMANDS, "nosuch", ("qtopo.cli.plan", "plan_cmd", "Broken."))
    with pytest.raises(TypeError, match="is not the click command"):
        load_command("nosuch")
    # through the command line: an internal error with exit 70, not a silently missing command
    r = CliRunner().invoke(main, ["nosuch"])
    assert r.exit_code == 70 and "internal error" in r.output


def test_click_only_in_the_cli_package():
    offenders = []
    for f in sorted((ROOT / "qtopo").rglob("*.py")):
        if "cli" in f.relative_to(ROOT / "qtopo").parts:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "click" for n in names):
                offenders.append(str(f.relative_to(ROOT)))
    assert offenders == []


def test_import_qtopo_is_light_and_public_names_still_work():
    assert not _modules_after("import qtopo") & set(HEAVY)
    code = ("import qtopo, inspect\n"
            "assert all(getattr(qtopo, n) is not None for n in qtopo.__all__)\n"
            "import qtopo.plan, qtopo.solve, qtopo.verify\n"  # binding the submodules must not shadow the functions
            "assert inspect.isfunction(qtopo.plan) and qtopo.plan.__module__ == 'qtopo.planner'\n"
            "assert inspect.isfunction(qtopo.solve) and inspect.isfunction(qtopo.verify)\n"
            "from qtopo.plan import Plan\nassert qtopo.Plan is Plan\n")
    _modules_after(code)  # raises CalledProcessError on a failed assertion
    with pytest.raises(AttributeError):
        import qtopo

        qtopo.no_such_name  # noqa: B018


def test_help_and_rates_import_no_heavy_library():
    helped = _modules_after("from qtopo.cli import main\n"
                            "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0")
    assert not helped & set(HEAVY)
    rated = _modules_after("from qtopo.cli import main\n"
                           "try:\n    main(['rates', '--protocol', 'bb84-decoy', '--distance-km', '0:100:50'])\n"
                           "except SystemExit as e:\n    assert e.code == 0")
    assert not rated & {"pandas", "geopandas", "shapely", "pyomo", "highspy", "networkx", "matplotlib", "dask", "scipy"}


def test_repeaters_on_graphml_imports_no_geopandas(tmp_path):
    """GraphML input needs neither GeoPandas (nor pandas, shapely) nor Pyomo (the HiGHS back-end takes arrays)."""
    graphml = ROOT / "data" / "zoo" / "Abilene.graphml"
    ran = _modules_after(
        "from qtopo.cli import main\n"
        f"try:\n    main(['repeaters', {str(graphml)!r}, '--out', {str(tmp_path / 'r')!r}, '--end-nodes',"
        " 'New York,Sunnyvale', '--l-max-km', '2000', '--n-max', '4', '--time-limit', '30'])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code")
    assert (tmp_path / "r" / "repeaters.json").exists()
    assert not ran & {"geopandas", "shapely", "pandas", "pyomo"}
    bad = _modules_after(
        "from qtopo.cli import main\n"
        f"try:\n    main(['repeaters', {str(tmp_path / 'missing.graphml')!r}, '--out', {str(tmp_path / 'x')!r}])\n"
        "except SystemExit as e:\n    assert e.code == 4, e.code")
    assert not bad & {"geopandas", "shapely", "pandas", "pyomo", "highspy"}


def test_console_script_and_python_m_run_the_same_main():
    import importlib.metadata as md
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["qtopo"] == "qtopo.cli:main"
    eps = [e for e in md.entry_points(group="console_scripts") if e.name == "qtopo"]
    if eps:  # installed (editable or not): the entry point loads this main
        assert eps[0].value == "qtopo.cli:main" and eps[0].load() is main
    r = subprocess.run([sys.executable, "-m", "qtopo", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.startswith("Usage: qtopo ")
    r = subprocess.run([sys.executable, "-m", "qtopo", "nosuchcommand"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "No such command 'nosuchcommand'" in r.stderr
