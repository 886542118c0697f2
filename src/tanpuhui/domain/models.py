"""Calculation models: the code half of a methodology (the data half is the version file).

Every model computes ER = BE − PE for one event in `Decimal`, rounds once with
`quantity.to_grams`, and returns a `Quantification` whose trace lets anyone recompute it:
the named inputs, every factor used (id, value, unit) and the exact result.

    distance            ER = d × (EF_baseline − EF_project), or d × ER_per_km
    per_occurrence      ER = count × ER_per_occurrence
    per_quantity        ER = quantity × EF (kWh × grid factor, kg × material factor)
    steps               ER = whole blocks of steps × ER_per_step
    mode_mix            ER = d × (Σ share_k(d) × EF_k − EF_project)   均值法 / 替代法, shares
                        by distance band, zero-emission modes (walking) at EF 0
    baseline_vs_actual  ER = saved kWh × grid factor, where saved = city baseline − actual
                        while under the city's per-capita baseline, else own average − actual

Quality and deduction: a quantification's `quality` is the lowest confidence among the factors
it used (and the substitution table of a `mode_mix`); where the version declares an uncertainty
deduction for that quality, ER is multiplied by (1 − deduction) before the one rounding, and
the trace shows the quality, the deduction and the gross result.

Per-trip credit scaled by distance: a `per_occurrence` version with the parameter
`full_trip_km` credits a trip shorter than that distance in proportion,
ER = count × ER_per_trip × min(1, distance_km / full_trip_km). The distance is then required,
unless the version also names `unknown_distance_km`: a trip reported without its distance (a
QR-code tap) is credited as a trip of that distance — at most the shortest trip the version
accepts, so leaving the distance out never earns more than reporting it.

Ceiling: a `distance` or `mode_mix` version may carry a `ceiling` factor (grams per km): ER per
km never exceeds it (e.g. an e-bike ride never earns more than a pedal-bike ride).

Each model declares the factor roles it reads and collects the inputs it needs from the
event, so a methodology file can be checked against it and a trace recomputed from its data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import NamedTuple

from tanpuhui.domain.events import BehaviourEvent, Reason, Rejection
from tanpuhui.domain.methodology import (
    ZERO_EMISSION_MODES,
    Catalogue,
    Confidence,
    FactorUse,
    Methodology,
    lowest_confidence,
)
from tanpuhui.domain.quantity import format_decimal, to_grams

ONE = Decimal(1)
ZERO = Decimal(0)
SECONDS_PER_DAY = Decimal(86_400)

Inputs = Mapping[str, Decimal]


class Quantification(NamedTuple):
    methodology: Methodology
    exact_grams: Decimal  # after the uncertainty deduction, if any
    grams: int
    inputs: tuple[tuple[str, Decimal], ...]  # named inputs, in a fixed order
    factors: tuple[FactorUse, ...]
    deduction: Decimal = ZERO  # the fraction deducted for the quality tier
    gross_grams: Decimal | None = None  # before the deduction (None: no deduction)

    @property
    def quality(self) -> Confidence:
        """The lowest confidence among the factors (and substitution table) used."""
        return quality_of(self.methodology, self.factors)

    def trace(self) -> dict[str, object]:
        """The recomputable trace stored with the reduction."""
        m = self.methodology
        trace: dict[str, object] = {
            "methodology": m.key,
            "content_hash": m.content_hash,
            "model": m.model,
            "inputs": {name: format_decimal(value) for name, value in self.inputs},
            "factors": {
                use.role: {"id": use.factor.id, "value": format_decimal(use.factor.value)}
                for use in self.factors
            },
            "quality": self.quality.value,
        }
        if self.deduction:
            trace["uncertainty_deduction"] = format_decimal(self.deduction)
            trace["gross_grams"] = format_decimal(self.gross_grams or ZERO)
        trace["exact_grams"] = format_decimal(self.exact_grams)
        trace["grams"] = self.grams
        return trace


def quality_of(m: Methodology, uses: Iterable[FactorUse]) -> Confidence:
    """A reduction's quality tier: the lowest confidence among what it used."""
    confidences = [use.factor.confidence for use in uses]
    if m.model == "mode_mix" and m.substitution is not None:
        confidences.append(m.substitution.confidence)
    return lowest_confidence(confidences)


def deducted(m: Methodology, uses: Iterable[FactorUse], gross: Decimal) -> tuple[Decimal, Decimal]:
    """(exact after the uncertainty deduction for the quality of `uses`, the deduction)."""
    deduction = m.deduction_for(quality_of(m, uses)) if m.uncertainty_deduction else ZERO
    if not deduction:
        return gross, ZERO
    return gross * (ONE - deduction), deduction


Collect = Callable[[Methodology, BehaviourEvent, str], "dict[str, Decimal] | Rejection"]
Compute = Callable[[Methodology, Mapping[str, FactorUse], Inputs], Decimal]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a model needs from a methodology version and from an event."""

    name: str
    formula: str
    required_roles: tuple[frozenset[str], ...]  # one of these role sets must be present
    optional_roles: frozenset[str]
    collect: Collect  # the named inputs, from the event (key: the multiplied quantity)
    compute: Compute

    def known_roles(self, m: Methodology) -> set[str]:
        roles = set().union(*self.required_roles) | self.optional_roles
        if self.name == "mode_mix" and m.substitution is not None:
            roles |= {f"mode_{mode}" for mode in m.substitution.modes()}
        return roles


def _needs(key: str, *, optional: bool = False) -> Collect:
    def collect(m: Methodology, event: BehaviourEvent, _key: str) -> dict[str, Decimal] | Rejection:
        amount = event.quantities.get(key)
        if amount is None:
            if not optional:
                return Rejection(
                    Reason.QUANTITY_MISMATCH, f"{m.key} needs quantity.{key}", f"quantity.{key}"
                )
            amount = ONE
        return {key: amount}

    return collect


def _multiplied(m: Methodology, event: BehaviourEvent, key: str) -> dict[str, Decimal] | Rejection:
    return _needs(key)(m, event, key)


def _distance(m: Methodology, f: Mapping[str, FactorUse], i: Inputs) -> Decimal:
    d = i["distance_km"]
    if "er" in f:
        return d * _ceiled(f["er"].per_unit, f)
    return d * _ceiled(f["baseline"].per_unit - f["project"].per_unit, f)


def _ceiled(per_km: Decimal, f: Mapping[str, FactorUse]) -> Decimal:
    """ER per km, never above the version's `ceiling` factor where it has one."""
    return min(per_km, f["ceiling"].per_unit) if "ceiling" in f else per_km


def _trips(m: Methodology, event: BehaviourEvent, key: str) -> dict[str, Decimal] | Rejection:
    inputs = _needs(key, optional=True)(m, event, key)
    if isinstance(inputs, Rejection) or "full_trip_km" not in m.parameters:
        return inputs
    distance = event.quantities.get("distance_km")
    if distance is None:
        if "unknown_distance_km" in m.parameters:
            return inputs  # credited as the shortest trip (_per_trip)
        return Rejection(
            Reason.QUANTITY_MISMATCH,
            f"{m.key} needs quantity.distance_km (a trip shorter than "
            f"{m.parameters['full_trip_km']} km earns a share of the per-trip credit)",
            "quantity.distance_km",
        )
    return {**inputs, "distance_km": distance}


def _per_trip(m: Methodology, f: Mapping[str, FactorUse], i: Inputs) -> Decimal:
    count = next(v for k, v in i.items() if k != "distance_km")
    credit = count * f["er"].per_unit
    full = m.parameters.get("full_trip_km")
    if full is None:
        return credit
    distance = i.get("distance_km")
    if distance is None:  # a tap without its distance: the version's shortest trip
        distance = Decimal(m.parameters["unknown_distance_km"])
    return credit * min(ONE, distance / Decimal(full))


def _per_unit(m: Methodology, f: Mapping[str, FactorUse], i: Inputs) -> Decimal:
    ((_, amount),) = i.items()
    return amount * f["er"].per_unit


def _steps(m: Methodology, f: Mapping[str, FactorUse], i: Inputs) -> Decimal:
    block = Decimal(m.parameters.get("block_steps", "1"))
    counted = (i["steps"] / block).to_integral_value(rounding=ROUND_FLOOR) * block
    return counted * f["er"].per_unit


def _mode_mix(m: Methodology, f: Mapping[str, FactorUse], i: Inputs) -> Decimal:
    d = i["distance_km"]
    assert m.substitution is not None
    band = m.substitution.band_for(d)
    baseline = sum(
        (share * (ZERO if mode in ZERO_EMISSION_MODES else f[f"mode_{mode}"].per_unit)
         for mode, share in sorted(band.shares.items())),
        ZERO,
    )  # fmt: skip
    project = f["project"].per_unit if "project" in f else ZERO
    return d * _ceiled(baseline - project, f)


def _household(m: Methodology, event: BehaviourEvent, key: str) -> dict[str, Decimal] | Rejection:
    missing = [k for k in ("kwh", "baseline_kwh") if k not in event.quantities]
    if missing:
        return Rejection(
            Reason.QUANTITY_MISMATCH,
            f"{m.key} needs quantity.kwh (used) and quantity.baseline_kwh (the household's own "
            "moving average over the same period)",
            f"quantity.{missing[0]}",
        )
    return {
        "kwh": event.quantities["kwh"],
        "baseline_kwh": event.quantities["baseline_kwh"],
        "persons": event.quantities.get("count", ONE),
        "days": Decimal(int(event.duration_s)) / SECONDS_PER_DAY,
    }


def _baseline_vs_actual(m: Methodology, f: Mapping[str, FactorUse], i: Inputs) -> Decimal:
    city = f["city_baseline"].per_unit * i["persons"] * i["days"]  # kWh the city average allows
    used = i["kwh"]
    saved = city - used if used <= city else max(ZERO, i["baseline_kwh"] - used)
    return saved * f["er"].per_unit


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "distance",
            "ER = distance_km × (EF_baseline − EF_project), or distance_km × ER_per_km; ER per "
            "km at most the ceiling factor where one is given",
            (frozenset({"er"}), frozenset({"baseline", "project"})),
            frozenset({"ceiling"}),
            _multiplied,
            _distance,
        ),
        ModelSpec(
            "per_occurrence",
            "ER = count × ER_per_occurrence (count defaults to 1); with full_trip_km, "
            "× min(1, distance_km / full_trip_km)",
            (frozenset({"er"}),),
            frozenset(),
            _trips,
            _per_trip,
        ),
        ModelSpec(
            "per_quantity",
            "ER = quantity × EF (e.g. kWh × grid factor, kg × material factor)",
            (frozenset({"er"}),),
            frozenset(),
            _multiplied,
            _per_unit,
        ),
        ModelSpec(
            "steps",
            "ER = floor(steps / block_steps) × block_steps × ER_per_step",
            (frozenset({"er"}),),
            frozenset(),
            _multiplied,
            _steps,
        ),
        ModelSpec(
            "mode_mix",
            "ER = distance_km × (Σ share_k(distance) × EF_k − EF_project); modes that emit "
            "nothing (walking) count as EF 0; ER per km at most the ceiling factor if given",
            (frozenset(),),
            frozenset({"project", "ceiling"}),
            _multiplied,
            _mode_mix,
        ),
        ModelSpec(
            "baseline_vs_actual",
            "ER = saved_kWh × EF_grid; saved = city_baseline × persons × days − kWh while under "
            "the city baseline, else max(0, baseline_kWh − kWh) against the household's own "
            "moving average",
            (frozenset({"er", "city_baseline"}),),
            frozenset(),
            _household,
            _baseline_vs_actual,
        ),
    )
}


def quantify(
    m: Methodology, event: BehaviourEvent, day: date, catalogue: Catalogue
) -> Quantification | Rejection:
    """Quantify one event with methodology version `m` (already resolved for it)."""
    spec = MODELS[m.model]
    # Other quantities may ride along (a per-trip variant gets the distance a per-km variant
    # of the same behaviour needs): they are checked for plausibility, not multiplied.
    inputs = spec.collect(m, event, catalogue.quantity_key(m))
    if isinstance(inputs, Rejection):
        return inputs
    uses = catalogue.factor_uses(m, day, event.region)
    missing = _missing_roles(spec, m, uses, inputs)
    if missing:
        return Rejection(
            Reason.NO_FACTOR,
            f"{m.key} has no {missing} factor valid on {day.isoformat()} in region {event.region}",
        )
    gross = spec.compute(m, uses, inputs)
    exact, deduction = deducted(m, uses.values(), gross)
    return Quantification(
        m,
        exact,
        to_grams(exact),
        tuple(inputs.items()),
        tuple(uses.values()),
        deduction,
        gross if deduction else None,
    )


def _missing_roles(
    spec: ModelSpec, m: Methodology, uses: Mapping[str, FactorUse], inputs: Inputs
) -> str:
    if not any(roles <= uses.keys() for roles in spec.required_roles):
        return " or ".join("+".join(sorted(r)) for r in spec.required_roles)
    if spec.name == "mode_mix" and m.substitution is not None:
        band = m.substitution.band_for(inputs["distance_km"])
        absent = sorted(
            f"mode_{mode}"
            for mode in band.shares
            if mode not in ZERO_EMISSION_MODES and f"mode_{mode}" not in uses
        )
        return ", ".join(absent)
    return ""


def recompute(m: Methodology, uses: Mapping[str, FactorUse], inputs: Inputs) -> Decimal:
    """The exact result of `m` for recorded inputs and factors (for verifying traces),
    after the uncertainty deduction for their quality."""
    return deducted(m, uses.values(), MODELS[m.model].compute(m, uses, inputs))[0]
