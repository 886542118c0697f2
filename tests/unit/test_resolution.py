"""Resolution: which methodology version and which factor apply to an event's day and region."""

from __future__ import annotations

from datetime import date

import pytest

from tanpuhui.domain.methodology import Catalogue
from tanpuhui.domain.regions import RegionCatalogue, province_of, scope_contains, scope_rank
from tests.unit.domain_builders import MOBILITY, factor, methodology

WUHAN, LUZHOU, BEIJING, SHENZHEN = "420106", "510502", "110105", "440304"
SHANGHAI, CHENGDU, HEBEI = "310101", "510104", "130102"


@pytest.mark.parametrize(
    ("behaviour", "region", "day", "key"),
    [
        # a regional variant beats the national default
        ("clean_plate", LUZHOU, date(2025, 6, 1), "clean_plate.luzhou@1"),
        ("clean_plate", BEIJING, date(2025, 6, 1), "clean_plate.beijing@1"),
        ("clean_plate", SHANGHAI, date(2025, 6, 1), "clean_plate.national@1"),
        ("clean_plate", "510521", date(2025, 6, 1), "clean_plate.luzhou@1"),  # 泸县, Luzhou
        ("walking_steps", LUZHOU, date(2025, 6, 1), "walking.luzhou@1"),
        ("walking_steps", CHENGDU, date(2025, 6, 1), "walking.national@1"),  # Sichuan ≠ Luzhou
        ("bike_share_ride", BEIJING, date(2025, 6, 1), "cycling.shared_bike.beijing@1"),
        ("bike_share_ride", SHANGHAI, date(2025, 6, 1), "cycling.shared_bike.national@1"),
        ("no_disposable_cutlery", BEIJING, date(2025, 6, 1), "no_disposable_cutlery.beijing@1"),
        ("used_clothes_recycling", LUZHOU, date(2025, 6, 1), "used_clothes.luzhou@1"),
        # the version boundary: Wuhan bike @1 up to 2024-12-31, @2 from 2025-01-01
        ("bike_share_ride", WUHAN, date(2023, 6, 4), "cycling.shared_bike.national@1"),
        ("bike_share_ride", WUHAN, date(2023, 6, 5), "cycling.shared_bike.wuhan@1"),
        ("bike_share_ride", WUHAN, date(2024, 12, 31), "cycling.shared_bike.wuhan@1"),
        ("bike_share_ride", WUHAN, date(2025, 1, 1), "cycling.shared_bike.wuhan@2"),
        ("bus_ride", WUHAN, date(2024, 12, 31), "bus.wuhan@1"),
        ("bus_ride", WUHAN, date(2025, 1, 1), "bus.wuhan@2"),
        # a city variant older than the national default
        ("walking_steps", WUHAN, date(2021, 6, 1), "walking.wuhan@1"),
        ("walking_steps", LUZHOU, date(2024, 4, 30), "walking.national@1"),
        ("walking_steps", LUZHOU, date(2024, 5, 1), "walking.luzhou@1"),
    ],
)
def test_the_most_specific_version_in_effect_is_resolved(
    behaviour: str, region: str, day: date, key: str, catalogue: Catalogue
) -> None:
    m = catalogue.resolve(behaviour, day, region)

    assert m is not None
    assert m.key == key


@pytest.mark.parametrize(
    ("behaviour", "region", "day"),
    [
        ("metro_ride", LUZHOU, date(2025, 6, 1)),  # no metro methodology, no national default
        ("bus_ride", SHANGHAI, date(2025, 6, 1)),
        ("metro_ride", WUHAN, date(2024, 12, 31)),  # Wuhan metro starts 2025-01-01
        ("bus_ride", WUHAN, date(2023, 6, 4)),  # before 武碳江湖's launch
        ("bike_share_ride", SHANGHAI, date(2021, 12, 31)),  # before the national default
        ("walking_steps", SHANGHAI, date(2021, 12, 31)),
        ("household_electricity_saved", HEBEI, date(2020, 12, 31)),
        ("teleportation", WUHAN, date(2025, 6, 1)),
    ],
)
def test_no_version_is_resolved_where_none_applies(
    behaviour: str, region: str, day: date, catalogue: Catalogue
) -> None:
    assert catalogue.resolve(behaviour, day, region) is None


def test_resolution_is_memoised_but_answers_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """The search runs once per (behaviour, day, region); later calls answer from the memo, and
    the answer is the one the search gives (a test that only compared results would pass with
    the memo deleted, since the search returns the same object every time)."""
    national = methodology("bike.cn")
    prefecture = methodology("bike.wuhan", region="420100")
    catalogue = Catalogue([national, prefecture], [MOBILITY])
    searches: list[tuple[str, date, str]] = []
    search = catalogue._resolve

    def counting(behaviour: str, day: date, region: str) -> object:
        searches.append((behaviour, day, region))
        return search(behaviour, day, region)

    monkeypatch.setattr(catalogue, "_resolve", counting)
    day = date(2025, 1, 1)
    answers = [catalogue.resolve("bike_share_ride", day, "420106") for _ in range(3)]
    other = catalogue.resolve("bike_share_ride", day, "310101")

    assert answers == [prefecture] * 3
    assert other == national
    assert searches == [("bike_share_ride", day, "420106"), ("bike_share_ride", day, "310101")]


def test_county_beats_prefecture_beats_province_beats_national() -> None:
    national = methodology("bike.cn")
    province = methodology("bike.hubei", region="420000")
    prefecture = methodology("bike.wuhan", region="420100")
    county = methodology("bike.wuchang", region="420106")
    catalogue = Catalogue([national, province, prefecture, county], [MOBILITY])
    day = date(2025, 6, 1)

    assert catalogue.resolve("bike_share_ride", day, "420106") == county
    assert catalogue.resolve("bike_share_ride", day, "420102") == prefecture
    assert catalogue.resolve("bike_share_ride", day, "420200") == province  # 黄石
    assert catalogue.resolve("bike_share_ride", day, "310101") == national


def test_among_equal_scopes_the_latest_effective_version_wins() -> None:
    old = methodology("bike.a", 1, effective_from=date(2023, 1, 1))
    new = methodology("bike.a", 2, effective_from=date(2025, 1, 1))
    catalogue = Catalogue([new, old], [MOBILITY])

    assert catalogue.resolve("bike_share_ride", date(2024, 12, 31), "420106") == old
    assert catalogue.resolve("bike_share_ride", date(2025, 1, 1), "420106") == new


def test_effective_to_is_exclusive() -> None:
    m = methodology(effective_from=date(2024, 1, 1), effective_to=date(2025, 1, 1))

    assert m.in_effect(date(2024, 1, 1))
    assert m.in_effect(date(2024, 12, 31))
    assert not m.in_effect(date(2025, 1, 1))
    assert not m.in_effect(date(2023, 12, 31))


# --- factor selection: by year and by province ----------------------------------------------


@pytest.mark.parametrize(
    ("day", "region", "factor_id"),
    [
        (date(2022, 6, 1), HEBEI, "grid_hebei_2022"),  # province factor where published
        (date(2022, 1, 1), HEBEI, "grid_hebei_2022"),
        (date(2022, 12, 31), HEBEI, "grid_hebei_2022"),
        (date(2023, 1, 1), HEBEI, "grid_cn_2023"),  # no 2023 province factor: national
        (date(2021, 12, 31), HEBEI, "grid_cn_2021"),  # no 2021 province factor: national
        (date(2022, 6, 1), SHANGHAI, "grid_cn_2022"),  # no 上海 2022 factor: national
        (date(2022, 6, 1), "130000", "grid_hebei_2022"),  # the province code itself
        (date(2022, 6, 1), CHENGDU, "grid_sichuan_2022"),
        (date(2021, 1, 1), SHANGHAI, "grid_cn_2021"),
        (date(2024, 6, 1), HEBEI, "grid_cn_2023"),  # newest national factor for later years
        (date(2031, 1, 1), SHANGHAI, "grid_cn_2023"),
    ],
)
def test_electricity_factor_is_chosen_by_year_and_province(
    day: date, region: str, factor_id: str, catalogue: Catalogue
) -> None:
    m = catalogue.get("household_electricity.saved@1")
    assert m is not None

    chosen = m.factor("er", day, region)

    assert chosen is not None
    assert chosen.id == factor_id
    assert catalogue.factor_uses(m, day, region)["er"].factor == chosen


def test_no_factor_before_the_series_starts(catalogue: Catalogue) -> None:
    m = catalogue.get("household_electricity.saved@1")
    assert m is not None

    assert m.factor("er", date(2020, 12, 31), HEBEI) is None
    assert catalogue.factor_uses(m, date(2020, 12, 31), HEBEI) == {}


def test_factor_uses_convert_to_grams_per_unit(catalogue: Catalogue) -> None:
    m = catalogue.get("household_electricity.saved@1")
    assert m is not None

    use = catalogue.factor_uses(m, date(2022, 6, 1), HEBEI)["er"]

    assert str(use.per_unit) == "725.2000"  # 0.7252 kg/kWh in grams per kWh


def test_a_more_specific_factor_wins_over_a_wider_one() -> None:
    m = methodology(
        factors=[
            factor("10", factor_id="cn"),
            factor("20", factor_id="hubei", region="420000"),
            factor("30", factor_id="wuhan", region="420100"),
        ]
    )

    def chosen(region: str) -> str | None:
        f = m.factor("er", date(2025, 6, 1), region)
        return None if f is None else f.id

    assert chosen("420106") == "wuhan"
    assert chosen("420200") == "hubei"
    assert chosen("310101") == "cn"
    assert m.factor("baseline", date(2025, 6, 1), "420106") is None


# --- region scopes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "code", "inside"),
    [
        (None, "420106", True),
        ("420000", "420106", True),
        ("420000", "430106", False),
        ("420100", "420106", True),
        ("420100", "420206", False),
        ("420106", "420106", True),
        ("420106", "420107", False),
    ],
)
def test_scope_contains(scope: str | None, code: str, inside: bool) -> None:
    assert scope_contains(scope, code) is inside


def test_scope_rank_and_province() -> None:
    assert [scope_rank(s) for s in (None, "420000", "420100", "420106")] == [0, 1, 2, 3]
    assert province_of("420106") == "420000"


def test_region_ancestors_run_from_county_to_province(regions: RegionCatalogue) -> None:
    assert regions.ancestors("420106") == ["420106", "420100", "420000"]
    assert regions.ancestors("000000") == []
    assert "420106" in regions and "999999" not in regions
