"""Every administrative action writes the audit trail (issue 12 item 5), on SQLite and
PostgreSQL. The test enumerates the services that change state in the administrative modules:
each is either exercised here and must append a record of its kind, with its actor, time and
after-state — or listed in NOT_ADMINISTRATIVE with the reason. A new service that writes and is
in neither list fails the test (`test_every_writing_service_is_classified`)."""

from __future__ import annotations

import inspect
import types
import uuid
from collections.abc import Callable
from datetime import date, timedelta

from tanpuhui.adapters.crypto import generate_key, public_raw
from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.bootstrap import App
from tanpuhui.domain.exclusions import enterprise_key
from tanpuhui.domain.leaderboard import BoardKind
from tanpuhui.domain.officials import OfficialKind
from tanpuhui.domain.parties import Enterprise, Role
from tanpuhui.domain.retirement import ExportStatus
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services import (
    access,
    catalogue,
    certificates,
    evidence,
    exclusions,
    export,
    mrv,
    officials,
    parties,
    programmes,
    sign_in,
)
from tanpuhui.services.audit import list_audit
from tanpuhui.services.leaderboards import board_spec, set_display_name
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.mrv import create_batch
from tests.conftest import CST, NOW
from tests.integration.test_leaderboards import DAY
from tests.integration.test_requantify import version_3
from tests.mrv_signing import new_verifier
from tests.retirement_world import PROGRAMME, bought_world

MODULES: tuple[types.ModuleType, ...] = (
    access, catalogue, certificates, evidence, exclusions, export, mrv, officials, parties,
    programmes, sign_in,
)  # fmt: skip

#: Services that write but are not administrative actions, and why.
NOT_ADMINISTRATIVE = {
    "access.admit_request": "spends a request's nonce (every signed API call)",
    "access.issue_person_token": "a person signs in (their own session)",
    "access.create_binding_code": "a person asks for a one-time code (the binding is audited)",
    "parties.add_person": "a person signs up (an opaque id, no administrative act)",
    "parties.add_persons": "bulk persons for tests and benchmarks",
    "sign_in.issue_code": "a one-time sign-in code (the principal's own sign-in)",
    "sign_in.request_code": "a one-time sign-in code sent on request",
    "sign_in.sign_in": "a session begins",
    "sign_in.sign_out": "a session ends",
    "sign_in.sign_out_everywhere": "the principal's sessions end",
}

MONTH = NOW.astimezone(CST).strftime("%Y-%m")


def _writes(fn: Callable[..., object], module: types.ModuleType, depth: int = 2) -> bool:
    """Does `fn` open a unit of work that writes, itself or through a private helper?"""
    source = inspect.getsource(fn)
    if "ctx.uow()" in source or "ctx.uow(write=True)" in source:
        return True
    if depth == 0:
        return False
    helpers = [  # its private helpers (public ones are classified themselves)
        getattr(module, n) for n in fn.__code__.co_names if n.startswith("_") and hasattr(module, n)
    ]
    return any(
        _writes(h, module, depth - 1)
        for h in helpers
        if inspect.isfunction(h) and h.__module__ == module.__name__
    )


def writing_services() -> set[str]:
    found = set()
    for module in MODULES:
        short = module.__name__.rsplit(".", 1)[1]
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if (
                fn.__module__ == module.__name__
                and not name.startswith("_")
                and _writes(fn, module)
            ):
                found.add(f"{short}.{name}")
    return found


def test_every_writing_service_is_classified() -> None:
    unclassified = writing_services() - set(NOT_ADMINISTRATIVE) - set(EXERCISED)
    assert unclassified == set(), f"audit these or say why not: {sorted(unclassified)}"
    assert set(EXERCISED) <= writing_services() | {"mrv.create_batch[enterprise]"}


#: service → the kind of record it must append (all exercised by the test below).
EXERCISED = {
    "catalogue.publish_catalogue": "methodology.publish",
    "parties.add_enterprise": "enterprise.add",
    "access.register_credential": "credential.register",
    "access.rotate_credential": "credential.rotate",
    "access.revoke_credential": "credential.revoke",
    "catalogue.publish_version": "methodology.publish",
    "catalogue.retire_version": "methodology.retire",
    "programmes.publish_programme": "programme.publish",
    "parties.bind_subject": "binding.add",
    "parties.bind_subjects": "binding.add",
    "access.bind_with_code": "binding.add",
    "parties.unbind_subject": "binding.end",
    "evidence.authorise_issuer": "issuer.authorise",
    "exclusions.declare_claimed_elsewhere": "exclusion.declare",
    "officials.add_official": "official.add",
    "sign_in.add_web_user": "user.add",
    "officials.record_export": "export",
    "mrv.create_batch": "mrv.batch_create",
    "mrv.create_batch[enterprise]": "mrv.batch_create",
    "mrv.sample_batch": "mrv.sample",
    "mrv.sample_batch_as": "mrv.sample",
    "mrv.approve_batch": "mrv.approve",
    "mrv.approve_batch_as": "mrv.approve",
    "mrv.reject_batch": "mrv.reject",
    "mrv.reject_batch_as": "mrv.reject",
    "certificates.issue_leaderboard_certificates": "certificate.issue",
    "certificates.issue_milestone_certificates": "certificate.issue",
    "export.create_export": "export.create",
    "export.mark_export": "export.mark",
}


def test_every_administrative_service_writes_an_audit_record(app: App) -> None:
    ctx = app.ctx
    done: set[str] = set()

    def did(service: str, action: Callable[[], object]) -> object:
        before = len(list_audit(ctx, limit=10**6))
        result = action()
        new = list_audit(ctx, limit=10**6)[before:]
        kinds = [r.record.kind for r in new]
        assert EXERCISED[service] in kinds, (service, kinds)
        for r in new:
            assert r.record.actor and r.record.at and r.record.subject, (service, r)
            assert r.record.after is not None, (service, r.record.kind)
        done.add(service)
        return result

    assert [r.record.kind for r in list_audit(ctx)] == ["methodology.publish"]  # at bootstrap
    done.add("catalogue.publish_catalogue")
    # the world: people ride, sell to Maps, a verifier approves the month (all audited)
    w = bought_world(app, persons=10, days=11)
    kinds = {r.record.kind for r in list_audit(ctx, limit=10**6)}
    assert {"enterprise.add", "binding.add", "programme.publish", "official.add",
            "mrv.batch_create", "mrv.approve"} <= kinds  # fmt: skip
    done |= {"parties.bind_subjects"}

    key = public_raw(generate_key())
    cred = did("access.register_credential", lambda: access.register_credential(ctx, w.scene, key))
    did("access.rotate_credential", lambda: access.rotate_credential(
        ctx, cred.id, public_raw(generate_key()), timedelta(hours=1)))  # fmt: skip
    did("access.revoke_credential", lambda: access.revoke_credential(ctx, cred.id))
    did("catalogue.publish_version", lambda: catalogue.publish_version(
        ctx, version_3(app), NOW.date() + timedelta(days=1)))  # fmt: skip
    did("catalogue.retire_version", lambda: catalogue.retire_version(
        ctx, version_3(app).methodology.key, NOW.date() + timedelta(days=30)))  # fmt: skip
    buses = did(
        "parties.add_enterprise", lambda: parties.add_enterprise(ctx, "Buses", {Role.SCENE})
    )
    assert isinstance(buses, Enterprise)
    person = parties.add_person(ctx).id
    did("parties.bind_subject", lambda: parties.bind_subject(ctx, w.scene, "new-1", person))
    code = access.create_binding_code(ctx, person).code
    did("access.bind_with_code", lambda: access.bind_with_code(ctx, w.scene, "new-2", code))
    did("parties.unbind_subject", lambda: parties.unbind_subject(ctx, w.scene, "new-1"))
    did("evidence.authorise_issuer", lambda: evidence.authorise_issuer(
        ctx, "transit:sz-metro", w.scene))  # fmt: skip
    did("exclusions.declare_claimed_elsewhere", lambda: exclusions.declare_claimed_elsewhere(
        ctx, enterprise_key(buses.id), "ccer", declared_by=buses.id))  # fmt: skip
    gov = did("officials.add_official", lambda: officials.add_official(
        ctx, OfficialKind.GOVERNMENT, "深圳市", "440300"))  # fmt: skip
    assert isinstance(gov, officials.NewOfficial)
    did("sign_in.add_web_user", lambda: sign_in.add_web_user(ctx, PrincipalKind.OPERATOR, "Olga"))
    did("officials.record_export", lambda: officials.record_export(
        ctx, gov.official, "stats.csv", {"region": "440300"}))  # fmt: skip

    pending = did("export.create_export", lambda: export.create_export(ctx, w.platform, 1, "CCER"))
    assert isinstance(pending, export.ExportResult)
    did("export.mark_export", lambda: export.mark_export(
        ctx, pending.export.id, ExportStatus.EXPORTED, "CCER-1"))  # fmt: skip

    for i, p in enumerate(w.persons[:2]):
        set_display_name(ctx, p, f"Rider {i}", opted_in=True)
    spec = board_spec(BoardKind.BEHAVIOUR, "bike_share_ride", None, DAY - timedelta(days=11), DAY)
    did("certificates.issue_leaderboard_certificates",
        lambda: certificates.issue_leaderboard_certificates(ctx, spec, 2))  # fmt: skip
    programme, content = parse_programme(PROGRAMME.read_text(), PROGRAMME.name)
    assert programmes.publish_programme(ctx, programme, content)[1] is False  # no change
    del programme
    done.add("programmes.publish_programme")

    # MRV: a scene enterprise's batch of new rides, the methodology's of another month
    cqc = new_verifier(ctx, "Reviewer")
    _rides(app, w.scene, "new-3", 3)
    batch = did("mrv.create_batch[enterprise]", lambda: create_batch(
        ctx, None, None, MONTH, enterprise=w.scene))  # fmt: skip
    assert isinstance(batch, mrv.IssuanceBatch)
    did("mrv.sample_batch", lambda: cqc.sample(ctx, batch.id, seed=3, size=2))
    did("mrv.sample_batch_as", lambda: mrv.sample_batch_as(ctx, batch.id, cqc.official, 4, 2))
    did("mrv.reject_batch", lambda: cqc.reject(ctx, batch.id, "evidence missing"))
    for service, decide in (
        ("mrv.approve_batch", lambda b: cqc.approve(ctx, b, "ok")),
        ("mrv.approve_batch_as", lambda b: mrv.approve_batch_as(ctx, b, cqc.official, "ok")),
        ("mrv.reject_batch_as", lambda b: mrv.reject_batch_as(ctx, b, cqc.official, "no")),
    ):
        _rides(app, w.scene, f"{service}-s", 1)
        b = did("mrv.create_batch", lambda: create_batch(ctx, _version(app), None, MONTH))
        assert isinstance(b, mrv.IssuanceBatch)
        did(service, lambda b=b, decide=decide: decide(b.id))

    day = (NOW - timedelta(days=1)).date()
    did("certificates.issue_milestone_certificates", lambda: _milestone(app, day))

    assert done == set(EXERCISED), set(EXERCISED) - done
    assert verify_ledger(ctx) == []
    # the filters reach every kind: by kind, by actor (exact or every verifier), by time
    assert {r.record.kind for r in list_audit(ctx, limit=10**6)} == set(EXERCISED.values())
    assert all(r.record.actor.startswith("verifier:")
               for r in list_audit(ctx, actor="verifier", limit=10**6))  # fmt: skip
    mine = list_audit(ctx, actor=cqc.official.actor, limit=10**6)
    assert {r.record.kind for r in mine} == {"mrv.sample", "mrv.approve", "mrv.reject"}
    assert list_audit(ctx, since=NOW + timedelta(days=3650)) == []


def _version(app: App) -> str:
    found = _credited_version(app)
    assert found is not None
    return found


def _credited_version(app: App) -> str | None:
    from tests.db_fixtures import rows

    found = rows(
        app,
        "select v.code, v.version from events e join methodology_versions v "
        "on v.id = coalesce(e.current_methodology_id, e.methodology_id) "
        "where e.state = 'active' and not exists "
        "(select 1 from batch_reductions b where b.reduction_id = e.id) limit 1",
    )
    return f"{found[0][0]}@{found[0][1]}" if found else None


def _rides(app: App, scene: uuid.UUID, subject: str, n: int) -> None:
    from tanpuhui.services.intake import submit_events
    from tests.retirement_world import rides

    person = parties.add_person(app.ctx).id
    parties.bind_subject(app.ctx, scene, subject, person)
    out = submit_events(app.ctx, scene, rides(subject, 1)[:n])
    assert all(o.kind == "credited" for o in out), {o.kind for o in out}


def _milestone(app: App, day: date) -> object:
    from tanpuhui.services.intake import submit_events
    from tests.integration.test_points import _bus

    bus = parties.add_enterprise(app.ctx, "Luzhou Bus", {Role.SCENE}).id
    person = parties.add_person(app.ctx).id
    parties.bind_subject(app.ctx, bus, "rider", person)
    submit_events(app.ctx, bus, [_bus(0, "rider")])
    set_display_name(app.ctx, person, "Rider", opted_in=True)
    issued = certificates.issue_milestone_certificates(app.ctx, "luzhou.lvya", 1, day, day)
    assert issued, "nobody reached the milestone"
    return issued
