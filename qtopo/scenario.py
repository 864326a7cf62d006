"""Scenario files: a declarative, validated description of one planning problem.

A scenario is a TOML file naming the input files (paths relative to the scenario file) and holding every
parameter: network noding tolerances and route factor, fibre loss model, costs, the device catalog and the
solver options. :func:`load_scenario` validates everything and reports *all* problems at once; the returned
:class:`Scenario` is frozen. The schema below is the single source of truth for keys, types, units, defaults
and bounds.
"""
from __future__ import annotations

import copy
import difflib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import InputError, ProblemCollector


def _toml_plain(v: Any, where: str):
    """``v`` as the plain Python types tomli-w writes (NumPy scalars and arrays, paths, tuples converted)."""
    if isinstance(v, Mapping):
        return {str(k): _toml_plain(x, f"{where}.{k}") for k, x in v.items()}
    if isinstance(v, (list, tuple)) or type(v).__name__ == "ndarray":
        return [_toml_plain(x, where) for x in v]
    if isinstance(v, (str, bool, int, float)):
        return v
    if isinstance(v, PurePath):
        return str(v)
    if hasattr(v, "item") and type(v).__module__ == "numpy":  # NumPy scalar
        return v.item()
    raise TypeError(f"{where}: cannot write {type(v).__name__} {v!r} to TOML")


def to_toml(doc: Mapping[str, Any]) -> str:
    """TOML text of a scenario-shaped document (tables of scalars, ``[devices.NAME]`` sub-tables), written by
    tomli-w; it parses back (``tomllib``) to ``doc``. Raises :class:`TypeError` for values TOML cannot hold."""
    import tomli_w

    return tomli_w.dumps(_toml_plain(doc, "document"))


def toml_value(v: Any) -> str:
    """One TOML value (``"text"``, ``1.5``, ``true``...), for templates that interleave values with comments."""
    return to_toml({"v": v})[len("v = "):].rstrip("\n")


# ---------------------------------------------------------------------------------------------------------
# Schema: section -> key -> (type, default, lower bound, upper bound, description with unit)
# default None means required when the section is given (inputs) or optional (others, described).
# ---------------------------------------------------------------------------------------------------------
_F = float
_I = int
_S = str
_B = bool
_L = list

#: Plausibility caps on money (EUR): far above any real QKD network, far below where a MILP's numerics break
#: (a 1e300 EUR cost made every other cost vanish in the solver's tolerances).
MAX_ITEM_EUR = 1e10      # one node, device pair, chain or km of fibre
MAX_TOTAL_EUR = 1e13     # a whole budget

SCHEMA: dict[str, dict[str, tuple]] = {
    "scenario": {
        "name": (_S, "scenario", None, None, "short name used in reports"),
        "description": (_S, "", None, None, "free text"),
        "seed": (_I, 0, 0, None, "random seed for anything randomised (heuristics); recorded in the plan"),
    },
    "inputs": {
        "sites": (_S, None, None, None, "sites file (Points): GeoPackage, GeoParquet, FlatGeobuf, "
                                        "GeoJSON or Shapefile"),
        "routes": (_S, None, None, None, "fibre routes file (LineStrings)"),
        "demands": (_S, None, None, None, "demands CSV: source,target,target_bps"),
        "existing_links": (_S, "", None, None, "brownfield: CSV of installed device pairs "
                           "(from,to,device,pairs), or an ETSI topology document (.json, qtopo export etsi)"),
        "sites_layer": (_S, "", None, None, "layer name in a multi-layer GeoPackage"),
        "routes_layer": (_S, "", None, None, "layer name in a multi-layer GeoPackage"),
    },
    "network": {
        "route_factor": (_F, 1.0, 1.0, 5.0, "fibre length / geodesic length where routes carry no length_km"),
        "node_tolerance_m": (_F, 500.0, 0.0, 1e5, "route endpoints/junctions closer than this merge (m)"),
        "snap_tolerance_m": (_F, 2000.0, 0.0, 1e6, "sites farther than this from every route vertex are errors (m)"),
        "hut_spacing_km": (_F, 0.0, 0.0, 1e4, "candidate in-line huts along routes every this many km (0: none)"),
        "max_hop_loss_db": (_F, 0.0, 0.0, 200.0, "cap on hop loss in dB (0: each device's own reach)"),
    },
    "fibre": {
        "attenuation_db_per_km": (_F, 0.2, 0.0, 10.0, "fibre attenuation (dB/km)"),
        "connector_loss_db": (_F, 1.0, 0.0, 50.0, "connector loss per hop, both ends together (dB)"),
        "splice_loss_db_per_km": (_F, 0.0, 0.0, 5.0, "splice loss averaged per km (dB/km)"),
        "raman_cross_section_per_km_nm": (_F, 3e-9, 0.0, 1e-6, "lit fibre: effective Raman cross-section rho "
                                          "(1/(km nm)); an assumption for a C-band channel ~20 nm from its "
                                          "classical neighbours, see docs/lit_fibre.md"),
        "raman_filter_nm": (_F, 0.8, 1e-4, 100.0, "lit fibre: QKD receiver filter width (nm)"),
        "raman_window_ns": (_F, 0.0, 0.0, 1e6, "lit fibre: detection gate (ns); 0: one clock period of the device"),
        "raman_direction": (_S, "forward", None, None, "lit fibre: classical light 'forward' (with the quantum "
                            "signal), 'backward' or 'both'"),
    },
    "costs": {
        "trusted_node_eur": (_F, 100000.0, 0.0, MAX_ITEM_EUR, "capex of a trusted node at a point of presence (EUR)"),
        "hut_node_eur": (_F, 300000.0, 0.0, MAX_ITEM_EUR, "capex of a trusted node in a new in-line hut (EUR)"),
        "fibre_eur_per_km": (_F, 0.0, 0.0, MAX_ITEM_EUR, "fibre cost per device pair per km of its hop (EUR/km)"),
        "relay_node_eur": (_F, 100000.0, 0.0, MAX_ITEM_EUR, "capex of an untrusted MDI/TF relay station at a PoP (EUR); "
                           "in a hut it costs hut_node_eur"),
        "opex_fraction_per_year": (_F, 0.0, 0.0, 1.0, "yearly opex as a fraction of capex"),
        "horizon_years": (_F, 1.0, 0.0, 100.0, "reporting horizon for cost per key bit (years)"),
    },
    "risk": {
        "srg_buffer_m": (_F, 0.0, 0.0, 1e5, "fibre segments closer than this share a corridor risk group (m); 0: off"),
        "srg_min_overlap_km": (_F, 1.0, 0.0, 1e4, "least shared corridor length to form a risk group (km)"),
    },
    "repeaters": {
        "enabled": (_B, False, None, None, "offer quantum-repeater chains as a link type (no trusted node needed)"),
        "l_max_km": (_F, 0.0, 0.0, 1e4, "longest elementary link of a chain (km); 0: derive from targets"),
        "n_max": (_I, 0, 0, 100, "most repeaters on one chain; 0 with l_max_km = 0: derive from targets"),
        "rate_bps": (_F, 0.0, 0.0, 1e12, "secret-key rate one chain delivers (bit/s)"),
        "fidelity_target": (_F, 0.0, 0.0, 1.0, "end-to-end fidelity target to derive n_max (Rabbie et al. 2022)"),
        "repeater_node_eur": (_F, 500000.0, 0.0, MAX_ITEM_EUR, "capex of a repeater station (EUR)"),
        "chain_cost_eur": (_F, 200000.0, 0.0, MAX_ITEM_EUR, "end equipment of one chain (EUR)"),
        "max_chains_per_link": (_I, 2, 1, 1000, "most chains between one pair of nodes"),
    },
    "availability": {
        "node": (_F, None, 0.0, 1.0, "availability of a trusted node or relay (e.g. 0.9999)"),
        "bypass_node": (_F, None, 0.0, 1.0, "availability of a node the fibre passes optically"),
        "fibre_per_km_unavailability": (_F, None, 0.0, 1.0, "fibre unavailability per km (cuts x repair time)"),
        "fibre_cuts_per_km_year": (_F, None, 0.0, 10.0, "fibre cuts per km and year (with fibre_repair_h)"),
        "fibre_repair_h": (_F, None, 0.0, 1e4, "mean time to repair a fibre cut (h)"),
        "corridor": (_F, None, 0.0, 1.0, "availability of a shared corridor (one dig cuts both routes)"),
    },
    "governance": {
        "countries_file": (_S, "", None, None, "country polygons (iso_a2 column) for allowed_countries; "
                           "default: bundled Natural Earth"),
    },
    "objective": {
        "mode": (_S, "min_cost", None, None, "'min_cost': meet every target at least cost; 'max_rate': maximise "
                 "weighted delivered key rate within budget_eur"),
        "budget_eur": (_F, 0.0, 0.0, MAX_TOTAL_EUR, "cost cap for mode = 'max_rate' (EUR, including sunk brownfield cost "
                       "is excluded)"),
    },
    "rollout": {
        "budgets_eur": (_L, [], 0.0, MAX_TOTAL_EUR, "yearly budgets (EUR) to stage the plan over years; empty: no staging"),
        "first_year": (_I, 2027, 1900, 2200, "calendar year of the first stage"),
    },
    "solver": {
        "time_limit_s": (_F, 120.0, 0.0, 1e7, "wall-clock limit for the MILP solve (s); 0: no limit"),
        "mip_gap": (_F, 1e-4, 0.0, 1.0, "relative MIP gap at which to stop"),
        "threads": (_I, 1, 1, 256, "solver threads"),
        "heuristic_start": (_B, True, None, None, "compute a constructive plan first and give it as MIP start"),
        "commodities": (_S, "auto", None, None,
                        "'demand' (one flow per demand: tighter LP), 'source' (aggregated by source: smaller), "
                        "or 'auto' (per demand up to 40 demands and 100,000 flow columns)"),
        "log_file": (_S, "", None, None, "write the solver log here (a file name ending in .log or .txt, "
                     "relative to --out; default <solver name>.log)"),
        "root_lp": (_S, "auto", None, None,
                    "LP algorithm of HiGHS's root relaxation: 'simplex', 'ipm' (interior point, then crossover), or "
                    "'auto' (ipm from 100,000 nonzeros: dual simplex stalls on these degenerate flow LPs)"),
        "cut_bound": (_S, "auto", None, None,
                      "rigorous lower bound from a cut-set LP before the MILP (qtopo.cutbound): 'on', 'off', or "
                      "'auto' (on from 2,000 hop-device options, where the MILP's root LP may not finish)"),
        "lns": (_S, "auto", None, None,
                "large-neighbourhood search on sub-MIPs from the start plan, on a thread alongside the MILP "
                "(qtopo.lns): 'on', 'off', or 'auto' (on from 2,000 hop-device options, where the MILP does not "
                "improve the start plan in time)"),
        "name": (_S, "highs", None, None,
                 "MILP solver: 'highs' (default, the fast path) or any solver Pyomo runs here by name ('gurobi', "
                 "'cplex', 'scip', 'xpress', 'cbc', 'glpk', ...)"),
    },
}

DEVICE_KEYS: dict[str, tuple] = {
    "preset": (_S, None, None, None, "key-rate device preset (see `qtopo rates --list`)"),
    "pair_cost_eur": (_F, 100000.0, 0.0, MAX_ITEM_EUR, "cost of one QKD transmitter/receiver pair (EUR)"),
    "max_pairs_per_link": (_I, 8, 1, 10000, "most device pairs of this type on one hop"),
    "enabled": (_B, True, None, None, "set false to keep a device in the file but not use it"),
    "wavelength_nm": (_I, None, 400, 2500, "centre wavelength of the quantum channel (nm), from the vendor's data "
                      "sheet; only exported (ETSI GS QKD 015 phys_wavelength, wavelength_range), the key rates use "
                      "the fibre's attenuation"),
}

#: Endings a solver log file may have (``solver.log_file``): never the name of another output.
LOG_SUFFIXES = (".log", ".txt")

_TYPE_NAMES = {_F: "a number", _I: "an integer", _S: "a string", _B: "true or false", _L: "a list of numbers"}


@dataclass(frozen=True)
class DeviceSpec:
    """A device type available to the planner: physics from a key-rate preset, cost from the scenario."""

    name: str
    preset: str
    pair_cost_eur: float
    max_pairs_per_link: int
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def device(self):
        """The :class:`qtopo.keyrate.Device` (preset with overrides applied)."""
        from .keyrate import get_device

        return get_device(self.preset, **dict(self.overrides))


@dataclass(frozen=True)
class Scenario:
    """A validated planning scenario. Build with :func:`load_scenario` or :func:`scenario_from_dict`."""

    path: Path | None
    raw: Mapping[str, Any]
    scenario: Mapping[str, Any]
    inputs: Mapping[str, Any]
    network: Mapping[str, Any]
    fibre: Mapping[str, Any]
    costs: Mapping[str, Any]
    risk: Mapping[str, Any]
    repeaters: Mapping[str, Any]
    availability: Mapping[str, Any]
    governance: Mapping[str, Any]
    objective: Mapping[str, Any]
    rollout: Mapping[str, Any]
    solver: Mapping[str, Any]
    devices: tuple[DeviceSpec, ...]

    @property
    def name(self) -> str:
        return self.scenario["name"]

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()

    def input_path(self, key: str) -> Path:
        """Absolute path of an input file named in ``[inputs]``."""
        p = Path(self.inputs[key])
        return p if p.is_absolute() else (self.base_dir / p)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Scenario":
        """A new validated scenario with dotted-key overrides, e.g. ``{"solver.time_limit_s": 10}``."""
        return scenario_from_dict(apply_overrides(self.raw, overrides), path=self.path)


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any], what: str = "--set") -> dict:
    """A deep copy of ``raw`` with dotted-key overrides applied (``{"costs.hut_node_eur": 1e5}``).

    Raises
    ------
    InputError
        Naming every override whose key is empty or passes through a value that is not a table
        (``network.route_factor.x`` when ``route_factor`` is a number).
    """
    from .errors import Problem

    out = copy.deepcopy(dict(raw))
    bad = []
    for dotted, value in overrides.items():
        parts = str(dotted).split(".")
        if any(not p.strip() for p in parts):
            bad.append(Problem(f"{what} {dotted}={value!r}", "the key has an empty part",
                               "write it as section.key, e.g. costs.hut_node_eur"))
            continue
        d = out
        for i, part in enumerate(parts[:-1]):
            nxt = d.get(part)
            if nxt is None:
                nxt = d[part] = {}
            if not isinstance(nxt, dict):
                bad.append(Problem(f"{what} {dotted}={value!r}",
                                   f"'{'.'.join(parts[:i + 1])}' is a value ({type(nxt).__name__} {nxt!r}), not a "
                                   "table, so it has no key "
                                   f"'{parts[i + 1]}'", f"set '{'.'.join(parts[:i + 1])}' itself"))
                break
            d = nxt
        else:
            d[parts[-1]] = value
    if bad:
        raise InputError(bad, "invalid overrides")
    return out


def _check_value(col: ProblemCollector, where: str, key: str, value, spec) -> Any:
    typ, default, lo, hi, desc = spec
    if typ is _F:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
            if not math.isfinite(value):
                col.add(where, f"'{key}' is {value}", f"give a finite number ({desc})")
                return None
    elif typ is _I:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ is _B:
        ok = isinstance(value, bool)
    elif typ is _L:
        ok = isinstance(value, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                             and math.isfinite(x) and x >= (lo or 0.0) for x in value)
        if ok:
            big = [x for x in value if hi is not None and x > hi]
            if big:
                col.add(where, f"'{key}' holds {big[0]:g}, above its plausible maximum {hi:g}",
                        f"use values <= {hi:g} ({desc})")
                return None
            return [float(x) for x in value]
    else:
        ok = isinstance(value, str)
    if not ok:
        col.add(where, f"'{key}' must be {_TYPE_NAMES[typ]}, got {type(value).__name__} {value!r}",
                f"set {key} to {_TYPE_NAMES[typ]} ({desc})")
        return None
    if lo is not None and value < lo:
        col.add(where, f"'{key}' = {value} is below its minimum {lo}", f"use a value >= {lo} ({desc})")
        return None
    if hi is not None and value > hi:
        if hi >= 1e6:  # a plausibility cap, not a physical limit: say so, and print it readably
            col.add(where, f"'{key}' = {value:g} is above its plausible maximum {hi:g}",
                    f"use a value from {lo:g} to {hi:g} ({desc}); check the unit")
        else:
            col.add(where, f"'{key}' = {value} is above its maximum {hi}", f"use a value <= {hi} ({desc})")
        return None
    return value


def _unknown_key(col: ProblemCollector, where: str, key: str, known) -> None:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(sorted(known))}"
    col.add(where, f"unknown key '{key}'", hint)


def scenario_from_dict(raw: Mapping[str, Any], path: Path | str | None = None) -> Scenario:
    """Validate a scenario given as nested dicts (as parsed from TOML) and return a :class:`Scenario`.

    Raises
    ------
    InputError
        Listing every problem: unknown sections or keys (with the close match), wrong types, values out of
        range, missing required inputs, devices without a known preset or with invalid overrides.
    """
    path = Path(path).resolve() if path is not None else None
    fname = path.name if path is not None else "scenario"
    col = ProblemCollector(f"invalid scenario {path if path is not None else ''}".strip())
    if not isinstance(raw, Mapping):
        col.add(fname, "the scenario is not a table of sections")
        col.raise_if_any()
    sections = _check_sections(raw, col, fname)
    _check_section_rules(sections, col, fname)
    devices = _check_devices(raw, col, fname)
    col.raise_if_any()
    return Scenario(path=path, raw=copy.deepcopy(dict(raw)), devices=tuple(devices), **sections)


#: Solver keys with a fixed set of choices (the first is the default).
_SOLVER_CHOICES = {"commodities": ("auto", "demand", "source"), "cut_bound": ("auto", "on", "off"),
                   "lns": ("auto", "on", "off"), "root_lp": ("auto", "simplex", "ipm")}


def _check_sections(raw: Mapping, col: ProblemCollector, fname: str) -> dict[str, dict]:
    """Each section of :data:`SCHEMA` with its keys checked and defaults filled; unknown sections and keys
    reported with the close match."""
    known_sections = set(SCHEMA) | {"devices", "options"}
    for sec in raw:
        if sec not in known_sections:
            _unknown_key(col, f"{fname} [{sec}]", sec, known_sections)
    sections: dict[str, dict] = {}
    for sec, keys in SCHEMA.items():
        given = raw.get(sec, {})
        where = f"{fname} [{sec}]"
        if not isinstance(given, Mapping):
            col.add(where, f"[{sec}] must be a table, got {type(given).__name__}", f"write it as [{sec}] key = value")
            given = {}
        out = {}
        for k, v in given.items():
            if k not in keys:
                _unknown_key(col, where, k, keys)
        for k, spec in keys.items():
            if k in given:
                out[k] = _check_value(col, where, k, given[k], spec)
            else:
                if spec[1] is None and sec == "inputs" and k in ("sites", "routes", "demands"):
                    col.add(where, f"missing required key '{k}'", f"add {k} = \"path/to/file\" (path relative to the scenario)")
                out[k] = spec[1]
        sections[sec] = out
    return sections


def _check_section_rules(sections: dict, col: ProblemCollector, fname: str) -> None:
    """Rules across keys: enabled repeaters need their targets, budget mode a budget, the solver log a safe file
    name, the solver's choice keys one of their choices and a solver name one that Pyomo runs here."""
    rp = sections["repeaters"]
    if rp.get("enabled"):
        if not rp.get("rate_bps"):
            col.add(f"{fname} [repeaters]", "enabled repeaters need rate_bps > 0 (key rate of one chain)",
                    "add rate_bps = ...")
        if not rp.get("l_max_km") and not rp.get("fidelity_target"):
            col.add(f"{fname} [repeaters]", "give l_max_km and n_max, or fidelity_target to derive them",
                    "add l_max_km = ... and n_max = ...")
    if sections["objective"].get("mode") not in ("min_cost", "max_rate", None):
        col.add(f"{fname} [objective]", f"mode = {sections['objective']['mode']!r} is not 'min_cost' or 'max_rate'",
                "use mode = \"min_cost\"")
    elif sections["objective"].get("mode") == "max_rate" and not sections["objective"].get("budget_eur"):
        col.add(f"{fname} [objective]", "mode = 'max_rate' needs budget_eur > 0", "add budget_eur = ...")
    lf = sections["solver"].get("log_file")
    if lf and (Path(lf).is_absolute() or ".." in Path(lf).parts or Path(lf).drive):
        col.add(f"{fname} [solver]", f"log_file = {lf!r} must stay inside the output directory",
                "give a plain file name such as \"highs.log\" (it is written into --out)")
    elif lf and (lf.endswith(("/", "\\")) or Path(lf).name in ("", ".", "..")
                 or Path(lf).suffix.lower() not in LOG_SUFFIXES):
        # "./" names a directory; "plan.json" would overwrite the plan with the solver log
        col.add(f"{fname} [solver]", f"log_file = {lf!r} is not a log file name (it must end in "
                f"{' or '.join(LOG_SUFFIXES)}, so it can never replace an output such as plan.json)",
                "give a plain file name such as \"highs.log\" (it is written into --out)")
    if sections["fibre"].get("raman_direction") not in ("forward", "backward", "both", None):
        col.add(f"{fname} [fibre]", f"raman_direction = {sections['fibre']['raman_direction']!r} is not one of "
                "'forward', 'backward', 'both'", "use raman_direction = \"forward\"")
    for key, choices in _SOLVER_CHOICES.items():
        v = sections["solver"].get(key)
        if v is not None and v not in choices:
            col.add(f"{fname} [solver]", f"{key} = {v!r} is not one of {', '.join(map(repr, choices))}",
                    f"use {key} = \"{choices[0]}\"")
    name = sections["solver"].get("name")
    if name is not None and (not isinstance(name, str) or name.strip().lower() != "highs"):
        from .solver_names import check_name  # imports Pyomo: only for a solver other than the default

        msg = check_name(name)
        if msg:
            col.add(f"{fname} [solver]", msg, "install the solver (and its Pyomo interface) or use name = \"highs\"")


def _check_devices(raw: Mapping, col: ProblemCollector, fname: str) -> list[DeviceSpec]:
    """The enabled device types, each resolved against the physics catalog (preset and overrides checked)."""
    devices: list[DeviceSpec] = []
    dev_raw = raw.get("devices", {})
    if not isinstance(dev_raw, Mapping) or not dev_raw:
        col.add(f"{fname} [devices]", "no device types given",
                "add at least one table like [devices.apd] preset = \"apd-bb84\" pair_cost_eur = 100000")
        dev_raw = {}
    try:
        from .keyrate import get_device, list_presets
        preset_names = [p["name"] if isinstance(p, Mapping) else getattr(p, "name", str(p)) for p in list_presets()]
    except ImportError:  # pragma: no cover - keyrate always ships
        get_device, preset_names = None, []
    for dname, d in dev_raw.items():
        where = f"{fname} [devices.{dname}]"
        if not isinstance(d, Mapping):
            col.add(where, "must be a table", f"write [devices.{dname}] with preset = ... below it")
            continue
        vals = {}
        for k, spec in DEVICE_KEYS.items():
            if k in d:
                vals[k] = _check_value(col, where, k, d[k], spec)
            else:
                vals[k] = spec[1]
        if vals.get("preset") is None:
            if "preset" not in d:
                col.add(where, "missing 'preset'", f"add preset = one of {', '.join(preset_names)}")
            continue
        overrides = {k: v for k, v in d.items() if k not in DEVICE_KEYS}
        if get_device is not None:
            try:
                get_device(vals["preset"], **overrides)
            except InputError as e:
                for p in e.problems:
                    col.add(f"{where} {p.where}", p.what, p.fix)
                continue
        if vals["enabled"] is False:
            continue
        if None in (vals["pair_cost_eur"], vals["max_pairs_per_link"]):
            continue
        devices.append(DeviceSpec(dname, vals["preset"], vals["pair_cost_eur"], vals["max_pairs_per_link"],
                                  dict(overrides)))
    if dev_raw and not devices and not col.problems:
        col.add(f"{fname} [devices]", "every device type is disabled (enabled = false)",
                "enable at least one device type")
    return devices


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read and validate a scenario TOML file.

    Parameters
    ----------
    path : str or Path
        The scenario file. Input paths inside it are relative to its folder.
    overrides : mapping, optional
        Dotted keys overriding the file, e.g. ``{"solver.time_limit_s": 30}`` (argument > file > default).
    """
    p = Path(path)
    col = ProblemCollector("cannot read scenario")
    if not p.exists():
        col.add(str(p), "file does not exist", "check the path")
    elif p.is_dir():
        col.add(str(p), "is a directory, not a scenario file", "pass the .toml file inside it")
    col.raise_if_any()
    from .textfile import read_utf8

    text = read_utf8(p, "scenario")  # a UTF-8 byte-order mark is accepted; UTF-16 is named as such
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        from .errors import Problem
        raise InputError([Problem(str(p), f"not valid TOML: {e}", "fix the syntax at that line")],
                         "cannot read scenario") from None
    if overrides:
        raw = apply_overrides(raw, overrides)
    return scenario_from_dict(raw, path=p)
