"""Key-rate throughput benchmark: spans per second for every protocol, written as JSON.

For one preset per protocol (and every preset with ``--all``) it records

* ``table_build_s``: cold start (reach bisection + per-device lookup table), paid once per device;
* ``spans_per_s``: warm evaluation of ``secret_key_rate_bps`` on 1e6 random losses in [0, 1.1 x reach]
  (the planner's path; one untimed warm-up, then the median of ``repeats`` runs);
* ``direct_spans_per_s``: the direct per-loss optimisation (``exact=True``) on a smaller sample, i.e. what
  the table saves.

Target (issue 3): >= 1e7 spans/s per core for the asymptotic models. NumPy element-wise code runs on one core.

Usage::

    python -m benchmarks.bench_keyrate [OUT.json] [--all]
"""
from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

TARGET_SPANS_PER_S = 1e7
ASYMPTOTIC = ("bb84-decoy", "bb84-vacuum-weak", "mdi-qkd", "tf-sns", "cv-gg02")


def _one(dev, n: int, repeats: int, n_direct: int, rng) -> dict:
    from qtopo.keyrate import max_reach_db, secret_key_rate_bps
    from qtopo.keyrate import rates as R

    R._reach_db.cache_clear()
    R._table.cache_clear()
    t0 = time.perf_counter()
    reach = max_reach_db(dev)
    secret_key_rate_bps(np.array([0.0]), dev)
    build = time.perf_counter() - t0
    top = 1.1 * reach if math.isfinite(reach) else 100.0
    loss = rng.uniform(0.0, top, n)
    secret_key_rate_bps(loss, dev)  # untimed warm-up (allocator, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = secret_key_rate_bps(loss, dev)
        times.append(time.perf_counter() - t0)
    t_warm = float(np.median(times))
    small = loss[:n_direct]
    t0 = time.perf_counter()
    secret_key_rate_bps(small, dev, exact=True)
    t_direct = time.perf_counter() - t0
    return {
        "device": dev.name,
        "protocol": dev.protocol,
        "asymptotic": dev.protocol in ASYMPTOTIC,
        "n_spans": n,
        "max_reach_db": reach if math.isfinite(reach) else None,
        "fraction_nonzero": float(np.mean(r > 0)),
        "table_build_s": build,
        "eval_s_median": t_warm,
        "spans_per_s": n / t_warm,
        "direct_n_spans": int(small.size),
        "direct_spans_per_s": small.size / t_direct,
        "meets_target": (n / t_warm >= TARGET_SPANS_PER_S) if dev.protocol in ASYMPTOTIC else None,
    }


def run(out_path=None, *, n: int = 1_000_000, repeats: int = 5, all_presets: bool = False, seed: int = 1) -> dict:
    """Measure key-rate throughput and (optionally) write the JSON report.

    Parameters
    ----------
    out_path : str or Path, optional
        JSON file to write (a directory gets ``bench_keyrate.json`` inside it).
    n : int
        Losses per evaluation (1e6 by default).
    repeats : int
        Warm repetitions; the median time is reported.
    all_presets : bool
        Every preset instead of one per protocol.
    seed : int
        Random seed of the loss sample.

    Returns
    -------
    dict
        ``{"results": [...], "target_spans_per_s": 1e7, "all_asymptotic_meet_target": bool, ...}``.
    """
    from qtopo.cli.rates import DEFAULT_PRESET
    from qtopo.keyrate import get_device, list_presets

    rng = np.random.default_rng(seed)
    names = [p["name"] for p in list_presets()] if all_presets else list(DEFAULT_PRESET.values())
    results = []
    for name in names:
        dev = get_device(name)
        n_direct = 2_000 if dev.protocol == "bb84-finite" else 20_000
        results.append(_one(dev, n, repeats, n_direct, rng))
    report = {
        "benchmark": "keyrate-throughput",
        "target_spans_per_s": TARGET_SPANS_PER_S,
        "all_asymptotic_meet_target": all(r["meets_target"] for r in results if r["asymptotic"]),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "results": results,
    }
    if out_path is not None:
        p = Path(out_path)
        if p.is_dir() or str(out_path).endswith(os.sep):
            p = p / "bench_keyrate.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(json.dumps(report, indent=2))
        tmp.replace(p)
    return report


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rep = run(args[0] if args else "bench_keyrate.json", all_presets="--all" in sys.argv)
    for r in rep["results"]:
        print(f"{r['device']:18s} {r['protocol']:17s} {r['spans_per_s']:10.3g} spans/s (table), "
              f"{r['direct_spans_per_s']:9.3g} spans/s direct, build {r['table_build_s']:.2f} s")
    print("asymptotic models meet 1e7 spans/s:", rep["all_asymptotic_meet_target"])
