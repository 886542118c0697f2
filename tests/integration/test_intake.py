"""The intake service end to end on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from tanpuhui.bootstrap import App
from tanpuhui.domain.intake import OutcomeKind
from tanpuhui.domain.ledger import pending_account, person_account
from tanpuhui.domain.parties import Enterprise, Role
from tanpuhui.services.evidence import authorise_issuer
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import show_ledger, verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tests.builders import event
from tests.conftest import NOW
from tests.db_fixtures import rows


def scene(app: App, name: str = "Bikes") -> Enterprise:
    return add_enterprise(app.ctx, name, {Role.SCENE})


def test_a_bike_ride_is_credited_with_its_trace(app: App) -> None:
    bikes = scene(app)
    person = add_person(app.ctx)
    bind_subject(app.ctx, bikes.id, "u-1", person.id)

    (outcome,) = submit_events(app.ctx, bikes.id, [event(event_id="ride-1")])

    assert outcome.kind == OutcomeKind.CREDITED
    # Wuhan 2025: 3.42 km × 93.3 g/km = 319.086 g, rounded down once
    assert outcome.grams == 319
    assert outcome.methodology == "cycling.shared_bike.wuhan@2"
    view = show_ledger(app.ctx, person_account(person.id))
    assert view.total_grams == 319
    (traced,) = view.reductions
    assert traced.exact_grams == "319.086"
    assert [(f.id, f.value, f.unit) for f in traced.factors] == [
        ("wuhan_bike_2025", "93.3", "g/km")
    ]
    assert verify_ledger(app.ctx) == []


def test_replayed_batch_credits_nothing_new_and_answers_the_same(app: App) -> None:
    bikes = scene(app)
    batch = [event(subject=f"u-{i}", event_id=f"r-{i}") for i in range(5)]
    first = submit_events(app.ctx, bikes.id, batch)
    again = submit_events(app.ctx, bikes.id, batch)

    assert [o._replace(replayed=False) for o in again] == first
    assert all(o.replayed for o in again)
    assert rows(app, "select count(*) from events")[0][0] == 5
    assert (
        rows(app, "select sum(amount) from balances where account like 'pending:%'")[0][0]
        == 5 * 319
    )
    assert verify_ledger(app.ctx) == []


def test_same_event_id_with_another_payload_is_a_conflict(app: App) -> None:
    bikes = scene(app)
    submit_events(app.ctx, bikes.id, [event(event_id="x")])
    (o,) = submit_events(app.ctx, bikes.id, [event(event_id="x", quantity={"distance_km": "9"})])
    assert o.kind == OutcomeKind.CONFLICT
    assert rows(app, "select grams from events where event_id = 'x'")[0][0] == 319


def test_a_corrected_rejected_event_may_be_resubmitted(app: App) -> None:
    bikes = scene(app)
    (bad,) = submit_events(app.ctx, bikes.id, [event(event_id="x", region="999999")])
    assert (bad.kind, bad.reason) == (OutcomeKind.REJECTED, "invalid_region")
    (good,) = submit_events(app.ctx, bikes.id, [event(event_id="x")])
    assert good.kind == OutcomeKind.PENDING_BINDING
    assert rows(app, "select outcome from events where event_id = 'x'") == [("pending_binding",)]
    assert verify_ledger(app.ctx) == []


def test_the_same_trip_from_a_map_app_is_a_duplicate_of_the_bike_ride(app: App) -> None:
    bikes, maps = scene(app, "Bikes"), scene(app, "Maps")
    person = add_person(app.ctx)
    bind_subject(app.ctx, bikes.id, "b-7", person.id)
    bind_subject(app.ctx, maps.id, "m-7", person.id)
    start = NOW - timedelta(hours=3)
    (ride,) = submit_events(app.ctx, bikes.id, [event(subject="b-7", start=start)])
    (nav,) = submit_events(
        app.ctx, maps.id, [event(subject="m-7", start=start + timedelta(seconds=40), minutes=11)]
    )
    assert ride.kind == OutcomeKind.CREDITED
    assert nav.kind == OutcomeKind.DUPLICATE
    assert nav.duplicate_of == ride.reduction_id
    assert show_ledger(app.ctx, person_account(person.id)).total_grams == ride.grams


def test_the_same_order_reported_by_two_parties_is_credited_once(app: App) -> None:
    coffee, bank = scene(app, "Coffee"), scene(app, "Bank")
    # the coffee chain is the issuer of its orders; the bank that paid them may cite them
    authorise_issuer(app.ctx, "merchant:coffee-chain", coffee.id, is_issuer=True)
    authorise_issuer(app.ctx, "merchant:coffee-chain", bank.id)
    a, b = (
        event(
            behaviour="no_disposable_cutlery",
            region="110101",
            quantity={"count": "1"},
            evidence={"ref": "order-42", "issuer": "merchant:coffee-chain"},
            subject=s,
        )
        for s in ("c-1", "k-1")
    )
    (first,) = submit_events(app.ctx, coffee.id, [a])
    (second,) = submit_events(app.ctx, bank.id, [b])
    assert first.kind == OutcomeKind.PENDING_BINDING and first.grams == 23
    assert second.kind == OutcomeKind.DUPLICATE and second.duplicate_of == first.reduction_id


def test_late_binding_moves_pending_grams_to_the_person(app: App) -> None:
    bikes = scene(app)
    submit_events(
        app.ctx,
        bikes.id,
        [
            event(subject="late", event_id=f"l-{i}", start=NOW - timedelta(hours=10 - i))
            for i in range(3)
        ],
    )
    pending = pending_account(bikes.id, "late")
    assert show_ledger(app.ctx, pending).total_grams == 3 * 319
    person = add_person(app.ctx)
    result = bind_subject(app.ctx, bikes.id, "late", person.id)
    assert result.moved_grams == 3 * 319 and result.reversed_grams == 0
    assert show_ledger(app.ctx, pending).total_grams == 0
    assert show_ledger(app.ctx, person_account(person.id)).total_grams == 3 * 319
    # events after binding go straight to the person
    (o,) = submit_events(app.ctx, bikes.id, [event(subject="late", event_id="after")])
    assert o.kind == OutcomeKind.CREDITED
    assert verify_ledger(app.ctx) == []


def test_binding_reverses_a_pending_trip_the_person_already_has(app: App) -> None:
    bikes, maps = scene(app, "Bikes"), scene(app, "Maps")
    person = add_person(app.ctx)
    bind_subject(app.ctx, maps.id, "m", person.id)
    start = NOW - timedelta(hours=4)
    (nav,) = submit_events(app.ctx, maps.id, [event(subject="m", start=start)])
    (ride,) = submit_events(app.ctx, bikes.id, [event(subject="b", start=start)])
    assert (nav.kind, ride.kind) == (OutcomeKind.CREDITED, OutcomeKind.PENDING_BINDING)
    result = bind_subject(app.ctx, bikes.id, "b", person.id)
    (move,) = result.moves
    assert (move.resolution, move.moved, move.reversed, move.duplicate_of) == (
        "duplicate",
        0,
        ride.grams,
        nav.reduction_id,
    )
    assert show_ledger(app.ctx, person_account(person.id)).total_grams == nav.grams
    assert verify_ledger(app.ctx) == []


def test_daily_group_cap_credits_in_part_then_nothing(app: App) -> None:
    walks, watch = scene(app, "Steps"), scene(app, "Watch")
    person = add_person(app.ctx)
    bind_subject(app.ctx, walks.id, "w", person.id)
    bind_subject(app.ctx, watch.id, "w", person.id)
    day = NOW - timedelta(days=1)

    def walked(steps: int) -> dict[str, object]:
        return event(
            subject="w",
            behaviour="walking_steps",
            region="510502",
            start=day.replace(hour=1),
            minutes=60,
            quantity={"steps": str(steps)},
        )

    # Luzhou: 8.2 g per whole 500 steps; the walking group cap is 296 g a day. Step counts of
    # one day are merged (the largest counts), so the second app's larger count adds 164 g
    # above the first app's 328 — and the cap leaves none of it.
    (a,) = submit_events(app.ctx, walks.id, [walked(20_000)])
    (b,) = submit_events(app.ctx, watch.id, [walked(30_000)])
    assert (a.kind, a.grams, a.grams_cut) == (OutcomeKind.CAPPED, 296, 328 - 296)
    assert (b.kind, b.grams, b.grams_cut) == (OutcomeKind.CAPPED, 0, 492)
    assert verify_ledger(app.ctx) == []


def test_bad_events_are_rejected_with_reasons_and_the_rest_is_processed(app: App) -> None:
    bikes = scene(app)
    batch = [
        "not an object",
        {"event_id": "missing-most"},
        event(event_id="bad-region", region="12345"),
        event(event_id="naive", started_at="2026-11-17T08:00:00"),
        event(event_id="negative", quantity={"distance_km": "-1"}),
        event(event_id="absurd", quantity={"distance_km": "1e12"}),
        event(event_id="unknown", behaviour="teleportation"),
        event(event_id="extra", colour="green"),
        event(event_id="wrong-type", subject=17),
        event(event_id="good"),
    ]
    outcomes = submit_events(app.ctx, bikes.id, batch)
    assert [o.reason for o in outcomes] == [
        "not_an_object",
        "missing_field",
        "invalid_region",
        "naive_timestamp",
        "negative_quantity",
        "out_of_bounds",
        "unknown_behaviour",
        "unknown_field",
        "wrong_type",
        None,
    ]
    assert outcomes[-1].grams == 319
    assert rows(app, "select count(*) from events where outcome = 'rejected'")[0][0] == 8
    assert rows(app, "select sum(grams) from events")[0][0] == 319
    assert verify_ledger(app.ctx) == []


def test_a_batch_with_more_subjects_than_one_transaction_locks_is_settled_in_parts(
    database_url: str, clock: object
) -> None:
    from tanpuhui.bootstrap import build
    from tanpuhui.config import Settings

    app = build(Settings(database_url=database_url, max_subjects_per_transaction=10), clock=clock)
    try:
        bikes, maps = scene(app, "Bikes"), scene(app, "Maps")
        person = add_person(app.ctx)
        bind_subject(app.ctx, bikes.id, "b-0", person.id)
        start = NOW - timedelta(hours=5)
        batch = [event(subject=f"b-{i}", event_id=f"ride-{i}", start=start) for i in range(30)]
        batch.append(event(subject="b-0", event_id="ride-0", start=start))  # replay, last part
        outcomes = submit_events(app.ctx, bikes.id, batch)
        assert len(outcomes) == 31
        assert [o.position for o in outcomes] == list(range(31))
        assert outcomes[0].kind == OutcomeKind.CREDITED
        assert outcomes[-1]._replace(position=0, replayed=False) == outcomes[0]
        assert rows(app, "select count(distinct batch_id) from events")[0][0] == 3
        bind_subject(app.ctx, maps.id, "m-0", person.id)
        (nav,) = submit_events(app.ctx, maps.id, [event(subject="m-0", start=start)])
        assert nav.kind == OutcomeKind.DUPLICATE
        assert verify_ledger(app.ctx) == []
    finally:
        app.close()
