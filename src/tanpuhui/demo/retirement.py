"""The demo's retirement (issue 13 item 6): after the market, the map app retires part of what
it bought to offset its own emissions, and the demo prints the retirement's block serials and
its certificate's serial. Through the same service the API and the CLI call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import TanpuhuiError
from tanpuhui.domain.ledger import enterprise_account
from tanpuhui.domain.retirement import RetirementRequest
from tanpuhui.services.market import holdings_of
from tanpuhui.services.parties import resolve_enterprise
from tanpuhui.services.retirement import retire_reductions

BUYER = "Green Maps Rewards"  # demo/market.py's points offer


def run_retirement(app: App, say: Callable[[str], None], buyer: str = BUYER) -> dict[str, Any]:
    """Retire half of what `buyer` bought; returns the certificate and block serials."""
    maps = resolve_enterprise(app.ctx, buyer).id
    held = sum(
        lot.grams
        for lots in holdings_of(app.ctx, enterprise_account(maps)).values()
        for lot in lots
    )
    if held < 2:
        say("retirement: the map app holds nothing to retire")
        return {}
    asked = RetirementRequest(
        held // 2, f"{buyer} (its own operations)", "offsetting its 2026 scope 1-3 emissions",
        "2026",
    )  # fmt: skip
    try:
        done = retire_reductions(app.ctx, maps, asked, "demo-retirement")
    except TanpuhuiError as exc:
        say(f"retirement: refused ({exc.code})")
        return {}
    serials = [b.serial for b in done.blocks]
    say(
        f"retirement: {buyer} retired {asked.grams} g of its {held} g, certificate "
        f"{done.retirement.certificate} (check it at /verify/{done.retirement.certificate}), "
        f"blocks {', '.join(serials)}"
    )
    return {"certificate": done.retirement.certificate, "serials": serials}
