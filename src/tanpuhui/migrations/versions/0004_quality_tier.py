"""Quality tier: every reduction's quality (the lowest confidence among the factors it used:
text > 2nd > derived > operator-set) as a column of its event row, so offers, exports and
aggregates can select by it. Existing rows are backfilled from their traces: the factor ids a
trace names, looked up in the stored content of its methodology version (the latest
correction's trace where the reduction was re-quantified).

The column is not frozen by the history trigger: re-quantification moves a reduction to a new
version, and its quality with it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import json
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Best first, as domain.methodology.QUALITY_ORDER (copied: a migration must not change when
#: the code does).
QUALITIES = ("text", "2nd", "derived", "operator-set")
CHECK = "quality IS NULL OR quality IN ('text', '2nd', 'derived', 'operator-set')"
CHUNK = 5000


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # A column constraint, not a table one: SQLite would rebuild the table (and lose its
        # triggers) to add a table constraint.
        op.execute(
            f"ALTER TABLE events ADD COLUMN quality TEXT CONSTRAINT ck_events_quality_known "
            f"CHECK ({CHECK})"
        )
    else:
        op.add_column("events", sa.Column("quality", sa.Text, nullable=True))
        op.create_check_constraint(op.f("ck_events_quality_known"), "events", CHECK)
    _backfill(bind)


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")


def _backfill(bind: sa.Connection) -> None:
    versions = _confidences(bind)
    update = sa.text("UPDATE events SET quality = :quality WHERE id = :rid")
    batch: list[dict[str, Any]] = []
    for rid, trace_text in _traces(bind):
        quality = _quality(trace_text, versions)
        if quality is None:
            continue
        batch.append({"rid": rid, "quality": quality})
        if len(batch) >= CHUNK:
            bind.execute(update, batch)
            batch = []
    if batch:
        bind.execute(update, batch)


def _confidences(bind: sa.Connection) -> dict[str, tuple[dict[str, str], str | None]]:
    """Per version key: the confidence of each factor id, and of its substitution table."""
    found: dict[str, tuple[dict[str, str], str | None]] = {}
    for code, version, content in bind.execute(
        sa.text("SELECT code, version, content FROM methodology_versions")
    ):
        data = json.loads(content)
        factors = {str(f["id"]): str(f["confidence"]) for f in data.get("factors", [])}
        sub = data.get("substitution") if data.get("model") == "mode_mix" else None
        found[f"{code}@{version}"] = (factors, str(sub["confidence"]) if sub else None)
    return found


def _traces(bind: sa.Connection) -> Iterator[tuple[Any, str]]:
    """Each traced event row's current trace (the latest correction's, else its own), read
    in id order a chunk at a time, so the updates never write under an open cursor."""
    select = (
        "SELECT e.id, COALESCE(c.trace, e.trace) FROM events e "
        "LEFT JOIN corrections c ON c.reduction_id = e.id "
        "AND c.to_methodology_id = e.current_methodology_id "
        "WHERE e.trace IS NOT NULL {after} ORDER BY e.id LIMIT :n"
    )
    first, rest = sa.text(select.format(after="")), sa.text(select.format(after="AND e.id > :a"))
    rows = bind.execute(first, {"n": CHUNK}).fetchall()
    while True:
        yield from ((r[0], r[1]) for r in rows)
        if len(rows) < CHUNK:
            return
        rows = bind.execute(rest, {"n": CHUNK, "a": rows[-1][0]}).fetchall()


def _quality(
    trace_text: str, versions: Mapping[str, tuple[dict[str, str], str | None]]
) -> str | None:
    try:
        trace = json.loads(trace_text)
        factors, substitution = versions[str(trace["methodology"])]
        used = [factors[str(f["id"])] for f in trace["factors"].values()]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # not a trace this code wrote: leave it unrated rather than guess
    if substitution is not None:
        used.append(substitution)
    known = [q for q in used if q in QUALITIES]
    if len(known) != len(used) or not known:
        return None
    return max(known, key=QUALITIES.index)
