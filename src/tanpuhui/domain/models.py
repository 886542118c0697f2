"""Calculation models: the code half of a methodology (the data half is the version file).

Every model computes ER = BE − PE for one event in `Decimal`, rounds once with
`quantity.to_grams`, and returns a `Quantification` whose trace lets anyone recompute it:
the inputs, every factor used (id, value, unit) and the exact result.

Models here: `distance`, `per_occurrence`, `per_quantity`, `steps`. Each declares the factor
roles it reads and the quantity it multiplies, so a methodology file can be checked against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import NamedTuple

from tanpuhui.domain.events import BehaviourEvent, Reason, Rejection
from tanpuhui.domain.methodology import Catalogue, FactorUse, Methodology
from tanpuhui.domain.quantity import format_decimal, to_grams

ONE = Decimal(1)


class Quantification(NamedTuple):
    methodology: Methodology
    exact_grams: Decimal
    grams: int
    quantity: str  # the quantity key multiplied
    amount: Decimal  # its value
    factors: tuple[FactorUse, ...]

    def trace(self) -> dict[str, object]:
        """The recomputable trace stored with the reduction."""
        m = self.methodology
        return {
            "methodology": m.key,
            "content_hash": m.content_hash,
            "model": m.model,
            "inputs": {self.quantity: format_decimal(self.amount)},
            "factors": {
                use.role: {"id": use.factor.id, "value": format_decimal(use.factor.value)}
                for use in self.factors
            },
            "exact_grams": format_decimal(self.exact_grams),
            "grams": self.grams,
        }


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a model needs from a methodology version."""

    name: str
    formula: str
    required_roles: tuple[frozenset[str], ...]  # one of these role sets must be present
    quantity_optional: bool
    compute: Callable[[Methodology, Mapping[str, FactorUse], Decimal], Decimal]


def _distance(m: Methodology, f: Mapping[str, FactorUse], d: Decimal) -> Decimal:
    if "er" in f:
        return d * f["er"].per_unit
    return d * (f["baseline"].per_unit - f["project"].per_unit)


def _per_unit(m: Methodology, f: Mapping[str, FactorUse], q: Decimal) -> Decimal:
    return q * f["er"].per_unit


def _steps(m: Methodology, f: Mapping[str, FactorUse], steps: Decimal) -> Decimal:
    block = Decimal(m.parameters.get("block_steps", "1"))
    counted = (steps / block).to_integral_value(rounding=ROUND_FLOOR) * block
    return counted * f["er"].per_unit


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "distance",
            "ER = distance_km × (EF_baseline − EF_project), or distance_km × ER_per_km",
            (frozenset({"er"}), frozenset({"baseline", "project"})),
            False,
            _distance,
        ),
        ModelSpec(
            "per_occurrence",
            "ER = count × ER_per_occurrence (count defaults to 1)",
            (frozenset({"er"}),),
            True,
            _per_unit,
        ),
        ModelSpec(
            "per_quantity",
            "ER = quantity × EF (e.g. kWh × grid factor, kg × material factor)",
            (frozenset({"er"}),),
            False,
            _per_unit,
        ),
        ModelSpec(
            "steps",
            "ER = floor(steps / block_steps) × block_steps × ER_per_step",
            (frozenset({"er"}),),
            False,
            _steps,
        ),
    )
}


def quantify(
    m: Methodology, event: BehaviourEvent, day: date, catalogue: Catalogue
) -> Quantification | Rejection:
    """Quantify one event with methodology version `m` (already resolved for it)."""
    spec = MODELS[m.model]
    key = catalogue.quantity_key(m)
    # Other quantities may ride along (a per-trip variant gets the distance a per-km variant
    # of the same behaviour needs): they are checked for plausibility, not multiplied.
    amount = event.quantities.get(key)
    if amount is None:
        if not spec.quantity_optional:
            return Rejection(
                Reason.QUANTITY_MISMATCH, f"{m.key} needs quantity.{key}", f"quantity.{key}"
            )
        amount = ONE
    uses = catalogue.factor_uses(m, day, event.region)
    if not any(roles <= uses.keys() for roles in spec.required_roles):
        return Rejection(
            Reason.NO_FACTOR,
            f"{m.key} has no factor valid on {day.isoformat()} in region {event.region}",
        )
    exact = spec.compute(m, uses, amount)
    return Quantification(m, exact, to_grams(exact), key, amount, tuple(uses.values()))
