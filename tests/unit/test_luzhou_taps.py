"""Luzhou QR-code bus taps without a distance (issue 9, the decision left open).

The only per-ride value published is Luzhou 绿芽积分's 80 g per QR ride (2ND,
methodology-facts.md). bus.luzhou@2 scales it below 3 km and so needs the distance: a tap
without one was refused `quantity_mismatch`. Crediting the full 80 g to such a tap would
pay for leaving the distance out (a 1 km ride reported with it earns 26 g), so bus.luzhou@3
(from 2027-01-01) credits it as the shortest ride the version accepts (0.2 km): 5 g.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanpuhui.adapters.catalogue_files import bundled_catalogue_dir, load_regions
from tanpuhui.adapters.methodology_files import parse_methodology
from tanpuhui.domain.checks import check_trace
from tanpuhui.domain.errors import MethodologyFileError
from tanpuhui.domain.events import Reason, Rejection
from tanpuhui.domain.methodology import Catalogue
from tanpuhui.domain.models import Quantification, quantify
from tests.conftest import CST
from tests.unit.domain_builders import parsed

LUZHOU = "510502"
V2_DAY, V3_DAY = date(2026, 12, 15), date(2027, 1, 15)


def quantified(catalogue: Catalogue, day: date, distance: str | None) -> Quantification | Rejection:
    quantity = {"count": "1"} if distance is None else {"count": "1", "distance_km": distance}
    start = datetime(day.year, day.month, day.day, 8, tzinfo=CST)
    ev = parsed(behaviour="bus_ride", region=LUZHOU, start=start, minutes=30, quantity=quantity)
    m = catalogue.resolve("bus_ride", day, LUZHOU)
    assert m is not None
    return quantify(m, ev, day, catalogue)


def test_version_2_refuses_a_tap_without_its_distance(catalogue: Catalogue) -> None:
    refused = quantified(catalogue, V2_DAY, None)
    assert isinstance(refused, Rejection) and refused.reason == Reason.QUANTITY_MISMATCH
    assert "bus.luzhou@2 needs quantity.distance_km" in refused.message


def test_version_3_credits_a_tap_without_a_distance_as_the_shortest_ride(
    catalogue: Catalogue,
) -> None:
    q = quantified(catalogue, V3_DAY, None)
    assert isinstance(q, Quantification)
    assert (q.methodology.key, q.grams) == ("bus.luzhou@3", 5)
    assert dict(q.inputs) == {"count": Decimal(1)}  # the trace says what the event said
    assert list(check_trace(uuid.UUID(int=1), q.methodology, q.trace(), q.grams)) == []


@given(distance=st.decimals(min_value="0.2", max_value="100", places=2))
def test_leaving_the_distance_out_never_earns_more_than_reporting_it(
    catalogue: Catalogue, distance: Decimal
) -> None:
    without = quantified(catalogue, V3_DAY, None)
    reported = quantified(catalogue, V3_DAY, str(distance))
    assert isinstance(without, Quantification) and isinstance(reported, Quantification)
    assert without.grams <= reported.grams


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ('  full_trip_km: "3"\n  unknown_distance_km: "0.5"\n', "must not exceed the shortest"),
        ('  full_trip_km: "3"\n  unknown_distance_km: "-1"\n', "positive distance"),
        ('  unknown_distance_km: "0.2"\n', "only a version that scales trips"),
    ],
)
def test_an_unknown_distance_longer_than_the_shortest_ride_is_refused(
    parameters: str, problem: str
) -> None:
    text = (bundled_catalogue_dir() / "bus.luzhou@3.yaml").read_text(encoding="utf-8")
    head, _, rest = text.partition("parameters:\n")
    _, _, tail = rest.partition("factors:\n")
    broken = f"{head}parameters:\n{parameters}factors:\n{tail}"
    with pytest.raises(MethodologyFileError) as caught:
        parse_methodology(broken, "bus.luzhou@3.yaml", load_regions())
    assert problem in " ".join(caught.value.problems)
