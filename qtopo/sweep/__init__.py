"""Scenario sweeps: many what-if variants of one scenario, run on Dask distributed.

A sweep file (TOML) names a base scenario and the overrides to vary::

    [sweep]
    scenario = "../surfnet/scenario.toml"   # relative to the sweep file
    mode = "grid"                            # grid (cartesian product) | list (one table per scenario)
    save_plans = false                       # also write each full plan under runs/<id>/
    solver_threads = 1                       # HiGHS threads per scenario (fixed per worker process)

    [fixed]                                  # overrides applied to every scenario
    "solver.time_limit_s" = 20

    [grid]                                   # dotted scenario keys -> list of values
    "costs.hut_node_eur" = [2e5, 4e5]
    "devices.apd.pair_cost_eur" = [6e4, 1.2e5]
    "demands.scale" = [0.5, 1, 2, 4]         # multiplies every demand target
    "demands.k_routes" = [1, 2]              # demands.<column> sets a demand-table column for every demand

    # mode = "list": one table per scenario, with an optional label
    # [[list]]
    # label = "cheap huts"
    # "costs.hut_node_eur" = 1e5

Keys starting with ``demands.`` change the demand table: each scenario that has them plans with a modified copy
of the demands CSV written into its working folder ``OUT/work/<id>/`` (``inputs.demands`` points there).
Every expanded scenario is validated up front (all problems at once). Each scenario has a stable id, a hash
of its sorted overrides, and a readable label. :func:`run_sweep` runs the pending scenarios on a Dask
``LocalCluster`` (one single-threaded worker process per core) or on an existing cluster, writes each result
once and atomically to ``OUT/runs/<id>.json`` and collects ``results.csv``, ``results.parquet`` and
``pareto.png``. Rerunning a sweep skips scenarios whose result file exists, so an interrupted sweep or a killed
worker loses nothing that finished. A scenario that raises is recorded with status ``error`` and its message.

Result files are written first-writer-wins (temporary file, then a hard link that fails if the file exists):
a task that dask runs again after its worker died can never replace a result with different content.
Workers and the process calling :func:`run_sweep` must see ``OUT`` on a shared file system.
"""
from __future__ import annotations

from .spec import (  # noqa: F401
    DEMANDS_PREFIX, MAX_SCENARIOS, SCALE_KEY, STATUSES, SweepRun, SweepSpec, apply_demand_overrides,
    load_sweep, make_label, scenario_id, sweep_from_dict,
)
from .worker import (  # noqa: F401
    _write_new, result_path, run_scenario, summarise_failures, summarise_plan,
)
from .driver import (  # noqa: F401
    SweepLocked, run_sweep,
)
from .results import (  # noqa: F401
    collect, pareto_front, pareto_plot, summary_line, write_results,
)

__all__ = [  # the names this package re-exports from its modules
    'DEMANDS_PREFIX', 'MAX_SCENARIOS', 'SCALE_KEY', 'STATUSES', 'SweepRun', 'SweepSpec', 'apply_demand_overrides',
    'load_sweep', 'make_label', 'scenario_id', 'sweep_from_dict', '_write_new', 'result_path', 'run_scenario',
    'summarise_failures', 'summarise_plan', 'SweepLocked', 'run_sweep', 'collect', 'pareto_front', 'pareto_plot',
    'summary_line', 'write_results',
]
