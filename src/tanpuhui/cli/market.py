"""`tanpuhui offer …`, `sell`, `hold …`, `programme …`: the market from the command line.

The commands parse, resolve enterprises by id or exact name, call one service and print the
same JSON the API returns (services/market_views.py); every rule and refusal is the services'
(shown by `cli/common.py` as one `error[code]: message` line, exit 1).
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.cli.common import JsonOption, console, emit_json, handled
from tanpuhui.cli.common import app as open_app
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.market import OfferStatus, SaleStatus
from tanpuhui.domain.methodology import Confidence
from tanpuhui.services import market_views as mv
from tanpuhui.services.market import (
    OfferTerms,
    create_offer,
    expire_holds,
    list_offers,
    sell_reductions,
    set_offer_status,
    settle_hold,
)
from tanpuhui.services.parties import resolve_enterprise
from tanpuhui.services.points import expire_points, redeem_points
from tanpuhui.services.programmes import get_programme, list_programmes, publish_programme

offer_cli = typer.Typer(
    help="Platform enterprises' offers for people's reductions.", no_args_is_help=True
)
hold_cli = typer.Typer(
    help="Holds: sales whose incentive is settled outside the platform.", no_args_is_help=True
)
programme_cli = typer.Typer(help="Points programmes (versioned data files).", no_args_is_help=True)
DAY = ["%Y-%m-%d"]


def _id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInputError(f"{value!r} is not {what} id", code="invalid_request") from None


def _print(data: dict[str, Any], as_json: bool, line: str) -> None:
    if as_json:
        emit_json(data)
    else:
        console.print(line, highlight=False, markup=False)


@offer_cli.command("create")
@handled
def offer_create(
    enterprise: Annotated[str, typer.Argument(help="The platform enterprise (id or name).")],
    budget_grams: Annotated[int, typer.Option("--budget-grams", help="Total grams it buys.")],
    points_per_kg: Annotated[int | None, typer.Option("--points-per-kg")] = None,
    programme: Annotated[str | None, typer.Option(help="The points programme's code.")] = None,
    coupons: Annotated[
        Path | None, typer.Option(help="A file with one coupon code per line.", exists=True)
    ] = None,
    min_grams: Annotated[int, typer.Option("--min-grams")] = 1,
    max_per_person_grams: Annotated[int | None, typer.Option("--max-per-person-grams")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Accepted behaviour group.")] = None,
    region: Annotated[list[str] | None, typer.Option(help="Accepted province code.")] = None,
    vintage: Annotated[list[str] | None, typer.Option(help="Accepted vintage YYYY-MM.")] = None,
    min_quality: Annotated[Confidence | None, typer.Option("--min-quality")] = None,
    until: Annotated[datetime | None, typer.Option(formats=DAY, help="Last valid day.")] = None,
    hold_minutes: Annotated[int | None, typer.Option("--hold-minutes")] = None,
    as_json: JsonOption = False,
) -> None:
    """Publish an offer: what the enterprise pays and which grams it buys."""
    codes: tuple[str, ...] = ()
    if coupons is not None:
        codes = tuple(c.strip() for c in coupons.read_text().splitlines() if c.strip())
        if not codes:
            raise InvalidInputError(f"{coupons} holds no coupon codes")
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise)
        valid_until = None
        if until is not None:
            valid_until = datetime.combine(until.date() + timedelta(days=1), time(), app.ctx.tz)
        terms = OfferTerms(
            budget_grams=budget_grams,
            points_per_kg=points_per_kg,
            programme=programme,
            coupons=codes,
            min_grams=min_grams,
            max_per_person_grams=max_per_person_grams,
            groups=tuple(group or ()),
            regions=tuple(region or ()),
            vintages=tuple(vintage or ()),
            min_quality=min_quality,
            valid_until=valid_until,
            hold_minutes=hold_minutes,
        )
        view = create_offer(app.ctx, ent.id, terms)
    data = mv.offer_view(view)
    _print(data, as_json, f"offer {data['id']}: {budget_grams} g budget, {data['incentive']}")


@offer_cli.command("list")
@handled
def offer_list(
    enterprise: Annotated[str | None, typer.Option(help="Only this enterprise's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every offer with its remaining budget."""
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise) if enterprise else None
        views = list_offers(app.ctx, ent.id if ent else None)
    data = [mv.offer_view(v) for v in views]
    if as_json:
        emit_json(data)
        return
    table = Table("id", "status", "remaining / budget g", "incentive", "hold")
    for d in data:
        inc = d["incentive"]
        what = (
            f"{inc['points_per_kg']} pts/kg {inc['programme']}"
            if inc["kind"] == "points"
            else "coupon"
        )
        table.add_row(
            d["id"],
            d["status"],
            f"{d['remaining_grams']} / {d['budget_grams']}",
            what,
            f"{d['hold_minutes']} min" if d["hold_minutes"] else "",
        )
    console.print(table)


def _set_status(offer: str, status: OfferStatus, as_json: bool) -> None:
    with open_app() as app:
        view = set_offer_status(app.ctx, _id(offer, "an offer"), status)
    _print(mv.offer_view(view), as_json, f"offer {offer} is {status.value}")


@offer_cli.command("pause")
@handled
def offer_pause(offer: str, as_json: JsonOption = False) -> None:
    """Stop accepting sales for now."""
    _set_status(offer, OfferStatus.PAUSED, as_json)


@offer_cli.command("resume")
@handled
def offer_resume(offer: str, as_json: JsonOption = False) -> None:
    """Accept sales again (a closed offer stays closed)."""
    _set_status(offer, OfferStatus.OPEN, as_json)


@offer_cli.command("close")
@handled
def offer_close(offer: str, as_json: JsonOption = False) -> None:
    """Stop accepting sales for good."""
    _set_status(offer, OfferStatus.CLOSED, as_json)


@handled
def sell(
    person: Annotated[str, typer.Argument(help="The selling person's id.")],
    offer: Annotated[str, typer.Option(help="The offer's id.")],
    grams: Annotated[int, typer.Option(help="Grams to sell.")],
    request_id: Annotated[
        str | None,
        typer.Option(
            "--request-id", help="Idempotency key: the same id again returns the same sale."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Sell a person's grams to an offer (oldest first), for its incentive."""
    with open_app() as app:
        result = sell_reductions(
            app.ctx, _id(person, "a person"), _id(offer, "an offer"), grams, request_id
        )
    data = mv.sale_view(result)
    _print(data, as_json, f"sale {data['id']}: {data['status']} {grams} g, {data['incentive']}")


def _settle(sale: str, status: SaleStatus, as_json: bool) -> None:
    with open_app() as app:
        result = settle_hold(app.ctx, _id(sale, "a sale"), status)
    data = mv.sale_view(result)
    _print(data, as_json, f"hold {sale}: {data['status']}")


@hold_cli.command("confirm")
@handled
def hold_confirm(sale: str, as_json: JsonOption = False) -> None:
    """Post a held sale (the enterprise settled its incentive)."""
    _settle(sale, SaleStatus.CONFIRMED, as_json)


@hold_cli.command("void")
@handled
def hold_void(sale: str, as_json: JsonOption = False) -> None:
    """Release a held sale: the grams stay the person's."""
    _settle(sale, SaleStatus.VOIDED, as_json)


@hold_cli.command("expire")
@handled
def hold_expire(as_json: JsonOption = False) -> None:
    """Sweep holds past their expiry (they already reserve nothing; this gives the budget back)."""
    with open_app() as app:
        count = expire_holds(app.ctx)
    _print({"expired": count}, as_json, f"{count} hold(s) expired")


@programme_cli.command("publish")
@handled
def programme_publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)], as_json: JsonOption = False
) -> None:
    """Publish a programme version file (the same version again is a no-op)."""
    programme, content = parse_programme(file.read_text(encoding="utf-8"), file.name)
    with open_app() as app:
        stored, new = publish_programme(app.ctx, programme, content)
    data = {**mv.programme_view(stored), "published": new}
    _print(data, as_json, f"{stored.ref}: {'published' if new else 'published already'}")


@programme_cli.command("list")
@handled
def programme_list(as_json: JsonOption = False) -> None:
    """Every published programme version."""
    with open_app() as app:
        data = [mv.programme_view(p) for p in list_programmes(app.ctx)]
    if as_json:
        emit_json(data)
        return
    table = Table("programme", "name", "region", "rules")
    for d in data:
        table.add_row(d["ref"], d["name"], d["region"], str(len(d["rules"])))
    console.print(table)


@programme_cli.command("show")
@handled
def programme_show(code: str, as_json: JsonOption = False) -> None:
    """A programme's newest version: rules, caps, merchants, expiry."""
    with open_app() as app:
        data = mv.programme_view(get_programme(app.ctx, code))
    if as_json:
        emit_json(data)
        return
    console.print(f"{data['ref']} {data['name']} (region {data['region']})", markup=False)
    for r in data["rules"]:
        console.print(
            f"  {r['behaviour']}: {r['points']} per {r['per']} — {r['source']}", markup=False
        )


def print_ledger_part(data: dict[str, Any]) -> None:
    for programme, points in data.get("points", {}).items():
        console.print(f"points {programme}: {points}", highlight=False, markup=False)
    for s in data.get("sales", []):
        console.print(
            f"sale {s['id']} {s['status']} {s['grams']} g to offer {s['offer_id']}: "
            f"{s['incentive']}",
            highlight=False,
            markup=False,
        )


@handled
def redeem(
    person: Annotated[str, typer.Argument(help="The person's id.")],
    programme: Annotated[str, typer.Option(help="The programme's code.")],
    merchant: Annotated[str, typer.Option(help="The partner merchant (id or name).")],
    points: Annotated[int, typer.Option(help="Points to redeem.")],
    request_id: Annotated[
        str | None, typer.Option("--request-id", help="Idempotency key of the merchant.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Redeem a person's points at a partner merchant."""
    with open_app() as app:
        shop = resolve_enterprise(app.ctx, merchant)
        rid = request_id or str(app.ctx.ids.new())
        done, new = redeem_points(app.ctx, shop.id, _id(person, "a person"), programme, points, rid)
    data = {**mv.redemption_view(done), "replayed": not new}
    _print(data, as_json, f"redeemed {points} {programme} points at {shop.name}")


@programme_cli.command("expire-points")
@handled
def programme_expire(as_json: JsonOption = False) -> None:
    """Post the expiry of points past their programme's lifetime (oldest first)."""
    with open_app() as app:
        gone = expire_points(app.ctx)
    _print({"expired_points": gone}, as_json, f"{gone} point(s) expired")
