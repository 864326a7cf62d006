"""qtopo: plan quantum-key-distribution networks on real fibre.

The data flow, one public function per stage::

    scen = qtopo.load_scenario("data/surfnet/scenario.toml")
    net, demands = qtopo.read_network(scen)
    inputs = qtopo.build_inputs(net, demands, scen)
    model = qtopo.build_model(inputs, scen)
    result = qtopo.solve(model, **qtopo.solver_options(scen))
    plan = qtopo.extract_plan(model, inputs, result, scen)
    qtopo.verify(plan, scen)

or all at once: ``qtopo.plan("data/surfnet/scenario.toml", out_dir="out")``.
"""
__version__ = "0.1.0"

from .candidates import PlanningInputs, build_inputs
from .errors import InputError, QtopoError, SolverError, ValidityWarning, VerificationError
from .io import read_demands, read_routes, read_sites
from .model import build_model
from .plan import Plan, extract_plan
from .planner import plan, read_network, solver_options, write_plan
from .scenario import Scenario, load_scenario, scenario_from_dict
from .solve import SolveResult, Status, solve
from .topology import FibreNetwork, build_fibre_network
from .verify import VerificationReport, verify

__all__ = [
    "PlanningInputs", "build_inputs", "InputError", "QtopoError", "SolverError", "ValidityWarning",
    "VerificationError", "read_demands", "read_routes", "read_sites", "build_model", "Plan", "extract_plan",
    "plan", "read_network", "solver_options", "write_plan", "Scenario", "load_scenario", "scenario_from_dict",
    "SolveResult", "Status", "solve", "FibreNetwork", "build_fibre_network", "VerificationReport", "verify",
]
