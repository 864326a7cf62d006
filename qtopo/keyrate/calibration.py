"""Published system results the commercial-class presets are checked against, and the docs table.

Every point is a secret-key rate a QKD *system* reported at a channel loss. Where a paper states only a
fibre length, the loss is the length times an assumed attenuation, and the point says so (``loss_note``).

Two uses:

* **calibration** -- a preset that names a point in ``calibrates`` reproduces that reported rate at that loss
  within :data:`CALIBRATION_TOLERANCE` (the one calibrated parameter is named in the preset's source);
* **envelope rule** -- the class's best published result at each loss (:func:`envelope_bps`) bounds the
  presets of that class: ``apd-*`` and ``snspd-*`` presets may not exceed it by more than
  :data:`ENVELOPE_MARGIN` (30%) anywhere from 0 to 30 dB (issue 13).

``python -m qtopo.keyrate.calibration docs/physics.md`` rewrites the calibration table in that file (between
the ``<!-- calibration-table -->`` markers); ``tests/test_keyrate_calibration.py`` checks it is current.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

#: Relative tolerance of a calibrated preset at its calibration point.
CALIBRATION_TOLERANCE = 0.10
#: A commercial-class preset may exceed its class envelope by at most this fraction (issue 13).
ENVELOPE_MARGIN = 0.30
#: Loss range (dB) over which the envelope rule is checked.
ENVELOPE_RANGE_DB = (0.0, 30.0)


@dataclass(frozen=True)
class SystemPoint:
    """One published system result."""

    key: str
    detector_class: str          # "apd" or "snspd"
    source: str
    loss_db: float
    rate_bps: float
    loss_note: str
    rate_note: str = ""


POINTS: tuple[SystemPoint, ...] = (
    SystemPoint(
        "sasaki-2011-spool", "apd",
        "Sasaki et al., Opt. Express 19, 10387 (2011) (Tokyo QKD network), Toshiba link: >1 Mbit/s over a 50 km "
        "fibre spool",
        10.0, 1.0e6, "50 km at an assumed 0.2 dB/km", "reported as '>1 Mbit/s'; 1.0 Mbit/s used"),
    SystemPoint(
        "sasaki-2011-field", "apd",
        "Sasaki et al., Opt. Express 19, 10387 (2011) (Tokyo QKD network), Toshiba link: 304 kbit/s on the "
        "45 km field link",
        14.5, 304e3, "14.5 dB as reported"),
    SystemPoint(
        "yuan-2018", "apd",
        "Yuan et al., J. Lightwave Technol. 36, 3427 (2018) ('10-Mb/s quantum key distribution', GHz-gated "
        "InGaAs APDs): 13.72 Mbit/s over a channel equivalent to 10 km of fibre (as quoted by Grunenfelder "
        "et al. 2023)",
        2.0, 13.72e6, "10 km at an assumed 0.2 dB/km"),
    SystemPoint(
        "li-2023", "snspd",
        "Li et al., Nat. Photon. 17, 416 (2023): 115.8 Mbit/s over 10 km of standard fibre (multi-pixel SNSPD)",
        2.0, 115.8e6, "10 km at an assumed 0.2 dB/km"),
    SystemPoint(
        "grunenfelder-2023-10km", "snspd",
        "Grunenfelder et al., Nat. Photon. 17, 422 (2023): 64 Mbit/s over 10.0 km, real-time key distillation",
        2.0, 64e6, "10.0 km at an assumed 0.2 dB/km"),
    SystemPoint(
        "grunenfelder-2023-102km", "snspd",
        "Grunenfelder et al., Nat. Photon. 17, 422 (2023): 3.0 Mbit/s over 102.4 km, real-time key distillation",
        16.4, 3.0e6, "102.4 km at an assumed 0.16 dB/km (ultra-low-loss fibre, as in the same group's Boaron "
        "et al. 2018); the conservative choice -- on 0.2 dB/km fibre the loss would be 20.5 dB and the "
        "calibrated preset would underestimate the system"),
)

#: Preset -> calibration point it reproduces (its one calibrated parameter is named in its source).
CALIBRATED: dict[str, str] = {
    "apd-bb84": "sasaki-2011-field",
    "snspd-bb84": "grunenfelder-2023-102km",
}

#: Presets bound by the envelope rule, with their detector class.
COMMERCIAL_CLASS: dict[str, str] = {
    "apd-bb84": "apd",
    "apd-bb84-finite": "apd",
    "snspd-bb84": "snspd",
}


def point(key: str) -> SystemPoint:
    for p in POINTS:
        if p.key == key:
            return p
    raise KeyError(key)


def envelope_bps(loss_db, detector_class: str) -> np.ndarray:
    """Best published rate of a detector class at each loss (bit/s).

    The upper envelope of the class's points: constant below the lowest-loss point (short links are
    limited by detectors and post-processing, not by loss), log-linear between points, and beyond the last
    point falling as the channel transmittance (one decade per 10 dB, the single-photon scaling of
    decoy BB84), an assumption stated in docs/physics.md.
    """
    pts = sorted((p for p in POINTS if p.detector_class == detector_class), key=lambda p: p.loss_db)
    if not pts:
        raise KeyError(detector_class)
    # best rate per loss, then the running upper envelope (a rate reached at higher loss is reachable at lower)
    losses = sorted({p.loss_db for p in pts})
    best = np.array([max(p.rate_bps for p in pts if p.loss_db == x) for x in losses])
    best = np.maximum.accumulate(best[::-1])[::-1]
    x = np.asarray(loss_db, dtype=float)
    logr = np.interp(x, losses, np.log10(best))
    beyond = x > losses[-1]
    logr = np.where(beyond, np.log10(best[-1]) - (x - losses[-1]) / 10.0, logr)
    return 10.0 ** logr


def model_rate_bps(preset: str, loss_db) -> np.ndarray:
    from . import get_device, secret_key_rate_bps

    return secret_key_rate_bps(np.asarray(loss_db, dtype=float), get_device(preset), exact=True)


def calibration_rows() -> list[dict]:
    """One row per (published point, preset of its class): reported and model rate and their ratio."""
    rows = []
    for p in POINTS:
        for preset, cls in COMMERCIAL_CLASS.items():
            if cls != p.detector_class:
                continue
            model = float(model_rate_bps(preset, [p.loss_db])[0])
            rows.append({"point": p.key, "source": p.source, "loss_db": p.loss_db, "loss_note": p.loss_note,
                         "reported_bps": p.rate_bps, "preset": preset, "model_bps": model,
                         "ratio": model / p.rate_bps, "calibrated": CALIBRATED.get(preset) == p.key})
    return rows


def envelope_excess(preset: str, n: int = 301) -> tuple[float, float]:
    """Largest ``model / envelope`` over 0-30 dB and the loss where it occurs."""
    loss = np.linspace(*ENVELOPE_RANGE_DB, n)
    ratio = model_rate_bps(preset, loss) / envelope_bps(loss, COMMERCIAL_CLASS[preset])
    i = int(np.argmax(ratio))
    return float(ratio[i]), float(loss[i])


def _fmt_rate(x: float) -> str:
    for unit, scale in (("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} bit/s"


def table_markdown() -> str:
    """The calibration table and the envelope check, as Markdown."""
    lines = ["| preset | published result | loss (dB) | reported | model | model / reported |",
             "|---|---|---:|---:|---:|---:|"]
    for r in calibration_rows():
        mark = " (calibration point)" if r["calibrated"] else ""
        lines.append(f"| `{r['preset']}`{mark} | {r['source']} | {r['loss_db']:g} ({r['loss_note']}) | "
                     f"{_fmt_rate(r['reported_bps'])} | {_fmt_rate(r['model_bps'])} | {r['ratio']:.2f} |")
    lines += ["", "Envelope rule (largest model / best published of the class, 0-30 dB; limit "
              f"{1 + ENVELOPE_MARGIN:.2f}):", "",
              "| preset | class | max ratio | at loss (dB) |", "|---|---|---:|---:|"]
    for preset, cls in COMMERCIAL_CLASS.items():
        ratio, at = envelope_excess(preset)
        lines.append(f"| `{preset}` | {cls} | {ratio:.2f} | {at:.1f} |")
    return "\n".join(lines) + "\n"


BEGIN = "<!-- calibration-table:begin (generated by python -m qtopo.keyrate.calibration docs/physics.md) -->"
END = "<!-- calibration-table:end -->"


def render_into(text: str) -> str:
    """``text`` with the block between the markers replaced by the current table."""
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:a] + "\n" + table_markdown() + text[b:]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stdout.write(table_markdown())
        return 0
    path = argv[0]
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    new = render_into(text)
    if new != text:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
