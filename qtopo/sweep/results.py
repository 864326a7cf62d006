"""Collecting a sweep's results: the table, results.csv / results.parquet, the Pareto front."""
from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import tempfile
from pathlib import Path

from ..contract import PLAN_STATUSES
from .spec import STATUSES, SweepSpec
from .worker import _write_replace, result_path

_FIRST = ["id", "label", "status", "cost_eur", "gap", "best_bound"]
_LAST = ["delivered_total_bps", "target_total_bps", "min_rate_margin", "survivability", "demands_surviving_all",
         "availability_min", "n_demands",
         "n_trusted_nodes", "n_intermediate_nodes", "n_links", "device_pairs", "cost_nodes_eur",
         "cost_device_pairs_eur", "cost_devices_and_fibre_eur", "time_total_s", "time_solve_s", "wall_s",
         "verification_ok", "termination", "diagnosis", "error", "failures_error", "overrides", "host", "qtopo_version"]


def collect(out_dir: str | Path, spec: SweepSpec | None = None):
    """All result files of ``out_dir/runs`` (or only those of ``spec``, in its order) as a DataFrame.

    One row per scenario; one column per override key (dotted name) and per device type (``pairs.<name>``);
    scenarios of ``spec`` without a result file appear with an empty status.
    """
    import pandas as pd

    out_dir = Path(out_dir)
    if spec is not None:
        ids = spec.ids
        paths = [result_path(out_dir, i) for i in ids]
    else:
        paths = sorted(p for p in (out_dir / "runs").glob("*.json") if not p.name.startswith("."))
        ids = [p.stem for p in paths]
    rows, ov_keys, dev_keys = [], [], []
    runs = {r.id: r for r in spec.runs} if spec is not None else {}
    for sid, p in zip(ids, paths):
        if p.exists():
            d = json.loads(p.read_text(encoding="utf-8"))
        else:
            r = runs[sid]
            d = {"id": sid, "label": r.label, "overrides": dict(r.overrides), "status": None}
        row = {k: v for k, v in d.items() if k not in ("overrides", "device_pairs_by_type")}
        ov = d.get("overrides") or {}
        for k, v in ov.items():
            row[k] = v
            if k not in ov_keys:
                ov_keys.append(k)
        for k, v in (d.get("device_pairs_by_type") or {}).items():
            row[f"pairs.{k}"] = v
            if f"pairs.{k}" not in dev_keys:
                dev_keys.append(f"pairs.{k}")
        row["overrides"] = json.dumps(ov, sort_keys=True)
        rows.append(row)
    df = pd.DataFrame(rows)
    order = [c for c in _FIRST if c in df.columns] + ov_keys + sorted(dev_keys)
    order += [c for c in _LAST if c in df.columns and c not in order]
    order += [c for c in df.columns if c not in order]
    df = df.reindex(columns=order) if len(df) else pd.DataFrame(columns=order)
    return df


def _for_parquet(df):
    """Object columns mixing types become strings (Parquet columns have one type)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            types = {type(v) for v in out[c] if v is not None and not (isinstance(v, float) and math.isnan(v))}
            if len(types) > 1 or (types and not types <= {str, bool}):
                if types <= {int, float}:
                    out[c] = out[c].astype(float)
                else:
                    out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                                        else str(v))
    return out


def write_results(df, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.csv``, ``results.parquet`` (if pyarrow is installed) and ``pareto.png``, each atomically."""
    out_dir = Path(out_dir)
    paths = {}
    p = out_dir / "results.csv"
    _write_replace(p, df.to_csv(index=False))
    paths["csv"] = p
    try:
        importlib.import_module("pyarrow")  # only whether it imports

        p = out_dir / "results.parquet"
        fd, tmp = tempfile.mkstemp(prefix=".results.", suffix=".parquet.tmp", dir=out_dir)
        os.close(fd)
        try:
            _for_parquet(df).to_parquet(tmp, index=False)
            os.replace(tmp, p)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        paths["parquet"] = p
    except ImportError:  # pragma: no cover - optional dependency
        pass
    p = out_dir / "pareto.png"
    fd, tmp = tempfile.mkstemp(prefix=".pareto.", suffix=".png", dir=out_dir)
    os.close(fd)
    try:
        pareto_plot(df, tmp)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    paths["pareto"] = p
    return paths


def pareto_front(df, cost: str = "cost_eur", benefit: str = "delivered_total_bps"):
    """Boolean Series: rows with a plan that no other row beats (cost no higher and benefit no lower, one of
    them strictly). Rows without a plan (status not optimal/feasible) or with missing values are never on it."""
    import numpy as np
    import pandas as pd

    ok = df["status"].isin(sorted(PLAN_STATUSES)) if "status" in df else pd.Series(True, index=df.index)
    c = pd.to_numeric(df.get(cost), errors="coerce")
    b = pd.to_numeric(df.get(benefit), errors="coerce")
    ok = ok & c.notna() & b.notna()
    front = pd.Series(False, index=df.index)
    idx = np.flatnonzero(ok.to_numpy())
    cv, bv = c.to_numpy()[idx], b.to_numpy()[idx]
    for j, i in enumerate(idx):
        dominated = np.any((cv <= cv[j]) & (bv >= bv[j]) & ((cv < cv[j]) | (bv > bv[j])))
        front.iloc[i] = not dominated
    return front


def pareto_plot(df, path: str | Path | None = None, ax=None):
    """Plot cost versus delivered key rate (and versus survivability when the table has that column), with the
    Pareto front highlighted. Writes ``path`` when given; returns the matplotlib Figure."""
    import pandas as pd
    from matplotlib.figure import Figure

    panels = [("delivered_total_bps", "delivered key rate, all demands (bit/s)")]
    if "survivability" in df.columns and pd.to_numeric(df["survivability"], errors="coerce").notna().any():
        panels.append(("survivability", "survivability"))
    if ax is None and path is None:  # interactive (a notebook): a pyplot figure, shown by the backend
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(6.4 * len(panels), 4.6))
        axes = list(fig.subplots(1, len(panels), squeeze=False)[0])
    elif ax is None:  # a file: no pyplot, no global state, works with any backend
        fig = Figure(figsize=(6.4 * len(panels), 4.6))
        axes = list(fig.subplots(1, len(panels), squeeze=False)[0])
    else:
        axes, fig = [ax], ax.figure
        panels = panels[:1]
    has = df["status"].isin(sorted(PLAN_STATUSES)) if len(df) else pd.Series(dtype=bool)
    n_none = int((~has).sum()) if len(df) else 0
    for a, (col, xlabel) in zip(axes, panels):
        if len(df) and has.any():
            sub = df[has]
            x = pd.to_numeric(sub[col], errors="coerce")
            y = pd.to_numeric(sub["cost_eur"], errors="coerce") / 1e6
            opt = sub["status"] == "optimal"
            a.scatter(x[opt], y[opt], s=28, color="#4c72b0", alpha=0.7, label="optimal (within gap)")
            if (~opt).any():
                a.scatter(x[~opt], y[~opt], s=28, facecolor="none", edgecolor="#4c72b0",
                          label="feasible (time limit)")
            front = pareto_front(df, benefit=col)[has]
            fx, fy = x[front].to_numpy(), y[front].to_numpy()
            order = fx.argsort()
            # staircase: to get more than one front point's benefit, pay the next front point's cost
            a.step(fx[order], fy[order], where="pre", color="#c44e52", lw=1.5, zorder=3)
            a.scatter(fx, fy, s=60, color="#c44e52", zorder=4, label="Pareto front")
            if col == "delivered_total_bps" and x.max() > 0 and x[x > 0].min() > 0 and x.max() / x[x > 0].min() > 20:
                a.set_xscale("log")
        else:
            a.text(0.5, 0.5, "no plan to show", ha="center", va="center", transform=a.transAxes)
        a.set_xlabel(xlabel)
        a.set_ylabel("cost (million EUR)")
        a.grid(alpha=0.3)
        a.legend(loc="upper left", fontsize=8)
    title = f"{len(df)} scenarios"
    if n_none:
        title += f" ({n_none} without a plan not shown)"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, format="png")
    return fig


def summary_line(df) -> str:
    """``24 scenarios: 20 optimal, 2 feasible, 1 infeasible, 1 error`` (plus skipped and lost counts)."""
    c = df.attrs.get("sweep", {})
    parts = [f"{int((df['status'] == s).sum())} {s}" for s in STATUSES if len(df) and (df["status"] == s).any()]
    missing = int(df["status"].isna().sum()) if len(df) else 0
    if missing:
        parts.append(f"{missing} not finished")
    s = f"{len(df)} scenarios: " + (", ".join(parts) if parts else "none")
    if c.get("skipped"):
        s += f" ({c['skipped']} already done, skipped)"
    if "elapsed_s" in c:
        s += f" in {c['elapsed_s']:.1f} s"
    return s
