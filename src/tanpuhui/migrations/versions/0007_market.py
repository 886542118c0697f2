"""The market (issue 11): points programmes, points earned per day and redemptions, offers with their coupon pools, sales and holds
with the blocks (lots) behind them, and the lineage deltas of holders (domain/market.py).

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0007"
down_revision = "0009"
branch_labels = None
depends_on = None

OFFER_STATUSES = ("open", "paused", "closed")
SALE_STATUSES = ("completed", "held", "confirmed", "voided", "expired")


def upgrade() -> None:
    op.create_table(
        "programmes",
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("code", "version", name=op.f("pk_programmes")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_programmes_version_positive")),
    )
    _offers()
    _sales()
    op.create_table(
        "holding_deltas",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("reduction_id", sa.Uuid, nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("grams", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("shard", "holder", "reduction_id", name=op.f("pk_holding_deltas")),
    )
    _points()


def _points() -> None:
    op.create_table(
        "points_days",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("programme", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("shard", "holder", "programme", "day", name=op.f("pk_points_days")),
        sa.CheckConstraint("points >= 0", name=op.f("ck_points_days_points_not_negative")),
    )
    op.create_table(
        "redemptions",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("merchant_id", sa.Uuid, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("person_id", sa.Uuid, nullable=False),
        sa.Column("programme", sa.Text, nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("entry_id", sa.Uuid, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("shard", "id", name=op.f("pk_redemptions")),
        sa.UniqueConstraint(
            "shard",
            "merchant_id",
            "request_id",
            name=op.f("uq_redemptions_shard_merchant_id_request_id"),
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_redemptions_points_positive")),
    )


def _offers() -> None:
    op.create_table(
        "offers",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("budget_grams", sa.BigInteger, nullable=False),
        sa.Column("remaining_grams", sa.BigInteger, nullable=False),
        sa.Column("min_grams", sa.BigInteger, nullable=False),
        sa.Column("max_per_person_grams", sa.BigInteger, nullable=True),
        sa.Column("groups", sa.Text, nullable=False),
        sa.Column("regions", sa.Text, nullable=False),
        sa.Column("vintages", sa.Text, nullable=False),
        sa.Column("min_quality", sa.Text, nullable=True),
        sa.Column("programme", sa.Text, nullable=True),
        sa.Column("points_per_kg", sa.Integer, nullable=True),
        sa.Column("coupons", sa.Boolean, nullable=False),
        sa.Column("valid_from", UTCDateTime, nullable=False),
        sa.Column("valid_until", UTCDateTime, nullable=True),
        sa.Column("hold_minutes", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_offers_enterprise_id_enterprises")
        ),
        sa.CheckConstraint(f"status IN {OFFER_STATUSES!r}", name=op.f("ck_offers_status_known")),
        sa.CheckConstraint(
            "remaining_grams >= 0 AND remaining_grams <= budget_grams AND min_grams >= 1",
            name=op.f("ck_offers_budget_valid"),
        ),
        sa.CheckConstraint(
            "(coupons AND programme IS NULL AND points_per_kg IS NULL)"
            " OR (NOT coupons AND programme IS NOT NULL AND points_per_kg >= 1)",
            name=op.f("ck_offers_one_incentive"),
        ),
        sa.CheckConstraint(
            "hold_minutes IS NULL OR hold_minutes >= 1", name=op.f("ck_offers_hold_positive")
        ),
    )
    op.create_index("ix_offers_enterprise_id", "offers", ["enterprise_id"])
    op.create_table(
        "offer_coupons",
        sa.Column("offer_id", sa.Uuid, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("sale_id", sa.Uuid, nullable=True),
        sa.PrimaryKeyConstraint("offer_id", "line", name=op.f("pk_offer_coupons")),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_offer_coupons_offer_id_offers")
        ),
        sa.UniqueConstraint("offer_id", "code", name=op.f("uq_offer_coupons_offer_id_code")),
    )


def _sales() -> None:
    op.create_table(
        "sales",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("offer_id", sa.Uuid, nullable=False),
        sa.Column("person_id", sa.Uuid, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("grams", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("programme", sa.Text, nullable=True),
        sa.Column("coupon", sa.Text, nullable=True),
        sa.Column("entry_id", sa.Uuid, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("settled_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("shard", "id", name=op.f("pk_sales")),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], name=op.f("fk_sales_offer_id_offers")),
        sa.UniqueConstraint(
            "shard", "person_id", "request_id", name=op.f("uq_sales_shard_person_id_request_id")
        ),
        sa.CheckConstraint(f"status IN {SALE_STATUSES!r}", name=op.f("ck_sales_status_known")),
        sa.CheckConstraint("grams > 0 AND points >= 0", name=op.f("ck_sales_amounts_valid")),
        sa.CheckConstraint(
            "(entry_id IS NOT NULL) = (status IN ('completed', 'confirmed'))",
            name=op.f("ck_sales_posted_has_entry"),
        ),
    )
    op.create_index("ix_sales_offer_id_created_at", "sales", ["offer_id", "created_at"])
    op.create_index("ix_sales_id", "sales", ["id"])
    op.create_index(
        "ix_sales_held_expires_at",
        "sales",
        ["expires_at"],
        sqlite_where=sa.text("status = 'held'"),
        postgresql_where=sa.text("status = 'held'"),
    )
    op.create_table(
        "sale_lots",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("sale_id", sa.Uuid, nullable=False),
        sa.Column("reduction_id", sa.Uuid, nullable=False),
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("grams", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("shard", "sale_id", "reduction_id", name=op.f("pk_sale_lots")),
        sa.ForeignKeyConstraint(
            ["shard", "sale_id"],
            ["sales.shard", "sales.id"],
            name=op.f("fk_sale_lots_shard_sales"),
        ),
        sa.CheckConstraint("grams > 0", name=op.f("ck_sale_lots_grams_positive")),
    )


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
