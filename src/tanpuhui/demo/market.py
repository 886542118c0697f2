"""The demo's market (issue 11 item 7): after the month, the loop a newcomer should see.

Luzhou's 绿芽积分 programme is published with the city bank as a partner merchant; a platform
enterprise (a map app buying reductions to reach customers) publishes an offer paying the
programme's points per kg, and a coffee chain an offer paying coupons whose sales are holds it
confirms. A few hundred people sell part of their grams — oldest first, keeping lineage — and
some of them spend the points at the bank. Everything goes through the same services the API
and the CLI call, and `ledger verify` (lineage included) runs after it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import TanpuhuiError
from tanpuhui.domain.ledger import enterprise_account
from tanpuhui.domain.market import SaleStatus
from tanpuhui.domain.parties import Role
from tanpuhui.services.market import (
    OfferTerms,
    create_offer,
    holdings_of,
    sell_reductions,
    settle_hold,
)
from tanpuhui.services.parties import add_enterprise
from tanpuhui.services.points import redeem_points
from tanpuhui.services.programmes import publish_programme

PROGRAMME = Path(__file__).parents[1] / "programmes" / "luzhou.lvya@1.yaml"


def run_market(app: App, people: Sequence[Any], say: Callable[[str], None]) -> dict[str, Any]:
    """Sellers are the first of `people` (person ids); returns what happened, by kind."""
    ctx = app.ctx
    programme, content = parse_programme(PROGRAMME.read_text(encoding="utf-8"), PROGRAMME.name)
    publish_programme(ctx, programme, content)
    bank = add_enterprise(ctx, "Luzhou City Bank", {Role.PLATFORM}).id
    maps = add_enterprise(ctx, "Green Maps Rewards", {Role.PLATFORM}).id
    coffee = add_enterprise(ctx, "Lucky Leaf Coffee", {Role.PLATFORM}).id
    points = create_offer(
        ctx, maps, OfferTerms(2_000_000, points_per_kg=20, programme=programme.code,
                              max_per_person_grams=5_000),
    ).offer  # fmt: skip
    coupons = create_offer(
        ctx, coffee, OfferTerms(500_000, coupons=tuple(f"LEAF-{i:04d}" for i in range(200)),
                                hold_minutes=60, groups=("mobility",)),
    ).offer  # fmt: skip
    say("market: people sell grams to a points offer and a coupon offer …")
    done: Counter[str] = Counter()
    for i, person in enumerate(people[:300]):
        for offer, grams in ((points.id, 1_000), (coupons.id, 300)):
            try:
                sale = sell_reductions(ctx, person, offer, grams, f"demo-{i}-{offer}")
            except TanpuhuiError as exc:
                done[exc.code] += 1
                continue
            done[sale.status.value] += 1
            if sale.status is SaleStatus.HELD and i % 4:  # the coffee chain confirms most
                settle_hold(ctx, sale.sale.id, SaleStatus.CONFIRMED, coffee)
                done["confirmed"] += 1
            if sale.sale.points and i % 3 == 0:
                redeem_points(ctx, bank, person, programme.code, sale.sale.points // 2,
                              f"bank-{i}")  # fmt: skip
                done["redeemed"] += 1
    lots = sum(len(v) for v in holdings_of(ctx, enterprise_account(maps)).values())
    say(
        f"market: {dict(done)}; the map app's grams trace back to {lots} reductions; "
        f"points of {programme.name} redeemed at its partner bank"
    )
    return dict(done)
