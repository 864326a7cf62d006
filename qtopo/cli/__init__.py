"""The ``qtopo`` command line: the only package of qtopo that imports click.

Exit codes: 0 plan found (optimal, or feasible with its gap reported), 2 infeasible (with a diagnosis),
3 solver failure or time limit without a plan, 4 bad input, 5 plan failed verification, 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM); after 130 or 143 nothing was written and earlier outputs are intact.
Errors are printed as messages, never as raw tracebacks (set ``QTOPO_DEBUG=1`` to see them).

Every command is registered explicitly in :data:`COMMANDS` (name -> module, attribute, one-line help) and its
module is imported only when that command runs, so ``qtopo --help`` imports neither NumPy, pandas, GeoPandas nor
Pyomo. A wrong entry fails loudly when the command is used (and in ``tests/test_cli_package.py``), never
silently drops the command.
"""
from __future__ import annotations

import importlib
import logging
import warnings

import click

from ._common import (EXIT_INFEASIBLE, EXIT_INPUT, EXIT_INTERRUPT, EXIT_OK, EXIT_SOLVER, EXIT_VERIFY,  # noqa: F401
                      guarded)

#: re-exported: the exit codes (public) and ``guarded`` (used by the command modules)
_REEXPORTED = (EXIT_INFEASIBLE, EXIT_INPUT, EXIT_INTERRUPT, EXIT_OK, EXIT_SOLVER, EXIT_VERIFY)

#: name -> (module, attribute, first paragraph of the command's help). The help text is repeated here so that
#: ``qtopo --help`` lists the commands without importing them; a test keeps it equal to the docstring.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "compare": ("qtopo.cli.compare", "compare_command",
                "Show what changed from PLAN_A to PLAN_B (plan.json files or output folders): nodes, links, cost, "
                "delivered rates and the trusted nodes holding each demand's key."),
    "export": ("qtopo.cli.export", "export_group",
               "Export a plan for deployment: ETSI GS QKD 015 node/topology documents, key-relay tables, map layers."),
    "failures": ("qtopo.cli.failures", "failures_command",
                 "Single-failure analysis of PLAN (plan.json or its folder): key rate kept per demand, availability."),
    "import": ("qtopo.cli.importers", "import_group",
               "Import public network data (Topology Zoo, SNDlib, CSV) into a scenario folder."),
    "plan": ("qtopo.cli.plan", "plan_cmd", "Plan SCENARIO (a TOML file) and write a verified plan to --out."),
    "rates": ("qtopo.cli.rates", "rates_command",
              "Secret-key rate (bits per pulse and bit/s) versus distance for QKD protocols and device presets."),
    "repeaters": ("qtopo.cli.repeaters", "repeaters_command",
                  "Place the fewest quantum repeaters (Rabbie et al., npj Quantum Inf. 8, 5 (2022)) on NETWORK "
                  "(a Topology Zoo .graphml[.gz] or a qtopo scenario .toml)."),
    "report": ("qtopo.cli.report", "report_command",
               "Write report.md, report.html, map.png and map.html for PLAN (plan.json or its folder), e.g. again "
               "after `qtopo failures PLAN --out failures.json` to add the failure impact table."),
    "rollout": ("qtopo.cli.rollout", "rollout_command",
                "Stage a plan over years within yearly budgets; writes rollout.json beside the plan."),
    "sweep": ("qtopo.cli.sweep", "sweep_command",
              "Run the scenarios of SWEEP_FILE (a TOML grid or list of overrides) on Dask; skip finished ones."),
    "validate": ("qtopo.cli.plan", "validate_cmd",
                 "Check SCENARIO and its input files; report every problem at once."),
    "verify": ("qtopo.cli.plan", "verify_cmd",
               "Re-check a stored plan against its input files, independently of the model."),
}


def load_command(name: str) -> click.Command:
    """Import and return the command registered as NAME (an import error propagates: nothing is skipped)."""
    module, attr, _ = COMMANDS[name]
    cmd = getattr(importlib.import_module(module), attr)
    if not isinstance(cmd, click.Command) or cmd.name != name:
        raise TypeError(f"COMMANDS[{name!r}] = {module}.{attr} is not the click command {name!r}")
    return cmd


class QtopoGroup(click.Group):
    """The top-level group: commands load on first use, and every subcommand runs guarded (exit codes, messages)."""

    def list_commands(self, ctx):
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx, name):
        if name not in self.commands and name in COMMANDS:
            self.add_command(load_command(name), name)
        return self.commands.get(name)

    def format_commands(self, ctx, formatter):
        """List the commands from :data:`COMMANDS` (as click would from their docstrings) without importing them."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for n in names:
            if n in self.commands:
                rows.append((n, self.commands[n].get_short_help_str(limit)))
            else:
                rows.append((n, click.Command(n, help=COMMANDS[n][2]).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        return guarded(super().invoke)(ctx)


@click.group(cls=QtopoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qtopo")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """qtopo: plan QKD networks on real fibre (trusted nodes, relays, repeaters), verified."""
    from ..signals import install

    install()  # SIGTERM stops qtopo like Ctrl-C: temporary files removed, previous outputs intact (exit 143)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("default")
