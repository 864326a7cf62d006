"""The one-call planner: scenario -> verified plan (and its files).

Composes the stages of the data flow; each stage is public, so a notebook can stop anywhere and the stages,
called in this order, give the same plan as :func:`plan` (and ``qtopo plan``)::

    scen = load_scenario(path)
    net, demands = read_network(scen)
    inputs = build_inputs(net, demands, scen)
    start = start_plan(inputs, scen)                   # heuristic plan + exact bound pruning
    model = build_model(start.inputs, scen)
    result = solve(model, **solver_options(scen), warmstart=start.warm(model))
    plan = plan_from_solve(model, start, result, scen)  # the MILP's plan, or the start plan when better
    report = verify(plan, scen, network=net)
"""
from __future__ import annotations

import logging
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .candidates import PlanningInputs, build_inputs
from .errors import InputError, VerificationError
from .atomic import atomic_output_dir
from .io import read_input_files, read_sites, sha256_file
from .model import build_model
from .numeric import fmt_eur
from .plan import Plan, extract_plan, write_gpkg
from .scenario import Scenario, load_scenario
from .solve import SolveResult, Status, relative_gap, solve
from .topology import read_network  # noqa: F401 (public here too: qtopo.planner.read_network)
from .verify import verify

log = logging.getLogger(__name__)


def load_scenario_and_inputs(path, overrides: dict | None = None) -> Scenario:
    """:func:`load_scenario`, but when the scenario is invalid, also check the input files it names, so that
    every problem of the scenario *and* of its files is reported at once."""
    try:
        return load_scenario(path, overrides)
    except InputError as e:
        problems = list(e.problems)
        try:
            from .scenario import apply_overrides, tomllib

            from .textfile import read_utf8

            raw = tomllib.loads(read_utf8(path, "scenario"))
            raw = apply_overrides(raw, overrides or {})
            inp = raw.get("inputs", {}) if isinstance(raw.get("inputs", {}), dict) else {}
            base = Path(path).resolve().parent

            def p(k):
                v = inp.get(k)
                return (base / v) if isinstance(v, str) and v else None

            try:
                read_input_files(p("sites"), p("routes"), p("demands"), sites_layer=inp.get("sites_layer") or None,
                                 routes_layer=inp.get("routes_layer") or None)
            except InputError as e2:
                problems += e2.problems
        except Exception:  # the scenario itself is unreadable: its own problems are all we can say
            pass
        raise InputError(problems, e.header) from None


def solver_options(scen: Scenario) -> dict:
    """Keyword arguments of :func:`qtopo.solve.solve` from the scenario's ``[solver]`` section."""
    s = scen.solver
    return {"time_limit_s": s["time_limit_s"], "mip_gap": s["mip_gap"], "threads": s["threads"],
            "root_lp": s.get("root_lp", "auto"), "solver": s.get("name", "highs")}


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("qtopo", "pyomo", "highspy", "numpy", "scipy", "networkx", "geopandas", "shapely", "pyproj", "pyogrio"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _input_record(scen: Scenario) -> dict:
    """Every input file the plan depends on, with its SHA-256 (so ``qtopo verify`` notices when one changed):
    the scenario, sites, routes, demands, and the brownfield ``existing_links`` when given."""
    roles = [("scenario", scen.path)] if scen.path else []
    roles += [(k, scen.input_path(k)) for k in ("sites", "routes", "demands")]
    if scen.inputs.get("existing_links"):
        roles.append(("existing_links", scen.input_path("existing_links")))
    files = [{"role": role, "path": str(Path(p).resolve()),
              "sha256": sha256_file(p) if Path(p).is_file() else None} for role, p in roles]
    return {"files": files, "scenario": dict(scen.raw)}


def plan(scenario: Scenario | str | Path, out_dir: str | Path | None = None, *,
         overrides: dict | None = None, progress: Callable[[str], None] | None = None,
         write_outputs: bool = True) -> Plan:
    """Plan a scenario end to end and verify the plan.

    Parameters
    ----------
    scenario : Scenario or path
    out_dir : path, optional
        Write ``plan.json``, ``plan.gpkg``, ``map.png``, ``report.md`` there, atomically.
    overrides : dict, optional
        Dotted-key scenario overrides (``{"solver.time_limit_s": 30}``).
    progress : callable, optional
        Called with one line per phase.

    Returns
    -------
    Plan
        With ``status`` in optimal | feasible | infeasible | no_solution. Infeasible plans carry a
        ``diagnosis``. A plan that fails verification raises :class:`VerificationError` and is not written.
    """
    say = progress or (lambda s: log.info(s))
    if out_dir is not None and write_outputs:
        from .atomic import check_output_dir

        check_output_dir(out_dir)  # fail in a second, not after the solve
    T = {}
    t0 = time.perf_counter()
    scen = scenario if isinstance(scenario, Scenario) else load_scenario_and_inputs(scenario, overrides)
    if isinstance(scenario, Scenario) and overrides:
        scen = scen.with_overrides(overrides)
    net, demands = read_network(scen)
    T["read"] = time.perf_counter() - t0
    say(f"read: {len(net.nodes)} fibre nodes, {len(net.edges)} fibre segments, {len(demands)} demands "
        f"({T['read']:.2f} s)")
    t = time.perf_counter()
    inputs = build_inputs(net, demands, scen)
    T["hops"] = time.perf_counter() - t
    st = inputs.stats
    say(f"hops: {st['candidates']} candidates ({st['pruned_nodes']} pruned), {st['hops']} hops, "
        f"{st['hop_devices']} hop-device options ({T['hops']:.2f} s)")
    extra = {"inputs": _input_record(scen), "versions": _versions(), "seed": scen.scenario["seed"],
             "notes": list(net.notes)}
    if inputs.diagnosis:
        T["total"] = time.perf_counter() - t0
        res = SolveResult(status=Status.INFEASIBLE, termination="precheck",
                          message="infeasible before optimisation: see diagnosis")
        p = extract_plan(None, inputs, res, scen, extra={**extra, "timings_s": T})
        say(f"infeasible: {len(inputs.diagnosis)} demand(s) cannot be served")
        if out_dir is not None and write_outputs:
            write_plan(p, out_dir, scen, net)
        return p
    if scen.objective.get("mode") == "max_rate":
        from .candidates import prune_by_bound

        n0 = len(inputs.hop_devices)
        inputs = prune_by_bound(inputs, float(scen.objective["budget_eur"]))
        say(f"budget: {len(inputs.hop_devices)} of {n0} hop-device options fit within the budget")
    start = start_plan(inputs, scen)
    if scen.solver["heuristic_start"]:
        T["heuristic"] = start.seconds
        fp = getattr(start.solution, "first_plan_s", None)
        if fp is not None:  # time to the first complete plan (the greedy one), from the start
            T["first_plan"] = T["read"] + T["hops"] + fp
        say(start.summary())
    if start.found:
        extra["heuristic_cost_eur"] = start.heuristic_cost_eur if start.heuristic_cost_eur is not None else \
            start.cost_eur
    inputs, sol = start.inputs, start.solution
    cut = None
    if _use_cut_bound(scen, inputs):
        from .cutbound import cutset_bound

        t = time.perf_counter()
        tl = float(scen.solver["time_limit_s"] or 0.0)
        cut = cutset_bound(inputs, time_limit_s=min(CUT_BOUND_MAX_S, CUT_BOUND_SHARE * tl) if tl > 0 else
                           CUT_BOUND_MAX_S, threads=int(scen.solver["threads"]),  # HiGHS: one thread count per process
                           upper_bound_eur=sol.cost if sol is not None else None)
        T["cut_bound"] = time.perf_counter() - t
        extra["cut_bound"] = cut.to_dict()
        say(f"bound: cut-set LP {_eur(cut.bound_eur)} after {cut.rounds} rounds, {cut.cuts} cuts "
            f"({T['cut_bound']:.2f} s)")
    t = time.perf_counter()
    model = build_model(inputs, scen)
    T["build"] = time.perf_counter() - t
    say(f"build: Pyomo model ({T['build']:.2f} s)")
    opts = solver_options(scen)
    if not opts["time_limit_s"]:
        say("solve: no time limit (solver.time_limit_s = 0 means none): it runs to the MIP gap; Ctrl-C stops it "
            "without writing anything")
    if cut is not None and opts["time_limit_s"]:  # the bound's seconds come out of the solver's time limit
        opts["time_limit_s"] = max(1.0, float(opts["time_limit_s"]) - T["cut_bound"])
    alongside = None
    if start.found and use_lns(scen, start.inputs):
        tl_milp = float(opts["time_limit_s"] or 0.0)
        from .lns import LNS_MARGIN_S

        alongside = LnsAlongside(start, scen, max(1.0, tl_milp - LNS_MARGIN_S) if tl_milp > 0 else 600.0)
    try:
        res, solver_log = _solve_with_log(model, opts, warmstart=start.warm(model),
                                          before_run=alongside.begin if alongside is not None else None)
    finally:
        if alongside is not None:
            alongside.stop.set()
    if alongside is not None:
        t = time.perf_counter()
        start = alongside.finish()
        T["lns_wait"] = time.perf_counter() - t
        if start.lns and "seconds" in start.lns:
            T["lns"] = start.lns["seconds"]
            say(f"lns: {start.lns['iterations']} sub-MIPs alongside the MILP, {start.lns['start_cost_eur']:,.0f} -> "
                f"{start.lns['cost_eur']:,.0f} ({start.lns['seconds']:.1f} s)")
    extra["solver_log_file"] = scen.solver.get("log_file") or f"{scen.solver.get('name') or 'highs'}.log"
    T["handoff"] = res.timings_s.get("handoff", 0.0)
    T["solve"] = res.timings_s.get("solve", 0.0)
    if cut is not None:
        _apply_cut_bound(res, cut)
    say(f"solve: {res.status.value}, {_objective_text(res.objective, scen)}"
        f", gap {res.gap if res.gap is None else f'{res.gap:.2%}'} ({T['solve']:.2f} s; hand-off {T['handoff']:.2f} s)")
    t = time.perf_counter()
    p = plan_from_solve(model, start, res, scen, extra=extra, cut=cut)
    p.solver_log = solver_log
    T["extract"] = time.perf_counter() - t
    return _finish(p, scen, net, T, t0, say, out_dir, write_outputs)


def _objective_text(value, scen: Scenario) -> str:
    """The solver's objective, named by what it measures: a cost (EUR), or in budget mode a key rate."""
    if scen.objective.get("mode") == "max_rate":
        return ("weighted delivered rate unknown" if value is None else
                f"weighted delivered rate {value:,.0f} bit/s (budget {scen.objective['budget_eur']:,.0f} EUR)")
    return f"cost {value if value is None else fmt_eur(value)}"


@dataclass
class StartPlan:
    """The stage between :func:`~qtopo.build_inputs` and :func:`~qtopo.build_model` (:func:`start_plan`): a
    constructive plan and the inputs pruned exactly with its cost.

    Attributes
    ----------
    inputs : PlanningInputs
        The inputs to build the model on: bound-pruned when that dropped options, else the inputs given.
    solution : HeuristicSolution or None
        The start plan on ``inputs`` (None: heuristic off, or it found no plan); improved by the
        large-neighbourhood search (:mod:`qtopo.lns`) when that ran (``method == "lns"``).
    cost_eur : float or None
        Its cost (EUR): an upper bound on the optimum.
    hop_devices_before : int
        Hop-device options before the bound pruning (``len(inputs.hop_devices)`` is the number after).
    seconds : float
    """

    inputs: PlanningInputs
    solution: object | None = None
    cost_eur: float | None = None
    hop_devices_before: int = 0
    seconds: float = 0.0
    method: str = "heuristic"          # what produced ``solution``: "heuristic" or "lns" (qtopo.lns improved it)
    heuristic_cost_eur: float | None = None  # the constructive heuristic's own cost (before the search)
    lns: dict | None = None             # the search's record (qtopo.lns.LnsRecord.to_dict), when it ran

    @property
    def found(self) -> bool:
        return self.solution is not None

    def warm(self, model) -> bool:
        """Set the start plan as ``model``'s MIP start (values on its variables); returns whether there was one,
        which is what :func:`~qtopo.solve` wants as ``warmstart``."""
        if self.solution is None:
            if model is None or not getattr(getattr(model, "_qidx", None), "budget_mode", False):
                return False
            from .model import set_empty_start  # budget mode: serving nothing is always within budget

            set_empty_start(model, self.inputs)
            return True
        from .heuristic import set_mip_start

        set_mip_start(model, self.inputs, self.solution)
        return True

    def summary(self) -> str:
        if self.solution is None:
            return f"heuristic: no start plan ({self.seconds:.2f} s)"
        return (f"heuristic: start plan costing {fmt_eur(self.cost_eur)}; bound pruning kept {len(self.inputs.hop_devices)}"
                f" of {self.hop_devices_before} hop-device options ({self.seconds:.2f} s)")


def heuristic_budget_s(scen: Scenario) -> float:
    """The local search's share of the time limit (s): 20 %, at least 10 s; 60 s without a limit. (The
    large-neighbourhood search runs alongside the MILP and takes nothing from it: with 10 % here nat-dfn's start
    was 7.07 M instead of 5.96 M and the search did not make up for it in 300 s, benchmarks/README.md.)"""
    tl = float(scen.solver["time_limit_s"] or 0.0)
    return max(10.0, 0.2 * tl) if tl > 0 else 60.0


def use_lns(scen: Scenario, inputs: PlanningInputs) -> bool:
    """Whether :func:`plan` runs the large-neighbourhood search (:mod:`qtopo.lns`) alongside the MILP
    (``[solver] lns``: on, off, or auto: from :data:`qtopo.lns.LNS_FROM_OPTIONS` hop-device options). Never in
    budget mode, without the start heuristic, or with a MILP solver other than HiGHS."""
    from .lns import LNS_FROM_OPTIONS

    mode = scen.solver.get("lns", "auto") or "auto"
    if mode == "off" or inputs.params.get("budget_mode") or not scen.solver["heuristic_start"]:
        return False
    if (scen.solver.get("name") or "highs").lower() != "highs":
        return False
    return mode == "on" or len(inputs.hop_devices) >= LNS_FROM_OPTIONS


def start_plan(inputs: PlanningInputs, scen: Scenario, time_budget_s: float | None = None) -> StartPlan:
    """The constructive heuristic's plan (:func:`qtopo.heuristic.construct`) and the inputs pruned exactly by its
    cost (:func:`qtopo.candidates.prune_by_bound`), with the plan carried over to the pruned tables.

    With ``[solver] heuristic_start = false`` the inputs come back unchanged and without a plan.
    """
    n0 = len(inputs.hop_devices)
    if not scen.solver["heuristic_start"]:
        return StartPlan(inputs, hop_devices_before=n0)
    from .candidates import prune_by_bound
    from .heuristic import construct, remap_solution

    t = time.perf_counter()
    budget = heuristic_budget_s(scen) if time_budget_s is None else float(time_budget_s)
    sol = construct(inputs, scen, time_budget_s=budget)
    if sol is None:
        return StartPlan(inputs, hop_devices_before=n0, seconds=time.perf_counter() - t)
    cost = sol.cost
    pruned = prune_by_bound(inputs, sol.cost)
    if len(pruned.hop_devices) < n0:
        sol2 = remap_solution(sol, inputs, pruned)  # the same plan on the pruned tables
        if sol2 is None:  # (cannot happen for an exact pruning; kept as a guard)
            sol2 = construct(pruned, scen, time_budget_s=budget)
        if sol2 is not None and sol2.cost <= sol.cost + 1e-6:
            inputs, sol = pruned, sol2
    return StartPlan(inputs, sol, sol.cost if sol is not None else cost, n0, time.perf_counter() - t,
                     heuristic_cost_eur=sol.cost if sol is not None else None)


class LnsAlongside:
    """The large-neighbourhood search (:func:`qtopo.lns.improve`) from the start plan on a thread while HiGHS
    works on the full MILP on the main thread (its root LP is what gives the bound on national networks, so it
    keeps the whole time limit; HiGHS releases the GIL while it runs). :meth:`finish` stops the search after its
    current sub-MIP and returns the start plan with the search's solution when that is cheaper."""

    def __init__(self, start: StartPlan, scen: Scenario, budget_s: float):
        import threading

        self.start_plan = start
        self.stop = threading.Event()
        self.result = None
        self.error: BaseException | None = None
        self._args = (start.inputs, scen, start.solution, budget_s, int(scen.scenario["seed"]),
                      int(scen.solver["threads"]))
        self.thread = threading.Thread(target=self._run, name="qtopo-lns", daemon=True)

    def _run(self) -> None:
        from .lns import improve

        inputs, scen, sol, budget, seed, threads = self._args
        try:
            self.result = improve(inputs, scen, sol, budget, seed=seed, threads=threads, stop=self.stop)
        except BaseException as e:  # noqa: BLE001 - reported by finish(); the MILP's plan stands
            self.error = e

    def begin(self) -> "LnsAlongside":
        self.thread.start()
        return self

    def finish(self) -> StartPlan:
        import dataclasses

        self.stop.set()
        if self.thread.ident is not None:  # (not started when the solve failed before HiGHS ran)
            self.thread.join()
        start = self.start_plan
        if self.error is not None:
            if isinstance(self.error, KeyboardInterrupt):
                raise self.error
            log.warning("large-neighbourhood search failed (%s: %s): the heuristic's plan stands",
                        type(self.error).__name__, self.error)
            return dataclasses.replace(start, lns={"error": f"{type(self.error).__name__}: {self.error}"})
        if self.result is None:
            return start
        sol, rec = self.result
        if rec.improvements and sol.cost < start.cost_eur - 1e-6 * max(1.0, start.cost_eur):
            return dataclasses.replace(start, solution=sol, cost_eur=sol.cost, method="lns", lns=rec.to_dict())
        return dataclasses.replace(start, lns=rec.to_dict())


def _solve_with_log(model, opts: dict, warmstart: bool, before_run=None):
    """:func:`solve` with ``opts`` (:func:`solver_options`), its log captured: ``(SolveResult, log text)``."""
    import tempfile

    fd, log_path = tempfile.mkstemp(prefix="qtopo-solver-", suffix=".log")
    os.close(fd)
    try:
        res = solve(model, **opts, warmstart=warmstart, log_file=log_path, before_run=before_run)
        return res, Path(log_path).read_text(encoding="utf-8", errors="replace")
    finally:
        Path(log_path).unlink(missing_ok=True)


def plan_from_solve(model, start: StartPlan, result: SolveResult, scen: Scenario, extra: dict | None = None,
                    cut=None) -> Plan:
    """The plan after the solve: the MILP's, or the start plan when the MILP found none in time or only a dearer
    one (then with the MILP's proven bound and the gap to it). An infeasible result gets the joint diagnosis.
    ``start`` is the :class:`StartPlan` the model was built from (its ``inputs``); ``cut``, a cut-set bound
    (:func:`qtopo.cutbound.cutset_bound`) applied to the result where it beats the solver's."""
    inputs, sol = start.inputs, start.solution
    res = result
    # (an "optimal" MILP plan is optimal within the MIP gap: the search's plan alongside can still be cheaper)
    worse = (res.status in (Status.FEASIBLE, Status.OPTIMAL) and sol is not None and res.objective is not None
             and sol.cost < res.objective - 1e-6 * max(1.0, abs(sol.cost)))
    # which method produced the plan: the start's (heuristic or lns) unless the MILP found a cheaper one
    same = (sol is not None and res.objective is not None
            and res.objective >= sol.cost - 1e-6 * max(1.0, abs(sol.cost)))
    res.options["plan_method"] = (start.method if sol is not None and (res.status is Status.NO_SOLUTION or worse
                                                                       or same) else
                                  "highs" if res.status.has_plan else None)
    if start.lns is not None:
        res.options["lns"] = dict(start.lns)
    if (res.status is Status.NO_SOLUTION or worse) and sol is not None:
        return _start_plan_as_plan(start, res, scen, worse, extra, cut)
    if res.status is Status.INFEASIBLE:
        inputs.diagnosis.append(_joint_diagnosis(inputs))
    p = extract_plan(model, inputs, res, scen, extra=extra)
    p.source = "milp"
    return p


def _start_plan_as_plan(start: StartPlan, res: SolveResult, scen: Scenario, worse: bool, extra, cut=None) -> Plan:
    """The heuristic plan returned with the MILP's bound (the MILP found nothing in time, or only a plan dearer
    than the start, which HiGHS can do when it rejects the start)."""
    from .plan import _plan_header, assemble_plan

    sol = start.solution
    what = "heuristic plan" if start.method == "heuristic" else "start plan (heuristic + large-neighbourhood search)"
    res.message = (f"time limit before the MILP found a plan: {what} returned" if not worse else
                   f"the MILP's best plan ({res.objective:,.0f}) was dearer than the start plan: {what} "
                   "returned")
    if res.status is not Status.OPTIMAL:  # (optimal within the MIP gap stays optimal: the bound is the MILP's)
        res.status = Status.FEASIBLE
    res.objective = sol.cost
    res.gap = relative_gap(sol.cost, res.bound)
    if cut is not None:
        _apply_cut_bound(res, cut)
    p = assemble_plan(_plan_header(start.inputs, res, scen), start.inputs, scen, y_open=sol.open_nodes,
                      pairs=sol.pairs, routes=sol.routes,
                      relay_open={r for r in sol.relays if not isinstance(r, tuple)},
                      repeater_open={r[1] for r in sol.relays if isinstance(r, tuple)}, extra=extra)
    p.source = "heuristic"
    return p


def _joint_diagnosis(inputs: PlanningInputs) -> dict:
    """Why a MILP is infeasible when every demand passed its own checks."""
    d = inputs.demands
    special = bool(d["routed"].any()) if "routed" in d.columns else False
    return {
        "source": "*", "target": "*", "reason": "joint",
        "detail": "each demand passed its own checks (connectivity, reach, capacity alone"
                  + (", disjoint paths, trusted-node limits, jurisdictions" if special else "")
                  + "), but no plan meets all requirements together: shared hops run out of device slots "
                    "(max_pairs_per_link)" + (", or disjoint routes and trusted-node limits conflict once "
                                              "reach and shared-risk groups are counted" if special else "")}


#: The cut-set bound's share of the solver time limit, and its cap (s).
CUT_BOUND_SHARE = 0.05
CUT_BOUND_MAX_S = 15.0
#: ``cut_bound = "auto"`` computes it from this many hop-device options (smaller models close their own root).
CUT_BOUND_FROM_OPTIONS = 2000


def _eur(x) -> str:
    return "none" if x is None else f"{x:,.0f}"


def _use_cut_bound(scen, inputs) -> bool:
    mode = scen.solver.get("cut_bound", "auto") or "auto"
    if mode == "off" or inputs.params.get("budget_mode"):
        return False
    return mode == "on" or len(inputs.hop_devices) >= CUT_BOUND_FROM_OPTIONS


def _apply_cut_bound(res, cut) -> None:
    """Use the cut-set bound where it beats the solver's (recorded in ``res.options["bound_method"]``)."""
    res.options.setdefault("bound_method", "milp" if res.bound is not None else None)
    b = cut.bound_eur
    if b is None or not res.status.has_plan or res.objective is None:
        return
    if b > res.objective + 1e-6 * max(1.0, abs(res.objective)):  # cannot happen for a valid bound: say so
        log.warning("cut-set bound %.6g above the plan's cost %.6g: ignored", b, res.objective)
        return
    if res.bound is None or b > res.bound:
        res.bound = min(b, res.objective)
        res.gap = relative_gap(res.objective, res.bound)
        res.options["bound_method"] = "cut-set LP"


def _finish(p, scen, net, T, t0, say, out_dir, write_outputs):
    """Verify, then write: a plan that fails verification is never written."""
    if not p.has_plan:
        T["total"] = time.perf_counter() - t0
        p.timings_s = T
        if out_dir is not None and write_outputs:
            write_plan(p, out_dir, scen, net)
        return p
    if scen.rollout.get("budgets_eur"):
        from .rollout import schedule_rollout

        t = time.perf_counter()
        p.rollout = schedule_rollout(p, scen.rollout["budgets_eur"], scen.rollout["first_year"],
                                             threads=scen.solver["threads"])
        T["rollout"] = time.perf_counter() - t
        say(f"rollout: {len(p.rollout.stages)} yearly stages ({T['rollout']:.2f} s)")
    t = time.perf_counter()
    rep = verify(p, scen, network=net)
    T["verify"] = time.perf_counter() - t
    T["total"] = time.perf_counter() - t0
    p.timings_s = T
    p.verification = rep.record()
    if not rep.ok:
        raise VerificationError(rep.violations)
    say(f"verify: {rep.checks} checks passed ({T['verify']:.2f} s)")
    if out_dir is not None and write_outputs:
        write_plan(p, out_dir, scen, net)
    return p


def write_plan(p: Plan, out_dir, scen: Scenario, net=None) -> Path:
    """Write the plan's files into ``out_dir`` atomically (all or nothing)."""
    out_dir = Path(out_dir)
    with atomic_output_dir(out_dir) as tmp:
        p.to_json(tmp / "plan.json")
        if getattr(p, "solver_log", None):
            from .atomic import safe_child

            name = p.solver_log_file or "highs.log"
            target = safe_child(tmp, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(p.solver_log, encoding="utf-8")
        if p.has_plan:
            fibre = net.edges[["u", "v", "length_km", "route_id", "geometry"]] if net is not None else None
            sites = None
            try:
                sites = read_sites(scen.input_path("sites"), scen.inputs.get("sites_layer") or None)
                sites["fibre_node"] = sites["id"].map(net.site_node) if net is not None else None
            except InputError:  # inputs changed since planning: the plan layers are still written
                pass
            write_gpkg(p, tmp / "plan.gpkg", sites=sites, fibre=fibre)
        failures = None
        if p.has_plan:
            from .failures import analyse_failures
            from .atomic import write_json_atomic

            failures = analyse_failures(p, scen, network=net)
            write_json_atomic(tmp / "failures.json", failures)
        from .report import write_report

        write_report(p, tmp, network=net, failures=failures)
    return out_dir
