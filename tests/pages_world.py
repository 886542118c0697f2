"""A small world for the page tests: two scene enterprises (a bike app and a map app), two
persons with credited rides, a duplicate the map app sent of person A's ride, a rejected
event, and console users of each enterprise. Built through the services, as an operator and
the enterprises would.

`add_actors` adds what the other actors' pages need: a platform enterprise with a points
offer and a coupon offer with holds, a partner merchant of a points programme, ten persons
riding in Shenzhen (enough for k = 10) grouped into an issuance batch, government accounts of
Shenzhen and Beijing, and a verifier."""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.api.app import create_app
from tanpuhui.bootstrap import App
from tanpuhui.domain.officials import OfficialKind
from tanpuhui.domain.parties import Role
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.intake import submit_events
from tanpuhui.services.market import OfferTerms, create_offer
from tanpuhui.services.mrv import create_batch
from tanpuhui.services.officials import add_official
from tanpuhui.services.parties import (
    add_enterprise,
    add_person,
    add_persons,
    bind_subject,
    bind_subjects,
)
from tanpuhui.services.programmes import publish_programme
from tanpuhui.services.sign_in import add_web_user, issue_code
from tests.builders import event
from tests.conftest import CST, NOW

TODAY = NOW.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def at(hour: int, minute: int = 0, days_ago: int = 0) -> datetime:
    return TODAY - timedelta(days=days_ago) + timedelta(hours=hour, minutes=minute)


@dataclass
class World:
    app: App
    bikes: uuid.UUID
    maps: uuid.UUID
    alice: uuid.UUID  # bound at both apps: rides, and the map app's duplicate of one
    bob: uuid.UUID  # bound at the bike app only
    bikes_user: uuid.UUID
    maps_user: uuid.UUID
    operator: uuid.UUID
    alice_ride: uuid.UUID  # the reduction of alice's first ride
    bob_ride: uuid.UUID


def build_world(app: App) -> World:
    ctx = app.ctx
    bikes = add_enterprise(ctx, "青桔单车", {Role.SCENE}).id
    maps = add_enterprise(ctx, "Maps", {Role.SCENE}).id
    alice, bob = add_person(ctx).id, add_person(ctx).id
    bind_subject(ctx, bikes, "u-1", alice)
    bind_subject(ctx, maps, "m-1", alice)
    bind_subject(ctx, bikes, "u-2", bob)
    first, *_ = submit_events(
        ctx,
        bikes,
        [
            event(event_id="b-1", subject="u-1", start=at(8)),
            event(event_id="b-2", subject="u-1", start=at(12), quantity={"distance_km": "5"}),
            event(event_id="b-3", subject="u-1", start=at(9, days_ago=20)),
            event(event_id="bad-1", subject="u-1", start=at(10), quantity={"distance_km": "-2"}),
        ],
    )
    submit_events(ctx, maps, [event(event_id="m-1", subject="m-1", start=at(8, 1))])
    (bob_first,) = submit_events(ctx, bikes, [event(event_id="b-9", subject="u-2", start=at(7))])
    assert first.reduction_id is not None and bob_first.reduction_id is not None
    return World(
        app,
        bikes,
        maps,
        alice,
        bob,
        add_web_user(ctx, PrincipalKind.USER, "Bike ops", bikes).id,
        add_web_user(ctx, PrincipalKind.USER, "Map ops", maps).id,
        add_web_user(ctx, PrincipalKind.OPERATOR, "Platform ops").id,
        first.reduction_id,
        bob_first.reduction_id,
    )


PROGRAMME = Path(__file__).parents[1] / "src/tanpuhui/programmes/luzhou.lvya@1.yaml"
MONTH = NOW.astimezone(CST).strftime("%Y-%m")


@dataclass
class Actors:
    shop: uuid.UUID  # a platform enterprise
    shop_user: uuid.UUID
    points_offer: uuid.UUID  # 100 points per kg of luzhou.lvya
    hold_offer: uuid.UUID  # a coupon per sale, held 60 minutes for the shop to confirm
    bus: uuid.UUID  # a partner merchant of luzhou.lvya
    shenzhen: uuid.UUID  # a government account of 深圳市 (440300)
    beijing: uuid.UUID  # a government account of 北京市 (110000)
    verifier: uuid.UUID
    batch: uuid.UUID  # the Shenzhen rides of this month, open for review


def add_actors(world: World) -> Actors:
    ctx = world.app.ctx
    programme, content = parse_programme(PROGRAMME.read_text(), PROGRAMME.name)
    publish_programme(ctx, programme, content)
    shop = add_enterprise(ctx, "绿色商城", {Role.PLATFORM}).id
    bus = add_enterprise(ctx, "Luzhou Bus", {Role.PLATFORM}).id
    points = create_offer(
        ctx, shop, OfferTerms(budget_grams=100_000, points_per_kg=100, programme=programme.code)
    )
    held = create_offer(
        ctx, shop, OfferTerms(budget_grams=50_000, coupons=("C-1", "C-2", "C-3"), hold_minutes=60)
    )
    subjects = [f"sz-{i}" for i in range(10)]
    persons = add_persons(ctx, len(subjects))
    bind_subjects(ctx, [(world.bikes, s, p.id) for s, p in zip(subjects, persons, strict=True)])
    rides = submit_events(
        ctx, world.bikes, [event(subject=s, event_id=s, region="440305") for s in subjects]
    )
    assert rides[0].methodology is not None
    # one rider in Luzhou: with Wuhan's two, two provinces below k, so Guangdong needs no
    # complementary suppression in the national breakdown (and Shenzhen's figures show)
    luzhou = add_person(ctx).id
    bind_subject(ctx, world.bikes, "lz-1", luzhou)
    submit_events(ctx, world.bikes, [event(subject="lz-1", event_id="lz-1", region="510502")])
    batch = create_batch(ctx, rides[0].methodology, "440300", MONTH)
    return Actors(
        shop,
        add_web_user(ctx, PrincipalKind.USER, "Shop ops", shop).id,
        points.offer.id,
        held.offer.id,
        bus,
        add_official(ctx, OfficialKind.GOVERNMENT, "深圳市生态环境局", "440300").official.id,
        add_official(ctx, OfficialKind.GOVERNMENT, "北京市生态环境局", "110000").official.id,
        add_official(ctx, OfficialKind.VERIFIER, "CQC").official.id,
        batch.id,
    )


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: httpx.Client, app: App, kind: PrincipalKind, account: uuid.UUID) -> None:
    """Sign in through the pages with a code the CLI would issue."""
    _, code = issue_code(app.ctx, kind, str(account))
    form = client.get(f"/signin/code?as={kind.value}&account={account}")
    answer = client.post(
        "/signin/code",
        data={"csrf": csrf_of(form.text), "as": kind.value, "account": str(account), "code": code},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


@dataclass
class Pages:
    base_url: str
    api: FastAPI
    http: httpx.Client  # cookies kept, redirects not followed unless asked
    visitors: list[httpx.Client]


@contextmanager
def serve_pages(app: App) -> Iterator[Pages]:
    """The app (API and pages) served by uvicorn on a free 127.0.0.1 port from a thread."""
    api = create_app(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            served = Pages(base, api, http, [])
            try:
                yield served
            finally:
                for visitor in served.visitors:
                    visitor.close()
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def client(pages: Pages) -> httpx.Client:
    """Another visitor (own cookies) of the same server."""
    visitor = httpx.Client(base_url=pages.base_url, timeout=30)
    pages.visitors.append(visitor)
    return visitor


def award_certificate(app: App, person: uuid.UUID, name: str = "骑行达人") -> str:
    """Opt `person` in under `name` and issue the certificates of today's bike-ride board
    (only opted-in people place): the serial of the person's certificate."""
    from tanpuhui.domain.leaderboard import BoardKind
    from tanpuhui.services.certificates import issue_leaderboard_certificates
    from tanpuhui.services.leaderboards import board_spec, set_display_name

    set_display_name(app.ctx, person, name, True)
    day = NOW.astimezone(CST).date()
    spec = board_spec(BoardKind.BEHAVIOUR, "bike_share_ride", None, day, day)
    (issued,) = [
        i for i in issue_leaderboard_certificates(app.ctx, spec, 10)
        if i.certificate.content["recipient"] == name
    ]  # fmt: skip
    return issued.certificate.serial
