"""Numbers: one conservative rounding into grams, strict decimal parsing, canonical rendering."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tanpuhui.domain.quantity import (
    QUANTITY_KEYS,
    format_decimal,
    grams_per_unit,
    parse_decimal,
    parse_unit,
    to_grams,
)

# --- to_grams -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exact", "grams"),
    [
        ("319.086", 319),  # 3.42 km × 93.3 g/km (Wuhan 2025 bike): a fraction is never credited
        ("319.999999", 319),
        ("467.0", 467),
        ("467", 467),
        ("0.999", 0),
        ("1", 1),
        ("0", 0),
        ("-0", 0),
        ("-0.5", 0),  # BE < PE: a negative reduction credits nothing, it does not debit
        ("-12", 0),
        ("1E+3", 1000),
        ("72520.0000", 72520),
    ],
)
def test_to_grams_rounds_down_once_and_never_below_zero(exact: str, grams: int) -> None:
    result = to_grams(Decimal(exact))

    assert result == grams
    assert type(result) is int


@settings(deadline=None, max_examples=200)
@given(
    st.decimals(
        min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False, places=6
    )
)
def test_to_grams_is_the_floor_of_a_positive_amount_and_zero_otherwise(exact: Decimal) -> None:
    grams = to_grams(exact)

    assert grams >= 0
    if exact > 0:
        assert grams == math.floor(exact)
        assert 0 <= exact - grams < 1
    else:
        assert grams == 0


# --- parse_decimal --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3.42", Decimal("3.42")),
        (3.42, Decimal("3.42")),
        (0.1, Decimal("0.1")),  # the float's shortest repr, not its binary expansion
        (7, Decimal(7)),
        (-7, Decimal(-7)),
        ("1e3", Decimal(1000)),
        ("1e15", Decimal(10**15)),  # exponent 15 is the limit …
        ("1e-15", Decimal("1e-15")),
        ("9.99e15", Decimal("9.99e15")),
        ("-0", Decimal(0)),
        ("0e-40", Decimal(0)),  # zero is zero, whatever its exponent
        (-0.0, Decimal(0)),
        ("1" * 16, Decimal("1" * 16)),
        ("1" * 17, None),  # … 17 digits is beyond it
        ("1e16", None),
        ("1e-16", None),
        (True, None),
        (False, None),
        (None, None),
        ("", None),
        ("NaN", None),
        ("-nan", None),
        ("sNaN", None),
        ("Infinity", None),
        ("-inf", None),
        (float("nan"), None),
        (float("inf"), None),
        (float("-inf"), None),
        ("1.2.3", None),
        ("0x10", None),
        ("1" * 41, None),
        ([1], None),
        ({"v": 1}, None),
        (Decimal("1.5"), Decimal("1.5")),  # JSON fractions are decoded to exact Decimals
    ],
)
def test_parse_decimal_accepts_only_finite_decimal_numbers(
    value: object, expected: Decimal | None
) -> None:
    result = parse_decimal(value)

    if expected is None:
        assert result is None
    else:
        assert result == expected
        assert not result.is_signed() or expected < 0


@settings(deadline=None, max_examples=200)
@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, min_value=-(10**13), max_value=10**13, places=6
    )
)
def test_parse_decimal_reads_back_what_format_decimal_wrote(value: Decimal) -> None:
    # (quantities have at most 20 significant digits: here at most 14 + 6)
    text = format_decimal(value)
    result = parse_decimal(text)

    assert result == value


@pytest.mark.parametrize("text", [" 5 ", "1_000", "３", "٣", "5\n"])
def test_parse_decimal_refuses_lenient_spellings(text: str) -> None:
    assert parse_decimal(text) is None


def test_parse_decimal_refuses_more_than_twenty_significant_digits() -> None:
    assert parse_decimal("1.0000000000000000001") == Decimal("1.0000000000000000001")
    assert parse_decimal("10000000000.0000000001") is None


# --- format_decimal -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("319.086", "319.086"),
        ("467.0", "467"),
        ("1.50", "1.5"),
        ("1E+3", "1000"),
        ("1.5E+3", "1500"),
        ("1.5E-7", "0.00000015"),
        ("0E-7", "0"),
        ("0.000", "0"),
        ("100", "100"),
        ("-2.50", "-2.5"),
        ("72520.0000", "72520"),
    ],
)
def test_format_decimal_is_canonical(value: str, text: str) -> None:
    assert format_decimal(Decimal(value)) == text


@settings(deadline=None, max_examples=300)
@given(
    st.decimals(
        min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False, places=10
    )
)
def test_format_decimal_round_trips_without_exponent_or_trailing_zeros(value: Decimal) -> None:
    if value.is_zero():
        value = Decimal(0)  # negative zero is rendered "0": see below
    text = format_decimal(value)

    assert Decimal(text) == value
    assert "E" not in text and "e" not in text
    if "." in text:
        assert not text.endswith(("0", "."))
    assert format_decimal(Decimal(text)) == text  # one spelling per number


@pytest.mark.parametrize("value", ["-0", "-0.0", "-0E-3"])
def test_format_decimal_renders_negative_zero_as_zero(value: str) -> None:
    assert format_decimal(Decimal(value)) == "0"


def test_format_decimal_renders_large_integral_values() -> None:
    assert format_decimal(Decimal("1E+30")) == "1" + "0" * 30


# --- units ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "grams"),
    [
        ("0.7252", "kg/kWh", "725.2"),  # Hebei 2022 grid factor
        ("46.7", "g/pkm", "46.7"),
        ("3.6", "kg/kg", "3600"),
        ("0.00155", "t/kg", "1550"),  # Meituan meal boxes: 1.55 t per t
        ("212.5", "g/trip", "212.5"),
    ],
)
def test_factor_units_convert_to_grams_per_unit(value: str, unit: str, grams: str) -> None:
    assert grams_per_unit(Decimal(value), unit) == Decimal(grams)


@pytest.mark.parametrize("unit", ["g", "g/mile", "lb/km", "kg/kwh", "/km", "g/km/h", ""])
def test_unknown_units_are_refused(unit: str) -> None:
    with pytest.raises(ValueError, match="unknown factor unit"):
        parse_unit(unit)


def test_events_may_carry_the_quantities_the_units_multiply() -> None:
    assert {"distance_km", "steps", "kwh", "weight_kg", "count", "baseline_kwh"} == QUANTITY_KEYS
