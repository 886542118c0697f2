"""Energy bounds per day of the period (issue 9, hole 4): the versions effective 2027-01-01
bound saved, generated and consumed kWh per day of the period a reading covers (caps.py,
plausibility.py). No bound is published (methodology-facts.md): each is an operator-set
parameter whose source says so and why.

Before (household_electricity.saved@3): 5,000 kWh "saved" in one day passed plausibility
(the bound was per reading, whatever its length) and was credited up to the day's cap.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tanpuhui.adapters.catalogue_files import bundled_catalogue_dir, load_regions
from tanpuhui.adapters.methodology_files import parse_methodology
from tanpuhui.domain.errors import MethodologyFileError
from tanpuhui.domain.events import Reason, Rejection
from tanpuhui.domain.methodology import Catalogue, Confidence
from tanpuhui.domain.models import quantify
from tanpuhui.domain.plausibility import check_plausibility
from tests.builders import event
from tests.conftest import CST
from tests.unit.domain_builders import parsed

#: the first day of the new versions; "now" a week after a 30-day period ending then
START = datetime(2027, 1, 1, tzinfo=CST)
NOW = START + timedelta(days=37)

#: (version, behaviour, region, the bounded quantities, kWh per day, golden grams of the
#: 30-day example: kWh × factor, rounded down once, with the factor's source)
VERSIONS = [
    # 30 × 17 = 510 kWh × 0.6361 kg/kWh (华北 2023, MEE + NBS) = 324,411 g
    ("household_electricity.saved@4", "household_electricity_saved", "110105", ("kwh",), 17,
     324_411),
    # 30 × 109 = 3,270 kWh × 0.6361 kg/kWh (华北 2023, MEE + NBS) = 2,080,047 g
    ("rooftop_pv.grid_average@3", "rooftop_pv_generation", "110105", ("kwh",), 109, 2_080_047),
    # baseline 3,000 kWh, used 2,000: 1,000 kWh × 0.4042 kg/kWh (南方 2023) = 404,200 g
    ("household_electricity.shenzhen_baseline@3", "household_electricity_use", "440304",
     ("kwh", "baseline_kwh"), 100, 404_200),
]  # fmt: skip


def reading(behaviour: str, region: str, days: int, per_day: int) -> dict[str, object]:
    kwh = str(per_day * days)
    quantity: dict[str, str] = {"kwh": kwh}
    if behaviour == "household_electricity_use":  # used two thirds of the expected
        quantity = {"kwh": str(per_day * days * 2 // 3), "baseline_kwh": kwh, "count": "4"}
    return event(behaviour=behaviour, region=region, start=START, minutes=days * 24 * 60,
                 quantity=quantity)  # fmt: skip


@pytest.mark.parametrize(("key", "behaviour", "region", "bounded", "per_day", "grams"), VERSIONS)
def test_each_energy_version_bounds_its_kwh_per_day_of_the_period(
    catalogue: Catalogue,
    key: str,
    behaviour: str,
    region: str,
    bounded: tuple[str, ...],
    per_day: int,
    grams: int,
) -> None:
    m = catalogue.resolve(behaviour, START.date(), region)
    assert m is not None and m.key == key
    day_bounds = m.plausibility.quantities_per_day
    assert sorted(day_bounds) == sorted(bounded)
    for bound in day_bounds.values():
        assert bound.maximum == Decimal(per_day)
        assert bound.confidence == Confidence.OPERATOR_SET
        assert bound.source.startswith("operator-set: no published bound")

    month = parsed(reading(behaviour, region, 30, per_day))
    assert check_plausibility(m, month, NOW) is None  # 30 days may hold 30 × the bound
    q = quantify(m, month, START.date(), catalogue)
    assert not isinstance(q, Rejection) and q.grams == grams

    one_day = parsed(reading(behaviour, region, 1, per_day * 30))  # a month's in one day
    refusal = check_plausibility(m, one_day, NOW)
    assert refusal is not None and refusal.reason == Reason.OUT_OF_BOUNDS
    assert "per day" in refusal.message


def test_the_version_before_accepted_a_months_saving_in_one_day(catalogue: Catalogue) -> None:
    """What hole 4 was: @3 has no per-day bound, so 5,000 kWh in one day is plausible."""
    old = catalogue.get("household_electricity.saved@3")
    assert old is not None and not old.plausibility.quantities_per_day
    day = parsed(reading("household_electricity_saved", "110105", 1, 5000))
    assert check_plausibility(old, day, START + timedelta(days=3)) is None
    new = catalogue.get("household_electricity.saved@4")
    assert new is not None and check_plausibility(new, day, START + timedelta(days=3))


def test_every_bound_per_day_in_the_catalogue_names_its_source(catalogue: Catalogue) -> None:
    found = [
        (m.key, key, b)
        for m in catalogue.methodologies
        for key, b in m.plausibility.quantities_per_day.items()
    ]
    assert len(found) == 4
    for key, quantity, b in found:
        assert b.confidence is not None and len(b.source) > 20, (key, quantity)
        if b.confidence == Confidence.OPERATOR_SET:
            assert b.source.startswith("operator-set:"), (key, quantity)


@pytest.mark.parametrize(
    ("bound", "problem"),
    [
        ('{max: "17"}', "source"),  # a bound per day must say where it comes from
        ('{max: "17", confidence: operator-set, source: "my guess"}', 'starts "operator-set:"'),
        ('{max: "17", confidence: text, source: "a standard", extra: 1}', "extra"),
    ],
)
def test_a_bound_per_day_without_a_labelled_source_is_refused(bound: str, problem: str) -> None:
    text = (bundled_catalogue_dir() / "household_electricity.saved@4.yaml").read_text("utf-8")
    head, _, _ = text.partition("  quantities_per_day:")
    broken = f"{head}  quantities_per_day:\n    kwh: {bound}\n"
    with pytest.raises(MethodologyFileError) as caught:
        parse_methodology(broken, "household_electricity.saved@4.yaml", load_regions())
    assert problem in str(caught.value) + " ".join(caught.value.problems)
