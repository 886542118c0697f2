"""Write stripes (adapters/db/stripes.py): no two open transactions hold the same stripe, so
two batches never update one rollup row; a transaction keeps its stripe to its end."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tanpuhui.adapters.db.stripes import STRIPES, writer_stripe
from tanpuhui.bootstrap import App


def test_open_transactions_never_share_a_stripe(app: App) -> None:
    if app.engine.dialect.name == "sqlite":
        with app.engine.begin() as conn:  # one writer at a time: one stripe is enough
            assert writer_stripe(conn) == writer_stripe(conn) == 0
        return
    engine = sa.create_engine(
        app.engine.url.render_as_string(hide_password=False), poolclass=NullPool
    )
    conns = [engine.connect() for _ in range(STRIPES + 4)]
    try:
        for conn in conns:
            conn.begin()
        held = [writer_stripe(conn) for conn in conns[: STRIPES // 2]]
        assert len(set(held)) == len(held)  # 16 writers, 16 stripes
        assert [writer_stripe(c) for c in conns[: STRIPES // 2]] == held  # kept to the end
        conns[0].rollback()
        conns[0].begin()  # a new transaction draws again, and still shares with nobody
        assert writer_stripe(conns[0]) not in held[1:]
        # more writers than stripes: the last ones share a stripe and still get one
        rest = [writer_stripe(conn) for conn in conns[STRIPES // 2 :]]
        assert all(0 <= s < STRIPES for s in rest)
    finally:
        for conn in conns:
            conn.close()
        engine.dispose()
