"""A world for the retirement and export tests (tests only): a platform enterprise that bought
tonnes of bike rides from people, their reductions verified by MRV."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.bootstrap import App
from tanpuhui.domain.ledger import enterprise_account, person_account
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import show_ledger
from tanpuhui.services.market import OfferTerms, create_offer, sell_reductions
from tanpuhui.services.mrv import create_batch
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects
from tanpuhui.services.programmes import publish_programme
from tests.builders import event
from tests.conftest import CST, NOW
from tests.mrv_signing import new_verifier

PROGRAMME = Path(__file__).parents[1] / "src/tanpuhui/programmes/luzhou.lvya@1.yaml"
MONTH = NOW.astimezone(CST).strftime("%Y-%m")


@dataclass(frozen=True)
class World:
    scene: uuid.UUID
    platforms: list[uuid.UUID]  # the first bought from every person but the last
    persons: list[uuid.UUID]
    bought: int  # grams the first platform holds

    @property
    def platform(self) -> uuid.UUID:
        return self.platforms[0]

    @property
    def holder(self) -> str:
        return enterprise_account(self.platform)


def rides(subject: str, days: int) -> list[dict[str, object]]:
    """Twelve 8.5 km rides a day (793 g each, 9.5 kg: under the 10 kg cap) for `days` days
    of the fixed month."""
    local = NOW.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        event(
            event_id=f"{subject}-{d}-{h}", subject=subject, minutes=40,
            start=local - timedelta(days=d) + timedelta(hours=h),
            quantity={"distance_km": "8.5"},
        )
        for d in range(1, days + 1)
        for h in range(6, 18)
    ]  # fmt: skip


def bought_world(
    app: App, persons: int = 2, days: int = 2, *, platforms: int = 1, verify: bool = True
) -> World:
    """`persons` people ride for `days` days and sell everything: to the platform enterprise
    `Maps`, except (with `platforms=2`) the last person, who sells to `Taxi`; with `verify`, a
    verifier approves the month's batch."""
    scene = add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id
    buyers = [add_enterprise(app.ctx, n, {Role.PLATFORM}).id for n in ("Maps", "Taxi")[:platforms]]
    people = [p.id for p in add_persons(app.ctx, persons)]
    subjects = [f"s-{i}" for i in range(persons)]
    bind_subjects(app.ctx, [(scene, s, p) for s, p in zip(subjects, people, strict=True)])
    out = submit_events(app.ctx, scene, [e for s in subjects for e in rides(s, days)])
    assert all(o.kind == "credited" for o in out), {o.kind for o in out}
    programme, content = parse_programme(PROGRAMME.read_text(), PROGRAMME.name)
    publish_programme(app.ctx, programme, content)
    terms = OfferTerms(budget_grams=10**10, points_per_kg=1, programme="luzhou.lvya")
    offers = [create_offer(app.ctx, b, terms).offer.id for b in buyers]
    for i, p in enumerate(people):
        held = show_ledger(app.ctx, person_account(p)).total_grams
        sell_reductions(
            app.ctx, p, offers[1] if i == persons - 1 and platforms > 1 else offers[0], held
        )
    if verify:
        methodology = out[0].methodology
        assert methodology is not None
        batch = create_batch(app.ctx, methodology, None, MONTH)
        new_verifier(app.ctx).approve(app.ctx, batch.id, "ok")
    bought = show_ledger(app.ctx, enterprise_account(buyers[0])).total_grams
    return World(scene, buyers, people, bought)
