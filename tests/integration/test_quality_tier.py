"""The quality tier stored with every reduction (issue 9 item 9), on SQLite and PostgreSQL.

A credited (or capped, or pending) event row stores the quality of the quantification its grams
are backed by — the lowest confidence among the factors used — beside its trace, so offers,
exports and aggregates can select by it; re-quantification moves it with the version;
`ledger verify` reports a stored quality that differs from its trace; migration 0004 fills it
in for rows written before it, from their traces.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from types import ModuleType

import pytest
import sqlalchemy as sa

from tanpuhui.adapters.catalogue_files import bundled_catalogue_dir
from tanpuhui.adapters.methodology_files import parse_methodology
from tanpuhui.bootstrap import App
from tanpuhui.domain.parties import Role
from tanpuhui.services.catalogue import VersionFile, publish_version
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise
from tanpuhui.services.requantify import requantify
from tests.builders import event
from tests.conftest import NOW
from tests.db_fixtures import rows

MIGRATION = (
    bundled_catalogue_dir().parent / "migrations" / "versions" / "0004_quality_tier.py"
)  # fmt: skip

#: (event, the quality its only factor gives, grams)
EVENTS = [
    (event(event_id="metro", behaviour="metro_ride", region="440304",
           quantity={"distance_km": "10"}), "text", 467),  # Shenzhen 46.7 g/pkm, TEXT
    (event(event_id="bike", subject="u-2"), "2nd", 319),  # Wuhan 93.3 g/km × 3.42 km (2ND)
    (event(event_id="boxes", behaviour="meal_box_recycling", region="310101", minutes=5,
           quantity={"weight_kg": "0.35"}), "derived", 542),  # Meituan 1.55, DERIVED
    (event(event_id="invoice", behaviour="e_invoice", region="310101", minutes=1,
           quantity={"count": "1"}), "operator-set", 1),  # the 1 g placeholder
]  # fmt: skip


def submitted(app: App) -> None:
    scene = add_enterprise(app.ctx, "Scene", {Role.SCENE})
    unknown = event(event_id="nonsense", behaviour="levitation")
    result = submit_events(app.ctx, scene.id, [e for e, _, _ in EVENTS] + [unknown])
    assert [o.grams for o in result] == [g for _, _, g in EVENTS] + [0]


def stored(app: App) -> dict[str, tuple[str | None, str | None]]:
    """event id → (stored quality, the quality its trace states)."""
    return {
        r.event_id: (r.quality, json.loads(r.trace)["quality"] if r.trace else None)
        for r in rows(app, "select event_id, quality, trace from events")
    }


def test_a_reduction_stores_the_quality_its_trace_states(app: App) -> None:
    submitted(app)

    found = stored(app)

    assert found == {
        **{e["event_id"]: (quality, quality) for e, quality, _ in EVENTS},
        "nonsense": (None, None),  # rejected: no trace, no quality
    }
    assert verify_ledger(app.ctx) == []


def test_aggregates_select_by_quality(app: App) -> None:
    submitted(app)

    by_quality = rows(
        app, "select quality, sum(grams) from events where grams > 0 group by quality"
    )
    offset_grade = rows(app, "select sum(grams) from events where quality in ('text', '2nd')")

    assert dict(by_quality) == {q: g for _, q, g in EVENTS}
    assert offset_grade[0][0] == 467 + 319


def test_the_database_refuses_an_unknown_quality(app: App) -> None:
    submitted(app)

    with pytest.raises(sa.exc.IntegrityError), app.engine.begin() as conn:
        conn.exec_driver_sql("update events set quality = 'excellent' where event_id = 'bike'")


def test_verify_reports_a_stored_quality_its_trace_does_not_state(app: App) -> None:
    submitted(app)
    with app.engine.begin() as conn:  # the quality column may move (re-quantification)
        conn.exec_driver_sql("update events set quality = 'text' where event_id = 'invoice'")

    (violation,) = verify_ledger(app.ctx)

    assert (violation.invariant, violation.code) == (6, "quality_mismatch")


def wuhan_v3_read_in_the_text(app: App) -> VersionFile:
    code = "cycling.shared_bike.wuhan"
    text = (bundled_catalogue_dir() / f"{code}@2.yaml").read_text(encoding="utf-8")
    text = text.replace("version: 2", "version: 3").replace("confidence: 2nd", "confidence: text")
    text = text.replace("id: wuhan_bike_2025", "id: wuhan_bike_2025_read")
    loaded = parse_methodology(text, f"{code}@3.yaml", app.ctx.regions)
    return VersionFile(f"{code}@3.yaml", loaded.methodology, loaded.content)


def test_requantification_moves_the_quality_with_the_version(app: App) -> None:
    submitted(app)
    publish_version(app.ctx, wuhan_v3_read_in_the_text(app), NOW.date() + timedelta(days=1))

    requantify(app.ctx, "cycling.shared_bike.wuhan", 2, 3, apply=True)

    assert stored(app)["bike"] == ("text", "2nd")  # its own trace is history; the correction's
    (correction,) = rows(app, "select trace from corrections")
    assert json.loads(correction.trace)["quality"] == "text"
    assert verify_ledger(app.ctx) == []


def migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0004", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_fills_in_the_quality_from_the_traces(app: App) -> None:
    """Rows written before 0004 have no quality: the backfill reads it from each trace's
    factors in the stored version (the latest correction's for a re-quantified one)."""
    submitted(app)
    publish_version(app.ctx, wuhan_v3_read_in_the_text(app), NOW.date() + timedelta(days=1))
    requantify(app.ctx, "cycling.shared_bike.wuhan", 2, 3, apply=True)
    with app.engine.begin() as conn:
        conn.exec_driver_sql("update events set quality = NULL")
    module = migration()

    with app.engine.begin() as conn:
        module._backfill(conn)
        versions = module._confidences(conn)

    assert {k: q for k, (q, _) in stored(app).items()} == {
        "metro": "text", "bike": "text", "boxes": "derived", "invoice": "operator-set",
        "nonsense": None,
    }  # fmt: skip
    assert verify_ledger(app.ctx) == []
    # a trace written before 0004 states no quality: it is read from the factors it names
    (old,) = rows(app, "select trace from events where event_id = 'boxes'")
    before_0004 = {k: v for k, v in json.loads(old.trace).items() if k != "quality"}
    assert module._quality(json.dumps(before_0004), versions) == "derived"
    assert module._quality('{"methodology": "gone@1"}', versions) is None
