"""The ``qtopo`` command line.

Exit codes: 0 plan found (optimal, or feasible with its gap reported), 2 infeasible (with a diagnosis),
3 solver failure or time limit without a plan, 4 bad input, 5 plan failed verification, 130 interrupted.
Errors are printed as messages, never as raw tracebacks (set ``QTOPO_DEBUG=1`` to see them).
"""
from __future__ import annotations

import functools
import logging
import os
import sys
import time
import warnings

import click

EXIT_OK, EXIT_INFEASIBLE, EXIT_SOLVER, EXIT_INPUT, EXIT_VERIFY, EXIT_INTERRUPT = 0, 2, 3, 4, 5, 130


def _err(msg: str) -> None:
    click.echo(msg, err=True)


def guarded(fn):
    """Map qtopo's exceptions to exit codes and clear messages (no tracebacks)."""

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        from .errors import InputError, QtopoError, SolverError, VerificationError

        try:
            return fn(*a, **kw)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except InputError as e:
            _err(f"error: {e.format()}")
            sys.exit(EXIT_INPUT)
        except VerificationError as e:
            _err(f"error: {e}\nThe plan was not written.")
            sys.exit(EXIT_VERIFY)
        except SolverError as e:
            _err(f"error: solver failure: {e}")
            sys.exit(EXIT_SOLVER)
        except QtopoError as e:
            _err(f"error: {e}")
            sys.exit(EXIT_INPUT)
        except KeyboardInterrupt:
            _err("interrupted: previous outputs were left as they were")
            sys.exit(EXIT_INTERRUPT)
        except MemoryError:
            _err("error: out of memory: reduce the instance (hut spacing, candidates) or use a larger machine")
            sys.exit(EXIT_SOLVER)
        except Exception as e:  # a bug: say so plainly, keep the traceback behind QTOPO_DEBUG
            if os.environ.get("QTOPO_DEBUG"):
                raise
            _err(f"internal error: {type(e).__name__}: {e}\n"
                 "This is a bug in qtopo; rerun with QTOPO_DEBUG=1 for the traceback and report it.")
            sys.exit(70)

    return wrapper


class _Progress:
    """One line per phase on stderr."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, line: str) -> None:
        if not self.quiet:
            click.echo(f"[{time.perf_counter() - self.t0:7.1f}s] {line}", err=True)


class GuardedGroup(click.Group):
    """A group whose every subcommand, including those registered from other modules, runs guarded."""

    def invoke(self, ctx):
        return guarded(super().invoke)(ctx)


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qtopo")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """qtopo: plan QKD networks on real fibre (trusted nodes, relays, repeaters), verified."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("default")


def _overrides(time_limit, mip_gap, threads) -> dict:
    o = {}
    if time_limit is not None:
        o["solver.time_limit_s"] = float(time_limit)
    if mip_gap is not None:
        o["solver.mip_gap"] = float(mip_gap)
    if threads is not None:
        o["solver.threads"] = int(threads)
    return o


@main.command("plan")
@click.argument("scenario", type=click.Path(dir_okay=True))
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output directory (written atomically).")
@click.option("--time-limit", type=float, default=None, help="Solver time limit in seconds.")
@click.option("--mip-gap", type=float, default=None, help="Relative MIP gap at which to stop.")
@click.option("--threads", type=int, default=None, help="Solver threads.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario value, e.g. --set costs.hut_node_eur=2e5 (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@guarded
def plan_cmd(scenario, out_dir, time_limit, mip_gap, threads, sets, quiet):
    """Plan SCENARIO (a TOML file) and write a verified plan to --out."""
    from .planner import plan

    prog = _Progress(quiet)
    ov = _overrides(time_limit, mip_gap, threads)
    ov.update(_parse_sets(sets))
    p = plan(scenario, out_dir, overrides=ov, progress=prog)
    st = p.status.value
    if p.has_plan:
        gap = p.gap
        if gap is not None:
            gap_s = f"gap {gap:.2%}"
        elif st == "feasible":  # stopped before any lower bound: say so rather than hide it
            gap_s = "gap unknown (stopped before a lower bound was found; not proven optimal)"
        else:
            gap_s = "gap 0.00%"
        click.echo(f"{st}: cost {p.cost_eur:,.0f} EUR, {gap_s} -> {os.path.join(out_dir, 'plan.json')}")
        sys.exit(EXIT_OK)
    if st == "infeasible":
        _err("infeasible: no plan can meet every demand")
        for d in p.diagnosis:
            _err(f"  - {d.source} -> {d.target}: {d.reason}: {d.detail}")
        _err(f"diagnosis written to {os.path.join(out_dir, 'plan.json')}")
        sys.exit(EXIT_INFEASIBLE)
    _err(f"{st}: the solver found no plan within the limits "
         f"(termination: {p.termination}); raise --time-limit or simplify the scenario")
    sys.exit(EXIT_SOLVER)


def _parse_sets(sets) -> dict:
    """``KEY=VALUE`` pairs; VALUE is read as a TOML value (number, true/false, "string"), else as text."""
    from .errors import InputError
    from .scenario import tomllib

    out = {}
    bad = []
    for s in sets:
        if "=" not in s:
            bad.append(f"--set {s!r}: expected KEY=VALUE, e.g. costs.hut_node_eur=200000")
            continue
        k, v = s.split("=", 1)
        try:
            out[k.strip()] = tomllib.loads(f"v = {v}")["v"]
        except tomllib.TOMLDecodeError:
            out[k.strip()] = v
    if bad:
        raise InputError(bad, "invalid command line")
    return out


@main.command("validate")
@click.argument("scenario", type=click.Path(dir_okay=True))
@guarded
def validate_cmd(scenario):
    """Check SCENARIO and its input files; report every problem at once."""
    from .candidates import build_inputs
    from .planner import load_scenario_and_inputs, read_network

    scen = load_scenario_and_inputs(scenario)
    net, demands = read_network(scen)
    inputs = build_inputs(net, demands, scen)
    st = inputs.stats
    click.echo(f"ok: {len(net.site_node)} sites, {len(net.edges)} fibre segments, {len(demands)} demands, "
               f"{st['candidates']} candidates, {st['hops']} hops")
    for n in net.notes:
        click.echo(f"  note: {n}")
    if inputs.diagnosis:
        _err("but some demands cannot be served:")
        for d in inputs.diagnosis:
            _err(f"  - {d['source']} -> {d['target']}: {d['reason']}: {d['detail']}")
        sys.exit(EXIT_INFEASIBLE)


@main.command("verify")
@click.argument("plan_path", type=click.Path())
@click.option("--scenario", type=click.Path(), default=None, help="Scenario file (default: the one named in the plan).")
@guarded
def verify_cmd(plan_path, scenario):
    """Re-check a stored plan against its input files, independently of the model."""
    from .plan import Plan
    from .scenario import load_scenario
    from .verify import verify

    p = Plan.from_json(plan_path)
    scen = load_scenario(scenario) if scenario else None
    rep = verify(p, scen)
    if rep.ok:
        click.echo(str(rep))
        return
    _err(str(rep))
    if rep.nothing_checked:  # never a success: exit as `qtopo plan` did for this status
        sys.exit(EXIT_INFEASIBLE if p.status.value == "infeasible" else EXIT_SOLVER)
    sys.exit(EXIT_VERIFY)


def _register_optional():
    """Commands that live in their own modules."""
    for mod, attr in (("cli_rates", "rates_command"), ("cli_import", "import_group"), ("sweep", "sweep_command"),
                      ("failures", "failures_command"), ("compare", "compare_command"), ("report", "report_command"),
                      ("cli_repeaters", "repeaters_command"), ("rollout", "rollout_command")):
        try:
            m = __import__(f"qtopo.{mod}", fromlist=[attr])
            cmd = getattr(m, attr)
        except (ImportError, AttributeError):
            continue
        main.add_command(cmd)


_register_optional()
