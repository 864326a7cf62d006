"""``qtopo rates``: secret-key rate versus distance for chosen protocols / device presets.

Examples::

    qtopo rates --protocol bb84-decoy --distance-km 0:300:10
    qtopo rates --device gys-2005 --device tf-sns --distance-km 0:400:5 --plot rates.png
    qtopo rates --protocol tf-sns --set detector_efficiency=0.8 --distance-km 50,100,200 --format json
    qtopo rates --list
    qtopo rates --device apd-bb84 --launch-power-dbm -10 --distance-km 0:100:10   # lit fibre (Raman noise)

Per distance: channel loss (dB) = attenuation x distance + fixed loss, secret bits per pulse (per channel use
/ symbol / pulse pair) and bit/s (bits per pulse x the device's repetition rate). The PLOB column and plot
curve are the repeaterless bound in bits per channel use (PLOB, Nat. Commun. 8, 15043 (2017)), the same unit as
bits per pulse. Bad input raises :class:`qtopo.errors.InputError` (the ``qtopo`` wrapper exits 4).
"""
from __future__ import annotations

import csv
import io
import json
import math

import click
import numpy as np

from qtopo.errors import InputError, Problem

#: Preset used for ``--protocol NAME`` when no ``--device`` of that protocol is given.
DEFAULT_PRESET = {
    "bb84-decoy": "apd-bb84",
    "bb84-vacuum-weak": "gys-vacuum-weak",
    "bb84-finite": "apd-bb84-finite",
    "mdi-qkd": "mdi-snspd",
    "tf-sns": "tf-sns",
    "cv-gg02": "cv-jouguet-2013",
}
_MAX_POINTS = 100_000


def parse_distances(spec: str) -> np.ndarray:
    """Parse ``START:STOP:STEP`` (inclusive of STOP when on the step) or a comma list of km values.

    Raises
    ------
    qtopo.errors.InputError
        Malformed, negative, non-finite, empty or too many (> 100000) distances; names ``--distance-km``.
    """
    where = "--distance-km"
    s = (spec or "").strip()
    try:
        if ":" in s:
            parts = [float(p) for p in s.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError("expected START:STOP or START:STOP:STEP")
            start, stop = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else 1.0
            if not all(math.isfinite(v) for v in (start, stop, step)):
                raise ValueError("values must be finite")
            if step <= 0:
                raise ValueError(f"step must be > 0, got {step:g}")
            if stop < start:
                raise ValueError(f"stop {stop:g} is below start {start:g}")
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            if n > _MAX_POINTS:
                raise ValueError(f"{n} points (more than {_MAX_POINTS}); use a larger step")
            d = start + step * np.arange(n)
        else:
            d = np.array([float(p) for p in s.split(",") if p.strip()])
    except ValueError as exc:
        raise InputError([Problem(where, f"cannot read {spec!r}: {exc}",
                                  "use START:STOP:STEP (e.g. 0:300:10) or a comma list (e.g. 10,50,100)")]) from None
    if d.size == 0:
        raise InputError([Problem(where, "no distances given", "e.g. 0:300:10")])
    if d.size > _MAX_POINTS:
        raise InputError([Problem(where, f"{d.size} points (more than {_MAX_POINTS})", "give fewer distances")])
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise InputError([Problem(where, f"distances must be finite and >= 0 km, got {spec!r}", "e.g. 0:300:10")])
    return d


def _parse_set(items) -> dict:
    out, probs = {}, []
    for it in items:
        if "=" not in it:
            probs.append(Problem("--set", f"{it!r} is not FIELD=VALUE", "e.g. --set detector_efficiency=0.2"))
            continue
        k, v = (x.strip() for x in it.split("=", 1))
        if v.lower() in ("none", "null"):
            out[k] = None
            continue
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    if probs:
        raise InputError(probs, "invalid --set")
    return out


def _devices(protocols, devices, overrides):
    from qtopo.keyrate import PROTOCOLS, get_device
    from qtopo.keyrate.devices import _suggest

    probs = []
    for p in protocols:
        if p not in PROTOCOLS:
            probs.append(Problem("--protocol", f"unknown protocol {p!r}", _suggest(p, PROTOCOLS)))
    if probs:
        raise InputError(probs, "invalid protocol")
    chosen = [get_device(d, **overrides) for d in devices]
    if protocols:
        for dev in chosen:
            if dev.protocol not in protocols:
                probs.append(Problem("--device", f"{dev.name!r} runs protocol {dev.protocol!r}, not one of "
                                     f"the --protocol values {list(protocols)}",
                                     "drop --protocol or pick a device of that protocol (see qtopo rates --list)"))
        if probs:
            raise InputError(probs, "device and protocol do not match")
    covered = {d.protocol for d in chosen}
    for p in protocols:
        if p not in covered:
            chosen.append(get_device(DEFAULT_PRESET[p], **overrides))
    if not chosen:
        raise InputError([Problem("--protocol / --device", "nothing to compute",
                                  "give --protocol NAME and/or --device PRESET (see qtopo rates --list)")])
    seen, unique = set(), []
    for d in chosen:
        if d not in seen:
            seen.add(d)
            unique.append(d)
    return unique


def _fmt(x: float) -> str:
    return "0" if x == 0 else f"{x:.4g}"


def _lit_reach_km(dev, lit, att: float, fixed_loss_db: float, dark_km: float) -> float:
    """Longest distance (0.5 km grid) with a positive key on lit fibre (Raman noise depends on the length)."""
    from qtopo.keyrate.raman import lit_span_rate_bps

    grid = np.arange(0.0, (dark_km if math.isfinite(dark_km) else 1000.0) + 0.5, 0.5)
    r = lit_span_rate_bps(grid, att * grid, att * grid + fixed_loss_db, dev, lit)
    pos = np.flatnonzero(r > 0)
    return float(grid[pos[-1]]) if pos.size else 0.0


def compute(distances_km, devices, attenuation_db_per_km, fixed_loss_db=0.0, lit=None) -> dict:
    """Rates of every device at every distance (the data behind all output formats).

    ``lit`` (a :class:`qtopo.keyrate.raman.LitFibre`): the fibre carries classical DWDM channels; the Raman
    noise they scatter into the receiver is added to its dark counts (see :mod:`qtopo.keyrate.raman`)."""
    from qtopo.keyrate import (max_distance_km, max_reach_db, plob_bound_loss, secret_bits_per_pulse)

    loss = attenuation_db_per_km * np.asarray(distances_km, float) + fixed_loss_db
    curves = []
    for dev in devices:
        bpp = secret_bits_per_pulse(loss, dev)
        reach = max_reach_db(dev)
        lit_info = None
        if lit is not None and lit.lit:
            from qtopo.keyrate.raman import lit_bits_per_pulse, span_noise_photons

            d = np.asarray(distances_km, float)
            noise = span_noise_photons(d, attenuation_db_per_km * d, dev, lit)
            bpp = lit_bits_per_pulse(loss, dev, noise)
            dark_km = max_distance_km(dev, attenuation_db_per_km, fixed_loss_db) if math.isfinite(reach) else math.inf
            lit_km = _lit_reach_km(dev, lit, attenuation_db_per_km, fixed_loss_db, dark_km)
            lit_info = {"launch_power_dbm": lit.launch_power_dbm, "direction": lit.direction,
                        "cross_section_per_km_nm": lit.cross_section_per_km_nm, "filter_nm": lit.filter_nm,
                        "window_ns": lit.window_s(dev) * 1e9, "max_distance_km": lit_km,
                        "dark_max_distance_km": dark_km if math.isfinite(dark_km) else None}
        curves.append({
            "device": dev.name,
            "protocol": dev.protocol,
            "source": dev.source,
            "repetition_rate_hz": dev.repetition_rate_hz,
            "max_reach_db": reach if math.isfinite(reach) else None,
            "max_distance_km": (max_distance_km(dev, attenuation_db_per_km, fixed_loss_db)
                                if math.isfinite(reach) else None),
            "bits_per_pulse": bpp,
            "rate_bps": bpp * dev.repetition_rate_hz,
        })
        if lit_info is not None:
            curves[-1]["lit_fibre"] = lit_info
    return {"distance_km": np.asarray(distances_km, float), "loss_db": loss,
            "plob_bits_per_use": plob_bound_loss(loss), "curves": curves,
            "attenuation_db_per_km": attenuation_db_per_km, "fixed_loss_db": fixed_loss_db}


def _rows(data):
    for c in data["curves"]:
        for i, d in enumerate(data["distance_km"]):
            yield {
                "device": c["device"], "protocol": c["protocol"], "distance_km": float(d),
                "loss_db": float(data["loss_db"][i]), "bits_per_pulse": float(c["bits_per_pulse"][i]),
                "rate_bps": float(c["rate_bps"][i]), "plob_bits_per_use": float(data["plob_bits_per_use"][i]),
            }


def _json_num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def render(data, fmt: str) -> str:
    """Text of the ``table``, ``json`` or ``csv`` output."""
    if fmt == "json":
        out = {
            "attenuation_db_per_km": data["attenuation_db_per_km"],
            "fixed_loss_db": data["fixed_loss_db"],
            "units": {"bits_per_pulse": "secret bits per pulse / channel use (pulse pair for MDI/TF, symbol for CV)",
                      "rate_bps": "bit/s", "plob_bits_per_use": "PLOB bound, bits per channel use"},
            "curves": [
                {k: v for k, v in c.items() if k not in ("bits_per_pulse", "rate_bps")}
                | {"points": [{"distance_km": _json_num(d), "loss_db": _json_num(l), "bits_per_pulse": _json_num(b),
                               "rate_bps": _json_num(r), "plob_bits_per_use": _json_num(p)}
                              for d, l, b, r, p in zip(data["distance_km"], data["loss_db"], c["bits_per_pulse"],
                                                       c["rate_bps"], data["plob_bits_per_use"])]}
                for c in data["curves"]
            ],
        }
        return json.dumps(out, indent=2)
    rows = list(_rows(data))
    cols = ["device", "protocol", "distance_km", "loss_db", "bits_per_pulse", "rate_bps", "plob_bits_per_use"]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
        return buf.getvalue()
    lines = []
    for c in data["curves"]:
        reach = c["max_distance_km"]
        lines.append(f"# {c['device']} ({c['protocol']}), {c['repetition_rate_hz']:.4g} Hz, max reach "
                     + (f"{c['max_reach_db']:.2f} dB = {reach:.1f} km" if reach is not None else "unbounded"))
        lines.append(f"#   source: {c['source']}")
        if c.get("lit_fibre"):
            li = c["lit_fibre"]
            lines.append(f"#   lit fibre: {li['launch_power_dbm']:g} dBm classical launch power ({li['direction']}), "
                         f"Raman cross-section {li['cross_section_per_km_nm']:.3g} /(km nm), filter "
                         f"{li['filter_nm']:g} nm, gate {li['window_ns']:.3g} ns: max distance {li['max_distance_km']:g} "
                         f"km (0.5 km grid; dark fibre above)")
        head = ["distance_km", "loss_db", "bits_per_pulse", "rate_bps", "plob_bits_per_use"]
        table = [[f"{r['distance_km']:g}", f"{r['loss_db']:.2f}", _fmt(r["bits_per_pulse"]), _fmt(r["rate_bps"]),
                  _fmt(r["plob_bits_per_use"])] for r in rows if r["device"] == c["device"]]
        widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
        lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
        lines += ["  ".join(v.rjust(w) for v, w in zip(t, widths)) for t in table]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def plot(data, path: str) -> None:
    """Bits per pulse vs distance (log scale) for each device and the PLOB bound (bits per channel use)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    d = data["distance_km"]
    for c in data["curves"]:
        y = np.where(c["bits_per_pulse"] > 0, c["bits_per_pulse"], np.nan)
        ax.semilogy(d, y, label=f"{c['device']} ({c['protocol']})")
    plob = np.where(np.isfinite(data["plob_bits_per_use"]), data["plob_bits_per_use"], np.nan)
    ax.semilogy(d, plob, "k--", label="PLOB bound (repeaterless)")
    ax.set_xlabel(f"distance (km) at {data['attenuation_db_per_km']:g} dB/km")
    ax.set_ylabel("secret bits per pulse / channel use")
    ax.set_title("Secret-key rate versus distance")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except (OSError, ValueError) as exc:
        raise InputError([Problem("--plot", f"cannot write {path!r}: {exc}",
                                  "give a writable path ending in .png, .pdf or .svg")]) from None


def list_text(fmt: str) -> str:
    """Protocols and presets with their sources."""
    from qtopo.keyrate import FIBRE_TYPES, list_presets, list_protocols

    protos, presets = list_protocols(), list_presets()
    fibres = [{"name": f.name, "attenuation_db_per_km": f.attenuation_db_per_km, "source": f.source}
              for f in FIBRE_TYPES.values()]
    if fmt == "json":
        return json.dumps({"protocols": protos, "presets": presets, "fibre_types": fibres}, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["kind", "name", "protocol", "source"])
        for p in protos:
            w.writerow(["protocol", p["name"], p["name"], p["source"]])
        for p in presets:
            w.writerow(["preset", p["name"], p["protocol"], p["source"]])
        for f in fibres:
            w.writerow(["fibre", f["name"], "", f"{f['attenuation_db_per_km']} dB/km; {f['source']}"])
        return buf.getvalue()
    lines = ["Protocols:"]
    for p in protos:
        lines.append(f"  {p['name']:18s} {p['title']}")
        lines.append(f"  {'':18s} source: {p['source']}")
    lines.append("")
    lines.append("Device presets (--device):")
    for p in presets:
        lines.append(f"  {p['name']:18s} [{p['protocol']}]")
        lines.append(f"  {'':18s} source: {p['source']}")
    lines.append("")
    lines.append("Fibre types:")
    for f in fibres:
        lines.append(f"  {f['name']:18s} {f['attenuation_db_per_km']} dB/km  ({f['source']})")
    return "\n".join(lines) + "\n"


@click.command("rates")
@click.option("--protocol", "protocols", multiple=True, metavar="NAME",
              help="Protocol to evaluate (repeatable); uses that protocol's default preset unless --device "
                   "gives one. See --list.")
@click.option("--device", "devices", multiple=True, metavar="PRESET", help="Device preset (repeatable).")
@click.option("--distance-km", "distance", default="0:300:10", show_default=True,
              help="START:STOP:STEP (inclusive) or a comma list of distances in km.")
@click.option("--attenuation-db-per-km", type=float, default=None,
              help="Fibre attenuation in dB/km [default: 0.2, or the --fibre type's].")
@click.option("--fibre", type=str, default=None, help="Fibre type preset (standard, ultra-low-loss, gys-2004).")
@click.option("--fixed-loss-db", type=float, default=0.0, show_default=True,
              help="Distance-independent loss (connectors, splices) added to every span, dB.")
@click.option("--set", "set_", multiple=True, metavar="FIELD=VALUE",
              help="Override a device field for every device, e.g. --set detector_efficiency=0.2 (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also draw bits per pulse vs distance with the PLOB bound to this image file.")
@click.option("--list", "list_", is_flag=True, help="List protocols, device presets and fibre types with sources.")
@click.option("--launch-power-dbm", type=float, default=None,
              help="Lit fibre: total classical DWDM launch power in the same fibre (dBm); Raman noise is added to "
                   "the receiver's dark counts (docs/lit_fibre.md). Default: dark fibre.")
@click.option("--raman-cross-section", type=float, default=None,
              help="Lit fibre: effective Raman cross-section rho per km per nm [default: 3e-9, a C-band channel "
                   "~20 nm from its classical neighbours; an assumption, see docs/lit_fibre.md].")
@click.option("--raman-filter-nm", type=float, default=None, help="Lit fibre: receiver filter width (nm) [default: 0.8].")
@click.option("--raman-window-ns", type=float, default=None,
              help="Lit fibre: detection gate per pulse (ns) [default: one clock period].")
@click.option("--raman-direction", type=click.Choice(["forward", "backward", "both"]), default="forward",
              show_default=True, help="Lit fibre: classical light with (forward) or against (backward) the quantum "
                                      "signal, or both ways.")
def rates_command(protocols, devices, distance, attenuation_db_per_km, fibre, fixed_loss_db, set_, fmt, plot_path,
                  list_, launch_power_dbm=None, raman_cross_section=None, raman_filter_nm=None, raman_window_ns=None,
                  raman_direction="forward"):
    """Secret-key rate (bits per pulse and bit/s) versus distance for QKD protocols and device presets."""
    from qtopo.keyrate import FIBRE_TYPES
    from qtopo.keyrate.devices import _suggest

    if list_:
        click.echo(list_text(fmt), nl=False)
        return
    probs = []
    if fibre is not None and fibre not in FIBRE_TYPES:
        probs.append(Problem("--fibre", f"unknown fibre type {fibre!r}", _suggest(fibre, FIBRE_TYPES)))
    if attenuation_db_per_km is not None and not (math.isfinite(attenuation_db_per_km) and attenuation_db_per_km > 0):
        probs.append(Problem("--attenuation-db-per-km", f"{attenuation_db_per_km!r} must be > 0", "e.g. 0.2"))
    if not (math.isfinite(fixed_loss_db) and fixed_loss_db >= 0):
        probs.append(Problem("--fixed-loss-db", f"{fixed_loss_db!r} must be >= 0", "e.g. 1.0"))
    dist = devs = None
    try:
        dist = parse_distances(distance)
    except InputError as e:
        probs += e.problems
    try:
        devs = _devices(list(protocols), list(devices), _parse_set(set_))
    except InputError as e:
        probs += e.problems
    lit = None
    if launch_power_dbm is not None:
        from qtopo.keyrate.raman import LitFibre

        kw = {k: v for k, v in (("cross_section_per_km_nm", raman_cross_section), ("filter_nm", raman_filter_nm),
                                ("window_ns", raman_window_ns)) if v is not None}
        try:
            lit = LitFibre(launch_power_dbm, direction=raman_direction, **kw)
        except InputError as e:
            probs += [Problem("--launch-power-dbm / --raman-*", f"{p.where}: {p.what}", p.fix) for p in e.problems]
        cv = [d.name for d in (devs or []) if d.protocol == "cv-gg02"]
        if cv:
            probs.append(Problem("--launch-power-dbm", f"lit fibre is not modelled for CV-QKD devices {cv}",
                                 "drop the CV device or the launch power"))
    if probs:
        raise InputError(probs, "invalid qtopo rates options")
    att = attenuation_db_per_km
    if att is None:
        att = FIBRE_TYPES[fibre].attenuation_db_per_km if fibre else FIBRE_TYPES["standard"].attenuation_db_per_km
    data = compute(dist, devs, att, fixed_loss_db, lit=lit)
    click.echo(render(data, fmt), nl=False)
    if plot_path:
        plot(data, plot_path)
        click.echo(f"wrote {plot_path}", err=True)
