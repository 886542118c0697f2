"""Storage of the market: offers and coupon pools, sales and their lots, lineage deltas, and
points programmes (domain/market.py, domain/programmes.py).

What the database guarantees here whatever code writes: an offer's remaining budget is never
negative (`ck_offers_budget_valid`, and `take_budget` only decrements under that bound); one
sale per (person, request id); a posted sale has its entry, a hold none; a coupon pays one
sale. Ledger movements go through `SqlLedger` (never here); this module keeps only the lineage
rollup beside them, and `lineage_violations` checks it against the balances (invariant 10).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, chunks, insert_rows
from tanpuhui.adapters.programme_files import programme_from_content
from tanpuhui.domain.checks import Violation
from tanpuhui.domain.ledger import LINEAGE_KINDS, is_holder, person_account
from tanpuhui.domain.market import Lot, Offer, OfferStatus, Sale, SaleStatus
from tanpuhui.domain.methodology import Confidence
from tanpuhui.domain.points import Redemption
from tanpuhui.domain.programmes import Programme
from tanpuhui.domain.shards import shard_of_account, shard_of_enterprise

#: Parsed programme versions by (code, version, content hash): versions are immutable.
_PARSED: dict[tuple[str, int, str], Programme] = {}
#: Offers as first read, by id (a sale reads its offer's terms from here, not the database).
_TERMS: dict[uuid.UUID, Offer] = {}
_json = msgspec.json.encode

_unjson = msgspec.json.decode


def offer_of(r: Any) -> Offer:
    return Offer(
        id=r.id,
        enterprise_id=r.enterprise_id,
        status=OfferStatus(r.status),
        budget_grams=r.budget_grams,
        min_grams=r.min_grams,
        max_per_person_grams=r.max_per_person_grams,
        groups=tuple(_unjson(r.groups)),
        regions=tuple(_unjson(r.regions)),
        vintages=tuple(_unjson(r.vintages)),
        min_quality=Confidence(r.min_quality) if r.min_quality else None,
        programme=r.programme,
        points_per_kg=r.points_per_kg,
        coupons=r.coupons,
        valid_from=r.valid_from,
        valid_until=r.valid_until,
        hold_minutes=r.hold_minutes,
        created_at=r.created_at,
    )


def sale_of(r: Any) -> Sale:
    return Sale(
        id=r.id,
        offer_id=r.offer_id,
        person_id=r.person_id,
        enterprise_id=r.enterprise_id,
        request_id=r.request_id,
        grams=r.grams,
        status=SaleStatus(r.status),
        points=r.points,
        programme=r.programme,
        coupon=r.coupon,
        entry_id=r.entry_id,
        created_at=r.created_at,
        expires_at=r.expires_at,
        settled_at=r.settled_at,
    )


#: A sale posted at once, on PostgreSQL: its row, its lots, its lineage deltas and its points
#: day totals in one round trip (`SqlMarket.add_posted_sale`).
_POSTED_SALE = """
WITH s AS (
    INSERT INTO sales (shard, id, offer_id, person_id, enterprise_id, request_id, grams, status,
                       points, programme, coupon, entry_id, created_at, expires_at, settled_at)
    VALUES (%(shard)s, %(id)s, %(offer)s, %(person)s, %(enterprise)s, %(request)s, %(grams)s,
            %(status)s, %(points)s, %(programme)s, %(coupon)s, %(entry)s, %(created)s,
            %(expires)s, %(settled)s)
    ON CONFLICT (shard, person_id, request_id) DO NOTHING
    RETURNING id
), lots AS (
    INSERT INTO sale_lots (shard, sale_id, reduction_id, asset, grams)
    SELECT %(shard)s, s.id, u.r, u.a, u.g
    FROM s, unnest(%(lr)s::uuid[], %(la)s::text[], %(lg)s::int8[]) AS u(r, a, g)
), deltas AS (
    INSERT INTO holding_deltas (shard, holder, reduction_id, asset, grams)
    SELECT u.k, u.h, u.r, u.a, u.g
    FROM s, unnest(%(dk)s::int2[], %(dh)s::text[], %(dr)s::uuid[], %(da)s::text[],
                   %(dg)s::int8[]) AS u(k, h, r, a, g)
    ON CONFLICT (shard, holder, reduction_id)
    DO UPDATE SET grams = holding_deltas.grams + EXCLUDED.grams
), days AS (
    INSERT INTO points_days (shard, holder, programme, day, points)
    SELECT u.k, u.h, u.p, u.d, u.n
    FROM s, unnest(%(pk)s::int2[], %(ph)s::text[], %(pp)s::text[], %(pd)s::date[],
                   %(pn)s::int8[]) AS u(k, h, p, d, n)
    ON CONFLICT (shard, holder, programme, day)
    DO UPDATE SET points = points_days.points + EXCLUDED.points
)
SELECT count(*) FROM s
"""


_UPSERTS: dict[tuple[str, tuple[str, ...]], str] = {}


def _unnest_upsert(
    dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...], key: tuple[str, ...]
) -> str:
    """`INSERT … SELECT FROM unnest(arrays) ON CONFLICT (key) DO UPDATE` adding the last
    column, for PostgreSQL (built once per table)."""
    found = _UPSERTS.get((table.name, columns))
    if found is None:
        arrays = ", ".join(
            f"%({c})s::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns
        )
        amount = columns[-1]
        found = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({', '.join(key)}) "
            f"DO UPDATE SET {amount} = {table.name}.{amount} + EXCLUDED.{amount}"
        )
        _UPSERTS[(table.name, columns)] = found
    return found


class SqlMarket:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- offers -----------------------------------------------------------------------------

    def add_offer(self, offer: Offer, coupons: Sequence[str]) -> None:
        self.conn.execute(
            t.offers.insert().values(
                id=offer.id,
                enterprise_id=offer.enterprise_id,
                status=offer.status.value,
                budget_grams=offer.budget_grams,
                remaining_grams=offer.budget_grams,
                min_grams=offer.min_grams,
                max_per_person_grams=offer.max_per_person_grams,
                groups=_json(list(offer.groups)).decode(),
                regions=_json(list(offer.regions)).decode(),
                vintages=_json(list(offer.vintages)).decode(),
                min_quality=offer.min_quality.value if offer.min_quality else None,
                programme=offer.programme,
                points_per_kg=offer.points_per_kg,
                coupons=offer.coupons,
                valid_from=offer.valid_from,
                valid_until=offer.valid_until,
                hold_minutes=offer.hold_minutes,
                created_at=offer.created_at,
            )
        )
        if coupons:
            insert_rows(
                self.conn,
                t.offer_coupons,
                ("offer_id", "line", "code"),
                [(offer.id, i, code) for i, code in enumerate(coupons, start=1)],
            )

    def find_offer(self, offer_id: uuid.UUID) -> Offer | None:
        r = self.conn.execute(sa.select(t.offers).where(t.offers.c.id == offer_id)).first()
        if r is None:
            return None
        offer = offer_of(r)
        _TERMS.setdefault(offer_id, offer)
        return offer

    def offer_terms(self, offer_id: uuid.UUID) -> Offer | None:
        """The offer as published, from this process's cache once read: every term but the
        status is immutable, so the status in it may be stale (`take_budget` checks it)."""
        found = _TERMS.get(offer_id)
        return found if found is not None else self.find_offer(offer_id)

    def offers(self, enterprise_id: uuid.UUID | None = None) -> list[tuple[Offer, int]]:
        """Offers (of one enterprise, or all) with their remaining budget, oldest first."""
        o = t.offers.c
        query = sa.select(t.offers).order_by(o.created_at, o.id)
        if enterprise_id is not None:
            query = query.where(o.enterprise_id == enterprise_id)
        return [(offer_of(r), r.remaining_grams) for r in self.conn.execute(query)]

    def remaining(self, offer_id: uuid.UUID) -> int:
        o = t.offers.c
        return int(self.conn.execute(sa.select(o.remaining_grams).where(o.id == offer_id)).one()[0])

    def set_offer_status(self, offer_id: uuid.UUID, status: OfferStatus) -> None:
        self.conn.execute(
            t.offers.update().where(t.offers.c.id == offer_id).values(status=status.value)
        )

    def take_budget(self, offer_id: uuid.UUID, grams: int) -> bool:
        """Take `grams` of the budget of an open offer if it still has them (the row lock
        decides races: a concurrent taker waits, then sees the decremented budget)."""
        done = self.conn.execute(_TAKE_BUDGET, {"offer": offer_id, "grams": grams}).rowcount
        return bool(done == 1)

    def give_budget(self, offer_id: uuid.UUID, grams: int) -> None:
        o = t.offers.c
        self.conn.execute(
            t.offers.update()
            .where(o.id == offer_id)
            .values(remaining_grams=o.remaining_grams + grams)
        )

    def take_coupon(self, offer_id: uuid.UUID, sale_id: uuid.UUID) -> str | None:
        """The next unused code of the pool, now paying `sale_id` (None when none is left)."""
        c = t.offer_coupons.c
        query = (
            sa.select(c.line, c.code)
            .where(c.offer_id == offer_id, c.sale_id.is_(None))
            .order_by(c.line)
            .limit(1)
        )
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = self.conn.execute(query).first()
        if row is None:
            return None
        self.conn.execute(
            t.offer_coupons.update()
            .where(c.offer_id == offer_id, c.line == row.line)
            .values(sale_id=sale_id)
        )
        return str(row.code)

    def return_coupon(self, offer_id: uuid.UUID, sale_id: uuid.UUID) -> None:
        """Put the code a hold reserved back in the pool (the hold was voided or expired)."""
        c = t.offer_coupons.c
        self.conn.execute(
            t.offer_coupons.update()
            .where(c.offer_id == offer_id, c.sale_id == sale_id)
            .values(sale_id=None)
        )

    def coupons_left(self, offer_id: uuid.UUID) -> int:
        c = t.offer_coupons.c
        return int(
            self.conn.execute(
                sa.select(sa.func.count()).where(c.offer_id == offer_id, c.sale_id.is_(None))
            ).scalar_one()
        )

    # --- sales ------------------------------------------------------------------------------

    def add_sale(self, sale: Sale, shard: int, lots: Sequence[Lot]) -> bool:
        """Store a sale and its lots; False (nothing stored) when the person's request id is
        taken already (the sale is a replay)."""
        insert = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        stored = self.conn.execute(
            insert(t.sales)
            .on_conflict_do_nothing(index_elements=["shard", "person_id", "request_id"])
            .returning(t.sales.c.id)
            .values(
                shard=shard,
                id=sale.id,
                offer_id=sale.offer_id,
                person_id=sale.person_id,
                enterprise_id=sale.enterprise_id,
                request_id=sale.request_id,
                grams=sale.grams,
                status=sale.status.value,
                points=sale.points,
                programme=sale.programme,
                coupon=sale.coupon,
                entry_id=sale.entry_id,
                created_at=sale.created_at,
                expires_at=sale.expires_at,
                settled_at=sale.settled_at,
            )
        ).first()
        if stored is None:
            return False
        self.conn.execute(  # a few rows: one executemany, no COPY set-up
            t.sale_lots.insert(),
            [
                {
                    "shard": shard,
                    "sale_id": sale.id,
                    "reduction_id": lot.reduction_id,
                    "asset": lot.asset,
                    "grams": lot.grams,
                }
                for lot in lots
            ],
        )
        return True

    def add_posted_sale(
        self,
        sale: Sale,
        shard: int,
        lots: Sequence[Lot],
        lineage: Mapping[tuple[str, uuid.UUID, str], int],
        points: Mapping[tuple[str, str, date], int],
    ) -> bool:
        """`add_sale`, `apply_lineage` and `add_points_earned` of a sale posted at once; on
        PostgreSQL one statement (data-modifying CTEs: the lots, lineage and points rows are
        written only if the sale row was, i.e. unless the request id is taken)."""
        if self.conn.dialect.name != "postgresql":
            if not self.add_sale(sale, shard, lots):
                return False
            self.apply_lineage(lineage)
            self.add_points_earned(points)
            return True
        row = self.conn.exec_driver_sql(
            _POSTED_SALE,
            {
                "shard": shard, "id": sale.id, "offer": sale.offer_id, "person": sale.person_id,
                "enterprise": sale.enterprise_id, "request": sale.request_id,
                "grams": sale.grams, "status": sale.status.value, "points": sale.points,
                "programme": sale.programme, "coupon": sale.coupon, "entry": sale.entry_id,
                "created": sale.created_at, "expires": sale.expires_at,
                "settled": sale.settled_at,
                "lr": [x.reduction_id for x in lots], "la": [x.asset for x in lots],
                "lg": [x.grams for x in lots],
                **_lineage_arrays(lineage, points),
            },
        ).first()  # fmt: skip
        return bool(row is not None and row[0])

    def add_posted_sales(
        self,
        sales: Sequence[tuple[Sale, int, Sequence[Lot]]],
        lineage: Mapping[tuple[str, uuid.UUID, str], int],
        points: Mapping[tuple[str, str, date], int],
    ) -> bool:
        """`add_posted_sale` of a group of sales (each with its shard and lots; the group's
        lineage and points summed): on PostgreSQL one statement. False when a request id is
        taken already (the caller rolls back: what the statement wrote is part of it)."""
        if self.conn.dialect.name != "postgresql":
            if not all(self.add_sale(sale, shard, lots) for sale, shard, lots in sales):
                return False
            self.apply_lineage(lineage)
            self.add_points_earned(points)
            return True
        lots = [(shard, sale.id, x) for sale, shard, taken in sales for x in taken]
        params: dict[str, Any] = {
            f"s_{c}": [getattr(sale, c) if c != "shard" else shard for sale, shard, _ in sales]
            for c in _SALE_COLUMNS
        }
        params["s_status"] = [sale.status.value for sale, _, _ in sales]
        params.update(
            {
                "lk": [x[0] for x in lots], "ls": [x[1] for x in lots],
                "lr": [x[2].reduction_id for x in lots], "la": [x[2].asset for x in lots],
                "lg": [x[2].grams for x in lots],
                **_lineage_arrays(lineage, points),
            }
        )  # fmt: skip
        stored = self.conn.exec_driver_sql(_posted_sales(self.conn.dialect), params).scalar_one()
        return bool(stored == len(sales))

    def settle_sale(self, sale: Sale, shard: int) -> bool:
        """Store a hold's move out of `held`; False when a concurrent writer moved it first."""
        s = t.sales.c
        done = self.conn.execute(
            t.sales.update()
            .where(s.shard == shard, s.id == sale.id, s.status == SaleStatus.HELD.value)
            .values(status=sale.status.value, entry_id=sale.entry_id, settled_at=sale.settled_at)
        ).rowcount
        return bool(done == 1)

    def find_sale(self, sale_id: uuid.UUID) -> tuple[Sale, int] | None:
        r = self.conn.execute(sa.select(t.sales).where(t.sales.c.id == sale_id)).first()
        return (sale_of(r), r.shard) if r else None

    def find_by_request(self, shard: int, person_id: uuid.UUID, request_id: str) -> Sale | None:
        s = t.sales.c
        r = self.conn.execute(
            sa.select(t.sales).where(
                s.shard == shard, s.person_id == person_id, s.request_id == request_id
            )
        ).first()
        return sale_of(r) if r else None

    def sold_by(self, shard: int, person_id: uuid.UUID, offer_id: uuid.UUID, now: datetime) -> int:
        """The grams a person has sold (or holds unexpired) to an offer."""
        s = t.sales.c
        live = sa.or_(
            s.status.in_([SaleStatus.COMPLETED.value, SaleStatus.CONFIRMED.value]),
            sa.and_(s.status == SaleStatus.HELD.value, s.expires_at > now),
        )
        total = self.conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(s.grams), 0)).where(
                s.shard == shard, s.person_id == person_id, s.offer_id == offer_id, live
            )
        ).scalar_one()
        return int(total)

    def stored_requests(
        self, keys: Sequence[tuple[int, uuid.UUID, str]]
    ) -> set[tuple[uuid.UUID, str]]:
        """Which of these (shard, person, request id) have a sale already."""
        s = t.sales.c
        found: set[tuple[uuid.UUID, str]] = set()
        for part in chunks(list(keys), 300):
            found.update(
                (r[0], r[1])
                for r in self.conn.execute(
                    sa.select(s.person_id, s.request_id).where(
                        sa.tuple_(s.shard, s.person_id, s.request_id).in_(part)
                    )
                )
            )
        return found

    def sold_by_many(
        self, keys: Sequence[tuple[int, uuid.UUID, uuid.UUID]], now: datetime
    ) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
        """`sold_by` of several (shard, person, offer), by (person, offer); 0 is left out."""
        s = t.sales.c
        live = sa.or_(
            s.status.in_([SaleStatus.COMPLETED.value, SaleStatus.CONFIRMED.value]),
            sa.and_(s.status == SaleStatus.HELD.value, s.expires_at > now),
        )
        sold: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
        for part in chunks(list(keys), 300):
            for r in self.conn.execute(
                sa.select(s.person_id, s.offer_id, sa.func.sum(s.grams))
                .where(sa.tuple_(s.shard, s.person_id, s.offer_id).in_(part), live)
                .group_by(s.person_id, s.offer_id)
            ):
                sold[(r[0], r[1])] = int(r[2])
        return sold

    def sales(
        self,
        *,
        person: tuple[int, uuid.UUID] | None = None,
        offer_ids: Sequence[uuid.UUID] | None = None,
        limit: int = 100,
    ) -> list[Sale]:
        """A person's sales (shard, id) or the sales to some offers, newest first."""
        s = t.sales.c
        query = sa.select(t.sales).order_by(s.created_at.desc(), s.id).limit(limit)
        if person is not None:
            query = query.where(s.shard == person[0], s.person_id == person[1])
        if offer_ids is not None:
            query = query.where(s.offer_id.in_(list(offer_ids)))
        return [sale_of(r) for r in self.conn.execute(query)]

    def due_holds(self, now: datetime, offer_id: uuid.UUID | None = None) -> list[tuple[Sale, int]]:
        s = t.sales.c
        query = sa.select(t.sales).where(s.status == SaleStatus.HELD.value, s.expires_at <= now)
        if offer_id is not None:
            query = query.where(s.offer_id == offer_id)
        return [(sale_of(r), r.shard) for r in self.conn.execute(query.order_by(s.expires_at))]

    def expired_unswept(self, offer_id: uuid.UUID, now: datetime) -> tuple[int, int]:
        """(grams, count) of the offer's holds past their expiry not yet swept: their budget
        (and, for a coupon offer, their codes) are free already."""
        s = t.sales.c
        grams, count = self.conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(s.grams), 0), sa.func.count()).where(
                s.offer_id == offer_id, s.status == SaleStatus.HELD.value, s.expires_at <= now
            )
        ).one()
        return int(grams), int(count)

    def sale_lots(self, shard: int, sale_id: uuid.UUID) -> list[Lot]:
        sl, e = t.sale_lots.c, t.events.c
        rows = self.conn.execute(
            sa.select(sl.reduction_id, sl.asset, sl.grams, e.started_at, e.quality)
            .select_from(t.sale_lots.join(t.events, e.id == sl.reduction_id))
            .where(sl.shard == shard, sl.sale_id == sale_id)
            .order_by(e.started_at, sl.reduction_id)
        )
        return [Lot(r.reduction_id, r.asset, r.grams, r.started_at, r.quality) for r in rows]

    def reserved(self, shard: int, person_id: uuid.UUID, now: datetime) -> list[Lot]:
        """The lots a person's unexpired holds reserve."""
        sl, s = t.sale_lots.c, t.sales.c
        rows = self.conn.execute(
            sa.select(sl.reduction_id, sl.asset, sl.grams, s.created_at)
            .select_from(
                t.sale_lots.join(t.sales, sa.and_(s.shard == sl.shard, s.id == sl.sale_id))
            )
            .where(
                s.shard == shard,
                s.person_id == person_id,
                s.status == SaleStatus.HELD.value,
                s.expires_at > now,
            )
        )
        return [Lot(r.reduction_id, r.asset, r.grams, r.created_at, None) for r in rows]

    # --- lineage ----------------------------------------------------------------------------

    def holders_of(
        self, reduction_ids: Sequence[uuid.UUID], now: datetime
    ) -> tuple[dict[uuid.UUID, dict[str, int]], dict[tuple[str, uuid.UUID], int]]:
        """For re-quantification: the lineage deltas of these reductions by holder, and what
        open (unexpired) holds reserve of them by (holder, reduction)."""
        d, sl, s = t.holding_deltas.c, t.sale_lots.c, t.sales.c
        deltas: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
        reserved: dict[tuple[str, uuid.UUID], int] = defaultdict(int)
        for part in chunks(list(reduction_ids), 1000):
            for r in self.conn.execute(
                sa.select(d.reduction_id, d.holder, d.grams).where(d.reduction_id.in_(part))
            ):
                deltas[r.reduction_id][r.holder] = int(r.grams)
            for r in self.conn.execute(
                sa.select(s.person_id, sl.reduction_id, sl.grams)
                .select_from(
                    t.sales.join(t.sale_lots, sa.and_(sl.shard == s.shard, sl.sale_id == s.id))
                )
                .where(
                    s.status == SaleStatus.HELD.value, s.expires_at > now, sl.reduction_id.in_(part)
                )
            ):
                reserved[(person_account(r.person_id), r.reduction_id)] += int(r.grams)
        return dict(deltas), dict(reserved)

    def lots_of(self, holder: str) -> list[Lot]:
        """What `holder` owns, reduction by reduction (its lineage; lots of 0 g included)."""
        params = {"holder": holder, "shard": shard_of_account(holder)}
        return self._dated([tuple(r) for r in self.conn.execute(_LOTS, params)])

    def _dated(self, rows: Sequence[tuple[Any, ...]]) -> list[Lot]:
        """Lots from their rows; a gained lot's start and quality (NULL in its row: its
        reduction is in another holder's shard) read by reduction id, one query for all."""
        gained = [r[0] for r in rows if r[3] is None]
        known: dict[uuid.UUID, tuple[datetime, str | None]] = {}
        e = t.events.c
        for part in chunks(gained, 5000):
            query = sa.select(e.id, e.started_at, e.quality).where(any_of(self.conn, e.id, part))
            known.update((r[0], (r[1], r[2])) for r in self.conn.execute(query))
        return [
            Lot(r[0], r[1], int(r[2]), *(known[r[0]] if r[3] is None else (r[3], r[4])))
            for r in rows
        ]

    def available_lots(
        self, holder: str, shard: int, person_id: uuid.UUID, now: datetime
    ) -> tuple[list[Lot], list[Lot]]:
        """`lots_of(holder)` and `reserved(shard, person_id, now)` in one round trip."""
        params = {
            "holder": holder, "shard": shard_of_account(holder), "seller_shard": shard,
            "person": person_id, "now": now,
        }  # fmt: skip
        owned: list[tuple[Any, ...]] = []
        reserved: list[Lot] = []
        for r in self.conn.execute(_AVAILABLE_LOTS, params):
            if r[5]:
                reserved.append(Lot(r[0], r[1], int(r[2]), r[3], r[4]))
            else:
                owned.append(tuple(r))
        return self._dated(owned), reserved

    def available_lots_many(
        self, sellers: Sequence[tuple[str, int, uuid.UUID]], now: datetime
    ) -> dict[str, tuple[list[Lot], list[Lot]]]:
        """`available_lots` of several (holder, person's shard, person), by holder; on
        PostgreSQL one statement (a join on the sellers' (shard, holder) pairs, so each probes
        only its own shard)."""
        if self.conn.dialect.name != "postgresql":
            return {h: self.available_lots(h, k, p, now) for h, k, p in sellers}
        params = {
            "h": [h for h, _, _ in sellers], "k": [shard_of_account(h) for h, _, _ in sellers],
            "ks": [k for _, k, _ in sellers], "p": [p for _, _, p in sellers], "now": now,
        }  # fmt: skip
        owned: dict[str, list[tuple[Any, ...]]] = {h: [] for h, _, _ in sellers}
        reserved: dict[str, list[Lot]] = {h: [] for h, _, _ in sellers}
        for r in self.conn.exec_driver_sql(_AVAILABLE_LOTS_MANY, params):
            if r[5]:
                reserved[r[6]].append(Lot(r[0], r[1], int(r[2]), r[3], r[4]))
            else:
                owned[r[6]].append(tuple(r[:5]))
        dated = self._dated([row for rows in owned.values() for row in rows])
        out: dict[str, tuple[list[Lot], list[Lot]]] = {}
        at = 0
        for holder, rows in owned.items():
            out[holder] = (dated[at : at + len(rows)], reserved[holder])
            at += len(rows)
        return out

    def take_budgets(self, totals: Mapping[uuid.UUID, int]) -> dict[uuid.UUID, int]:
        """`take_budget` of several offers (in id order, so two groups never deadlock): what
        each offer whose budget (and open status) allowed its total has left; the row stays
        locked to the end of the transaction (a total of 0 takes nothing and proves the offer
        open and its budget exact)."""
        left: dict[uuid.UUID, int] = {}
        for offer_id, grams in sorted(totals.items()):
            row = self.conn.execute(_TAKE_BUDGET_LEFT, {"offer": offer_id, "grams": grams}).first()
            if row is not None:
                left[offer_id] = int(row[0])
        return left

    def apply_lineage(self, deltas: Mapping[tuple[str, uuid.UUID, str], int]) -> None:
        """Add a movement's lineage changes ((holder, reduction, asset) → grams): one upsert
        (the holders' locks keep two movements of one holder apart)."""
        values = [
            {
                "shard": shard_of_account(holder),
                "holder": holder,
                "reduction_id": reduction_id,
                "asset": asset,
                "grams": grams,
            }
            for (holder, reduction_id, asset), grams in sorted(deltas.items(), key=str)
            if is_holder(holder)
        ]
        if values:
            self._upsert_adding(t.holding_deltas, values, ("shard", "holder", "reduction_id"))

    def _upsert_adding(
        self, table: sa.Table, values: list[dict[str, Any]], key: tuple[str, ...]
    ) -> None:
        """Insert rows; where the key exists, add the new row's last column to the stored one.
        On PostgreSQL one statement over arrays, whatever the number of rows (a batch's points
        days are one row per person); on SQLite one cached statement, executemany."""
        amount = list(values[0])[-1]
        if self.conn.dialect.name == "postgresql":
            sql = _unnest_upsert(self.conn.dialect, table, tuple(values[0]), key)
            self.conn.exec_driver_sql(sql, {c: [v[c] for v in values] for c in values[0]})
            return
        insert = sqlite_insert
        statement = insert(table)
        upsert = statement.on_conflict_do_update(
            index_elements=list(key), set_={amount: table.c[amount] + statement.excluded[amount]}
        )
        self.conn.execute(upsert, values)  # one cached statement, executemany

    def lineage_violations(self) -> Iterator[Violation]:
        """Invariant 10: each holder's lots sum to its balance per class; no lot is negative;
        the lineage rollup agrees with the sale entries' lines."""
        yield from self._lots_negative()
        yield from self._lineage_against_balances()
        yield from self._rollup_against_postings()

    def _shortfalls(self) -> dict[tuple[str, str], int]:
        """Grams a correction took from a buffer account because the reduction's holder had
        sold them (domain/requantify.py): the reduction backs fewer grams than its holder's
        lineage had, and the buffer carries the difference, so they count back to it."""
        p, e = t.postings.c, t.events.c
        found: dict[tuple[str, str], int] = defaultdict(int)
        for r in self.conn.execute(
            sa.select(e.holder, p.asset, sa.func.sum(p.amount))
            .select_from(t.postings.join(t.events, e.id == p.reduction_id))
            .where(p.account.like("buffer:%"), e.holder.is_not(None))
            .group_by(e.holder, p.asset)
        ):
            found[(r[0], r[1])] -= int(r[2])
        return dict(found)

    def _lots_negative(self) -> Iterator[Violation]:
        e, d, p = t.events.c, t.holding_deltas.c, t.postings.c
        buffered = (
            sa.select(p.reduction_id, (-sa.func.sum(p.amount)).label("grams"))
            .where(p.account.like("buffer:%"), p.reduction_id.is_not(None))
            .group_by(p.reduction_id)
            .subquery()
        )
        own = sa.case((sa.and_(e.holder == d.holder, e.state == "active"), e.live_grams), else_=0)
        rows = self.conn.execute(
            sa.select(d.holder, d.reduction_id, (own + d.grams).label("lot"))
            .select_from(
                t.holding_deltas.join(t.events, e.id == d.reduction_id).outerjoin(
                    buffered, buffered.c.reduction_id == d.reduction_id
                )
            )
            # a re-quantified reduction whose holder had sold some of it: requantify takes what
            # the holder still has from the class, not from this lot, so only its sum (below)
            # is checked
            .where(own + d.grams < 0, buffered.c.grams.is_(None))
        )
        for r in rows:
            yield Violation(
                10, "lot_negative", f"{r.holder}/{r.reduction_id}", f"holds {r.lot} g of it"
            )

    def _lineage_against_balances(self) -> Iterator[Violation]:
        e, d, b = t.events.c, t.holding_deltas.c, t.balances.c
        lineage: dict[tuple[str, str], int] = defaultdict(int)
        for r in self.conn.execute(
            sa.select(e.holder, e.asset, sa.func.sum(e.live_grams))
            .where(e.state == "active", e.holder.is_not(None))
            .group_by(e.holder, e.asset)
        ):
            lineage[(r[0], r[1])] += int(r[2])
        for r in self.conn.execute(
            sa.select(d.holder, d.asset, sa.func.sum(d.grams)).group_by(d.holder, d.asset)
        ):
            lineage[(r[0], r[1])] += int(r[2])
        for (holder, asset), grams in self._shortfalls().items():
            lineage[(holder, asset)] += grams
        balances = {
            (r.account, r.asset): int(r.amount)
            for r in self.conn.execute(
                sa.select(b.account, b.asset, b.amount).where(b.asset.like("co2e:%"))
            )
            if is_holder(r.account)
        }
        for key in sorted(set(lineage) | set(balances)):
            traced, held = lineage.get(key, 0), balances.get(key, 0)
            if traced != held:
                yield Violation(
                    10,
                    "lineage_mismatch",
                    f"{key[0]}/{key[1]}",
                    f"holds {held} g but its lineage adds up to {traced} g",
                )

    def _rollup_against_postings(self) -> Iterator[Violation]:
        p, le, d = t.postings.c, t.ledger_entries.c, t.holding_deltas.c
        posted: dict[tuple[str, uuid.UUID], int] = defaultdict(int)
        for r in self.conn.execute(
            sa.select(p.account, p.reduction_id, sa.func.sum(p.amount))
            .select_from(t.postings.join(t.ledger_entries, le.id == p.entry_id))
            .where(le.kind.in_(sorted(LINEAGE_KINDS)), p.reduction_id.is_not(None))
            .group_by(p.account, p.reduction_id)
        ):
            if is_holder(r[0]):  # retired and exported grams: their blocks' lineage instead
                posted[(r[0], r[1])] += int(r[2])
        e = t.events.c
        # lineage-aware corrections (market.correction_lineage): a line on a holder of the
        # reduction other than its event holder, i.e. one with a delta of it (a buyer; the
        # event holder a binding later replaced, a pending subject, never has one)
        bought = sa.and_(d.holder == p.account, d.reduction_id == p.reduction_id)
        for c in self.conn.execute(
            sa.select(p.account, p.reduction_id, e.holder, sa.func.sum(p.amount))
            .select_from(
                t.postings.join(t.ledger_entries, le.id == p.entry_id)
                .join(t.events, e.id == p.reduction_id)
                .join(t.holding_deltas, bought)
            )
            .where(le.kind == "correction", p.account != e.holder)
            .group_by(p.account, p.reduction_id, e.holder)
        ):
            if is_holder(c[0]):
                posted[(c[0], c[1])] += int(c[3])
                posted[(c[2], c[1])] -= int(c[3])
        stored = {
            (r.holder, r.reduction_id): int(r.grams)
            for r in self.conn.execute(sa.select(d.holder, d.reduction_id, d.grams))
        }
        for key in sorted(set(posted) | set(stored), key=str):
            if posted.get(key, 0) != stored.get(key, 0):
                yield Violation(
                    10,
                    "lineage_rollup_mismatch",
                    f"{key[0]}/{key[1]}",
                    f"movement and correction lines move {posted.get(key, 0)} g, "
                    f"the lineage says {stored.get(key, 0)}",
                )

    # --- programmes -------------------------------------------------------------------------

    def add_programme(self, programme: Programme, content: str, now: datetime) -> None:
        self.conn.execute(
            t.programmes.insert().values(
                code=programme.code,
                version=programme.version,
                name=programme.name,
                region=programme.region,
                content_hash=programme.content_hash,
                content=content,
                published_at=now,
            )
        )

    def programme_versions(self, code: str | None = None) -> list[Programme]:
        p = t.programmes.c
        query = sa.select(p.content).order_by(p.code, p.version)
        if code is not None:
            query = query.where(p.code == code)
        return [programme_from_content(r.content) for r in self.conn.execute(query)]

    def active_programmes(self) -> list[Programme]:
        """The newest version of every programme (intake reads this per batch: a version is
        parsed once per process, then only its key and hash are read)."""
        p = t.programmes.c
        newest: dict[str, Any] = {}
        for r in self.conn.execute(
            sa.select(p.code, p.version, p.content_hash).order_by(p.code, p.version)
        ):
            newest[r.code] = r
        found = []
        for r in newest.values():
            key = (r.code, r.version, r.content_hash)
            if key not in _PARSED:
                content = self.conn.execute(
                    sa.select(p.content).where(p.code == r.code, p.version == r.version)
                ).scalar_one()
                _PARSED[key] = programme_from_content(content)
            found.append(_PARSED[key])
        return found

    # --- points -----------------------------------------------------------------------------

    def points_earned(
        self, keys: Sequence[tuple[str, str, date]]
    ) -> dict[tuple[str, str, date], int]:
        """What each (holder, programme, day) has earned so far (the daily caps' state)."""
        if not keys:
            return {}
        d = t.points_days.c
        found: dict[tuple[str, str, date], int] = {}
        wanted = set(keys)
        holders = sorted({k[0] for k in keys})
        for r in self.conn.execute(
            sa.select(d.holder, d.programme, d.day, d.points).where(
                any_of(self.conn, d.holder, holders), d.day.in_(sorted({k[2] for k in keys}))
            )
        ):
            if (r.holder, r.programme, r.day) in wanted:
                found[(r.holder, r.programme, r.day)] = int(r.points)
        return found

    def add_points_earned(self, totals: Mapping[tuple[str, str, date], int]) -> None:
        values = [
            {
                "shard": shard_of_account(holder),
                "holder": holder,
                "programme": programme,
                "day": day,
                "points": points,
            }
            for (holder, programme, day), points in sorted(totals.items())
        ]
        if values:
            self._upsert_adding(t.points_days, values, ("shard", "holder", "programme", "day"))

    def points_history(self, holder: str, programme: str, cutoff: date) -> tuple[int, int]:
        """(points earned before `cutoff`, points earned in all) by a holder in a programme."""
        d = t.points_days.c
        row = self.conn.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(sa.case((d.day < cutoff, d.points), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(d.points), 0),
            ).where(
                d.shard == shard_of_account(holder), d.holder == holder, d.programme == programme
            )
        ).one()
        return int(row[0]), int(row[1])

    def points_holders(self, programme: str, cutoff: date) -> list[str]:
        """Holders with points of `programme` earned before `cutoff` (expiry candidates)."""
        d = t.points_days.c
        return [
            r[0]
            for r in self.conn.execute(
                sa.select(d.holder)
                .where(d.programme == programme, d.day < cutoff)
                .group_by(d.holder)
                .order_by(d.holder)
            )
        ]

    def find_redemption(self, merchant_id: uuid.UUID, request_id: str) -> Redemption | None:
        r = t.redemptions.c
        row = self.conn.execute(
            sa.select(t.redemptions).where(
                r.shard == shard_of_enterprise(merchant_id),
                r.merchant_id == merchant_id,
                r.request_id == request_id,
            )
        ).first()
        if row is None:
            return None
        return Redemption(
            row.id,
            row.merchant_id,
            row.request_id,
            row.person_id,
            row.programme,
            row.points,
            row.entry_id,
            row.created_at,
        )

    def add_redemption(self, redemption: Redemption) -> None:
        self.conn.execute(
            t.redemptions.insert().values(
                shard=shard_of_enterprise(redemption.merchant_id),
                id=redemption.id,
                merchant_id=redemption.merchant_id,
                request_id=redemption.request_id,
                person_id=redemption.person_id,
                programme=redemption.programme,
                points=redemption.points,
                entry_id=redemption.entry_id,
                created_at=redemption.created_at,
            )
        )


# --- statements of the sale, built once (a sale runs each once; building and keying them per
# call was ~1 ms of the sale's Python, docs/performance.md "The market today") -------------


def _lot_statements(*extra: Any) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """A holder's own reductions (less what moved away) and the reductions it gained, with
    bind parameters `holder` and `shard` (the holder's)."""
    e, d = t.events.c, t.holding_deltas.c
    holder, shard = sa.bindparam("holder", type_=sa.Text), sa.bindparam("shard", type_=sa.Integer)
    delta = sa.and_(d.shard == shard, d.holder == holder, d.reduction_id == e.id)
    own = (
        sa.select(
            e.id,
            e.asset,
            (e.live_grams + sa.func.coalesce(d.grams, 0)).label("grams"),
            e.started_at,
            e.quality,
            *extra,
        )
        .select_from(t.events.outerjoin(t.holding_deltas, delta))
        # the literal lets both engines use the partial index of active claims by holder; the
        # holder's reductions are in its shard (events are keyed by holder, migration 0023)
        .where(e.shard == shard, e.holder == holder, sa.text("events.state = 'active'"))
    )
    # what it gained: its deltas of reductions that are not its own active ones — an anti-join
    # inside the holder's shard (its own are there); the reductions themselves are elsewhere,
    # so their start and quality are read by id afterwards (`_dated`), not joined
    mine = sa.and_(
        e.shard == d.shard,
        e.id == d.reduction_id,
        e.holder == holder,
        sa.text("events.state = 'active'"),
    )
    gained = (
        sa.select(
            d.reduction_id,
            d.asset,
            d.grams,
            sa.cast(sa.null(), t.events.c.started_at.type).label("started_at"),
            sa.cast(sa.null(), sa.Text).label("quality"),
            *extra,
        )
        .select_from(t.holding_deltas.outerjoin(t.events, mine))
        .where(d.shard == shard, d.holder == holder, e.id.is_(None))
    )
    return own, gained


def _available_lots() -> sa.CompoundSelect[Any]:
    """The holder's lots (tag 0) and what its unexpired holds reserve (tag 1); parameters
    `holder`, `shard`, `seller_shard` (the person's), `person`, `now`."""
    sl, s = t.sale_lots.c, t.sales.c
    held = (
        sa.select(
            sl.reduction_id, sl.asset, sl.grams, s.created_at,
            sa.cast(sa.null(), sa.Text).label("quality"), sa.literal(1).label("tag"),
        )
        .select_from(t.sale_lots.join(t.sales, sa.and_(s.shard == sl.shard, s.id == sl.sale_id)))
        .where(
            s.shard == sa.bindparam("seller_shard", type_=sa.Integer),
            s.person_id == sa.bindparam("person", type_=sa.Uuid),
            s.status == SaleStatus.HELD.value,
            s.expires_at > sa.bindparam("now", type_=s.expires_at.type),
        )
    )  # fmt: skip
    own, gained = _lot_statements(sa.literal(0).label("tag"))
    return sa.union_all(own, gained, held)


_LOTS = sa.union_all(*_lot_statements())
_AVAILABLE_LOTS = _available_lots()
_TAKE_BUDGET = (
    t.offers.update()
    .where(
        t.offers.c.id == sa.bindparam("offer", type_=sa.Uuid),
        t.offers.c.remaining_grams >= sa.bindparam("grams", type_=sa.BigInteger),
        t.offers.c.status == OfferStatus.OPEN.value,
    )
    .values(remaining_grams=t.offers.c.remaining_grams - sa.bindparam("grams"))
)
_TAKE_BUDGET_LEFT = _TAKE_BUDGET.returning(t.offers.c.remaining_grams)

_SALE_COLUMNS = tuple(c.name for c in t.sales.columns)


def _lineage_arrays(
    lineage: Mapping[tuple[str, uuid.UUID, str], int], points: Mapping[tuple[str, str, date], int]
) -> dict[str, list[Any]]:
    """A posting's lineage deltas (holders only, 0 g left out) and points day totals as the
    arrays `dk … dg` and `pk … pn` of the posted-sale statements."""
    deltas = [
        (shard_of_account(h), h, r, a, g)
        for (h, r, a), g in sorted(lineage.items(), key=str)
        if is_holder(h) and g != 0
    ]
    days = [(shard_of_account(h), h, p, d, n) for (h, p, d), n in sorted(points.items())]
    return {
        "dk": [x[0] for x in deltas], "dh": [x[1] for x in deltas], "dr": [x[2] for x in deltas],
        "da": [x[3] for x in deltas], "dg": [x[4] for x in deltas],
        "pk": [x[0] for x in days], "ph": [x[1] for x in days], "pp": [x[2] for x in days],
        "pd": [x[3] for x in days], "pn": [x[4] for x in days],
    }  # fmt: skip


#: A group's lots, by seller (a seller's (shard, holder) pair is joined, so each probes only
#: its own shard and partition): own reductions less what moved away, what it gained (its start
#: and quality read by id afterwards), and what its unexpired holds reserve (tag 1).
_AVAILABLE_LOTS_MANY = """
WITH u AS (
    SELECT * FROM unnest(%(h)s::text[], %(k)s::int2[], %(ks)s::int2[], %(p)s::uuid[])
        AS u(h, k, ks, p)
)
SELECT e.id, e.asset, e.live_grams + coalesce(d.grams, 0), e.started_at, e.quality, 0, u.h
FROM u JOIN events e ON e.shard = u.k AND e.holder = u.h AND e.state = 'active'
LEFT JOIN holding_deltas d ON d.shard = u.k AND d.holder = u.h AND d.reduction_id = e.id
UNION ALL
SELECT d.reduction_id, d.asset, d.grams, NULL::timestamptz, NULL::text, 0, u.h
FROM u JOIN holding_deltas d ON d.shard = u.k AND d.holder = u.h
WHERE NOT EXISTS (
    SELECT 1 FROM events m WHERE m.shard = d.shard AND m.id = d.reduction_id
    AND m.holder = d.holder AND m.state = 'active'
)
UNION ALL
SELECT sl.reduction_id, sl.asset, sl.grams, s.created_at, NULL::text, 1, u.h
FROM u JOIN sales s ON s.shard = u.ks AND s.person_id = u.p
JOIN sale_lots sl ON sl.shard = s.shard AND sl.sale_id = s.id
WHERE s.status = 'held' AND s.expires_at > %(now)s
"""

_POSTED_SALES: dict[str, str] = {}


def _posted_sales(dialect: sa.Dialect) -> str:
    """A group of posted sales on PostgreSQL: their rows, lots, lineage deltas and points day
    totals in one statement (lots only of the sales stored; the count says how many were)."""
    found = _POSTED_SALES.get("sql")
    if found is None:
        arrays = ", ".join(
            f"%(s_{c.name})s::{c.type.compile(dialect=dialect)}[]" for c in t.sales.columns
        )
        found = f"""
WITH s AS (
    INSERT INTO sales ({", ".join(_SALE_COLUMNS)}) SELECT * FROM unnest({arrays})
    ON CONFLICT (shard, person_id, request_id) DO NOTHING
    RETURNING shard, id
), lots AS (
    INSERT INTO sale_lots (shard, sale_id, reduction_id, asset, grams)
    SELECT u.k, u.s, u.r, u.a, u.g
    FROM unnest(%(lk)s::int2[], %(ls)s::uuid[], %(lr)s::uuid[], %(la)s::text[],
                %(lg)s::int8[]) AS u(k, s, r, a, g)
    JOIN s ON s.shard = u.k AND s.id = u.s
), deltas AS (
    INSERT INTO holding_deltas (shard, holder, reduction_id, asset, grams)
    SELECT * FROM unnest(%(dk)s::int2[], %(dh)s::text[], %(dr)s::uuid[], %(da)s::text[],
                         %(dg)s::int8[])
    ON CONFLICT (shard, holder, reduction_id)
    DO UPDATE SET grams = holding_deltas.grams + EXCLUDED.grams
), days AS (
    INSERT INTO points_days (shard, holder, programme, day, points)
    SELECT * FROM unnest(%(pk)s::int2[], %(ph)s::text[], %(pp)s::text[], %(pd)s::date[],
                         %(pn)s::int8[])
    ON CONFLICT (shard, holder, programme, day)
    DO UPDATE SET points = points_days.points + EXCLUDED.points
)
SELECT count(*) FROM s
"""
        _POSTED_SALES["sql"] = found
    return found
