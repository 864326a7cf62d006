"""qtopo: plan quantum-key-distribution networks on real fibre.

The data flow, one public function per stage::

    scen = qtopo.load_scenario("data/surfnet/scenario.toml")
    net, demands = qtopo.read_network(scen)
    inputs = qtopo.build_inputs(net, demands, scen)
    start = qtopo.start_plan(inputs, scen)             # heuristic plan + exact bound pruning
    model = qtopo.build_model(start.inputs, scen)
    result = qtopo.solve(model, **qtopo.solver_options(scen), warmstart=start.warm(model))
    plan = qtopo.plan_from_solve(model, start, result, scen)
    qtopo.verify(plan, scen, network=net)

(the same plan as ``qtopo.plan``; ``extract_plan(model, inputs, result, scen)`` reads a model built without
a start plan) or all at once: ``qtopo.plan("data/surfnet/scenario.toml", out_dir="out")``.
"""
__version__ = "0.1.0"

import importlib
import sys
import types
from typing import TYPE_CHECKING

#: public name -> the module that defines it. ``import qtopo`` imports none of them (so ``qtopo --help`` and
#: ``qtopo rates`` start fast); each loads on first attribute access (PEP 562).
_PUBLIC = {
    "PlanningInputs": "candidates", "build_inputs": "candidates",
    "InputError": "errors", "QtopoError": "errors", "SolverError": "errors", "ValidityWarning": "errors",
    "VerificationError": "errors",
    "read_demands": "io", "read_routes": "io", "read_sites": "io",
    "build_model": "model",
    "Plan": "contract", "plan_json_schema": "contract", "extract_plan": "plan",
    "plan": "planner", "read_network": "topology", "solver_options": "planner", "write_plan": "planner",
    "StartPlan": "planner", "start_plan": "planner", "plan_from_solve": "planner",
    "Scenario": "scenario", "load_scenario": "scenario", "scenario_from_dict": "scenario",
    "SolveResult": "solve", "Status": "contract", "solve": "solve",
    "FibreNetwork": "topology", "build_fibre_network": "topology",
    "VerificationReport": "verify", "verify": "verify",
    "explore": "viz",
}

__all__ = [  # literal, so that static checkers (pyflakes) read it; the same names as _PUBLIC (tested)
    'PlanningInputs', 'build_inputs', 'InputError', 'QtopoError', 'SolverError', 'ValidityWarning',
    'VerificationError', 'read_demands', 'read_routes', 'read_sites', 'build_model', 'Plan', 'plan_json_schema',
    'extract_plan', 'plan', 'read_network', 'solver_options', 'write_plan', 'StartPlan', 'start_plan',
    'plan_from_solve', 'Scenario', 'load_scenario', 'scenario_from_dict', 'SolveResult', 'Status', 'solve',
    'FibreNetwork', 'build_fibre_network', 'VerificationReport', 'verify', 'explore',
]


def __getattr__(name: str):
    mod = _PUBLIC.get(name)
    if mod is None:
        raise AttributeError(f"module 'qtopo' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """``qtopo.plan``, ``qtopo.solve`` and ``qtopo.verify`` are the public functions, as they were when this
    package imported everything eagerly; Python's import system would otherwise bind the same-named submodules
    (``qtopo/plan.py``...) here when they are first imported. The submodules stay in ``sys.modules``."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and name in _PUBLIC:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))


if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from .candidates import PlanningInputs, build_inputs  # noqa: F401
    from .errors import InputError, QtopoError, SolverError, ValidityWarning, VerificationError  # noqa: F401
    from .io import read_demands, read_routes, read_sites  # noqa: F401
    from .model import build_model  # noqa: F401
    from .contract import Plan, Status, plan_json_schema  # noqa: F401
    from .plan import extract_plan  # noqa: F401
    from .planner import StartPlan, plan, plan_from_solve, solver_options, start_plan, write_plan  # noqa: F401
    from .scenario import Scenario, load_scenario, scenario_from_dict  # noqa: F401
    from .solve import SolveResult, solve  # noqa: F401
    from .topology import FibreNetwork, build_fibre_network, read_network  # noqa: F401
    from .verify import VerificationReport, verify  # noqa: F401
    from .viz import explore  # noqa: F401
