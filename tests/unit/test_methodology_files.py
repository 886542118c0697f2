"""Methodology and group files: every problem is reported at once, with its line."""

from __future__ import annotations

from datetime import date
from textwrap import dedent

import pytest

from tanpuhui.adapters.catalogue_files import (
    GROUPS_FILE,
    bundled_catalogue_dir,
    read_catalogue_dir,
)
from tanpuhui.adapters.methodology_files import (
    methodology_from_content,
    parse_groups,
    parse_methodology,
)
from tanpuhui.domain.errors import InvalidInputError, MethodologyFileError
from tanpuhui.domain.methodology import Catalogue, Confidence, catalogue_problems
from tanpuhui.domain.regions import RegionCatalogue
from tests.unit.domain_builders import methodology

GROUPS = ["mobility", "walking", "food"]
NAME = "metro.testville@1.yaml"

VALID = """\
code: metro.testville
version: 1
title: Metro ride — Testville
category: 行
model: distance
behaviours: [metro_ride]
group: mobility
region: "440300"
effective_from: 2024-01-01
factors:
  - id: testville_metro
    role: er
    value: "46.7"
    unit: g/pkm
    confidence: text
    source: "a source quoted for tests"
"""


def problems_of(text: str, regions: RegionCatalogue) -> list[str]:
    with pytest.raises(MethodologyFileError) as raised:
        parse_methodology(dedent(text), NAME, regions, GROUPS)
    assert raised.value.code == "invalid_methodology"
    assert raised.value.details == {"problems": raised.value.problems}
    return raised.value.problems


def test_the_valid_example_loads(regions: RegionCatalogue) -> None:
    loaded = parse_methodology(VALID, NAME, regions, GROUPS)

    m = loaded.methodology
    assert (m.key, m.model, m.region, m.effective_from) == (
        "metro.testville@1",
        "distance",
        "440300",
        date(2024, 1, 1),
    )
    (f,) = m.factors
    assert (f.id, str(f.value), f.unit, f.confidence) == (
        "testville_metro",
        "46.7",
        "g/pkm",
        Confidence.TEXT,
    )
    assert m.content_hash.startswith("sha256:")


BROKEN: list[tuple[str, str, str]] = [
    # (case, file text, one expected problem: "name:LINE: path: message")
    (
        "unknown model",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: teleport
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - {id: f, role: er, value: "46.7", unit: g/pkm, confidence: text, source: "src"}
        """,
        f"{NAME}:5: model: unknown model 'teleport' "
        "(known: baseline_vs_actual, distance, mode_mix, per_occurrence, per_quantity, steps)",
    ),
    (
        "missing factor roles for the model",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - id: car_baseline
            role: baseline
            value: "271.8"
            unit: g/pkm
            confidence: derived
            source: "北京市交通委 2019-12"
        """,
        f"{NAME}:9: factors: model distance needs factor roles er or baseline+project",
    ),
    (
        "a role the model does not use",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: per_occurrence
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - {id: a, role: er, value: "46", unit: g/trip, confidence: 2nd, source: "src"}
          - {id: b, role: bonus, value: "1", unit: g/trip, confidence: 2nd, source: "src"}
        """,
        f"{NAME}:11: factors[1].role: model per_occurrence does not use role 'bonus'",
    ),
    (
        "er and baseline together",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - {id: a, role: er, value: "46.7", unit: g/pkm, confidence: text, source: "src"}
          - {id: b, role: baseline, value: "100", unit: g/pkm, confidence: text, source: "src"}
          - {id: c, role: project, value: "50", unit: g/pkm, confidence: text, source: "src"}
        """,
        f"{NAME}:9: factors: give either er or baseline+project, not both",
    ),
    (
        "an unquoted (float) factor value",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - id: testville_metro
            role: er
            value: 46.7
            unit: g/pkm
            confidence: text
            source: "a source quoted for tests"
        """,
        f"{NAME}:12: factors[0].value: Value error, write factor values as quoted decimal "
        'strings, e.g. "46.7"',
    ),
    (
        "a factor value of zero",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - id: testville_metro
            role: er
            value: "0"
            unit: g/pkm
            confidence: text
            source: "a source quoted for tests"
        """,
        f"{NAME}:12: factors[0].value: Input should be greater than 0",
    ),
    (
        "an unknown unit",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - id: testville_metro
            role: er
            value: "75"
            unit: g/mile
            confidence: text
            source: "a source quoted for tests"
        """,
        f"{NAME}:13: factors[0].unit: Value error, unknown factor unit 'g/mile'",
    ),
    (
        "an unknown region code",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        region: "999999"
        effective_from: 2024-01-01
        factors:
          - {id: f, role: er, value: "46.7", unit: g/pkm, confidence: text, source: "src"}
        """,
        f"{NAME}:8: region: unknown region code 999999",
    ),
    (
        "an unknown factor region code",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - id: f
            role: er
            value: "46.7"
            unit: g/pkm
            confidence: text
            region: "970000"
            source: "src"
        """,
        f"{NAME}:15: factors[0].region: unknown region code 970000",
    ),
    (
        "overlapping validity periods of one role and region",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: per_quantity
        behaviours: [household_electricity_saved]
        group: mobility
        effective_from: 2021-01-01
        factors:
          - id: grid_2022
            role: er
            value: "0.5366"
            unit: kg/kWh
            confidence: text
            valid_from: 2022-01-01
            valid_to: 2023-01-01
            source: "MEE + NBS 2022"
          - id: grid_2023
            role: er
            value: "0.5306"
            unit: kg/kWh
            confidence: text
            valid_from: 2022-12-31
            source: "MEE + NBS 2023"
        """,
        f"{NAME}:18: factors[1]: factor grid_2023 overlaps grid_2022 (same role er and region) "
        "in time",
    ),
    (
        "factor units of different quantities",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - {id: a, role: er, value: "46.7", unit: g/km, confidence: text, source: "src",
             valid_to: 2025-01-01}
          - {id: b, role: er, value: "46", unit: g/trip, confidence: text, source: "src",
             valid_from: 2025-01-01}
        """,
        f"{NAME}:9: factors: factor units multiply different quantities: ['count', 'distance_km']",
    ),
    (
        "an unknown top-level field",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        colour: green
        effective_from: 2024-01-01
        factors:
          - {id: f, role: er, value: "46.7", unit: g/pkm, confidence: text, source: "src"}
        """,
        f"{NAME}:8: colour: Extra inputs are not permitted",
    ),
    (
        "an unknown factor field",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - id: f
            role: er
            value: "46.7"
            unit: g/pkm
            confidence: text
            source: "src"
            url: https://example.org
        """,
        f"{NAME}:16: factors[0].url: Extra inputs are not permitted",
    ),
    (
        "a missing required field",
        """\
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - {id: f, role: er, value: "46.7", unit: g/pkm, confidence: text, source: "src"}
        """,
        f"{NAME}:1: code: Field required",
    ),
    (
        "invalid YAML syntax",
        """\
        code: metro.testville
        version: 1
        title: Metro ride: Testville
        category: 行
        """,
        f"{NAME}:3: mapping values are not allowed here",
    ),
    (
        "an unclosed flow sequence",
        """\
        code: metro.testville
        version: 1
        behaviours: [metro_ride
        group: mobility
        model: distance
        """,
        f"{NAME}:4: expected ',' or ']', but got ':'",  # at the colon after 'group'
    ),
    (
        "effective_to not after effective_from",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        effective_to: 2024-01-01
        factors:
          - {id: f, role: er, value: "46.7", unit: g/pkm, confidence: text, source: "src"}
        """,
        f"{NAME}:9: effective_to: must be after effective_from",
    ),
    (
        "a factor valid_to not after valid_from",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - id: f
            role: er
            value: "46.7"
            unit: g/pkm
            confidence: text
            source: "src"
            valid_from: 2024-06-01
            valid_to: 2024-05-31
        """,
        f"{NAME}:17: factors[0].valid_to: must be after valid_from",
    ),
    (
        "a duplicate factor id",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - id: testville_metro
            role: er
            value: "46.7"
            unit: g/pkm
            confidence: text
            source: "src"
            valid_to: 2025-01-01
          - id: testville_metro
            role: er
            value: "48"
            unit: g/pkm
            confidence: text
            source: "src"
            valid_from: 2025-01-01
        """,
        f"{NAME}:17: factors[1].id: duplicate factor id testville_metro",
    ),
    (
        "mixed factor series in one role",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: per_quantity
        behaviours: [household_electricity_saved]
        group: mobility
        effective_from: 2021-01-01
        factors:
          - {id: a, role: er, value: "0.5568", unit: kg/kWh, confidence: text, source: "src",
             series: mee-nbs-grid-average, valid_to: 2022-01-01}
          - {id: b, role: er, value: "0.5703", unit: kg/kWh, confidence: operator-set,
             source: "src", series: enterprise-reporting, valid_from: 2022-01-01}
        """,
        f"{NAME}:9: factors: role er mixes factor series ['enterprise-reporting', "
        "'mee-nbs-grid-average']",
    ),
    (
        "an unknown group",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: teleportation
        effective_from: 2024-01-01
        factors:
          - {id: f, role: er, value: "46.7", unit: g/pkm, confidence: text, source: "src"}
        """,
        f"{NAME}:7: group: unknown behaviour group 'teleportation'",
    ),
    (
        "an unknown plausibility quantity",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 行
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - {id: f, role: er, value: "46.7", unit: g/pkm, confidence: text, source: "src"}
        plausibility:
          quantities:
            speed_kmh: {max: "30"}
        """,
        f"{NAME}:13: plausibility.quantities.speed_kmh: unknown quantity speed_kmh",
    ),
    (
        "a category outside T/ACEF 031's seven",
        """\
        code: metro.testville
        version: 1
        title: Metro ride — Testville
        category: 玩
        model: distance
        behaviours: [metro_ride]
        group: mobility
        effective_from: 2024-01-01
        factors:
          - {id: f, role: er, value: "46.7", unit: g/pkm, confidence: text, source: "src"}
        """,
        f"{NAME}:4: category: Input should be '衣', '食', '住', '行', '用', '办公' or '数字金融'",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [pytest.param(t, e, id=case) for case, t, e in BROKEN]
)
def test_broken_methodology_file_is_rejected_with_the_line_of_the_problem(
    text: str, expected: str, regions: RegionCatalogue
) -> None:
    assert expected in problems_of(text, regions)


def test_every_problem_of_a_file_is_reported_at_once(regions: RegionCatalogue) -> None:
    text = """\
    code: metro.testville
    version: 1
    title: Metro ride — Testville
    category: 行
    model: teleport
    behaviours: [metro_ride]
    group: teleportation
    region: "999999"
    effective_from: 2024-01-01
    effective_to: 2023-01-01
    factors:
      - {id: f, role: er, value: "46.7", unit: g/pkm, confidence: text, source: "src"}
    """

    assert problems_of(text, regions) == [
        f"{NAME}:5: model: unknown model 'teleport' "
        "(known: baseline_vs_actual, distance, mode_mix, per_occurrence, per_quantity, steps)",
        f"{NAME}:8: region: unknown region code 999999",
        f"{NAME}:10: effective_to: must be after effective_from",
        f"{NAME}:7: group: unknown behaviour group 'teleportation'",
    ]


def test_schema_problems_are_all_reported_with_their_lines(regions: RegionCatalogue) -> None:
    text = """\
    code: Metro Testville
    version: 0
    title: Metro ride — Testville
    category: 行
    model: distance
    behaviours: []
    group: mobility
    effective_from: 2024-01-01
    factors:
      - {id: f, role: er, value: 46.7, unit: g/pkm, confidence: sure, source: "src"}
    """

    problems = problems_of(text, regions)

    assert [p.split(": ")[0:2] for p in problems] == [
        [f"{NAME}:1", "code"],
        [f"{NAME}:2", "version"],
        [f"{NAME}:6", "behaviours"],
        [f"{NAME}:10", "factors[0].value"],
        [f"{NAME}:10", "factors[0].confidence"],
    ]


def test_an_empty_file_is_not_a_methodology(regions: RegionCatalogue) -> None:
    problems = problems_of("", regions)

    assert problems[0].startswith(f"{NAME}:1: (file): ")


def test_without_a_group_list_the_group_is_not_checked(regions: RegionCatalogue) -> None:
    text = VALID.replace("group: mobility", "group: anything_else")

    loaded = parse_methodology(text, NAME, regions)

    assert loaded.methodology.group == "anything_else"


def test_a_methodology_file_error_is_invalid_input() -> None:
    assert issubclass(MethodologyFileError, InvalidInputError)


# --- the bundled catalogue ------------------------------------------------------------------


def test_every_bundled_file_loads_and_the_catalogue_is_consistent(
    regions: RegionCatalogue,
) -> None:
    directory = bundled_catalogue_dir()
    files = read_catalogue_dir(directory, regions)

    version_files = sorted(p.name for p in directory.glob("*.yaml") if p.name != GROUPS_FILE)
    assert [name for name, _ in files.methodologies] == version_files
    for name, loaded in files.methodologies:
        assert name == f"{loaded.methodology.key}.yaml"
    catalogue = files.catalogue()
    assert catalogue_problems(catalogue) == []


def test_a_bundled_version_rebuilds_from_its_stored_content(regions: RegionCatalogue) -> None:
    files = read_catalogue_dir(bundled_catalogue_dir(), regions)

    for _, loaded in files.methodologies:
        rebuilt = methodology_from_content(loaded.content)
        assert rebuilt.content_hash == loaded.methodology.content_hash
        assert rebuilt == loaded.methodology  # parameters come back as the text written


STEPS_FILE = """\
code: walking.testville
version: 1
title: Walking steps — Testville
category: 行
model: steps
behaviours: [walking_steps]
group: walking
effective_from: 2024-01-01
parameters:
  block_steps: BLOCK
factors:
  - {id: walk, role: er, value: "0.0164", unit: g/step, confidence: derived, source: "src"}
"""


@pytest.mark.parametrize(
    "block",
    ['"500"', "500"],
)
def test_a_version_rebuilt_from_its_content_keeps_its_content_hash(
    block: str, regions: RegionCatalogue
) -> None:
    loaded = parse_methodology(STEPS_FILE.replace("BLOCK", block), NAME, regions, GROUPS)

    rebuilt = methodology_from_content(loaded.content)

    assert rebuilt.content_hash == loaded.methodology.content_hash


@pytest.mark.parametrize("block", ["abc", '"0"', '"-500"', '"5e2"', "2.5"])
def test_a_steps_methodology_needs_a_positive_block_size(
    block: str, regions: RegionCatalogue
) -> None:
    with pytest.raises(MethodologyFileError):
        parse_methodology(STEPS_FILE.replace("BLOCK", block), NAME, regions, GROUPS)


def test_every_bundled_factor_names_its_source_and_confidence(regions: RegionCatalogue) -> None:
    files = read_catalogue_dir(bundled_catalogue_dir(), regions)

    for _, loaded in files.methodologies:
        for f in loaded.methodology.factors:
            assert len(f.source) >= 3
            if f.confidence == Confidence.OPERATOR_SET:
                assert f.source.startswith("operator-set")


def test_the_content_hash_changes_with_the_content(regions: RegionCatalogue) -> None:
    a = parse_methodology(VALID, NAME, regions, GROUPS).methodology
    b = parse_methodology(VALID.replace('"46.7"', '"46.8"'), NAME, regions, GROUPS).methodology
    c = parse_methodology(VALID + "\n# a comment\n", NAME, regions, GROUPS).methodology

    assert a.content_hash != b.content_hash
    assert a.content_hash == c.content_hash  # comments and layout are not content


# --- catalogue-wide rules -------------------------------------------------------------------


def test_two_codes_for_one_behaviour_region_and_period_are_ambiguous(
    catalogue: Catalogue,
) -> None:
    a = methodology("bike.a", region="420100", effective_from=date(2024, 1, 1))
    b = methodology("bike.b", region="420100", effective_from=date(2024, 6, 1))

    problems = catalogue_problems(Catalogue([a, b], catalogue.groups.values()))

    assert problems == [
        "bike.a@1 and bike.b@1 both cover bike_share_ride in region 420100 over overlapping periods"
    ]


def test_consecutive_versions_and_different_regions_are_not_ambiguous(
    catalogue: Catalogue,
) -> None:
    v1 = methodology("bike.a", 1, effective_from=date(2023, 1, 1), effective_to=date(2025, 1, 1))
    v2 = methodology("bike.a", 2, effective_from=date(2025, 1, 1))
    city = methodology("bike.c", region="420100")

    assert catalogue_problems(Catalogue([v1, v2, city], catalogue.groups.values())) == []


def test_a_version_in_an_unknown_group_is_a_catalogue_problem(catalogue: Catalogue) -> None:
    m = methodology("bike.a", group="teleportation")

    assert catalogue_problems(Catalogue([m], catalogue.groups.values())) == [
        "bike.a@1: unknown behaviour group 'teleportation'"
    ]


# --- groups ---------------------------------------------------------------------------------


def test_groups_file_loads() -> None:
    text = """\
    groups:
      - code: mobility
        title: Low-carbon mobility
        exclusive: true
        clock_skew_s: 120
        daily_cap_grams: 10000
      - {code: food, title: Food and dining, exclusive: false}
    """

    mobility, food = parse_groups(dedent(text), GROUPS_FILE)

    assert (mobility.code, mobility.exclusive, mobility.clock_skew_s) == (
        "mobility",
        True,
        120,
    )
    assert mobility.daily_cap_grams == 10_000
    assert (food.exclusive, food.clock_skew_s, food.daily_cap_grams) == (False, 0, None)


def test_duplicate_group_codes_are_refused() -> None:
    text = """\
    # groups for a test
    groups:
      - {code: mobility, title: Mobility one, exclusive: true}
      - {code: walking, title: Walking steps, exclusive: true}
      - {code: mobility, title: Mobility two, exclusive: false}
    """

    with pytest.raises(MethodologyFileError) as raised:
        parse_groups(dedent(text), GROUPS_FILE)

    assert raised.value.problems == [f"{GROUPS_FILE}:2: duplicate group code(s) ['mobility']"]


def test_a_group_tolerance_above_an_hour_is_refused() -> None:
    text = """\
    groups:
      - code: mobility
        title: Mobility
        exclusive: true
        clock_skew_s: 3601
    """

    with pytest.raises(MethodologyFileError) as raised:
        parse_groups(dedent(text), GROUPS_FILE)

    assert raised.value.problems == [
        f"{GROUPS_FILE}:5: groups[0].clock_skew_s: Input should be less than or equal to 3600"
    ]


def test_a_factor_beyond_any_plausible_size_is_a_unit_slip(regions: RegionCatalogue) -> None:
    slipped = VALID.replace("unit: g/pkm", "unit: t/pkm")

    with pytest.raises(MethodologyFileError) as caught:
        parse_methodology(slipped, NAME, regions, GROUPS)

    assert any(
        "46.7 t/pkm is 46,700,000 g per unit" in p and "check the unit" in p
        for p in caught.value.problems
    )
