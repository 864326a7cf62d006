"""Solver names: which MILP solvers Pyomo can run here, and a clear message when ``[solver] name`` is not one.

``highs`` is the default (qtopo's own back-end, :mod:`qtopo.highs`); any other name is resolved through Pyomo:
its newer interface first (``pyomo.contrib.solver``: ``scip`` -> ``scip_direct``, ``gurobi`` -> ``gurobi_direct``),
then the legacy ``SolverFactory`` (executables or Python bindings: ``cplex``, ``cbc``, ``glpk``...), then APPSI.
Pyomo is imported only when a name other than ``highs`` is looked up. Solving is :mod:`qtopo.pyomo_solvers`.
"""
from __future__ import annotations

from dataclasses import dataclass


def _highspy_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("highspy") is not None


#: Names checked (and listed in error messages) when looking for installed solvers.
KNOWN = ("highs", "gurobi", "cplex", "scip", "xpress", "mosek", "cbc", "glpk", "copt")


@dataclass(frozen=True)
class Resolved:
    """A solver name resolved to one Pyomo interface."""

    name: str          # as the scenario spells it (lower case)
    interface: str     # "contrib" (pyomo.contrib.solver), "legacy" (SolverFactory) or "appsi"
    factory_name: str  # the name registered with that interface


def _candidates(name: str) -> list[tuple[str, str]]:
    n = name.lower()
    return [("contrib", n), ("contrib", f"{n}_direct"), ("contrib", f"{n}_persistent"), ("legacy", n),
            ("legacy", f"{n}_direct"), ("appsi", f"appsi_{n}")]


def _is_available(interface: str, factory_name: str) -> bool:
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            if interface == "contrib":
                from pyomo.contrib.solver.common.factory import SolverFactory

                if factory_name not in SolverFactory._cls:
                    return False
                return bool(SolverFactory(factory_name).available())
            import pyomo.environ as pyo

            if factory_name not in pyo.SolverFactory._cls:
                return False
            opt = pyo.SolverFactory(factory_name)
            return bool(opt.available(exception_flag=False))
    except Exception:  # a missing binding, licence or executable: not available
        return False


def resolve(name: str) -> Resolved | None:
    """The first available Pyomo interface for ``name`` (None if none is available)."""
    for interface, fname in _candidates(name):
        if _is_available(interface, fname):
            return Resolved(name.lower(), interface, fname)
    return None


def installed() -> list[str]:
    """The names of :data:`KNOWN` that resolve to an available solver here."""
    out = []
    for n in KNOWN:
        if n == "highs":
            if _highspy_importable():
                out.append(n)
        elif resolve(n) is not None:
            out.append(n)
    return out


def check_name(name) -> str | None:
    """None if ``name`` can be used here; else what is wrong, naming the installed solvers."""
    if not isinstance(name, str) or not name.strip():
        return f"name = {name!r} is not a solver name"
    n = name.strip().lower()
    if n == "highs":
        return None if _highspy_importable() else "HiGHS (highspy) is not available: pip install highspy"
    if resolve(n) is not None:
        return None
    known = _known_to_pyomo(n)
    what = "is not available here" if known else "is not a solver Pyomo knows"
    return f"name = {name!r} {what}; installed: {', '.join(installed()) or 'none'}"


def _known_to_pyomo(n: str) -> bool:
    try:
        import pyomo.environ as pyo
        from pyomo.contrib.solver.common.factory import SolverFactory as NewFactory
    except Exception:  # pragma: no cover
        return False
    names = set(pyo.SolverFactory._cls) | set(NewFactory._cls)
    return any(fname in names for _, fname in _candidates(n))
