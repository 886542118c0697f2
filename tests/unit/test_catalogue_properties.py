"""Properties of the bundled catalogue: every version, random valid events.

The golden table (test_models_golden.py) pins one hand-computed number per version; these
tests check what must hold for *any* valid input: a credit is never negative, never shrinks
when the quantity grows, and is the exact value rounded down once. They also check the
catalogue as a whole: the seven categories of T/ACEF 031-2022, at least 30 behaviours, and
that every factor nobody published is recognisable as the operator's choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tanpuhui.adapters.catalogue_files import (
    GROUPS_FILE,
    bundled_catalogue_dir,
    load_regions,
    read_catalogue_dir,
)
from tanpuhui.adapters.methodology_files import CATEGORIES
from tanpuhui.domain.events import Reason, Rejection
from tanpuhui.domain.methodology import Catalogue, Confidence, Methodology
from tanpuhui.domain.models import Quantification, quantify
from tanpuhui.domain.plausibility import check_plausibility
from tanpuhui.domain.quantity import parse_unit
from tanpuhui.domain.regions import scope_contains
from tests.conftest import CST
from tests.unit.domain_builders import parsed

BUNDLED: list[Methodology] = [
    loaded.methodology
    for _, loaded in read_catalogue_dir(bundled_catalogue_dir(), load_regions()).methodologies
]
REGION_CODES: list[str] = [r.code for r in load_regions().all()]
#: The region codes inside each version's scope (None: the whole country).
IN_SCOPE: dict[str | None, list[str]] = {
    scope: [c for c in REGION_CODES if scope_contains(scope, c)]
    for scope in {m.region for m in BUNDLED}
}

#: Models whose result is one quantity times a per-unit factor (steps: whole blocks of steps):
#: their result can be recomputed from the file alone and grows with the quantity. Versions of
#: other models (mode_mix, baseline_vs_actual) are checked here for sign and rounding only:
#: their shares change between distance bands, and a household is credited less the more it
#: uses.
LINEAR_MODELS = frozenset({"distance", "per_occurrence", "per_quantity", "steps"})
#: Quantities that are whole numbers (steps counted, items, pages, occurrences).
WHOLE = frozenset({"steps", "count"})
#: Upper end of the drawn period for versions still in effect.
HORIZON = date(2030, 12, 31)
#: Upper bound drawn for a quantity without a maximum (there should be none: see below).
UNBOUNDED = Decimal(100_000)

#: Random events per version and property (about 60 versions, three properties).
EXAMPLES = settings(max_examples=20, deadline=None)


def params(models: frozenset[str] | None = None) -> list[object]:
    return [pytest.param(m, id=m.key) for m in BUNDLED if models is None or m.model in models]


# --- drawing a valid event for a version --------------------------------------------------


@dataclass(frozen=True)
class Case:
    day: date
    region: str
    duration_s: int
    quantities: dict[str, Decimal]


def quantity_values(m: Methodology, key: str) -> st.SearchStrategy[Decimal]:
    """Values of quantity `key` inside the version's plausibility bounds."""
    bounds = m.plausibility.quantities.get(key)
    low = bounds.minimum if bounds is not None and bounds.minimum is not None else Decimal(0)
    high = bounds.maximum if bounds is not None and bounds.maximum is not None else UNBOUNDED
    if key in WHOLE:
        return st.integers(math.ceil(low), math.floor(high)).map(Decimal)
    return st.decimals(low, high, places=3, allow_nan=False, allow_infinity=False)


@st.composite
def cases(draw: st.DrawFn, m: Methodology) -> Case:
    """A day the version is in effect, a region in its scope, a duration and quantities within
    its bounds (the quantity it multiplies and every other quantity it bounds)."""
    last = (m.effective_to - timedelta(days=1)) if m.effective_to else HORIZON
    day = draw(st.dates(m.effective_from, last))
    # a region the version has factors for (no mainland grid factor applies in Hong Kong)
    region = draw(st.sampled_from([c for c in IN_SCOPE[m.region] if _covered(m, day, c)]))
    duration = m.plausibility.duration_s
    low = int(duration.minimum) if duration.minimum is not None else 0
    high = int(duration.maximum) if duration.maximum is not None else 86_400
    seconds = draw(st.integers(low, high))
    keys = sorted({m.quantity_key(), *m.plausibility.quantities})
    quantities = {key: draw(quantity_values(m, key)) for key in keys}
    return Case(day, region, seconds, quantities)


def _covered(m: Methodology, day: date, region: str) -> bool:
    return all(m.factor(role, day, region) is not None for role in m.roles())


def run(m: Methodology, case: Case, catalogue: Catalogue, **override: Decimal) -> Quantification:
    quantities = {**case.quantities, **override}
    start = datetime(case.day.year, case.day.month, case.day.day, tzinfo=CST)
    ev = parsed(
        behaviour=m.behaviours[0],
        region=case.region,
        start=start,
        minutes=case.duration_s / 60,
        quantity={k: format(v, "f") for k, v in quantities.items()},
    )
    result = quantify(m, ev, case.day, catalogue)
    assert not isinstance(result, Rejection), result
    return result


def expected_exact(m: Methodology, case: Case, amount: Decimal) -> Decimal:
    """The exact result recomputed from the version's own factors, not through the model."""

    def per_unit(role: str) -> Decimal:
        f = m.factor(role, case.day, case.region)
        assert f is not None, f"{m.key}: no {role} factor on {case.day} in {case.region}"
        return f.value * parse_unit(f.unit)[0]

    if m.model == "steps":
        block = Decimal(m.parameters.get("block_steps", "1"))
        amount = (amount / block).to_integral_value(rounding=ROUND_FLOOR) * block
    if m.model == "per_occurrence" and "full_trip_km" in m.parameters:
        share = min(
            Decimal(1), case.quantities["distance_km"] / Decimal(m.parameters["full_trip_km"])
        )
        return amount * per_unit("er") * share
    per = per_unit("er") if "er" in m.roles() else per_unit("baseline") - per_unit("project")
    if "ceiling" in m.roles():
        per = min(per, per_unit("ceiling"))
    return amount * per


# --- properties of every version -----------------------------------------------------------


@pytest.mark.parametrize("m", params())
@EXAMPLES
@given(data=st.data())
def test_a_credit_is_never_negative_and_is_the_exact_value_rounded_down(
    m: Methodology, catalogue: Catalogue, data: st.DataObject
) -> None:
    case = data.draw(cases(m))

    q = run(m, case, catalogue)

    assert q.grams >= 0
    assert q.grams == max(0, math.floor(q.exact_grams))


@pytest.mark.parametrize("m", params(LINEAR_MODELS))
@EXAMPLES
@given(data=st.data())
def test_a_credit_is_the_quantity_times_the_files_factor(
    m: Methodology, catalogue: Catalogue, data: st.DataObject
) -> None:
    case = data.draw(cases(m))
    amount = case.quantities[m.quantity_key()]

    q = run(m, case, catalogue)

    assert q.exact_grams == expected_exact(m, case, amount)
    assert q.exact_grams >= 0  # every bundled linear version credits a reduction
    assert q.grams == math.floor(q.exact_grams)


@pytest.mark.parametrize("m", params(LINEAR_MODELS))
@EXAMPLES
@given(data=st.data())
def test_a_credit_never_shrinks_when_the_quantity_grows(
    m: Methodology, catalogue: Catalogue, data: st.DataObject
) -> None:
    case = data.draw(cases(m))
    key = m.quantity_key()
    a, b = sorted([data.draw(quantity_values(m, key)), data.draw(quantity_values(m, key))])

    smaller, larger = run(m, case, catalogue, **{key: a}), run(m, case, catalogue, **{key: b})

    assert smaller.exact_grams <= larger.exact_grams
    assert smaller.grams <= larger.grams


# --- provenance ----------------------------------------------------------------------------


@pytest.mark.parametrize("m", params())
def test_an_operator_set_value_says_so_at_the_start_of_its_source(m: Methodology) -> None:
    for f in m.factors:
        if f.confidence == Confidence.OPERATOR_SET:
            assert f.source.startswith("operator-set:"), f"{m.key} {f.id}: {f.source}"
        else:
            assert not f.source.startswith("operator-set"), f"{m.key} {f.id}: {f.source}"
    substitution = getattr(m, "substitution", None)
    if substitution is not None and substitution.confidence == Confidence.OPERATOR_SET:
        assert substitution.source.startswith("operator-set:"), m.key


@pytest.mark.parametrize("m", params())
def test_a_placeholder_is_operator_set_and_asks_for_a_sourced_value(m: Methodology) -> None:
    for f in m.factors:
        if "placeholder" in f.note:
            assert f.confidence == Confidence.OPERATOR_SET, f"{m.key} {f.id}"
            assert f.note.startswith("no published value: a conservative placeholder"), f.note


@pytest.mark.parametrize("m", params())
def test_a_derived_value_states_its_derivation(m: Methodology) -> None:
    for f in m.factors:
        if f.confidence == Confidence.DERIVED:
            assert f.note.startswith("derived: "), f"{m.key} {f.id}: {f.note!r}"


@pytest.mark.parametrize("m", params())
def test_every_version_reads_as_a_published_methodology(m: Methodology) -> None:
    assert m.category in CATEGORIES
    assert len(m.title) >= 3
    assert m.standard, f"{m.key} names no standard"
    assert len(m.description) >= 40, f"{m.key} needs a description a reader can follow"


# --- plausibility: absurd claims are rejected ------------------------------------------------


@pytest.mark.parametrize("m", params())
def test_every_version_bounds_its_quantity_and_duration(m: Methodology) -> None:
    bounds = m.plausibility.quantities.get(m.quantity_key())

    assert bounds is not None and bounds.maximum is not None, m.key
    assert m.plausibility.duration_s.maximum is not None, m.key


@pytest.mark.parametrize("m", params())
def test_every_trip_has_a_speed_limit(m: Methodology) -> None:
    if "distance_km" in {m.quantity_key(), *m.plausibility.quantities}:
        assert m.plausibility.max_speed_kmh is not None, m.key


#: Claims for the T/ACEF 031-2022 behaviours: (behaviour, region, minutes, quantity, ok?). The
#: ordinary ones must pass plausibility with the version resolved for them; the absurd ones
#: (too fast, too much, too long, too many at once) must be rejected as out of bounds or speed.
CLAIMS: list[tuple[str, str, float, dict[str, str], bool]] = [
    ("running_steps", "310101", 45, {"steps": "6500"}, True),
    ("running_steps", "510502", 60, {"steps": "250000"}, False),
    ("own_bike_ride", "420106", 20, {"distance_km": "5"}, True),
    ("own_bike_ride", "420106", 10, {"distance_km": "20"}, False),  # 120 km/h
    ("own_bike_ride", "110105", 20, {"distance_km": "5", "count": "3"}, False),
    ("tram_ride", "310101", 25, {"distance_km": "8"}, True),
    ("tram_ride", "310101", 10, {"distance_km": "40"}, False),  # 240 km/h
    ("carpool_ride", "310101", 40, {"distance_km": "25"}, True),
    ("carpool_ride", "310101", 600, {"distance_km": "1200"}, False),
    ("ev_taxi_ride", "420106", 40, {"distance_km": "24"}, True),
    ("ev_taxi_ride", "420106", 5, {"distance_km": "24"}, False),  # 288 km/h
    ("car_non_use_day", "110105", 24 * 60, {}, True),
    ("car_non_use_day", "110105", 72 * 60, {}, False),  # three days in one claim
    ("car_non_use_day", "310101", 60, {}, False),  # an hour is not a car-free day
    ("etc_nonstop_payment", "310101", 90, {"count": "1"}, True),
    ("etc_nonstop_payment", "310101", 90, {"count": "50"}, False),
    ("ev_logistics_km", "310101", 180, {"distance_km": "150"}, True),
    ("ev_logistics_km", "310101", 60, {"distance_km": "300"}, False),  # 300 km/h truck
    ("own_cup", "310101", 5, {}, True),
    ("own_cup", "310101", 5, {"count": "40"}, False),
    ("plant_based_meal", "310101", 45, {"count": "1"}, True),
    ("small_portion", "310101", 45, {"count": "12"}, False),
    ("meal_box_recycling", "310101", 5, {"weight_kg": "0.4"}, True),
    ("meal_box_recycling", "310101", 5, {"weight_kg": "800"}, False),
    ("hotel_no_disposables", "310101", 2 * 24 * 60, {"count": "1"}, True),
    ("hotel_no_disposables", "310101", 60, {"count": "9"}, False),
    ("rooftop_pv_generation", "130102", 30 * 24 * 60, {"kwh": "600"}, True),
    ("rooftop_pv_generation", "130102", 30 * 24 * 60, {"kwh": "80000"}, False),
    ("rooftop_pv_generation", "130102", 60, {"kwh": "5"}, False),  # a period, not an hour
    ("water_saving_fixture", "310101", 30, {"count": "2"}, True),
    ("water_saving_fixture", "310101", 30, {"count": "300"}, False),
    ("second_hand_clothing_purchase", "310101", 20, {"weight_kg": "1.2"}, True),
    ("second_hand_clothing_purchase", "310101", 20, {"weight_kg": "500"}, False),
    ("packaging_recycling_paper", "310101", 10, {"weight_kg": "3"}, True),
    ("packaging_recycling_plastic", "310101", 10, {"weight_kg": "1000"}, False),
    ("packaging_recycling_metal", "310101", 10, {"weight_kg": "0.5"}, True),
    ("packaging_recycling_glass", "310101", 10, {"weight_kg": "5000"}, False),
    ("paperless_meeting", "310101", 90, {"count": "120"}, True),
    ("paperless_meeting", "310101", 90, {"count": "20000"}, False),
    ("video_conference", "310101", 60, {}, True),
    ("video_conference", "310101", 60, {"count": "30"}, False),
    ("double_sided_printing", "310101", 10, {"count": "40"}, True),
    ("double_sided_printing", "310101", 10, {"count": "50000"}, False),
    ("e_invoice", "310101", 1, {"count": "1"}, True),
    ("e_ticket", "310101", 1, {"count": "100"}, False),
    ("e_statement", "310101", 1, {}, True),
    ("online_bill_payment", "310101", 1, {"count": "100"}, False),
]


@pytest.mark.parametrize(
    ("behaviour", "region", "minutes", "quantity", "ok"),
    [pytest.param(*c, id=f"{c[0]}-{'ok' if c[4] else 'absurd'}-{c[3]}") for c in CLAIMS],
)
def test_ordinary_claims_pass_and_absurd_ones_are_rejected(
    behaviour: str,
    region: str,
    minutes: float,
    quantity: dict[str, str],
    ok: bool,
    catalogue: Catalogue,
) -> None:
    start = datetime(2025, 6, 1, tzinfo=CST)
    ev = parsed(behaviour=behaviour, region=region, start=start, minutes=minutes, quantity=quantity)
    m = catalogue.resolve(behaviour, start.date(), region)
    assert m is not None

    rejection = check_plausibility(m, ev, ev.ended_at + timedelta(hours=1))

    if ok:
        assert rejection is None
    else:
        assert rejection is not None
        assert rejection.reason in (Reason.OUT_OF_BOUNDS, Reason.IMPLAUSIBLE_SPEED)


# --- the catalogue as a whole ----------------------------------------------------------------


def test_the_catalogue_covers_the_seven_categories_of_t_acef_031(catalogue: Catalogue) -> None:
    behaviours_by_category: dict[str, set[str]] = {}
    for m in catalogue.methodologies:
        behaviours_by_category.setdefault(m.category, set()).update(m.behaviours)

    assert sorted(behaviours_by_category) == sorted(CATEGORIES)
    assert CATEGORIES == ("衣", "食", "住", "行", "用", "办公", "数字金融")


def test_the_catalogue_has_at_least_thirty_behaviours(catalogue: Catalogue) -> None:
    assert len(catalogue.behaviours()) >= 30


def test_a_behaviour_belongs_to_one_category_and_one_group(catalogue: Catalogue) -> None:
    seen: dict[str, tuple[str, str]] = {}
    for m in catalogue.methodologies:
        for behaviour in m.behaviours:
            assert seen.setdefault(behaviour, (m.category, m.group)) == (m.category, m.group), (
                f"{m.key}: {behaviour} is also in {seen[behaviour]}"
            )


def test_every_group_cap_names_its_basis() -> None:
    text = (Path(bundled_catalogue_dir()) / GROUPS_FILE).read_text(encoding="utf-8")

    for group in yaml.safe_load(text)["groups"]:
        if group.get("daily_cap_grams") is not None:
            assert group.get("cap_source", "").startswith(("operator-set:", "2nd:")), group
