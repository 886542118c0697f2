"""Numbers: the only module that turns methodology arithmetic into ledger amounts.

Methodology arithmetic is `Decimal`; the ledger amount is an integer number of grams CO2e,
rounded exactly once, conservatively (towards zero: a fraction of a gram is never credited).
Units are named in the keys (`distance_km`, `kwh`) and in factor units (`g/pkm`, `kg/kWh`).
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation

ROUNDING_MODE = "ROUND_DOWN (towards zero): fractions of a gram are never credited"

#: Mass numerators a factor unit may use, in grams.
MASS_IN_GRAMS: dict[str, Decimal] = {
    "g": Decimal(1),
    "kg": Decimal(1000),
    "t": Decimal(1_000_000),
}

#: Denominators a factor unit may use, and the event quantity key each one multiplies.
#: `occurrence` covers per-trip / per-order / per-meal factors: the quantity is a count.
DENOMINATOR_QUANTITY: dict[str, str] = {
    "km": "distance_km",
    "pkm": "distance_km",
    "step": "steps",
    "kWh": "kwh",
    "kg": "weight_kg",
    "occurrence": "count",
    "trip": "count",
    "order": "count",
    "meal": "count",
    "item": "count",
    "page": "count",
}

#: The quantity keys an event may carry, each with its meaning (unit in the key): the one list
#: the contract, the OpenAPI schema and docs/events.md are generated from. Every key a factor
#: multiplies (`DENOMINATOR_QUANTITY`) is here; `baseline_kwh` is read by baseline-vs-actual
#: methods only.
QUANTITIES: dict[str, str] = {
    "distance_km": "distance travelled, in kilometres",
    "steps": "steps walked",
    "kwh": "electricity in kWh: used, saved or charged, as the behaviour's methodology says",
    "baseline_kwh": "a household's own expected consumption over the period, in kWh "
    "(baseline-vs-actual methods compare `kwh` with it)",
    "weight_kg": "a mass in kilograms (e.g. clothes or packaging handed in for recycling)",
    "count": "a number of occurrences: trips, orders, meals, items or pages",
}
QUANTITY_KEYS: frozenset[str] = frozenset(QUANTITIES)


def parse_unit(unit: str) -> tuple[Decimal, str]:
    """`"kg/kWh"` → (grams per numerator unit, denominator). Raises ValueError if unknown."""
    numerator, sep, denominator = unit.partition("/")
    if not sep or numerator not in MASS_IN_GRAMS or denominator not in DENOMINATOR_QUANTITY:
        raise ValueError(f"unknown factor unit {unit!r}")
    return MASS_IN_GRAMS[numerator], denominator


def grams_per_unit(value: Decimal, unit: str) -> Decimal:
    """A factor's value expressed in grams per one unit of its denominator."""
    scale, _ = parse_unit(unit)
    return value * scale


def to_grams(exact_grams: Decimal) -> int:
    """Round an exact reduction to whole grams, once, towards zero; never negative."""
    if exact_grams <= 0:
        return 0
    return int(exact_grams.to_integral_value(rounding=ROUND_DOWN))


#: A quantity written as a string: plain ASCII decimal notation (full match).
DECIMAL_PATTERN = r"[-+]?[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?"
_NUMBER = re.compile(DECIMAL_PATTERN)
MAX_DIGITS = 20


def parse_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a decimal string or a JSON number; None when it is not one.

    Only plain ASCII decimal notation counts (no spaces, underscores or other scripts' digits);
    booleans, NaN, infinities and more than 20 significant digits or 15 orders of magnitude
    are not quantities.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str) and _NUMBER.fullmatch(value):
        try:
            number = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            return None
    else:
        return None
    if not number.is_finite():
        return None
    if not number:
        return _ZERO  # no negative zero
    if abs(number.adjusted()) > 15 or len(number.normalize().as_tuple().digits) > MAX_DIGITS:
        return None
    return number


_ZERO = Decimal(0)


def format_decimal(value: Decimal) -> str:
    """A canonical decimal string (no exponent, no trailing zeros) for traces and hashes."""
    text = str(value)
    if "E" not in text and not ("." in text and text[-1] == "0") and text != "-0":
        return text  # already canonical: the common case
    if not value:
        return "0"
    return format(value.normalize(), "f")
