"""Tenant isolation over real HTTP, on SQLite and PostgreSQL: a second scene enterprise cannot
read, probe or measure a first one's claims through any endpoint — events, the outcome feed
and its cursors, duplicate references (in answers, read-backs, the feed and binding moves),
credential-probe codes — nor displace or probe its evidence (issue 15 item 3: an issuer's
references count only from the enterprises entitled to them, an unregistered issuer name is
each reporter's own, and evidence claimed for two persons is flagged, naming the first claim
opaquely).
"""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from tanpuhui.adapters.crypto import generate_key
from tanpuhui.adapters.db import schema as t
from tanpuhui.client import Client
from tanpuhui.services.access import revoke_credential
from tanpuhui.services.evidence import authorise_issuer
from tests.api.conftest import (
    LiveServer,
    Onboarded,
    Persona,
    assert_problem,
    onboard_enterprise,
    onboard_person,
    send_signed,
    signed_headers,
)
from tests.builders import event
from tests.conftest import NOW
from tests.db_fixtures import rows

TRIP = NOW - timedelta(hours=4)


def bind(server: LiveServer, client: Client, subject: str, persona: Persona) -> dict[str, Any]:
    code = server.http.post("/v1/me/binding-codes", headers=persona.auth).json()["code"]
    return client.bind(subject, code)


@pytest.fixture
def tenants(server: LiveServer) -> tuple[Onboarded, Onboarded, Onboarded]:
    return (
        onboard_enterprise(server, "Metro"),
        onboard_enterprise(server, "Bikes"),
        onboard_enterprise(server, "Maps"),
    )


def test_another_tenants_events_are_not_found_like_missing_ones(
    server: LiveServer, tenants: tuple[Onboarded, ...]
) -> None:
    a, b, _ = tenants
    with a.client() as client:
        client.submit_events([event(event_id="a-ride", subject="a-1")])
    theirs = send_signed(server, b, "GET", "/v1/events/a-ride")
    missing = send_signed(server, b, "GET", "/v1/events/no-such-ride")
    body_theirs = assert_problem(theirs, 404, "not_found")
    body_missing = assert_problem(missing, 404, "not_found")
    assert body_theirs["detail"].replace("a-ride", "X") == body_missing["detail"].replace(
        "no-such-ride", "X"
    )


def test_the_feed_and_its_cursors_tell_nothing_about_other_tenants(
    server: LiveServer, tenants: tuple[Onboarded, ...]
) -> None:
    """Was: the cursor carried the platform-wide batch counter, so B could measure A's volume
    (the difference of two of its cursors counted everyone's batches in between)."""
    a, b, _ = tenants
    with a.client() as ca, b.client() as cb:
        cb.submit_events([event(event_id="b-1", subject="b-1")])
        for i in range(4):
            ca.submit_events([event(event_id=f"a-{i}", subject=f"a-{i}")])
        cb.submit_events([event(event_id="b-2", subject="b-2")])
        page = cb._call("GET", "/v1/outcomes?limit=1")
        first = page["next_cursor"]
        rest = cb._call("GET", f"/v1/outcomes?limit=1&after={first}")
        assert [i["event_id"] for i in page["items"] + rest["items"]] == ["b-1", "b-2"]
        a_cursor = ca._call("GET", "/v1/outcomes?limit=2")["next_cursor"]

    # the cursor is B's own batch id and B's own event id, nothing platform-wide
    raw = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    batch_id, row_id = uuid.UUID(bytes=raw[:16]), uuid.UUID(bytes=raw[16:])
    with server.app.engine.connect() as conn:
        owner = conn.execute(
            sa.select(t.batches.c.enterprise_id).where(t.batches.c.id == batch_id)
        ).scalar_one()
        event_id = conn.execute(
            sa.select(t.events.c.event_id).where(t.events.c.id == row_id)
        ).scalar_one()
    assert (owner, event_id) == (b.enterprise.id, "b-1")
    seqs = {int(r[0]) for r in rows(server.app, "SELECT seq FROM batches")}
    assert not any(seq.to_bytes(8, "big") in raw for seq in seqs if seq > 0)

    # A's cursor is no position in B's feed
    path = f"/v1/outcomes?after={a_cursor}"
    assert_problem(send_signed(server, b, "GET", path), 422, "invalid_cursor")


def test_a_duplicate_of_another_tenants_claim_names_it_opaquely(
    server: LiveServer, tenants: tuple[Onboarded, ...]
) -> None:
    """Was: `duplicate_of` was the other tenant's reduction id, a time-ordered UUID telling
    when that claim was recorded (and naming it)."""
    a, b, c = tenants
    person = onboard_person(server)
    with a.client() as ca, b.client() as cb, c.client() as cc:
        for client, subject in ((ca, "pa"), (cb, "pb"), (cc, "pc")):
            bind(server, client, subject, person)
        original = ca.submit_events([event(event_id="a-trip", subject="pa", start=TRIP)])
        a_id = original["outcomes"][0]["reduction_id"]
        b1 = cb.submit_events([event(event_id="b-trip", subject="pb", start=TRIP)])["outcomes"][0]
        b2 = cb.submit_events(
            [event(event_id="b-trip-2", subject="pb", start=TRIP + timedelta(minutes=1))]
        )["outcomes"][0]
        c1 = cc.submit_events([event(event_id="c-trip", subject="pc", start=TRIP)])["outcomes"][0]
        read_back = cb.get_event("b-trip")["outcome"]
        in_feed = {i["event_id"]: i["outcome"] for i in cb.iter_outcomes()}

    assert original["outcomes"][0]["outcome"] == "credited"
    assert {b1["outcome"], b2["outcome"], c1["outcome"]} == {"duplicate"}
    reference = b1["duplicate_of"]
    assert reference.startswith("other-") and a_id not in reference
    assert a_id.replace("-", "")[:12] not in reference  # not even its time part
    assert b2["duplicate_of"] == reference  # stable for B
    assert c1["duplicate_of"] != reference  # different for every viewer
    assert read_back["duplicate_of"] == reference
    assert in_feed["b-trip"]["duplicate_of"] == reference


def test_a_duplicate_of_ones_own_claim_names_it(
    server: LiveServer, tenants: tuple[Onboarded, ...]
) -> None:
    _, b, _ = tenants
    person = onboard_person(server)
    with b.client() as cb:
        bind(server, cb, "pb", person)
        first = cb.submit_events([event(event_id="b-1", subject="pb", start=TRIP)])["outcomes"][0]
        again = cb.submit_events([event(event_id="b-2", subject="pb", start=TRIP)])["outcomes"][0]
        read_back = cb.get_event("b-2")["outcome"]
    assert again["outcome"] == "duplicate"
    assert again["duplicate_of"] == first["reduction_id"] == read_back["duplicate_of"]


def test_a_binding_move_reversed_as_a_duplicate_names_another_tenants_claim_opaquely(
    server: LiveServer, tenants: tuple[Onboarded, ...]
) -> None:
    a, b, _ = tenants
    person = onboard_person(server)
    with a.client() as ca, b.client() as cb:
        bind(server, ca, "pa", person)
        a_id = ca.submit_events([event(event_id="a-trip", subject="pa", start=TRIP)])
        a_id = a_id["outcomes"][0]["reduction_id"]
        pending = cb.submit_events([event(event_id="b-trip", subject="pb", start=TRIP)])
        assert pending["outcomes"][0]["outcome"] == "pending_binding"
        moves = bind(server, cb, "pb", person)["reductions"]
        detail = cb.get_event("b-trip")
    assert [m["resolution"] for m in moves] == ["duplicate"]
    assert moves[0]["duplicate_of"].startswith("other-") and a_id not in str(moves)
    assert detail["now"]["resolution_ref"] == moves[0]["duplicate_of"]


def test_credential_probes_cannot_tell_unknown_revoked_and_wrong_keys_apart(
    server: LiveServer, tenants: tuple[Onboarded, ...]
) -> None:
    """Was: `unknown_credential` and `revoked_credential` before the signature was checked,
    so anyone could learn which credential ids exist and which are revoked."""
    a, b, _ = tenants
    revoked = onboard_enterprise(server, "Gone")
    revoke_credential(server.ctx, revoked.credential_id)
    answers = []
    for credential_id in (uuid.uuid4(), revoked.credential_id, a.credential_id):
        headers = signed_headers(b.key, credential_id, "GET", "/v1/outcomes", host=b.host)
        response = server.http.get("/v1/outcomes", headers=headers)
        answers.append((response.status_code, response.headers["www-authenticate"]))
        answers.append(assert_problem(response, 401, "bad_signature"))
    assert answers[0:2] == answers[2:4] == answers[4:6]
    # the key holder itself is told its credential is revoked
    assert_problem(send_signed(server, revoked, "GET", "/v1/outcomes"), 401, "revoked_credential")


def test_another_tenants_signature_cannot_be_replayed_as_ones_own(
    server: LiveServer, tenants: tuple[Onboarded, ...]
) -> None:
    a, b, _ = tenants
    body = msgspec.json.encode({"events": [event(event_id="x", subject="s")]})
    headers = a.headers("POST", "/v1/events", body)
    headers["X-Tanpuhui-Credential"] = str(b.credential_id)
    response = server.http.post("/v1/events", content=body, headers=headers)
    assert_problem(response, 401, "bad_signature")
    forged = signed_headers(generate_key(), a.credential_id, "GET", "/v1/outcomes", host=a.host)
    assert_problem(server.http.get("/v1/outcomes", headers=forged), 401, "bad_signature")


METRO = {"behaviour": "metro_ride", "region": "440304", "quantity": {"distance_km": "8"}}
#: what an outcome tells its reporter, without the ids that differ by construction
TELLING = ("outcome", "reason", "message", "grams", "duplicate_of")


def told(outcome: dict[str, Any]) -> dict[str, Any]:
    return {k: outcome.get(k) for k in TELLING}


def test_another_tenant_citing_a_registered_issuer_first_cannot_displace_its_report(
    server: LiveServer, tenants: tuple[Onboarded, ...]
) -> None:
    """Was: B reported (SZ-Metro, tap-9001) for its own subject before the metro's genuine
    tap; the genuine event became `duplicate` and B kept the grams."""
    metro, b, _ = tenants
    authorise_issuer(server.ctx, "transit:sz-metro", metro.enterprise.id, is_issuer=True)
    person, intruder = onboard_person(server), onboard_person(server)
    tap = {"ref": "tap-9001", "issuer": "transit:sz-metro"}
    with metro.client() as cm, b.client() as cb:
        bind(server, cm, "rider", person)
        bind(server, cb, "b-1", intruder)
        (fake,) = cb.submit_events(
            [event(event_id="x-1", subject="b-1", start=TRIP, evidence=tap, **METRO)]
        )["outcomes"]
        (genuine,) = cm.submit_events(
            [event(event_id="m-1", subject="rider", start=TRIP, evidence={"ref": "tap-9001"},
                   **METRO)]
        )["outcomes"]  # fmt: skip
        # B's answer is the same for a reference the metro reported and one it never did
        (probe,) = cb.submit_events(
            [event(event_id="x-2", subject="b-1", start=TRIP + timedelta(hours=1),
                   evidence=dict(tap, ref="tap-never"), **METRO)]
        )["outcomes"]  # fmt: skip
        (again,) = cb.submit_events(
            [event(event_id="x-3", subject="b-1", start=TRIP + timedelta(hours=2), evidence=tap,
                   **METRO)]
        )["outcomes"]  # fmt: skip

    assert (fake["outcome"], fake["reason"], fake.get("grams")) == (
        "rejected",
        "issuer_not_entitled",
        None,  # no grams
    )
    assert genuine["outcome"] == "credited" and genuine["grams"] > 0
    assert "duplicate_of" not in genuine
    assert told(probe) == told(again) == told(fake)


def test_an_unregistered_issuer_reference_tells_nothing_about_another_tenants_claims(
    server: LiveServer, tenants: tuple[Onboarded, ...]
) -> None:
    """Was: evidence matched globally and first-wins, so B's outcome (duplicate or credited)
    told it whether A had reported (issuer, ref)."""
    a, b, _ = tenants
    with a.client() as ca, b.client() as cb:
        for client, subject in ((ca, "a-1"), (cb, "b-1"), (cb, "b-2")):
            bind(server, client, subject, onboard_person(server))
        used = {"ref": "tap-1", "issuer": "transit:some-line"}
        (original,) = ca.submit_events(
            [event(event_id="a-1", subject="a-1", start=TRIP, evidence=used, **METRO)]
        )["outcomes"]
        seen, unseen = cb.submit_events(
            [event(event_id="b-1", subject="b-1", start=TRIP, evidence=used, **METRO),
             event(event_id="b-2", subject="b-2", start=TRIP, evidence=dict(used, ref="tap-2"),
                   **METRO)]
        )["outcomes"]  # fmt: skip
        read_back = cb.get_event("b-1")["outcome"]

    assert original["outcome"] == "credited"
    assert told(seen) == told(unseen)
    assert seen["outcome"] == "credited" and "duplicate_of" not in seen
    assert told(read_back) == told(seen)


def test_the_same_evidence_claimed_for_two_persons_is_contested_and_names_the_first_opaquely(
    server: LiveServer, tenants: tuple[Onboarded, ...]
) -> None:
    """Was: the second person's claim was silently first-wins, naming the other tenant's
    reduction by its time-ordered id."""
    coffee, bank, _ = tenants
    authorise_issuer(server.ctx, "merchant:coffee", coffee.enterprise.id, is_issuer=True)
    authorise_issuer(server.ctx, "merchant:coffee", bank.enterprise.id)
    order = {"behaviour": "no_disposable_cutlery", "region": "110101",
             "quantity": {"count": "1"}, "minutes": 30}  # fmt: skip
    with coffee.client() as cc, bank.client() as cb:
        bind(server, cc, "c-1", onboard_person(server))
        bind(server, cb, "k-1", onboard_person(server))  # another person
        (first,) = cc.submit_events(
            [event(event_id="c-1", subject="c-1", start=TRIP, evidence={"ref": "order-5"},
                   **order)]
        )["outcomes"]  # fmt: skip
        (second,) = cb.submit_events(
            [event(event_id="k-1", subject="k-1", start=TRIP,
                   evidence={"ref": "order-5", "issuer": "merchant:coffee"}, **order)]
        )["outcomes"]  # fmt: skip
        read_back = cb.get_event("k-1")["outcome"]

    assert first["outcome"] == "credited"
    assert (second["outcome"], second["reason"], second.get("grams")) == (
        "duplicate",
        "evidence_contested",
        None,  # no grams
    )
    reference = second["duplicate_of"]
    assert reference.startswith("other-") and first["reduction_id"] not in reference
    assert first["reduction_id"].replace("-", "")[:12] not in reference
    assert read_back["duplicate_of"] == reference and read_back["reason"] == "evidence_contested"
