"""The plan contract: typed dataclasses for ``plan.json``, its JSON Schema, loading and migration.

Every module that reads a plan (report, viz, failures, compare, rollout, sweep, verify) works on these objects,
never on raw dicts. The JSON form is lossless: ``Plan.from_dict(d).to_dict() == d`` for every schema-valid
``d``, and the published schema ``qtopo/schemas/plan.schema.json`` is generated from the dataclasses below by
:func:`plan_json_schema` (``python -m qtopo.contract`` rewrites it; a test checks the committed copy).

Conventions: every key is always written (``null`` where a value does not apply), units are in names
(``cost_eur``, ``rate_bps``, ``length_km``, ``loss_db``, ``*_s``), the spelling is "fibre", and the requested
MIP tolerance (``solver.options.mip_gap``) is distinct from the achieved relative gap (``gap``).

This module imports only the standard library (and ``jsonschema`` when validating), so ``verify`` and the
report can load a plan without the optimiser stack.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
"""Version of ``plan.json`` written by this qtopo. 1: the untyped format before the contract (migrated on load)."""

SCHEMA_ID = "https://qtopo.example/schemas/plan.schema.json"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "plan.schema.json"
MAX_PLAN_BYTES = 2 * 1024 ** 3  # refuse to parse larger files (a plan of 1e5 links is ~100 MB)


class Status(str, enum.Enum):
    """Normalised outcome of a solve (and of a plan)."""

    OPTIMAL = "optimal"              # proven optimal within mip_gap
    FEASIBLE = "feasible"            # a plan with a reported gap (time limit or interrupted)
    INFEASIBLE = "infeasible"        # no plan exists (diagnosis attached by the planner)
    NO_SOLUTION = "no_solution"      # time limit or interruption before any plan was found
    ERROR = "error"                  # solver failure

    @property
    def has_plan(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


PLAN_STATUSES = frozenset(s.value for s in Status if s.has_plan)
"""Status values that come with a plan (for vectorised tests such as ``df.status.isin(PLAN_STATUSES)``)."""


def _f(description: str, default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING,
       json_name: str | None = None, optional: bool = False, **schema) -> Any:
    """A dataclass field with its schema description (units!), optional JSON name and extra schema keywords.

    ``optional``: a reader accepts the key's absence (the default is used); the writer always writes it. For
    record-keeping fields and fields added after a schema version was published."""
    md = {"description": description, "schema": schema, "optional": optional}
    if json_name:
        md["json"] = json_name
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=md)
    return field(default=default, metadata=md)


# ------------------------------------------------------------------------------------------------------------
# the dataclasses
# ------------------------------------------------------------------------------------------------------------
@dataclass
class ScenarioRef:
    """The scenario a plan was made from."""

    name: str = _f("scenario name ([scenario] name)")
    path: str | None = _f("absolute path of the scenario TOML file, null for an in-memory scenario", None)


@dataclass
class ObjectiveSpec:
    """What the optimiser was asked for."""

    mode: str = _f("'min_cost': meet every target at least cost; 'max_rate': maximise weighted delivered key "
                   "rate within budget_eur", "min_cost", enum=["min_cost", "max_rate"])
    budget_eur: float = _f("cost cap in max_rate mode (EUR); 0 in min_cost mode", 0.0, minimum=0)


@dataclass
class SolverRecord:
    """Which solver produced the plan, with what options, on what model size."""

    name: str = _f("solver name (e.g. 'highs')")
    version: str = _f("solver version")
    options: dict[str, Any] = _f("options passed to the solver; mip_gap is the requested relative tolerance",
                                 factory=dict)
    sizes: dict[str, Any] = _f("model size: variables, constraints, nonzeros", factory=dict)
    message: str = _f("solver or planner message", "")


@dataclass
class Diagnosis:
    """Why a demand (or the instance) cannot be served."""

    source: str = _f("demand source site id, '*' for the whole instance")
    target: str = _f("demand target site id, '*' for the whole instance")
    reason: str = _f("machine-readable reason (disconnected, no_hop_chain, governance, trusted_hop_limit, "
                     "disjoint_routes, capacity, joint)")
    detail: str = _f("explanation for a person")


@dataclass
class CostBreakdown:
    """Capital cost of the plan by category (EUR)."""

    nodes_eur: float = _f("trusted nodes and sites opened (EUR)", minimum=0)
    relays_eur: float = _f("untrusted relays (EUR)", minimum=0)
    devices_and_fibre_eur: float = _f("device pairs and fibre per km on all links (EUR)", minimum=0)
    device_pairs_eur: float = _f("device pairs alone (EUR)", minimum=0)
    repeaters_eur: float = _f("repeater stations (EUR)", minimum=0)
    total_eur: float = _f("nodes + relays + repeaters + devices and fibre (EUR)", minimum=0)
    sunk_brownfield_eur: float = _f("cost of what exists already and is reused (EUR, not in total_eur)", minimum=0)


@dataclass
class Node:
    """An opened node (site, trusted node, relay or repeater station)."""

    id: str = _f("fibre node id (a site id or a hut id)")
    site_kind: str = _f("kind of the underlying site (datacenter, pop, hut, ...)")
    lon: float = _f("longitude (degrees, WGS84)", minimum=-180, maximum=180)
    lat: float = _f("latitude (degrees, WGS84)", minimum=-90, maximum=90)
    existing: bool = _f("already built (brownfield)")
    kind: str = _f("role in the plan", enum=["site", "trusted", "relay", "repeater"])
    cost_eur: float = _f("capex paid for this node in the plan (EUR; 0 if existing)", minimum=0)
    degree: int = _f("number of planned links ending here", minimum=0)


@dataclass
class Link:
    """QKD device pairs on one hop between two trusted nodes, over a fibre path."""

    id: str = _f("'<from>--<to>:<device>', with '@lit' appended for pairs on lit fibre")
    from_node: str = _f("trusted node at one end", json_name="from")
    to_node: str = _f("trusted node at the other end", json_name="to")
    fibre_path: list[str] = _f("fibre nodes from 'from' to 'to'", minItems=2)
    length_km: float = _f("fibre length (km)", minimum=0)
    loss_db: float = _f("channel loss: fibre, splices and connectors (dB)", minimum=0)
    protocol: str = _f("QKD protocol of the device")
    device: str = _f("device name in the scenario's catalog ('repeater' for a repeater chain)")
    device_pairs: int = _f("device pairs (or repeater chains) on the link, existing ones included", minimum=0)
    existing_pairs: int = _f("pairs that exist already (brownfield)", minimum=0)
    rate_bps_per_pair: float = _f("secret-key rate of one pair (bit/s)", minimum=0)
    capacity_bps: float = _f("device_pairs x rate_bps_per_pair (bit/s)", minimum=0)
    cost_eur: float = _f("capex of the new pairs and their fibre (EUR)", minimum=0)
    cost_per_pair_eur: float = _f("capex of one pair including its fibre (EUR)", minimum=0)
    load_bps: float = _f("key rate routed over the link (bit/s)", minimum=0)
    utilisation: float = _f("load_bps / capacity_bps", minimum=0)
    relay: str | None = _f("untrusted relay node (MDI / twin-field), null otherwise", None)
    repeaters: list[str] = _f("repeater stations along a repeater chain, empty otherwise", factory=list)
    fibre: str = _f("'dark': the pairs use leased dark fibre; 'lit': they share a fibre carrying classical DWDM "
                    "traffic, their rate reduced by its Raman noise (docs/lit_fibre.md)", "dark",
                    enum=["dark", "lit"], optional=True)


@dataclass
class Route:
    """One route of a demand: a chain of trusted nodes and the key rate it carries."""

    nodes: list[str] = _f("trusted nodes from the demand's source node to its target node", minItems=2)
    rate_bps: float = _f("key rate on this route (bit/s)")


@dataclass
class DemandResult:
    """A demand with its requirements and what the plan delivers."""

    source: str = _f("source site id")
    target: str = _f("target site id")
    source_node: str = _f("fibre node of the source site")
    target_node: str = _f("fibre node of the target site")
    target_bps: float = _f("required secret-key rate (bit/s)", minimum=0)
    delivered_bps: float = _f("rate the routes guarantee under the demand's protection rule (bit/s)", minimum=0)
    routes: list[Route] = _f("routes carrying the demand's key", factory=list)
    trusted_nodes: list[str] = _f("every node that holds the demand's key (endpoints included)", factory=list)
    intermediate_trusted_nodes: list[str] = _f("trusted nodes that hold the key, endpoints excluded", factory=list)
    k_routes: int = _f("disjoint routes required", 1, minimum=1)
    protection: str | None = _f("'1+1' or 'k-1' when k_routes > 1, else null", None)
    disjoint: str | None = _f("disjointness level when k_routes > 1 (node, fibre, corridor), else null", None)
    max_trusted_nodes: int | None = _f("most intermediate trusted nodes allowed, null: unlimited", None)
    allowed_countries: list[str] = _f("ISO codes the key may pass (empty: any)", factory=list)
    excluded_nodes: list[str] = _f("nodes the key must not pass", factory=list)
    excluded_operators: list[str] = _f("operators whose nodes the key must not pass", factory=list)
    weight: float = _f("weight in max_rate mode", 1.0, minimum=0)


@dataclass
class InputFile:
    """An input file and its SHA-256 when the plan was made."""

    role: str = _f("scenario, sites, routes, demands or existing_links")
    path: str = _f("absolute path")
    sha256: str | None = _f("SHA-256 hex digest, null if the path is not a regular file", None)


@dataclass
class InputRecord:
    """The inputs of a plan: files with hashes and the scenario as parsed."""

    files: list[InputFile] = _f("input files", factory=list)
    scenario: dict[str, Any] = _f("the scenario TOML as read (before defaults)", factory=dict)


@dataclass
class VerificationRecord:
    """Result of the independent verification run before the plan was written."""

    ok: bool = _f("true when no violation was found")
    violations: list[str] = _f("violations found", factory=list)
    warnings: list[str] = _f("warnings (e.g. changed inputs)", factory=list)
    checks: int = _f("number of checks run", 0, minimum=0)


@dataclass
class CutBoundRecord:
    """The cut-set LP lower bound computed before the MILP (``[solver] cut_bound``)."""

    bound_eur: float | None = _f("rigorous lower bound on the plan cost (EUR), null if none could be computed")
    lp_objective_eur: float | None = _f("the last LP's objective (EUR; not rigorous: the bound is)")
    rounds: int = _f("cut rounds", 0, minimum=0)
    cuts: int = _f("cuts added", 0, minimum=0)
    seconds: float = _f("wall time (s)", 0.0, minimum=0)
    status: str = _f("converged, time limit, round limit or 'not applicable: ...'", "")
    method: str = _f("how the bound was computed", "")


@dataclass
class RolloutStage:
    """What is built in one year of a staged rollout."""

    year: int = _f("calendar year")
    budget_eur: float = _f("budget of this year (EUR)", minimum=0)
    spend_eur: float = _f("spent this year (EUR)")
    cumulative_spend_eur: float = _f("spent up to and including this year (EUR)")
    cumulative_budget_eur: float = _f("budgets up to and including this year (EUR)")
    nodes: list[str] = _f("nodes built this year", factory=list)
    relays: list[str] = _f("relays built this year", factory=list)
    links: list[str] = _f("link ids built this year", factory=list)
    demands_served: list[str] = _f("'source->target' of demands served in this year", factory=list)
    served_bps: float = _f("sum of targets served in this year (bit/s)", 0.0)


@dataclass
class Rollout:
    """A plan staged over years within yearly budgets."""

    status: Status = _f("status of the scheduling MILP")
    first_year: int | None = _f("calendar year of the first stage", None)
    budgets_eur: list[float] = _f("yearly budgets (EUR)", factory=list)
    stages: list[RolloutStage] = _f("one entry per year", factory=list)
    unbuilt: list[str] = _f("elements not built within the budgets", factory=list)
    rule: str = _f("how budgets and service are counted", "")
    message: str = _f("scheduler message", "")


@dataclass
class Plan:
    """A network plan: the content of ``plan.json``.

    ``cost_eur`` is the plan's total capex in every objective mode; ``objective_value`` and ``best_bound`` are in
    the objective's unit (EUR in ``min_cost`` mode, weighted bit/s in ``max_rate`` mode).
    """

    schema_version: int = _f("version of this schema", SCHEMA_VERSION, const=SCHEMA_VERSION)
    status: Status = _f("outcome: a plan exists only for optimal and feasible", Status.ERROR)
    termination: str = _f("solver termination reason (e.g. optimal, time_limit, precheck)", "")
    cost_eur: float | None = _f("total capex of the plan (EUR), null without a plan", None)
    objective_value: float | None = _f("objective value, in EUR (min_cost) or weighted bit/s (max_rate)", None)
    best_bound: float | None = _f("best proven bound on the objective (objective's unit)", None)
    gap: float | None = _f("achieved relative gap between objective_value and best_bound (the requested "
                           "tolerance is solver.options.mip_gap)", None)
    delivered_weighted_bps: float | None = _f("sum of weight x delivered rate (max_rate mode), else null",
                                              None, optional=True)
    source: str | None = _f("'milp' or 'heuristic': what produced the plan", None, optional=True)
    heuristic_cost_eur: float | None = _f("cost of the start heuristic's plan (EUR), null if none ran",
                                          None, optional=True)
    scenario: ScenarioRef = _f("the scenario", factory=lambda: ScenarioRef(name=""))
    objective: ObjectiveSpec = _f("the objective", factory=ObjectiveSpec)
    solver: SolverRecord = _f("the solver", factory=lambda: SolverRecord(name="", version=""))
    diagnosis: list[Diagnosis] = _f("why demands cannot be served (infeasible plans)", factory=list, optional=True)
    stats: dict[str, Any] = _f("sizes of the planning tables (candidates, hops, ...)", factory=dict, optional=True)
    cost_breakdown: CostBreakdown | None = _f("capex by category, null without a plan", None)
    nodes: list[Node] = _f("opened nodes", factory=list)
    links: list[Link] = _f("planned links", factory=list)
    demands: list[DemandResult] = _f("every demand with its routes", factory=list)
    fibre_coords: dict[str, list[float]] = _f("fibre node id -> [lon, lat] (degrees, WGS84)", factory=dict)
    inputs: InputRecord = _f("input files with hashes", factory=InputRecord)
    versions: dict[str, str] = _f("versions of Python, qtopo and its libraries", factory=dict, optional=True)
    seed: int = _f("random seed of the scenario", 0, optional=True)
    notes: list[str] = _f("notes from reading the network", factory=list, optional=True)
    solver_log_file: str | None = _f("name of the solver log file written beside plan.json", None, optional=True)
    timings_s: dict[str, float] = _f("wall time per phase (s)", factory=dict, optional=True)
    cut_bound: CutBoundRecord | None = _f("cut-set LP lower bound, null if not computed", None, optional=True)
    verification: VerificationRecord | None = _f("independent verification, null if not run", None, optional=True)
    rollout: Rollout | None = _f("staged rollout, null if not requested", None, optional=True)

    # ------------------------------------------------------------------ convenience
    @property
    def has_plan(self) -> bool:
        return self.status.has_plan

    @property
    def budget_mode(self) -> bool:
        return self.objective.mode == "max_rate"

    def __repr__(self) -> str:
        cost_s = f"{self.cost_eur:,.0f} EUR" if self.cost_eur is not None else "-"
        return (f"<Plan {self.scenario.name!r} status={self.status.value} cost={cost_s} nodes={len(self.nodes)} "
                f"links={len(self.links)} demands={len(self.demands)}>")

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """The JSON-ready dict (every key present; lossless)."""
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "plan.json", validate: bool = True):
        """Build a plan from its JSON dict (migrating older schema versions); raise InputError if invalid."""
        from .errors import InputError

        try:
            data = migrate(data, source)
            if validate:
                problems = validation_problems(data)
                if problems:
                    raise InputError([f"{source}: {p}" for p in problems],
                                     "not a valid qtopo plan (see qtopo/schemas/plan.schema.json)")
            return from_jsonable(cls, data)
        except RecursionError:
            raise InputError([f"{source}: nested too deeply to be a qtopo plan"], "cannot read plan") from None

    def to_json(self, path) -> None:
        from .atomic import write_json_atomic

        write_json_atomic(path, self.to_dict())

    @classmethod
    def from_json(cls, path):
        """Read ``plan.json`` (or ``DIR/plan.json``); every problem is an :class:`InputError` naming the file."""
        p = Path(path)
        if p.is_dir():
            p = p / "plan.json"
        data = read_plan_json(p)
        plan = cls.from_dict(data, source=str(p))
        plan.path = p
        return plan

    def __getattr__(self, name):
        # only reached when normal lookup fails: the geo views and writers live in the layers that own them
        if name in _MOVED:
            raise AttributeError(f"Plan.{name}() is {_MOVED[name]} (the plan contract imports no output module)")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


#: The plan's former convenience methods -> the functions that do the job, in the layers that own them.
_MOVED = {
    "nodes_gdf": "qtopo.plan.nodes_gdf(plan)", "links_gdf": "qtopo.plan.links_gdf(plan)",
    "routes_gdf": "qtopo.plan.routes_gdf(plan)", "layers": "qtopo.plan.layers(plan, sites=, fibre=)",
    "write_gpkg": "qtopo.plan.write_gpkg(plan, path, sites=, fibre=)",
    "write_layers": "qtopo.plan.write_layers(plan, folder, fmt, sites=, fibre=)",
    "explore": "qtopo.explore(plan, network=)",
}


# ------------------------------------------------------------------------------------------------------------
# generic (de)serialisation driven by the type hints
# ------------------------------------------------------------------------------------------------------------
def _json_name(f: dataclasses.Field) -> str:
    return f.metadata.get("json", f.name)


def _public_fields(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if not f.name.startswith("_")]


def to_jsonable(v):
    """Dataclasses, enums, lists and dicts -> plain JSON types (NumPy scalars become Python numbers)."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {_json_name(f): to_jsonable(getattr(v, f.name)) for f in _public_fields(v)}
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # NumPy scalar
        return v.item()
    return v


_HINTS: dict = {}


def _hints(cls) -> dict:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _convert(tp, v):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return v
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if v is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, v)
    if origin is list:
        return [_convert(args[0], x) for x in v]
    if origin is dict:
        return {k: _convert(args[1], x) for k, x in v.items()}
    if dataclasses.is_dataclass(tp):
        return v if isinstance(v, tp) else from_jsonable(tp, v)
    if tp is float:
        return float(v)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(v)
    return v


def from_jsonable(cls, data: dict):
    """Build dataclass ``cls`` from its JSON dict (already schema-valid)."""
    hints = _hints(cls)
    kw = {}
    for f in _public_fields(cls):
        name = _json_name(f)
        if name in data:
            kw[f.name] = _convert(hints[f.name], data[name])
    return cls(**kw)


def set_fields(obj, values: dict):
    """Set dataclass fields of ``obj`` by name from plain or typed values (plain dicts become dataclasses)."""
    hints = _hints(type(obj))
    for k, v in values.items():
        if k not in hints:
            raise TypeError(f"{type(obj).__name__} has no field {k!r}")
        setattr(obj, k, _convert(hints[k], v))
    return obj


# ------------------------------------------------------------------------------------------------------------
# JSON Schema, generated from the dataclasses
# ------------------------------------------------------------------------------------------------------------
def _schema_of(tp, defs: dict) -> dict:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return {}
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        (inner,) = [a for a in args if a is not type(None)]
        return {"anyOf": [_schema_of(inner, defs), {"type": "null"}]}
    if origin is list:
        return {"type": "array", "items": _schema_of(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(args[1], defs)}
    if dataclasses.is_dataclass(tp):
        _define(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    return {str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"},
            float: {"type": "number"}}[tp]


def _define(cls, defs: dict) -> dict:
    if cls.__name__ in defs:
        return defs[cls.__name__]
    defs[cls.__name__] = {}  # placeholder against recursion
    hints = _hints(cls)
    props = {}
    for f in _public_fields(cls):
        s = _schema_of(hints[f.name], defs)
        extra = dict(f.metadata.get("schema", {}))
        if extra:
            if "anyOf" in s:  # constraints apply to the non-null branch
                s["anyOf"][0] = {**s["anyOf"][0], **extra}
            else:
                s = {**s, **extra}
        props[_json_name(f)] = {"description": f.metadata.get("description", ""), **s}
    required = [_json_name(f) for f in _public_fields(cls) if not f.metadata.get("optional")]
    d = {"type": "object", "description": " ".join((cls.__doc__ or "").split()),
         "properties": props, "required": required, "additionalProperties": False}
    defs[cls.__name__] = d
    return d


def plan_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of ``plan.json``, generated from the dataclasses."""
    defs: dict = {}
    root = dict(_define(Plan, defs))
    del defs["Plan"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": f"qtopo plan.json, schema version {SCHEMA_VERSION}", **root,
            "$defs": dict(sorted(defs.items()))}


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Write the generated schema (what ``python -m qtopo.contract`` does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan_json_schema(), indent=1) + "\n", encoding="utf-8")
    return path


_VALIDATOR = None


def validation_problems(data) -> list[str]:
    """Every schema violation of a plan dict, as 'where: what' lines (empty when valid)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        import jsonschema

        _VALIDATOR = jsonschema.Draft202012Validator(plan_json_schema())
    out = []
    for e in sorted(_VALIDATOR.iter_errors(data), key=lambda e: [str(x) for x in e.absolute_path]):
        where = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in e.absolute_path).lstrip(".") or "(top)"
        msg = e.message if len(e.message) <= 200 else e.message[:200] + "..."
        out.append(f"{where}: {msg}")
        if len(out) >= 50:
            out.append("... (further problems not listed)")
            break
    return out


# ------------------------------------------------------------------------------------------------------------
# reading and migrating
# ------------------------------------------------------------------------------------------------------------
def read_plan_json(p: Path) -> dict:
    """Parse a plan file into a dict; every failure is an InputError naming the file and the fix."""
    from .errors import InputError

    def fail(msg):
        raise InputError([f"{p}: {msg}"], "cannot read plan")

    try:
        if not p.exists():
            fail("plan file does not exist")
        if not p.is_file():
            fail("not a regular file (give plan.json or the output folder)")
        if p.stat().st_size > MAX_PLAN_BYTES:
            fail(f"{p.stat().st_size} bytes: too large for a plan")
        text = p.read_text(encoding="utf-8")
        data = json.loads(text)
    except InputError:
        raise
    except OSError as e:
        fail(f"cannot be read ({e.strerror or e})")
    except UnicodeDecodeError as e:
        fail(f"not UTF-8 text ({e.reason} at byte {e.start})")
    except json.JSONDecodeError as e:
        fail(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})")
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        fail(f"not a valid plan.json ({e})")
    except RecursionError:
        fail("nested too deeply to be a qtopo plan")
    if not isinstance(data, dict) or "status" not in data:
        fail("not a qtopo plan (no 'status' key at the top level)")
    return data


def _num(x):
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x


def migrate(data: dict, source: str = "plan.json") -> dict:
    """Bring a plan dict of an older schema version to :data:`SCHEMA_VERSION` (a new dict; input untouched).

    Version 1 (no or ``schema_version: 1``): ``fiber_path`` -> ``fibre_path``, node and link ``cost`` ->
    ``cost_eur``, ``mip_gap`` (the achieved gap) -> ``gap``, ``objective_cost`` -> ``cost_eur`` and
    ``objective_value`` (in ``max_rate`` mode ``objective_cost`` already held the cost and ``objective_value``
    the rate), ``heuristic_cost`` -> ``heuristic_cost_eur``; absent keys get their defaults.
    """
    from .errors import InputError

    if not isinstance(data, dict):
        raise InputError([f"{source}: not a qtopo plan (a JSON object is expected)"], "cannot read plan")
    v = data.get("schema_version", 1)
    if v == SCHEMA_VERSION:
        return data
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise InputError([f"{source}: schema_version {v!r} is not a qtopo plan schema version "
                          f"(this qtopo reads 1 to {SCHEMA_VERSION})"], "cannot read plan")
    if v > SCHEMA_VERSION:
        raise InputError([f"{source}: schema_version {v} was written by a newer qtopo; this one reads up to "
                          f"{SCHEMA_VERSION}: upgrade qtopo"], "cannot read plan")
    try:
        return _migrate_v1(data)
    except (TypeError, AttributeError, ValueError, KeyError) as e:
        raise InputError([f"{source}: not a qtopo plan of schema version 1, nor of version {SCHEMA_VERSION} "
                          f"(schema_version is missing): {type(e).__name__}: {e}"], "cannot read plan") from None


def _migrate_v1(old: dict) -> dict:
    d = json.loads(json.dumps(old, allow_nan=True))  # deep copy
    budget = isinstance(d.get("objective"), dict) and d["objective"].get("mode") == "max_rate"
    new: dict = {"schema_version": SCHEMA_VERSION}
    for k in ("status", "termination"):
        if k in d:
            new[k] = d.pop(k)
    oc = d.pop("objective_cost", None)
    ov = d.pop("objective_value", None)
    new["cost_eur"] = _num(oc)
    new["objective_value"] = _num(ov if budget else oc)
    new["best_bound"] = _num(d.pop("best_bound", None))
    new["gap"] = _num(d.pop("mip_gap", None))
    new["delivered_weighted_bps"] = _num(d.pop("delivered_weighted_bps", None))
    new["source"] = d.pop("source", None)
    new["heuristic_cost_eur"] = _num(d.pop("heuristic_cost", None))
    for k in ("scenario", "objective", "solver"):
        if k in d:
            new[k] = d.pop(k)
    if isinstance(new.get("solver"), dict):
        new["solver"].setdefault("options", {})
        new["solver"].setdefault("sizes", {})
        new["solver"].setdefault("message", "")
        new["solver"]["message"] = new["solver"]["message"] or ""
    if isinstance(new.get("objective"), dict):
        new["objective"] = {"mode": new["objective"].get("mode", "min_cost"),
                            "budget_eur": _num(new["objective"].get("budget_eur", 0.0))}
    new["diagnosis"] = [{"source": str(x.get("source", "")), "target": str(x.get("target", "")),
                         "reason": str(x.get("reason", "")), "detail": str(x.get("detail", ""))}
                        if isinstance(x, dict) else x for x in d.pop("diagnosis", [])]
    new["stats"] = d.pop("stats", {})
    cb = d.pop("cost_breakdown", None)
    if isinstance(cb, dict):
        cb = {k: _num(x) for k, x in cb.items()}
        cb.setdefault("repeaters_eur", 0.0)
        cb.setdefault("device_pairs_eur", 0.0)
        cb.setdefault("sunk_brownfield_eur", 0.0)
    new["cost_breakdown"] = cb
    new["nodes"] = [_migrate_node(n) for n in d.pop("nodes", [])]
    new["links"] = [_migrate_link(L) for L in d.pop("links", [])]
    new["demands"] = [_migrate_demand(x) for x in d.pop("demands", [])]
    new["fibre_coords"] = d.pop("fibre_coords", {})
    inp = d.pop("inputs", {"files": [], "scenario": {}})
    if isinstance(inp, dict):
        inp.setdefault("files", [])
        inp.setdefault("scenario", {})
    new["inputs"] = inp
    new["versions"] = d.pop("versions", {})
    new["seed"] = d.pop("seed", 0)
    new["notes"] = d.pop("notes", [])
    new["solver_log_file"] = d.pop("solver_log_file", None)
    new["timings_s"] = {k: _num(x) for k, x in d.pop("timings_s", {}).items()} if isinstance(
        d.get("timings_s"), dict) else d.pop("timings_s", {})
    new["cut_bound"] = d.pop("cut_bound", None)
    new["verification"] = d.pop("verification", None)
    ro = d.pop("rollout", None)
    if isinstance(ro, dict):
        ro = {"status": ro.get("status"), "first_year": ro.get("first_year"),
              "budgets_eur": [_num(x) for x in ro.get("budgets_eur", [])],
              "stages": [{**{k: _num(x) if k.endswith(("_eur", "_bps")) else x for k, x in st.items()},
                          "relays": st.get("relays", [])} if isinstance(st, dict) else st
                         for st in ro.get("stages", [])],
              "unbuilt": ro.get("unbuilt", []), "rule": ro.get("rule", ""), "message": ro.get("message", "")}
    new["rollout"] = ro
    new.pop("schema_version")
    new = {"schema_version": SCHEMA_VERSION, **new}
    d.pop("schema_version", None)
    new.update(d)  # unknown keys stay, and the schema names them
    return new


def _migrate_node(n):
    if not isinstance(n, dict):
        return n
    n = dict(n)
    if "cost" in n:
        n["cost_eur"] = _num(n.pop("cost"))
    for k in ("lon", "lat"):
        n[k] = _num(n.get(k))
    n.setdefault("existing", False)
    n.setdefault("degree", 0)
    return n


def _migrate_link(L):
    if not isinstance(L, dict):
        return L
    out = {}
    for k, x in L.items():
        k2 = {"fiber_path": "fibre_path", "cost": "cost_eur"}.get(k, k)
        out[k2] = _num(x) if k2.endswith(("_km", "_db", "_bps", "_eur", "_pair", "utilisation")) else x
    out.setdefault("relay", None)
    out.setdefault("repeaters", [])
    out.setdefault("existing_pairs", 0)
    out.setdefault("utilisation", out["load_bps"] / out["capacity_bps"] if isinstance(
        out.get("load_bps"), (int, float)) and isinstance(out.get("capacity_bps"), (int, float))
        and out["capacity_bps"] else 0.0)
    return out


def _migrate_demand(x):
    if not isinstance(x, dict):
        return x
    x = dict(x)
    for k in ("target_bps", "delivered_bps", "weight"):
        if k in x:
            x[k] = _num(x[k])
    x["routes"] = [{**r, "rate_bps": _num(r.get("rate_bps"))} if isinstance(r, dict) else r
                   for r in x.get("routes", [])]
    for k, dv in (("protection", None), ("disjoint", None), ("max_trusted_nodes", None), ("allowed_countries", []),
                  ("excluded_nodes", []), ("excluded_operators", []), ("weight", 1.0), ("k_routes", 1),
                  ("trusted_nodes", []), ("intermediate_trusted_nodes", [])):
        x.setdefault(k, dv)
    return x


if __name__ == "__main__":  # python -m qtopo.contract: regenerate the published schema
    print(write_schema())
