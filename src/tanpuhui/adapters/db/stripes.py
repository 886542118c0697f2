"""Write stripes: a partial-sum row that every writer of a region and period would update is
split into `STRIPES` rows, and a writer adds only to the stripe it holds alone for its
transaction (PostgreSQL `pg_try_advisory_xact_lock` on a stripe drawn at random; SQLite has
one writer). Two concurrent transactions therefore never update one such row and never wait
for each other; readers sum the stripes. Used by `region_rollups`, `region_levels` and
`region_totals`.
"""

from __future__ import annotations

import random

import sqlalchemy as sa

#: More stripes than writers ever run at once, so a writer finds a free one at its first or
#: second draw; few enough that a reader sums at most this many rows per cell.
STRIPES = 32
_LOCKS = 0x7A6C  # the advisory-lock namespace (first key) of the stripes
_DRAWS = 8
_rng = random.Random()


def writer_stripe(conn: sa.Connection) -> int:
    """The stripe this connection's open transaction holds (drawn and locked on first use).

    If all draws are taken (more writers than stripes) the last one is shared: the rows'
    locks then order the two writers, correctly, only slower."""
    txn = conn.get_transaction()
    held = conn.info.get("tanpuhui_stripe")
    if held is not None and held[0] is txn:
        return int(held[1])
    stripe = 0
    if conn.dialect.name == "postgresql":
        for _ in range(_DRAWS):
            stripe = _rng.randrange(STRIPES)
            free = conn.exec_driver_sql(
                "SELECT pg_try_advisory_xact_lock(%(ns)s, %(k)s)", {"ns": _LOCKS, "k": stripe}
            ).scalar_one()
            if free:
                break
    conn.info["tanpuhui_stripe"] = (txn, stripe)
    return stripe
