"""Binding re-checks a methodology's frequency limit against the person's own claims
(domain/binding.py): a pending reduction intake would have rejected `too_frequent` for the
person is reversed, not moved."""

from __future__ import annotations

from datetime import timedelta

from tanpuhui.bootstrap import App
from tanpuhui.domain.binding import Resolution
from tanpuhui.domain.intake import OutcomeKind
from tanpuhui.domain.ledger import person_account
from tanpuhui.domain.parties import Role
from tanpuhui.services.events import get_event
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import show_ledger, verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tests.builders import event
from tests.conftest import CST, NOW

K = OutcomeKind
TODAY = NOW.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
YESTERDAY = TODAY - timedelta(days=1)
PLATE = {"behaviour": "clean_plate", "region": "110101", "minutes": 20, "quantity": {}}


def test_a_pending_plate_too_soon_after_the_persons_own_plate_does_not_move_as_a_credit(
    app: App,
) -> None:
    """Before: the food app's pending plate 10 minutes after the canteen's lunch plate moved
    whole on binding — 898 g for one meal, which intake would have rejected `too_frequent`."""
    person = add_person(app.ctx)
    canteen = add_enterprise(app.ctx, "Canteen", {Role.SCENE}).id
    food = add_enterprise(app.ctx, "Food", {Role.SCENE}).id
    bind_subject(app.ctx, canteen, "u-1", person.id)
    noon = YESTERDAY + timedelta(hours=12)
    (lunch,) = submit_events(app.ctx, canteen, [event(event_id="c-1", start=noon, **PLATE)])
    later = [
        event(event_id="f-1", start=noon + timedelta(minutes=10), **PLATE),
        event(event_id="f-2", start=noon + timedelta(hours=6), **PLATE),  # dinner
    ]
    pending = submit_events(app.ctx, food, later)
    assert [o.kind for o in pending] == [K.PENDING_BINDING, K.PENDING_BINDING]

    result = bind_subject(app.ctx, food, "u-1", person.id)

    by_id = {m.reduction_id: m for m in result.moves}
    too_soon, dinner = (by_id[o.reduction_id] for o in pending if o.reduction_id)
    assert (too_soon.resolution, too_soon.moved, too_soon.reversed) == (
        Resolution.TOO_FREQUENT,
        0,
        449,
    )
    assert (dinner.resolution, dinner.moved) == (Resolution.MOVED, 449)
    view = get_event(app.ctx, food, "f-1")
    assert (view.live_grams, view.resolution) == (0, "too_frequent")
    assert lunch.grams == 449
    assert show_ledger(app.ctx, person_account(person.id)).total_grams == 2 * 449
    assert verify_ledger(app.ctx) == []
