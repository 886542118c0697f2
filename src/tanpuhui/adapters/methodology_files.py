"""Methodology and behaviour-group files: YAML on disk, validated, turned into domain objects.

A file is parsed with line tracking, validated against a schema (pydantic) and then checked
semantically (the model exists and gets the factor roles it needs, units agree, regions exist,
validity periods of one factor role do not overlap). Every problem is reported at once with its
line: `MethodologyFileError.problems` = ["bike.yaml:12: factors[0].value: must be > 0", ...].

The canonical JSON of a validated version is what is stored and hashed; its SHA-256 is the
version's `content_hash`, recorded with every reduction quantified by it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from tanpuhui.domain.errors import MethodologyFileError
from tanpuhui.domain.methodology import (
    ZERO_EMISSION_MODES,
    Band,
    Bounds,
    Confidence,
    DayMerge,
    Factor,
    Frequency,
    Group,
    Methodology,
    Plausibility,
    Substitution,
    quality_rank,
)
from tanpuhui.domain.models import MODELS
from tanpuhui.domain.quantity import (
    DENOMINATOR_QUANTITY,
    QUANTITY_KEYS,
    grams_per_unit,
    parse_unit,
)
from tanpuhui.domain.regions import RegionCatalogue

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,79}$")]
BehaviourCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
RegionCode = Annotated[str, StringConstraints(pattern=r"^[1-9]\d{5}$")]
CATEGORIES = ("衣", "食", "住", "行", "用", "办公", "数字金融")


def _whole_number_as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


#: Parameters are kept as the text written (so the stored content hashes alike when rebuilt);
#: a bare whole number is read as its digits. Each model checks its own parameters.
ParameterText = Annotated[
    str, BeforeValidator(_whole_number_as_text), StringConstraints(max_length=200)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FactorSpec(_Strict):
    id: Code
    role: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    value: Decimal = Field(gt=0)
    unit: str
    source: Annotated[str, StringConstraints(min_length=3)]
    confidence: Confidence
    region: RegionCode | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    series: str = ""
    note: str = ""

    @field_validator("unit")
    @classmethod
    def _unit_known(cls, unit: str) -> str:
        if unit not in QUANTITY_FACTOR_UNITS:
            parse_unit(unit)
        return unit

    @field_validator("value", mode="before")
    @classmethod
    def _value_is_text(cls, value: object) -> object:
        if isinstance(value, float):
            raise ValueError('write factor values as quoted decimal strings, e.g. "46.7"')
        return value


class BoundsSpec(_Strict):
    min: Decimal | None = Field(default=None, ge=0)
    max: Decimal | None = Field(default=None, gt=0)


class DayBoundsSpec(BoundsSpec):
    """A bound per day of the period an event covers, with where it comes from: a published
    value, or an operator's choice labelled `operator-set` (no published one exists)."""

    source: Annotated[str, StringConstraints(min_length=3)]
    confidence: Confidence


class FrequencySpec(_Strict):
    max: int = Field(ge=1, le=1000)
    window_s: int = Field(ge=60, le=31 * 86_400)


class PlausibilitySpec(_Strict):
    max_speed_kmh: Decimal | None = Field(default=None, gt=0)
    duration_s: BoundsSpec = BoundsSpec()
    quantities: dict[str, BoundsSpec] = {}
    #: at most `max` claims of the behaviour per person within any `window_s` seconds
    frequency: FrequencySpec | None = None
    #: bounds per day of the period an event covers (a 30-day reading may hold 30 × max)
    quantities_per_day: dict[str, DayBoundsSpec] = {}


#: Fields added after versions were published: left out of the canonical content when absent,
#: so that the content hash of every version published before them stays what it was.
_LATER_PLAUSIBILITY_FIELDS = ("frequency", "quantities_per_day")


#: The largest emission factor a behaviour plausibly has per unit (100 kg): anything above is
#: a unit slip (t for kg, kg for g) rather than a fact.
MAX_GRAMS_PER_UNIT = 100_000

#: Units of factors that are not emission factors, and the roles that may use them.
QUANTITY_FACTOR_UNITS = {"kWh/person-day": {"city_baseline"}}


class BandSpec(_Strict):
    up_to_km: Decimal | None = Field(default=None, gt=0)
    shares: dict[BehaviourCode, Annotated[Decimal, Field(ge=0, le=1)]] = Field(min_length=1)


class SubstitutionSpec(_Strict):
    method: Literal["均值法", "替代法"]
    source: Annotated[str, StringConstraints(min_length=3)]
    confidence: Confidence
    bands: list[BandSpec] = Field(min_length=1)


class MethodologySpec(_Strict):
    code: Code
    version: int = Field(ge=1)
    title: Annotated[str, StringConstraints(min_length=3)]
    category: Literal["衣", "食", "住", "行", "用", "办公", "数字金融"]
    standard: str = ""
    description: str = ""
    model: str
    behaviours: list[BehaviourCode] = Field(min_length=1)
    group: BehaviourCode
    region: RegionCode | None = None
    effective_from: date
    effective_to: date | None = None
    claim_window_days: int = Field(default=30, ge=1, le=366)
    daily_cap_grams: int | None = Field(default=None, gt=0)
    parameters: dict[str, ParameterText] = {}
    factors: list[FactorSpec] = Field(min_length=1)
    plausibility: PlausibilitySpec = PlausibilitySpec()
    substitution: SubstitutionSpec | None = None
    #: fraction deducted from a reduction by its quality tier (see domain.methodology)
    uncertainty_deduction: dict[Confidence, Annotated[Decimal, Field(ge=0, lt=1)]] = {}

    @field_validator("uncertainty_deduction", mode="before")
    @classmethod
    def _deduction_is_text(cls, value: object) -> object:
        if isinstance(value, dict) and any(isinstance(v, float) for v in value.values()):
            raise ValueError('write deductions as quoted decimal strings, e.g. "0.1"')
        return value


#: Fields added after versions were published: left out of the canonical JSON while they hold
#: their default, so the content hash of every version published before them is unchanged.
_ADDED_FIELDS = ("uncertainty_deduction",)


class GroupSpec(_Strict):
    code: BehaviourCode
    title: Annotated[str, StringConstraints(min_length=3)]
    exclusive: bool
    clock_skew_s: int = Field(default=0, ge=0, le=3600)
    daily_cap_grams: int | None = Field(default=None, gt=0)
    cap_source: str = ""
    day_merge: DayMerge | None = None
    day_claims: dict[BehaviourCode, BehaviourCode] = {}


class GroupsFileSpec(_Strict):
    groups: list[GroupSpec] = Field(min_length=1)


_SpecT = TypeVar("_SpecT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class LoadedMethodology:
    """A validated version: the domain object and the canonical JSON it was hashed from."""

    methodology: Methodology
    content: str


# --- reading YAML with line numbers -------------------------------------------------------


def _load_with_lines(text: str, name: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Parse YAML; also map every path (('factors', 0, 'value')) to its 1-based line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise MethodologyFileError(
            f"{name} is not valid YAML", [f"{name}:{line}: {getattr(exc, 'problem', exc)}"]
        ) from None
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(n: yaml.Node | None, path: tuple[str | int, ...]) -> None:
        if n is None:
            return
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                child = (*path, str(key.value))
                walk(value, child)
                lines[child] = key.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*path, i))

    walk(node, ())
    data = yaml.safe_load(text) if node is not None else None
    return data, lines


def _line(lines: Mapping[tuple[str | int, ...], int], path: tuple[str | int, ...]) -> int:
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path, 1)


def _path_text(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(file)"


def _validate(
    model: type[_SpecT], data: Any, lines: Mapping[tuple[str | int, ...], int], name: str
) -> _SpecT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            problems.append(f"{name}:{_line(lines, loc)}: {_path_text(loc)}: {err['msg']}")
        raise MethodologyFileError(f"{name} does not match the schema", problems) from None


# --- methodologies ------------------------------------------------------------------------


def parse_methodology(
    text: str, name: str, regions: RegionCatalogue, groups: Iterable[str] | None = None
) -> LoadedMethodology:
    """Validate a methodology version file; raise `MethodologyFileError` listing every problem."""
    data, lines = _load_with_lines(text, name)
    spec = _validate(MethodologySpec, data, lines, name)
    problems = _semantic_problems(spec, lines, name, regions, groups)
    if problems:
        raise MethodologyFileError(f"{name} is not a valid methodology", problems)
    return load_spec(spec)


def methodology_from_content(content: str) -> Methodology:
    """Rebuild a stored (already validated) version from its canonical JSON."""
    return load_spec(MethodologySpec.model_validate_json(content)).methodology


def load_spec(spec: MethodologySpec) -> LoadedMethodology:
    data = spec.model_dump(mode="json")
    for name in _ADDED_FIELDS:
        if not data.get(name):
            data.pop(name, None)
    for key in _LATER_PLAUSIBILITY_FIELDS:
        if data["plausibility"].get(key) in (None, {}):
            data["plausibility"].pop(key, None)
    content = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = "sha256:" + hashlib.sha256(content.encode()).hexdigest()
    m = Methodology(
        code=spec.code,
        version=spec.version,
        title=spec.title,
        model=spec.model,
        behaviours=tuple(spec.behaviours),
        group=spec.group,
        factors=tuple(
            Factor(
                id=f.id,
                role=f.role,
                value=f.value,
                unit=f.unit,
                source=f.source,
                confidence=f.confidence,
                region=f.region,
                valid_from=f.valid_from,
                valid_to=f.valid_to,
                series=f.series,
                note=f.note,
            )
            for f in spec.factors
        ),
        content_hash=digest,
        parameters=dict(spec.parameters),
        region=spec.region,
        effective_from=spec.effective_from,
        effective_to=spec.effective_to,
        plausibility=Plausibility(
            quantities={k: Bounds(b.min, b.max) for k, b in spec.plausibility.quantities.items()},
            duration_s=Bounds(spec.plausibility.duration_s.min, spec.plausibility.duration_s.max),
            max_speed_kmh=spec.plausibility.max_speed_kmh,
            quantities_per_day={
                k: Bounds(b.min, b.max, b.source, b.confidence)
                for k, b in spec.plausibility.quantities_per_day.items()
            },
            frequency=(
                Frequency(spec.plausibility.frequency.max, spec.plausibility.frequency.window_s)
                if spec.plausibility.frequency is not None
                else None
            ),
        ),
        daily_cap_grams=spec.daily_cap_grams,
        claim_window_days=spec.claim_window_days,
        substitution=(
            Substitution(
                spec.substitution.method,
                tuple(Band(b.up_to_km, dict(b.shares)) for b in spec.substitution.bands),
                spec.substitution.source,
                spec.substitution.confidence,
            )
            if spec.substitution is not None
            else None
        ),
        category=spec.category,
        standard=spec.standard,
        description=spec.description,
        uncertainty_deduction=dict(spec.uncertainty_deduction),
    )
    return LoadedMethodology(m, content)


def _semantic_problems(
    spec: MethodologySpec,
    lines: Mapping[tuple[str | int, ...], int],
    name: str,
    regions: RegionCatalogue,
    groups: Iterable[str] | None,
) -> list[str]:
    problems: list[str] = []

    def report(path: tuple[str | int, ...], message: str) -> None:
        problems.append(f"{name}:{_line(lines, path)}: {_path_text(path)}: {message}")

    model = MODELS.get(spec.model)
    if model is None:
        report(("model",), f"unknown model {spec.model!r} (known: {', '.join(sorted(MODELS))})")
    else:
        roles = {f.role for f in spec.factors}
        if not any(required <= roles for required in model.required_roles):
            needed = " or ".join("+".join(sorted(r)) for r in model.required_roles)
            report(("factors",), f"model {spec.model} needs factor roles {needed}")
        if spec.model == "distance" and "er" in roles and roles & {"baseline", "project"}:
            report(("factors",), "give either er or baseline+project, not both")
        known = set().union(*model.required_roles) | model.optional_roles
        if spec.substitution is not None:
            known |= {f"mode_{m}" for b in spec.substitution.bands for m in b.shares}
        for i, f in enumerate(spec.factors):
            if f.role not in known:
                report(("factors", i, "role"), f"model {spec.model} does not use role {f.role!r}")
            if f.unit in QUANTITY_FACTOR_UNITS and f.role not in QUANTITY_FACTOR_UNITS[f.unit]:
                report(("factors", i, "unit"), f"unit {f.unit} is not for role {f.role}")
        problems += _substitution_problems(spec, roles, report)
    problems += _trip_and_deduction_problems(spec, report)
    if spec.model == "steps":
        block = spec.parameters.get("block_steps", "1")
        if not block.isdigit() or not 1 <= int(block) <= 100_000:
            report(("parameters", "block_steps"), "must be a whole number of steps, 1-100000")
    denominators = {
        parse_unit(f.unit)[1] for f in spec.factors if f.unit not in QUANTITY_FACTOR_UNITS
    }
    quantities = {DENOMINATOR_QUANTITY[d] for d in denominators}
    if not quantities:
        report(("factors",), "at least one emission factor (mass per unit) is needed")
    if len(quantities) > 1:
        report(("factors",), f"factor units multiply different quantities: {sorted(quantities)}")
    for key in spec.plausibility.quantities:
        if key not in QUANTITY_KEYS:
            report(("plausibility", "quantities", key), f"unknown quantity {key}")
    for key, day in spec.plausibility.quantities_per_day.items():
        path = ("plausibility", "quantities_per_day", key)
        if key not in QUANTITY_KEYS:
            report(path, f"unknown quantity {key}")
        if day.confidence == Confidence.OPERATOR_SET and not day.source.startswith("operator-set:"):
            report(path, 'an operator-set bound says so: its source starts "operator-set:"')
    if spec.region is not None and spec.region not in regions:
        report(("region",), f"unknown region code {spec.region}")
    if spec.effective_to is not None and spec.effective_to <= spec.effective_from:
        report(("effective_to",), "must be after effective_from")
    seen_ids: set[str] = set()
    for i, f in enumerate(spec.factors):
        if f.unit not in QUANTITY_FACTOR_UNITS:
            per_unit = grams_per_unit(f.value, f.unit)
            if per_unit > MAX_GRAMS_PER_UNIT:
                report(
                    ("factors", i, "value"),
                    f"{f.value} {f.unit} is {per_unit:,.0f} g per unit, beyond any behaviour here "
                    f"({MAX_GRAMS_PER_UNIT:,} g): check the unit",
                )
        if f.id in seen_ids:
            report(("factors", i, "id"), f"duplicate factor id {f.id}")
        seen_ids.add(f.id)
        if f.region is not None and f.region not in regions:
            report(("factors", i, "region"), f"unknown region code {f.region}")
        if f.valid_from and f.valid_to and f.valid_to <= f.valid_from:
            report(("factors", i, "valid_to"), "must be after valid_from")
    for i, f in enumerate(spec.factors):
        for j in range(i):
            g = spec.factors[j]
            if g.role == f.role and g.region == f.region and _periods_overlap(f, g):
                report(
                    ("factors", i),
                    f"factor {f.id} overlaps {g.id} (same role {f.role} and region) in time",
                )
    series: dict[str, set[str]] = {}
    for f in spec.factors:
        series.setdefault(f.role, set()).add(f.series)
    for role, names in sorted(series.items()):
        if len(names) > 1:
            report(("factors",), f"role {role} mixes factor series {sorted(names)}")
    if groups is not None and spec.group not in set(groups):
        report(("group",), f"unknown behaviour group {spec.group!r}")
    return problems


def _substitution_problems(
    spec: MethodologySpec, roles: set[str], report: Callable[[tuple[str | int, ...], str], None]
) -> list[str]:
    """Shares sum to one per band, bands ascend and end open, every emitting mode has a factor."""
    sub = spec.substitution
    if spec.model != "mode_mix":
        if sub is not None:
            report(("substitution",), f"model {spec.model} does not use a substitution table")
        return []
    if sub is None:
        report(("substitution",), "model mode_mix needs a substitution table")
        return []
    previous = Decimal(0)
    for i, band in enumerate(sub.bands):
        total = sum(band.shares.values(), Decimal(0))
        if abs(total - 1) > Decimal("0.0001"):
            report(("substitution", "bands", i, "shares"), f"shares sum to {total}, not 1")
        last = i == len(sub.bands) - 1
        if band.up_to_km is None and not last:
            report(("substitution", "bands", i), "only the last band may be open-ended")
        if last and band.up_to_km is not None:
            report(("substitution", "bands", i), "the last band must be open-ended (no up_to_km)")
        if band.up_to_km is not None:
            if band.up_to_km <= previous:
                report(("substitution", "bands", i, "up_to_km"), "bands must ascend")
            previous = band.up_to_km
        for mode in band.shares:
            if mode not in ZERO_EMISSION_MODES and f"mode_{mode}" not in roles:
                report(
                    ("substitution", "bands", i, "shares", mode),
                    f"mode {mode} needs a factor with role mode_{mode}",
                )
    return []


def _trip_and_deduction_problems(
    spec: MethodologySpec, report: Callable[[tuple[str | int, ...], str], None]
) -> list[str]:
    """`full_trip_km` is a positive distance of a per-trip model; deductions never shrink as
    the confidence falls (a weaker reduction is discounted at least as much)."""
    full = spec.parameters.get("full_trip_km")
    if full is not None:
        if spec.model != "per_occurrence":
            report(("parameters", "full_trip_km"), "only a per_occurrence model scales trips")
        else:
            try:
                ok = Decimal(full) > 0 and Decimal(full).is_finite()
            except ArithmeticError:
                ok = False
            if not ok:
                report(("parameters", "full_trip_km"), "must be a positive distance in km")
    _unknown_distance_problems(spec, report)
    declared = sorted(spec.uncertainty_deduction.items(), key=lambda kv: quality_rank(kv[0]))
    for (better, d1), (worse, d2) in pairwise(declared):
        if d2 < d1:
            report(
                ("uncertainty_deduction", worse.value),
                f"{worse.value} deducts {d2}, less than the better {better.value} ({d1})",
            )
    return []


def _unknown_distance_problems(
    spec: MethodologySpec, report: Callable[[tuple[str | int, ...], str], None]
) -> None:
    """`unknown_distance_km` (models.py): the distance a trip without one is credited as —
    only beside `full_trip_km`, and never above the shortest distance the version accepts, so
    leaving the distance out cannot earn more than reporting it."""
    unknown = spec.parameters.get("unknown_distance_km")
    if unknown is None:
        return
    path = ("parameters", "unknown_distance_km")
    if "full_trip_km" not in spec.parameters:
        report(path, "only a version that scales trips by full_trip_km credits unknown distances")
        return
    shortest = spec.plausibility.quantities.get("distance_km", BoundsSpec()).min
    try:
        value: Decimal | None = Decimal(unknown)
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or value <= 0:
        report(path, "must be a positive distance in km")
    elif shortest is None or value > shortest:
        report(path, f"must not exceed the shortest distance_km accepted ({shortest})")


def _periods_overlap(a: FactorSpec, b: FactorSpec) -> bool:
    a_from, b_from = a.valid_from or date.min, b.valid_from or date.min
    a_to, b_to = a.valid_to or date.max, b.valid_to or date.max
    return a_from < b_to and b_from < a_to


# --- groups ---------------------------------------------------------------------------------


def parse_groups(text: str, name: str) -> list[Group]:
    data, lines = _load_with_lines(text, name)
    spec = _validate(GroupsFileSpec, data, lines, name)
    codes = [g.code for g in spec.groups]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise MethodologyFileError(
            f"{name} is not a valid groups file",
            [f"{name}:{_line(lines, ('groups',))}: duplicate group code(s) {duplicates}"],
        )
    return [
        Group(
            g.code,
            g.title,
            g.exclusive,
            g.clock_skew_s,
            g.daily_cap_grams,
            g.cap_source,
            g.day_merge,
            dict(g.day_claims),
        )
        for g in spec.groups
    ]


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")
