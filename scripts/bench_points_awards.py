"""CPU per event of intake with and without a points programme that awards every event.

1,000 bound persons in Luzhou each report 10 bus rides (batches of 2,000) on a fresh SQLite
database, once without a programme published and once with Luzhou's (every ride earns 10
points: the worst case for the awards' cost), twice each, alternating. Prints the process CPU
time per event of `submit_events` and the points awarded. Run from the repository:

    python scripts/bench_points_awards.py
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

import tanpuhui
from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import build, upgrade_database
from tanpuhui.config import Settings
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects
from tanpuhui.services.programmes import publish_programme

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def rides(persons: int, days: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for d in range(days):
        start = NOW - timedelta(days=days + 1 - d, hours=3)
        for i in range(persons):
            out.append({
                "event_id": f"e{i}-{d}", "subject": f"s{i}", "behaviour": "bus_ride",
                "started_at": start.isoformat(),
                "ended_at": (start + timedelta(minutes=10)).isoformat(),
                "quantity": {"distance_km": "5"}, "region": "510502",
            })  # fmt: skip
    return out


def run(directory: Path, with_programme: bool, persons: int = 1000, days: int = 10) -> None:
    db = directory / f"awards-{with_programme}-{time.monotonic_ns()}.db"
    app = build(Settings(database_url=f"sqlite:///{db}"), clock=FixedClock(NOW))
    upgrade_database(app)
    if with_programme:
        path = Path(tanpuhui.__file__).parent / "programmes" / "luzhou.lvya@1.yaml"
        publish_programme(app.ctx, *parse_programme(path.read_text(encoding="utf-8"), path.name))
    bus = add_enterprise(app.ctx, "Bus", {Role.SCENE}).id
    people = add_persons(app.ctx, persons)
    bind_subjects(app.ctx, [(bus, f"s{i}", p.id) for i, p in enumerate(people)])
    events = rides(persons, days)
    cpu = time.process_time()
    for at in range(0, len(events), 2000):
        submit_events(app.ctx, bus, events[at : at + 2000], source="bench")
    cpu = time.process_time() - cpu
    with app.engine.connect() as conn:
        points = conn.execute(
            sa.text("select coalesce(sum(amount), 0) from balances where asset like 'points:%'"
                    " and account like 'person:%'")
        ).scalar_one()  # fmt: skip
    app.close()
    print(f"programme={with_programme!s:5}  {cpu / len(events) * 1e6:6.1f} µs CPU/event"
          f"  points awarded {points}")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        for flag in (False, True, False, True):
            run(Path(work), flag)


if __name__ == "__main__":
    main()
