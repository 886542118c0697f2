"""The quality tier of a reduction and the uncertainty deduction (issue 9 item 9).

A reduction's quality is the lowest confidence among the factors it used (text > 2nd >
derived > operator-set), in its trace; a version may deduct a documented fraction by quality
before the one rounding down, and the trace shows it. Before this, grams from a 1 g
operator-set placeholder and from a factor read in an official text were indistinguishable.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from textwrap import dedent

import pytest

from tanpuhui.adapters.db.intake_repository import trace_json, traced
from tanpuhui.adapters.methodology_files import methodology_from_content, parse_methodology
from tanpuhui.api.schemas import Trace
from tanpuhui.domain.checks import check_trace
from tanpuhui.domain.errors import MethodologyFileError
from tanpuhui.domain.events import Rejection
from tanpuhui.domain.methodology import (
    Band,
    Catalogue,
    Confidence,
    Factor,
    Methodology,
    Substitution,
    diff_methodologies,
    lowest_confidence,
)
from tanpuhui.domain.models import Quantification, quantify
from tanpuhui.domain.regions import RegionCatalogue
from tanpuhui.services.views import readable_trace
from tests.conftest import CST
from tests.unit.domain_builders import factor, methodology, parsed

D2025, D2026 = date(2025, 6, 1), date(2026, 12, 15)
SHENZHEN, BEIJING, WUHAN, LUZHOU = "440304", "110105", "420106", "510502"
DEDUCTION = {Confidence.SECOND_HAND: Decimal("0.1"), Confidence.OPERATOR_SET: Decimal("0.5")}


def with_confidence(f: Factor, confidence: Confidence) -> Factor:
    return replace(f, confidence=confidence, source=f"{confidence.value} source for tests")


def metro(confidence: Confidence, **kw: object) -> Methodology:
    """10 km × 46.7 g/pkm = 467 g before any deduction (facts: Shenzhen metro, TEXT)."""
    f = with_confidence(factor("46.7", "g/pkm"), confidence)
    # content differs, so does the hash (the stored-trace cache is keyed by it)
    digest = f"sha256:test-metro-{confidence.value}-{sorted(kw.items())}"
    return replace(methodology(factors=[f]), content_hash=digest, **kw)  # type: ignore[arg-type]


def quantified(m: Methodology, catalogue: Catalogue, **quantity: str) -> Quantification:
    ev = parsed(quantity=quantity or {"distance_km": "10"})
    q = quantify(m, ev, D2025, Catalogue([m], catalogue.groups.values()))
    assert not isinstance(q, Rejection), q
    return q


def bundled(
    catalogue: Catalogue, behaviour: str, region: str, day: date, **qty: str
) -> Quantification:
    m = catalogue.resolve(behaviour, day, region)
    assert m is not None
    minutes = 30 * 24 * 60 if behaviour.startswith(("household", "rooftop")) else 20
    start = datetime(day.year, day.month, day.day, 8, tzinfo=CST)
    ev = parsed(behaviour=behaviour, region=region, start=start, minutes=minutes, quantity=qty)
    q = quantify(m, ev, day, catalogue)
    assert not isinstance(q, Rejection), q
    return q


# --- the tier ------------------------------------------------------------------------------


def test_confidences_order_from_text_down_to_operator_set() -> None:
    text, second, derived, operator = (
        Confidence.TEXT, Confidence.SECOND_HAND, Confidence.DERIVED, Confidence.OPERATOR_SET,
    )  # fmt: skip

    assert lowest_confidence([text, second]) == second
    assert lowest_confidence([second, derived]) == derived
    assert lowest_confidence([text, derived, operator, second]) == operator
    assert lowest_confidence([text]) == text


@pytest.mark.parametrize(
    ("behaviour", "region", "day", "quantity", "quality"),
    [
        ("metro_ride", SHENZHEN, D2025, {"distance_km": "10"}, "text"),  # 46.7 g/pkm, TEXT
        ("bike_share_ride", WUHAN, D2025, {"distance_km": "3"}, "2nd"),  # Xinhua 2025
        ("walking_steps", WUHAN, D2025, {"steps": "1000"}, "derived"),  # 0.02 pts × 1 g
        ("e_invoice", "310101", D2025, {"count": "1"}, "operator-set"),  # 1 g placeholder
        # one derived and one operator-set factor: the lower wins
        ("ebike_share_ride", BEIJING, D2026, {"distance_km": "2"}, "operator-set"),
        # the grid rule: a province's own value is read in the text, a regional one rests on
        # an inferred grid membership
        ("household_electricity_saved", "530102", D2026, {"kwh": "100"}, "text"),
        ("household_electricity_saved", "130102", D2026, {"kwh": "100"}, "derived"),
    ],
)
def test_a_reductions_quality_is_the_lowest_confidence_among_its_factors(
    behaviour: str,
    region: str,
    day: date,
    quantity: dict[str, str],
    quality: str,
    catalogue: Catalogue,
) -> None:
    q = bundled(catalogue, behaviour, region, day, **quantity)

    assert q.quality.value == quality
    assert q.trace()["quality"] == quality
    assert q.quality == lowest_confidence(u.factor.confidence for u in q.factors)


def test_a_substitution_table_counts_towards_the_quality(catalogue: Catalogue) -> None:
    text_car = with_confidence(factor("271.8", "g/pkm", role="mode_car"), Confidence.TEXT)
    table = Substitution(
        "替代法", (Band(None, {"car": Decimal("0.5"), "walking": Decimal("0.5")}),),
        "a survey reported second-hand", Confidence.SECOND_HAND,
    )  # fmt: skip
    m = replace(methodology(model="mode_mix", factors=[text_car]), substitution=table)

    q = quantified(m, catalogue)

    assert q.quality == Confidence.SECOND_HAND  # the factor alone would be text


def test_the_stored_quality_text_is_the_quantifications(catalogue: Catalogue) -> None:
    for confidence in Confidence:
        q = quantified(metro(confidence), catalogue)
        trace, quality = traced(q)
        assert quality == confidence.value == json.loads(trace)["quality"]


# --- the uncertainty deduction ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("confidence", "deduction", "exact", "grams"),
    [
        (Confidence.TEXT, None, "467", 467),  # nothing declared for text
        (Confidence.SECOND_HAND, "0.1", "420.3", 420),  # 467 × 0.9
        (Confidence.DERIVED, "0.1", "420.3", 420),  # nothing for derived: 2nd's applies
        (Confidence.OPERATOR_SET, "0.5", "233.5", 233),  # 467 × 0.5
    ],
)
def test_the_deduction_for_the_quality_is_applied_before_the_one_rounding(
    confidence: Confidence, deduction: str | None, exact: str, grams: int, catalogue: Catalogue
) -> None:
    m = metro(confidence, uncertainty_deduction=DEDUCTION)

    q = quantified(m, catalogue)
    trace = q.trace()

    assert (q.exact_grams, q.grams) == (Decimal(exact), grams)
    assert trace.get("uncertainty_deduction") == deduction
    assert trace.get("gross_grams") == (None if deduction is None else "467")
    assert (trace["exact_grams"], trace["grams"]) == (exact, grams)
    assert list(check_trace(uuid.UUID(int=1), m, trace, grams)) == []
    assert json.loads(trace_json(q)) == trace  # the fast path writes the same trace


def test_without_a_deduction_the_trace_shows_none(catalogue: Catalogue) -> None:
    trace = quantified(metro(Confidence.OPERATOR_SET), catalogue).trace()

    assert "uncertainty_deduction" not in trace and "gross_grams" not in trace
    assert trace["grams"] == 467


def test_a_trace_with_another_quality_does_not_verify(catalogue: Catalogue) -> None:
    m = metro(Confidence.OPERATOR_SET, uncertainty_deduction=DEDUCTION)
    trace = {**quantified(m, catalogue).trace(), "quality": "text"}

    (violation,) = check_trace(uuid.UUID(int=1), m, trace, 233)

    assert violation.code == "trace_mismatch"
    assert "quality" in violation.message


def test_a_trace_that_hides_its_deduction_does_not_verify(catalogue: Catalogue) -> None:
    """Crediting the gross 467 g of an operator-set reduction whose version deducts half."""
    m = metro(Confidence.OPERATOR_SET, uncertainty_deduction=DEDUCTION)
    trace = {**quantified(metro(Confidence.OPERATOR_SET), catalogue).trace()}
    trace["content_hash"] = m.content_hash

    assert [v.code for v in check_trace(uuid.UUID(int=1), m, trace, 467)] == ["trace_mismatch"]


# --- the deduction in a version file ---------------------------------------------------------

FILE = """\
code: metro.testville
version: 1
title: Metro ride — Testville
category: 行
model: distance
behaviours: [metro_ride]
group: mobility
effective_from: 2024-01-01
factors:
  - {id: testville_metro, role: er, value: "46.7", unit: g/pkm, confidence: 2nd, source: "src"}
"""


def test_a_version_file_declares_its_deduction(regions: RegionCatalogue) -> None:
    text = FILE + 'uncertainty_deduction: {2nd: "0.1", operator-set: "0.5"}\n'

    loaded = parse_methodology(text, "metro.testville@1.yaml", regions, ["mobility"])

    assert loaded.methodology.uncertainty_deduction == DEDUCTION
    assert methodology_from_content(loaded.content) == loaded.methodology


def test_a_version_without_a_deduction_hashes_as_before(regions: RegionCatalogue) -> None:
    """The field was added after versions were published: their content (and hash) must not
    change, or every stored version would differ from its file."""
    plain = parse_methodology(FILE, "metro.testville@1.yaml", regions, ["mobility"])
    with_one = parse_methodology(
        FILE + 'uncertainty_deduction: {2nd: "0.1"}\n', "metro.testville@1.yaml", regions,
        ["mobility"],
    )  # fmt: skip

    assert "uncertainty_deduction" not in plain.content
    assert "uncertainty_deduction" in with_one.content
    assert plain.methodology.content_hash != with_one.methodology.content_hash


@pytest.mark.parametrize(
    ("deduction", "problem"),
    [
        ('{2nd: "0.5", operator-set: "0.2"}', "operator-set deducts 0.2, less than the better 2nd"),
        ('{2nd: "1"}', "less than 1"),
        ('{2nd: "-0.1"}', "greater than or equal to 0"),
        ("{2nd: 0.1}", "quoted decimal strings"),
        ('{guessed: "0.1"}', "uncertainty_deduction"),
    ],
)
def test_a_deduction_is_a_fraction_that_never_shrinks_as_confidence_falls(
    deduction: str, problem: str, regions: RegionCatalogue
) -> None:
    with pytest.raises(MethodologyFileError) as raised:
        parse_methodology(
            FILE + f"uncertainty_deduction: {deduction}\n", "metro.testville@1.yaml", regions,
            ["mobility"],
        )  # fmt: skip

    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_the_deduction_is_a_difference_between_versions() -> None:
    a = metro(Confidence.TEXT)
    b = replace(a, version=2, uncertainty_deduction={Confidence.TEXT: Decimal("0.05")})

    assert any(c.startswith("uncertainty deduction:") for c in diff_methodologies(a, b))


def test_a_file_example_reads_as_documented(regions: RegionCatalogue) -> None:
    text = dedent(FILE) + 'uncertainty_deduction: {2nd: "0.1", operator-set: "0.5"}\n'
    m = parse_methodology(text, "metro.testville@1.yaml", regions, ["mobility"]).methodology

    assert [m.deduction_for(c) for c in Confidence] == [
        Decimal(0), Decimal("0.1"), Decimal("0.1"), Decimal("0.5"),
    ]  # fmt: skip


# --- where the quality is read ---------------------------------------------------------------


def test_the_per_event_read_of_the_api_carries_the_quality(catalogue: Catalogue) -> None:
    q = bundled(catalogue, "bike_share_ride", WUHAN, D2025, distance_km="3.42")

    shown = Trace.model_validate(readable_trace(q.trace(), catalogue))

    assert shown.quality == "2nd"
    assert readable_trace({**q.trace(), "quality": None}, catalogue)["quality"] is None


def test_a_versions_quality_range_spans_the_factors_a_reduction_can_use(
    catalogue: Catalogue,
) -> None:
    def shown(key: str) -> tuple[str, str]:
        m = catalogue.get(key)
        assert m is not None
        best, worst = m.quality_range()
        return best.value, worst.value

    assert shown("household_electricity.saved@3") == ("text", "derived")
    assert shown("ebike_share.beijing@2") == ("operator-set", "operator-set")
    assert shown("ebike_share.beijing@1") == ("operator-set", "operator-set")
    assert shown("metro.shenzhen@1") == ("text", "text")
