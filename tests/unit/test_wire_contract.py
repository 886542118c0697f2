"""One wire contract: the domain's rules, the decoder, the JSON Schema and docs/events.md agree.

Issue 8 item 5: the event contract was written in four places that drifted apart (the domain
accepted `baseline_kwh`; the OpenAPI schema and docs/events.md did not mention it). Now the
shapes are defined once (`adapters.wire`) from the domain's lists, and these tests fail when
any of the consumers drifts. (The served /openapi.json is checked the same way in
tests/api/test_decoder_limits.py.)
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from tanpuhui.adapters import event_codec, wire
from tanpuhui.api.errors import problem
from tanpuhui.cli.docs import cli as docs_cli
from tanpuhui.cli.docs import render_events
from tanpuhui.domain.events import (
    EVIDENCE_FIELDS,
    FIELDS,
    REASON_MEANINGS,
    REQUIRED,
    BehaviourEvent,
    Reason,
    Rejection,
    parse_event,
)
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.domain.quantity import DENOMINATOR_QUANTITY, QUANTITIES, QUANTITY_KEYS
from tanpuhui.domain.regions import RegionCatalogue
from tanpuhui.services.views import outcome_view
from tests.builders import event

DOC = Path(__file__).parents[2] / "docs" / "events.md"


def doc_table(name: str) -> list[list[str]]:
    """The rows of one generated table of docs/events.md (the first cell without backticks)."""
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"<!-- generated: {name} -->")[1].split(f"<!-- end generated: {name} -->")[0]
    rows = [line for line in body.strip().splitlines() if line.startswith("|")][2:]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    return [[first.strip("`"), *rest] for first, *rest in cells]


def schema_fields(schema: dict[str, Any]) -> dict[str, bool]:
    required = set(schema.get("required", ()))
    return {name: name in required for name in schema["properties"]}


def struct_fields(struct: type[msgspec.Struct]) -> dict[str, bool]:
    return {f.name: f.required for f in msgspec.structs.fields(struct)}


def domain_fields() -> dict[str, bool]:
    return {name: name in REQUIRED for name in FIELDS}


def quantity_schema(schema: dict[str, Any]) -> dict[str, Any]:
    (obj,) = [s for s in schema["properties"]["quantity"]["anyOf"] if s.get("type") == "object"]
    return obj  # type: ignore[no-any-return]


# --- quantities ------------------------------------------------------------------------------


def test_every_quantity_key_the_domain_accepts_is_in_the_schema_and_the_docs() -> None:
    """(Before: `baseline_kwh` was accepted but in neither the schema nor the docs.)"""
    schema = quantity_schema(wire.components()["Event"])
    documented = {row[0]: row[1] for row in doc_table("quantities")}

    assert set(schema["properties"]) == QUANTITY_KEYS
    assert schema["additionalProperties"] is False
    assert set(documented) == QUANTITY_KEYS
    assert "baseline_kwh" in documented
    for key, meaning in QUANTITIES.items():
        assert documented[key] == meaning
        assert schema["properties"][key]["description"] == meaning


def test_every_quantity_a_factor_multiplies_is_a_contract_key() -> None:
    assert set(DENOMINATOR_QUANTITY.values()) <= QUANTITY_KEYS


# --- fields and requiredness ------------------------------------------------------------------


def test_the_domain_the_decoder_the_schema_and_the_docs_agree_on_the_fields() -> None:
    schemas = wire.components()
    documented = {row[0]: row[1] == "yes" for row in doc_table("fields")}
    evidence_doc = {k.removeprefix("evidence."): v for k, v in documented.items() if "." in k}
    event_doc = {k: v for k, v in documented.items() if "." not in k}

    assert event_codec.Event is wire.Event  # the decoder decodes with the wire shape
    assert struct_fields(wire.Event) == domain_fields()
    assert schema_fields(schemas["Event"]) == domain_fields()
    assert event_doc == domain_fields()
    assert set(struct_fields(wire.Evidence)) == EVIDENCE_FIELDS
    assert schema_fields(schemas["Evidence"]) == struct_fields(wire.Evidence) == evidence_doc
    assert schemas["Event"]["additionalProperties"] is False
    assert schemas["Evidence"]["additionalProperties"] is False


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_the_decoder_and_the_reference_parser_agree_on_requiredness(
    name: str, regions: RegionCatalogue
) -> None:
    """What the schema calls required, both decoding paths refuse without; what it calls
    optional, both accept without."""
    raw = event(evidence={"ref": "order-1"})
    del raw[name]
    required = name in wire.components()["Event"]["required"]

    fast = event_codec.EventDecoder(regions).line(json.dumps(raw).encode())
    reference = parse_event(raw, regions)

    if required:
        assert not isinstance(fast, BehaviourEvent)
        assert isinstance(reference, Rejection) and reference.reason == Reason.MISSING_FIELD
    else:
        assert isinstance(fast, BehaviourEvent) and fast == reference


def test_the_batch_shape_is_only_its_events() -> None:
    batch = wire.components()["EventBatch"]

    assert set(batch["properties"]) == {"events"} == set(batch["required"])
    assert batch["additionalProperties"] is False


# --- reasons ------------------------------------------------------------------------------------


def test_every_reason_has_a_meaning_in_the_docs_and_the_outcome_schema() -> None:
    documented = {row[0]: row[1] for row in doc_table("reasons")}
    described = wire.components()["Outcome"]["properties"]["reason"]["description"]

    assert list(REASON_MEANINGS) == list(Reason)
    for reason in Reason:
        assert documented[reason.value] == REASON_MEANINGS[reason]
        assert f"`{reason.value}`: {REASON_MEANINGS[reason]}" in described


def test_the_outcome_schema_names_every_outcome_kind() -> None:
    kinds = wire.components()["OutcomeKind"]

    assert set(kinds["enum"]) == {k.value for k in OutcomeKind}


# --- what the API sends matches the shapes -------------------------------------------------------


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(0, "e-1", OutcomeKind.CREDITED, 319, 0, None, None, None, "m@1", uuid.uuid4()),
        Outcome(1, "e-2", OutcomeKind.CAPPED, 10, 5, methodology="m@1"),
        Outcome(2, "e-3", OutcomeKind.PENDING_BINDING, 7, methodology="m@1"),
        Outcome(3, "e-4", OutcomeKind.DUPLICATE, duplicate_of=uuid.uuid4(), methodology="m@1"),
        Outcome(4, None, OutcomeKind.REJECTED, reason="too_deep", message="deep"),
        Outcome(5, "e-6", OutcomeKind.CONFLICT, reason="conflict", message="known"),
    ],
)
def test_every_outcome_view_is_a_wire_outcome(outcome: Outcome) -> None:
    view = outcome_view(outcome)

    decoded = msgspec.convert(view, wire.Outcome)

    assert set(view) <= set(wire.Outcome.__struct_fields__)
    assert set(view) >= {f for f, required in struct_fields(wire.Outcome).items() if required}
    assert {name: getattr(decoded, name) for name in view} == view


def test_a_problem_body_is_a_wire_problem() -> None:
    body = json.loads(problem(422, "too_deep", "deep", "/v1/events", {"limit": 5}).body)

    decoded = msgspec.convert(body, wire.Problem)

    assert decoded.code == "too_deep" and decoded.status == 422
    assert set(wire.Problem.__struct_fields__) <= set(body)


# --- docs/events.md is generated -----------------------------------------------------------------


def test_docs_events_is_what_the_contract_generates() -> None:
    text = DOC.read_text(encoding="utf-8")

    assert render_events(text) == text


def test_docs_events_check_fails_on_a_stale_table(tmp_path: Path) -> None:
    stale = tmp_path / "events.md"
    stale.write_text(
        re.sub(r"\| `baseline_kwh` \|.*\n", "", DOC.read_text(encoding="utf-8")), encoding="utf-8"
    )
    runner = CliRunner()

    checked = runner.invoke(docs_cli, ["events", "--out", str(stale), "--check"])
    written = runner.invoke(docs_cli, ["events", "--out", str(stale)])

    assert checked.exit_code == 1 and "stale" in checked.output
    assert written.exit_code == 0
    assert stale.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")
    assert runner.invoke(docs_cli, ["events", "--out", str(stale), "--check"]).exit_code == 0


def test_docs_events_without_its_markers_is_an_error(tmp_path: Path) -> None:
    bare = tmp_path / "events.md"
    bare.write_text("# The event format\n", encoding="utf-8")

    result = CliRunner().invoke(docs_cli, ["events", "--out", str(bare), "--check"])

    assert result.exit_code != 0
    assert "markers" in result.output
    assert "Traceback" not in result.output
