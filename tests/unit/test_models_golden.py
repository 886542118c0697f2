"""Golden numbers: every bundled methodology version, quantified by hand from its sources.

Each row names the event (behaviour, region, local day, quantity), the version that must be
resolved for it, the factor used, the exact result and the credited grams (rounded down once),
and where the factor comes from (a row of /work/shared/methodology-facts.md, "facts" below).
A version without a row here fails `test_every_bundled_methodology_version_has_a_golden_case`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

import pytest

from tanpuhui.domain.checks import check_trace
from tanpuhui.domain.events import Reason, Rejection
from tanpuhui.domain.methodology import Catalogue
from tanpuhui.domain.models import MODELS, Quantification, quantify
from tests.conftest import CST
from tests.unit.domain_builders import factor, methodology, parsed

SHENZHEN, WUHAN, LUZHOU, BEIJING = "440304", "420106", "510502", "110105"
SHANGHAI, CHENGDU, HEBEI, GUANGZHOU = "310101", "510104", "130102", "440104"


class Golden(NamedTuple):
    key: str  # the version that must be resolved
    behaviour: str
    region: str
    day: date
    quantity: dict[str, str]
    factor_id: str
    exact: str  # exact grams, Decimal
    grams: int  # credited, rounded down once
    source: str


D2022, D2024, D2025 = date(2022, 6, 1), date(2024, 6, 1), date(2025, 6, 1)

GOLDEN: list[Golden] = [
    # --- Shenzhen public transport (facts: Transport, Shenzhen rows, TEXT) ------------------
    Golden("metro.shenzhen@1", "metro_ride", SHENZHEN, D2025, {"distance_km": "10"},
           "shenzhen_metro_2021", "467.0", 467, "10 km × 46.7 g/pkm (TEXT, not the 46.8 variant)"),
    Golden("metro.shenzhen@1", "metro_ride", SHENZHEN, D2025, {"distance_km": "7.5"},
           "shenzhen_metro_2021", "350.25", 350, "7.5 km × 46.7 g/pkm = 350.25 → 350"),
    Golden("bus.shenzhen@1", "bus_ride", SHENZHEN, D2025, {"distance_km": "10"},
           "shenzhen_bus_2021", "269.0", 269,
           "10 km × 26.9 g/pkm (TEXT; not the 0.152 kg/km of code repos)"),
    Golden("bus.shenzhen@1", "bus_ride", SHENZHEN, D2025, {"distance_km": "3.3"},
           "shenzhen_bus_2021", "88.77", 88, "3.3 km × 26.9 g/pkm = 88.77 → 88"),
    # --- Guangzhou (facts: Transport, Guangzhou metro 2015 row, TEXT) ------------------------
    Golden("metro.guangzhou@1", "metro_ride", GUANGZHOU, D2025, {"distance_km": "12"},
           "guangzhou_metro_trip_mean_2015", "515.5", 515,
           "0.5155 kg/trip (均值法, the lower of 0.5155 and 替代法 0.5419) → 515"),
    # --- Wuhan 武碳江湖 (facts: Transport, Wuhan 2025 and 2023 launch rows, 2ND) -----------
    Golden("cycling.shared_bike.wuhan@2", "bike_share_ride", WUHAN, D2025,
           {"distance_km": "3.42"}, "wuhan_bike_2025", "319.086", 319,
           "3.42 km × 93.3 g/km (Xinhua 2025) = 319.086 → 319"),
    Golden("cycling.shared_bike.wuhan@2", "bike_share_ride", WUHAN, date(2025, 1, 1),
           {"distance_km": "2"}, "wuhan_bike_2025", "186.6", 186,
           "first day of version 2: 2 km × 93.3 g/km = 186.6 → 186"),
    Golden("cycling.shared_bike.wuhan@1", "bike_share_ride", WUHAN, date(2024, 12, 31),
           {"distance_km": "3.42"}, "wuhan_bike_2023", "136.80", 136,
           "last day of version 1: 3.42 km × 40 g/km (长江日报 2023-06-05) = 136.8 → 136"),
    Golden("bus.wuhan@1", "bus_ride", WUHAN, D2024, {"distance_km": "8"},
           "wuhan_bus_2023", "150", 150,
           "150 g per trip (2023 launch); the distance only checks plausibility"),
    Golden("bus.wuhan@2", "bus_ride", WUHAN, D2025, {"count": "1"},
           "wuhan_bus_2025", "212.5", 212, "212.5 g per trip (Xinhua 2025) → 212"),
    Golden("metro.wuhan@1", "metro_ride", WUHAN, D2025, {"distance_km": "10"},
           "wuhan_metro_2025", "784.0", 784, "10 km × 78.4 g/km (Xinhua 2025)"),
    Golden("metro.wuhan@1", "metro_ride", WUHAN, D2025, {"distance_km": "3.42"},
           "wuhan_metro_2025", "268.128", 268, "3.42 km × 78.4 g/km = 268.128 → 268"),
    Golden("walking.wuhan@1", "walking_steps", WUHAN, D2025, {"steps": "10000"},
           "wuhan_walk_step", "200.00", 200,
           "碳碳星球: 0.02 points/step × 1 g/point (facts: Food…, 碳碳星球 row, DERIVED)"),
    Golden("walking.wuhan@1", "walking_steps", WUHAN, D2025, {"steps": "12345"},
           "wuhan_walk_step", "246.90", 246, "no blocks: 12,345 × 0.02 g = 246.9 → 246"),
    # --- Beijing 绿色生活季 minimum credits (facts: Transport and Food…, Beijing rows, 2ND) ----
    Golden("cycling.shared_bike.beijing@1", "bike_share_ride", BEIJING, D2025,
           {"distance_km": "5"}, "beijing_cycling_trip_2022", "52", 52,
           "cycling ≥ 52 g per trip, whatever the distance"),
    Golden("bus.beijing@1", "bus_ride", BEIJING, D2025, {"distance_km": "6"},
           "beijing_bus_trip_2022", "80", 80, "bus ≥ 80 g per trip"),
    Golden("metro.beijing@1", "metro_ride", BEIJING, D2025, {"distance_km": "22"},
           "beijing_metro_trip_2022", "46", 46, "metro ≥ 46 g per trip (not 22 km × 61.4 g/pkm)"),
    Golden("clean_plate.beijing@1", "clean_plate", BEIJING, D2025, {},
           "beijing_clean_plate_2022", "449", 449, "clean plate ≥ 449 g per time"),
    Golden("no_disposable_cutlery.beijing@1", "no_disposable_cutlery", BEIJING, D2025,
           {"count": "1"}, "beijing_no_cutlery_2022", "23", 23,
           "no disposable cutlery ≥ 23 g per order"),
    # --- Luzhou 绿芽积分 (facts: Food…, Luzhou row, 2ND) --------------------------------------
    Golden("bus.luzhou@1", "bus_ride", LUZHOU, D2025, {}, "luzhou_bus_qr_2024", "80", 80,
           "bus ride by QR 80 g → 10 points"),
    Golden("clean_plate.luzhou@1", "clean_plate", LUZHOU, D2025, {"count": "1"},
           "luzhou_clean_plate_2024", "144", 144, "clean plate 144 g → 5 points"),
    Golden("walking.luzhou@1", "walking_steps", LUZHOU, D2025, {"steps": "10000"},
           "luzhou_walk_500_steps", "164.0000", 164, "20 blocks of 500 steps × 8.2 g = 164"),
    Golden("walking.luzhou@1", "walking_steps", LUZHOU, D2025, {"steps": "499"},
           "luzhou_walk_500_steps", "0", 0, "499 steps: no whole block of 500, 0 g"),
    Golden("walking.luzhou@1", "walking_steps", LUZHOU, D2025, {"steps": "999"},
           "luzhou_walk_500_steps", "8.2000", 8, "999 steps: 1 block × 8.2 g = 8.2 → 8"),
    Golden("used_clothes.luzhou@1", "used_clothes_recycling", LUZHOU, D2025, {"weight_kg": "1"},
           "luzhou_clothes_2024", "1280", 1280, "1 kg of used clothes 1280 g → 30 points"),
    Golden("used_clothes.luzhou@1", "used_clothes_recycling", LUZHOU, D2025, {"weight_kg": "2.5"},
           "luzhou_clothes_2024", "3200.0", 3200, "2.5 kg × 1280 g/kg"),
    # --- national defaults where no city published a value ------------------------------------
    Golden("clean_plate.national@1", "clean_plate", SHANGHAI, D2025, {},
           "national_clean_plate_operator", "144", 144,
           "operator-set: the lowest published city value (Luzhou 144 g)"),
    Golden("no_disposable_cutlery.national@1", "no_disposable_cutlery", SHANGHAI, D2025, {},
           "national_no_cutlery_operator", "23", 23, "operator-set: Beijing's 23 g per order"),
    Golden("cycling.shared_bike.national@1", "bike_share_ride", CHENGDU, D2025,
           {"distance_km": "3.42"}, "national_bike_operator", "136.80", 136,
           "operator-set: the lowest city value (Wuhan 2023, 40 g/km) × 3.42 km → 136"),
    Golden("cycling.shared_bike.national@1", "bike_share_ride", WUHAN, date(2023, 6, 4),
           {"distance_km": "3.42"}, "national_bike_operator", "136.80", 136,
           "Wuhan the day before its 2023 launch falls back to the national default"),
    Golden("walking.national@1", "walking_steps", SHANGHAI, D2025, {"steps": "10000"},
           "national_walk_operator", "164.0000", 164,
           "operator-set: Luzhou's 8.2 g per 500 steps, whole blocks: 20 × 8.2"),
    Golden("used_clothes.national@1", "used_clothes_recycling", SHANGHAI, D2025, {"weight_kg": "1"},
           "textile_reuse_literature", "3600.0", 3600, "textile reuse 1 kg → 3.6 kg CO2 (2ND)"),
    Golden("used_clothes.national@1", "used_clothes_recycling", SHANGHAI, D2025,
           {"weight_kg": "0.35"}, "textile_reuse_literature", "1260.00", 1260,
           "0.35 kg × 3.6 kg/kg"),
    # --- household electricity × grid factor of the year (facts: Electricity table, TEXT) -----
    Golden("household_electricity.saved@1", "household_electricity_saved", HEBEI, D2022,
           {"kwh": "100"}, "grid_hebei_2022", "72520.0000", 72520,
           "100 kWh × 河北 2022 0.7252 kg/kWh (vs national 2021 0.5568 below)"),
    Golden("household_electricity.saved@1", "household_electricity_saved", HEBEI, date(2021, 6, 1),
           {"kwh": "100"}, "grid_cn_2021", "55680.0000", 55680,
           "no 2021 province factor: 100 kWh × national 2021 0.5568 kg/kWh"),
    Golden("household_electricity.saved@1", "household_electricity_saved", SHANGHAI, D2022,
           {"kwh": "100"}, "grid_cn_2022", "53660.0000", 53660,
           "no 上海 2022 factor published here: national 2022 0.5366 kg/kWh"),
    Golden("household_electricity.saved@1", "household_electricity_saved", HEBEI, date(2023, 6, 1),
           {"kwh": "100"}, "grid_cn_2023", "53060.0000", 53060,
           "2023 has no province factors here: national 2023 0.5306 kg/kWh"),
    Golden("household_electricity.saved@1", "household_electricity_saved", SHANGHAI, D2024,
           {"kwh": "100"}, "grid_cn_2023", "53060.0000", 53060,
           "2024: the newest national factor (2023, 0.5306) applies until a newer one"),
    Golden("household_electricity.saved@1", "household_electricity_saved", HEBEI, D2022,
           {"kwh": "0.7"}, "grid_hebei_2022", "507.64000", 507,
           "0.7 kWh × 725.2 g/kWh = 507.64 → 507"),
    *[
        Golden("household_electricity.saved@1", "household_electricity_saved", region, D2022,
               {"kwh": "100"}, factor_id, exact, grams, f"100 kWh × {name} 2022 provincial factor")
        for region, factor_id, exact, grams, name in [
            ("140105", "grid_shanxi_2022", "70960.0000", 70960, "山西 0.7096"),
            ("120101", "grid_tianjin_2022", "70410.0000", 70410, "天津 0.7041"),
            ("150102", "grid_neimenggu_2022", "68490.0000", 68490, "内蒙古 0.6849"),
            ("340102", "grid_anhui_2022", "67820.0000", 67820, "安徽 0.6782"),
            ("350102", "grid_fujian_2022", "40920.0000", 40920, "福建 0.4092"),
            ("450102", "grid_guangxi_2022", "40440.0000", 40440, "广西 0.4044"),
            ("630102", "grid_qinghai_2022", "15670.0000", 15670, "青海 0.1567"),
            ("510104", "grid_sichuan_2022", "14040.0000", 14040, "四川 0.1404"),
            ("530102", "grid_yunnan_2022", "10730.0000", 10730, "云南 0.1073"),
        ]
    ],
]  # fmt: skip


def golden_event_quantification(g: Golden, catalogue: Catalogue) -> Quantification:
    start = datetime(g.day.year, g.day.month, g.day.day, 8, 0, tzinfo=CST)
    ev = parsed(
        behaviour=g.behaviour, region=g.region, start=start, minutes=30, quantity=g.quantity
    )
    m = catalogue.resolve(g.behaviour, g.day, g.region)
    assert m is not None, f"nothing resolves for {g.behaviour} in {g.region} on {g.day}"
    assert m.key == g.key
    result = quantify(m, ev, g.day, catalogue)
    assert not isinstance(result, Rejection), result
    return result


@pytest.mark.parametrize(
    "g", [pytest.param(g, id=f"{g.key}-{g.region}-{g.day}-{g.quantity}") for g in GOLDEN]
)
def test_golden_number(g: Golden, catalogue: Catalogue) -> None:
    q = golden_event_quantification(g, catalogue)

    assert q.exact_grams == Decimal(g.exact)
    assert q.grams == g.grams
    assert [use.factor.id for use in q.factors] == [g.factor_id]


def test_every_bundled_methodology_version_has_a_golden_case(catalogue: Catalogue) -> None:
    bundled = {m.key for m in catalogue.methodologies}

    assert bundled - {g.key for g in GOLDEN} == set()
    assert {g.key for g in GOLDEN} <= bundled  # and no row names a version that is not shipped


@pytest.mark.parametrize(
    "g", [pytest.param(g, id=f"{g.key}-{g.region}-{g.day}-{g.quantity}") for g in GOLDEN]
)
def test_golden_trace_recomputes_to_the_same_grams(g: Golden, catalogue: Catalogue) -> None:
    q = golden_event_quantification(g, catalogue)
    trace = q.trace()

    assert trace["methodology"] == g.key
    assert trace["grams"] == g.grams
    assert trace["content_hash"] == q.methodology.content_hash
    assert list(check_trace(uuid.UUID(int=1), q.methodology, trace, g.grams)) == []


def test_the_wuhan_trace_reads_as_its_source(catalogue: Catalogue) -> None:
    (g,) = [g for g in GOLDEN if g.key == "cycling.shared_bike.wuhan@2" and g.grams == 319]

    trace = golden_event_quantification(g, catalogue).trace()

    assert trace == {
        "methodology": "cycling.shared_bike.wuhan@2",
        "content_hash": trace["content_hash"],
        "model": "distance",
        "inputs": {"distance_km": "3.42"},
        "factors": {"er": {"id": "wuhan_bike_2025", "value": "93.3"}},
        "exact_grams": "319.086",
        "grams": 319,
    }
    assert str(trace["content_hash"]).startswith("sha256:")


def test_a_per_occurrence_event_without_a_count_counts_once(catalogue: Catalogue) -> None:
    m = catalogue.get("clean_plate.luzhou@1")
    assert m is not None
    ev = parsed(behaviour="clean_plate", region=LUZHOU, quantity={})

    q = quantify(m, ev, D2025, catalogue)

    assert not isinstance(q, Rejection)
    assert (q.quantity, q.amount, q.grams) == ("count", Decimal(1), 144)


def test_a_distance_methodology_needs_the_distance(catalogue: Catalogue) -> None:
    m = catalogue.get("metro.shenzhen@1")
    assert m is not None
    ev = parsed(behaviour="metro_ride", region=SHENZHEN, quantity={"count": "1"})

    result = quantify(m, ev, D2025, catalogue)

    assert result == Rejection(
        Reason.QUANTITY_MISMATCH,
        "metro.shenzhen@1 needs quantity.distance_km",
        "quantity.distance_km",
    )


def test_a_day_without_a_valid_factor_is_no_factor(catalogue: Catalogue) -> None:
    m = catalogue.get("household_electricity.saved@1")
    assert m is not None
    ev = parsed(behaviour="household_electricity_saved", region=HEBEI, quantity={"kwh": "100"})

    result = quantify(m, ev, date(2020, 12, 31), catalogue)

    assert isinstance(result, Rejection)
    assert result.reason == Reason.NO_FACTOR


def test_baseline_minus_project_is_the_reduction(catalogue: Catalogue) -> None:
    # Beijing 22 km commute (facts: Transport, 2ND/DERIVED): car 271.8 g/pkm, metro 61.4 g/pkm
    m = methodology(
        factors=[factor("271.8", "g/pkm", role="baseline"), factor("61.4", "g/pkm", role="project")]
    )
    ev = parsed(quantity={"distance_km": "22"})

    q = quantify(m, ev, D2025, Catalogue([m], catalogue.groups.values()))

    assert not isinstance(q, Rejection)
    assert q.exact_grams == Decimal("4628.8")  # 22 × (271.8 − 61.4); the source says 4.63 kg
    assert q.grams == 4628


def test_a_project_dirtier_than_the_baseline_credits_nothing(catalogue: Catalogue) -> None:
    m = methodology(
        factors=[factor("50", "g/km", role="baseline"), factor("60", "g/km", role="project")]
    )

    q = quantify(m, parsed(), D2025, Catalogue([m], catalogue.groups.values()))

    assert not isinstance(q, Rejection)
    assert q.exact_grams < 0
    assert q.grams == 0


def test_every_model_states_its_formula() -> None:
    assert sorted(MODELS) == ["distance", "per_occurrence", "per_quantity", "steps"]
    assert all(spec.formula.startswith("ER = ") for spec in MODELS.values())
