"""The demo's certificates (issue 13 item 6): World Bicycle Day style. On 3 June 2021 the top
100 cyclists of one bike-sharing app received a certificate from the Ministry of Ecology and
Environment's education centre; here the simulated month's top cyclists get one.

Some people choose a display name and opt in to leaderboards (most do; a few opt out, and
never appear); the month's bike-share leaderboard is read, its top ten are issued signed
certificates, and the demo prints where to verify one — the address its QR code holds.
Everything goes through the same services the API and the CLI call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from tanpuhui.bootstrap import App
from tanpuhui.domain.leaderboard import BoardKind
from tanpuhui.services.certificates import issue_leaderboard_certificates
from tanpuhui.services.leaderboards import board_spec, set_display_name

TOP = 10
TAKING_PART = 400  # of the people who bound their apps early


def run_certificates(
    app: App,
    people: Sequence[Any],
    first: datetime,
    days: int,
    base_url: str,
    say: Callable[[str], None],
) -> list[str]:
    """Opt some of `people` (person ids) in, issue the month's top cyclists their certificates;
    returns the serials."""
    ctx = app.ctx
    for i, person in enumerate(people[:TAKING_PART]):
        set_display_name(ctx, person, f"骑友 {i + 1:04d}", opted_in=i % 10 != 9)
    tz: tzinfo = ctx.tz
    start = first.astimezone(tz).date()
    spec = board_spec(
        BoardKind.BEHAVIOUR, "bike_share_ride", None, start, start + timedelta(days=days - 1)
    )
    issued = issue_leaderboard_certificates(ctx, spec, TOP)
    serials = [i.certificate.serial for i in issued]
    if serials:
        best = issued[0].certificate.content
        say(
            f"certificates: the month's top {len(serials)} cyclists (bike_share_ride, "
            f"{spec.period}) — first: {best['recipient']}, {best['grams']:,} g"
        )
        say(f"verify at {base_url}/verify/{serials[0]}")
    else:
        say("certificates: no opted-in cyclist this month")
    return serials
