"""The audit's "conservative choices that are not" (issue 9 item 8), fixed by new versions.

Each test names the old answer (the version before the fix) and checks the rule the new version
keeps, from the version files themselves: the lowest published value, per-trip credits that
follow the distance, an e-bike that never beats a pedal bike, and grid factors that do not jump
between kinds of value from one year to the next nor reach outside the mainland grid.
Values in the tables below are those of /work/shared/methodology-facts.md (Electricity, TEXT).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from tanpuhui.domain.events import Reason, Rejection
from tanpuhui.domain.methodology import Catalogue, Confidence, Methodology
from tanpuhui.domain.models import Quantification, quantify
from tanpuhui.domain.quantity import grams_per_unit
from tanpuhui.domain.regions import REGIONAL_GRIDS, RegionCatalogue, province_of, regional_grid
from tests.conftest import CST
from tests.unit.domain_builders import parsed

D2025, D2026 = date(2025, 6, 1), date(2026, 12, 15)
BEIJING, SHANGHAI, LUZHOU = "110105", "310101", "510502"

#: MEE + NBS regional grid factors (kgCO2/kWh), 2022 and 2023.
REGIONAL = {
    "华北": ("0.6776", "0.6361"), "东北": ("0.5564", "0.5122"), "华东": ("0.5617", "0.5500"),
    "华中": ("0.5395", "0.5271"), "西北": ("0.5857", "0.5543"), "南方": ("0.3869", "0.4042"),
    "西南": ("0.2268", "0.2472"),
}  # fmt: skip
#: MEE + NBS provincial factors 2022 (the latest provincial values).
PROVINCIAL = {
    "130000": "0.7252", "140000": "0.7096", "120000": "0.7041", "150000": "0.6849",
    "340000": "0.6782", "350000": "0.4092", "450000": "0.4044", "630000": "0.1567",
    "510000": "0.1404", "530000": "0.1073",
}  # fmt: skip
GRID_VERSIONS = ("household_electricity.saved@3", "rooftop_pv.grid_average@2")


def run(
    catalogue: Catalogue, behaviour: str, region: str, day: date, minutes: float = 20, **qty: str
) -> Quantification | Rejection:
    m = catalogue.resolve(behaviour, day, region)
    assert m is not None, (behaviour, region, day)
    start = datetime(day.year, day.month, day.day, 8, tzinfo=CST)
    ev = parsed(behaviour=behaviour, region=region, start=start, minutes=minutes, quantity=qty)
    return quantify(m, ev, day, catalogue)


def grams(catalogue: Catalogue, behaviour: str, region: str, day: date, **qty: str) -> int:
    q = run(catalogue, behaviour, region, day, **qty)
    assert not isinstance(q, Rejection), q
    return q.grams


def version(catalogue: Catalogue, key: str) -> Methodology:
    m = catalogue.get(key)
    assert m is not None, key
    return m


# --- the lowest published value --------------------------------------------------------------


def test_the_national_cycling_default_is_the_lowest_published_value(catalogue: Catalogue) -> None:
    """Before: 40 g/km (Wuhan 2023), above Beijing's ≥ 52 g per ~2 km trip (26 g/km)."""
    published_per_km = []
    for m in catalogue.methodologies:
        if m.region is None or not {"bike_share_ride", "own_bike_ride"} & set(m.behaviours):
            continue
        for f in m.factors:
            per_unit = grams_per_unit(f.value, f.unit)
            full = m.parameters.get("full_trip_km")
            published_per_km.append(per_unit / Decimal(full) if full else per_unit)
    for key in ("cycling.shared_bike.national@2", "cycling.own_bike.national@2"):
        (f,) = version(catalogue, key).factors
        assert grams_per_unit(f.value, f.unit) == min(published_per_km) == 26
    assert grams(catalogue, "bike_share_ride", "510104", D2025, distance_km="3.42") == 136
    assert grams(catalogue, "bike_share_ride", "510104", D2026, distance_km="3.42") == 88


def test_clothes_recycling_earns_the_platform_value_not_the_reuse_one(
    catalogue: Catalogue,
) -> None:
    """Before: 3.6 kg/kg (textile *reuse*), 2.8 × Luzhou's 1.28 kg/kg for recycling."""
    assert grams(catalogue, "used_clothes_recycling", SHANGHAI, D2025, weight_kg="1") == 3600
    assert grams(catalogue, "used_clothes_recycling", SHANGHAI, D2026, weight_kg="1") == 1280
    luzhou = grams(catalogue, "used_clothes_recycling", LUZHOU, D2026, weight_kg="1")
    assert luzhou == 1280  # the national default is no more than the platform's own value


def test_a_derived_value_is_not_rounded_up(catalogue: Catalogue) -> None:
    """Before: meal boxes 1.545 t/t rounded up to 1.55; the same release's 2022 figures give
    7,000 / 5,400 = 1.296, which the new version rounds down."""
    (f,) = version(catalogue, "meal_box_recycling.national@2").factors

    assert f.value <= Decimal(7000) / Decimal(5400) < Decimal("1.545")
    assert grams(catalogue, "meal_box_recycling", SHANGHAI, D2025, weight_kg="1") == 1550
    assert grams(catalogue, "meal_box_recycling", SHANGHAI, D2026, weight_kg="1") == 1290


# --- per-trip credits follow the distance ----------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "region", "before", "after"),
    [
        ("metro_ride", BEIJING, 46, 23),  # 46 g × 0.5 / 1 km
        ("bus_ride", BEIJING, 80, 13),  # 80 g × 0.5 / 3 km = 13.3
        ("bus_ride", LUZHOU, 80, 13),
        ("bus_ride", "420106", 212, 13),  # 212.5 × 0.5 / 7.9 = 13.4
        ("bike_share_ride", BEIJING, 52, 13),  # 52 g × 0.5 / 2 km
        ("own_bike_ride", BEIJING, 52, 13),
        ("metro_ride", "440104", 515, 23),  # 515.5 × 0.5 / 11.1 = 23.2
    ],
)
def test_a_half_kilometre_trip_no_longer_earns_a_full_trip(
    behaviour: str, region: str, before: int, after: int, catalogue: Catalogue
) -> None:
    assert grams(catalogue, behaviour, region, D2025, distance_km="0.5") == before
    assert grams(catalogue, behaviour, region, D2026, distance_km="0.5") == after


def test_every_per_trip_mobility_credit_scales_below_a_full_trip(catalogue: Catalogue) -> None:
    trips = [
        m
        for m in catalogue.methodologies
        if m.in_effect(D2026) and m.group == "mobility" and m.model == "per_occurrence"
    ]
    for m in trips:
        if m.behaviours != ("car_non_use_day",):  # a day, not a trip
            assert "full_trip_km" in m.parameters, m.key


def test_a_scaled_per_trip_credit_needs_the_distance(catalogue: Catalogue) -> None:
    """A QR-code tap without a distance cannot show the trip was a full one."""
    result = run(catalogue, "bus_ride", LUZHOU, D2026)

    assert isinstance(result, Rejection)
    assert (result.reason, result.field) == (Reason.QUANTITY_MISMATCH, "quantity.distance_km")


# --- the shared e-bike ---------------------------------------------------------------------


def test_an_ebike_ride_never_earns_more_than_a_pedal_bike_ride(catalogue: Catalogue) -> None:
    """Before: a 2 km e-bike ride earned 186 g (unsourced 80/20 metro/car shares, a
    single-occupant car, metro 61.4 g/pkm), 3.6 × the 52 g of a pedal-bike ride."""
    assert grams(catalogue, "ebike_share_ride", BEIJING, D2025, distance_km="2") == 186
    two_km = {"distance_km": "2"}
    ebike = grams(catalogue, "ebike_share_ride", BEIJING, D2026, **two_km)
    assert ebike <= grams(catalogue, "bike_share_ride", BEIJING, D2026, **two_km) == 52
    for km in ("0.2", "0.7", "3", "11.5", "40"):
        e = grams(catalogue, "ebike_share_ride", BEIJING, D2026, distance_km=km)
        assert e <= grams(catalogue, "bike_share_ride", SHANGHAI, D2026, distance_km=km)


def test_the_ebike_baseline_is_the_lower_beijing_metro_reading_without_shares(
    catalogue: Catalogue,
) -> None:
    m = version(catalogue, "ebike_share.beijing@2")
    baseline = m.factor("baseline", D2026, BEIJING)

    assert m.substitution is None  # no unsourced shares, no car
    assert baseline is not None and baseline.value == Decimal("38.8")  # not 61.4
    assert baseline.value <= Decimal("271.8") / 7 < Decimal("61.4")


# --- grid factors ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", GRID_VERSIONS)
def test_a_grid_factor_is_the_lower_of_the_provincial_and_the_regional_value(
    key: str, catalogue: Catalogue
) -> None:
    m = version(catalogue, key)
    for f in m.factors:
        assert f.region is not None, f"{f.id}: no national fallback"
        assert f.valid_from is not None
        grid = regional_grid(f.region)
        assert grid is not None, f.id
        regional = Decimal(REGIONAL[grid][0 if f.valid_from.year == 2022 else 1])
        provincial = PROVINCIAL.get(province_of(f.region))
        lower = min(regional, Decimal(provincial)) if provincial else regional
        assert f.value == lower, f.id
        assert f.series == "mee-nbs-grid-average"
        # a value resting on the inferred grid membership is derived, a province's own is text
        own = provincial is not None and Decimal(provincial) <= regional
        assert f.confidence == (Confidence.TEXT if own else Confidence.DERIVED), f.id


@pytest.mark.parametrize("key", GRID_VERSIONS)
def test_no_region_jumps_between_kinds_of_grid_value(key: str, catalogue: Catalogue) -> None:
    """Before (household_electricity.saved@2): 云南 0.1073 (provincial, 2022) → 0.4042
    (南方 regional, 2023); rooftop_pv.grid_average@1: 四川 0.5568 → 0.1404 → 0.5306."""
    m = version(catalogue, key)
    kinds: dict[str, set[str]] = {}
    for f in m.factors:
        assert f.region is not None
        kinds.setdefault(f.region, set()).add("text" if f.confidence == Confidence.TEXT else "r")
    assert all(len(k) == 1 for k in kinds.values())
    covered = {f.region for f in m.factors}
    assert covered == {code for codes in REGIONAL_GRIDS.values() for code in codes}
    assert {f.valid_from for f in m.factors} == {date(2022, 1, 1), date(2023, 1, 1)}


@pytest.mark.parametrize("region", ["810000", "820000", "710000"])
@pytest.mark.parametrize(
    ("behaviour", "before"),
    [("household_electricity_saved", 53060), ("rooftop_pv_generation", 53060)],
)
def test_outside_the_mainland_grid_there_is_no_grid_factor(
    region: str, behaviour: str, before: int, catalogue: Catalogue
) -> None:
    """Before: Hong Kong, Macau and Taiwan got the national mainland factor (0.5306)."""
    minutes = 30 * 24 * 60
    old = run(catalogue, behaviour, region, D2025, minutes, kwh="100")
    new = run(catalogue, behaviour, region, D2026, minutes, kwh="100")

    assert not isinstance(old, Rejection) and old.grams == before
    assert isinstance(new, Rejection) and new.reason == Reason.NO_FACTOR


def test_eastern_inner_mongolia_is_in_the_northeast_grid(regions: RegionCatalogue) -> None:
    east = {"150402": "赤峰", "150502": "通辽", "150702": "呼伦贝尔", "152201": "兴安盟"}
    for code in east:
        assert code in regions
        assert regional_grid(code) == "东北"
    assert regional_grid("150102") == "华北"  # 呼和浩特
    assert regional_grid("440304") == "南方"
    assert [regional_grid(c) for c in ("810000", "820000", "710000")] == [None, None, None]


def test_every_mainland_province_is_in_one_regional_grid(regions: RegionCatalogue) -> None:
    provinces = [r.code for r in regions.all() if r.level == "province"]
    outside = {"710000", "810000", "820000", "990000"}  # Taiwan, HK, Macau, 苏鲁交界

    assert sorted(p for p in provinces if regional_grid(p) is None) == sorted(outside)
    members = [c for codes in REGIONAL_GRIDS.values() for c in codes]
    assert len(members) == len(set(members))


def test_a_grid_factor_in_force_that_rests_on_grid_membership_is_derived(
    catalogue: Catalogue,
) -> None:
    """Before: every regional-grid factor applied to a province was tagged text."""
    regional = [
        (m.key, f)
        for m in catalogue.methodologies
        if m.in_effect(D2026)
        for f in m.factors
        if f.series == "mee-nbs-grid-average" and f.source.startswith("MEE + NBS regional")
    ]

    assert len(regional) > 60
    assert all(f.confidence == Confidence.DERIVED for _, f in regional), [
        (key, f.id) for key, f in regional if f.confidence != Confidence.DERIVED
    ]
