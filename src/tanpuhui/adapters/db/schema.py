"""The relational schema (Core tables). Alembic migrations create it; a test checks they agree.

What the database itself guarantees, whatever code writes to it:
- one event per (enterprise, event_id) — the idempotency key;
- one credit per event: an event row credits grams only together with the issuance entry that
  carries them (`ck_events_credit_has_entry`), and an event row is the only issuance line of
  its reduction;
- an evidence fingerprint backs at most one active reduction (a re-send fingerprint too);
- an issuer has at most one enterprise that is it, an enterprise is at most one issuer;
- postings are non-zero; holder balances are never negative (issuance accounts may be);
- entries, postings and issued amounts are immutable (triggers, see the migrations): an entry
  is written first, unsealed; its lines may only join it while it is unsealed (in the same
  transaction); it is sealed once (its digest) at the end; log leaves, stored subtrees and
  signed checkpoints are append-only (docs/ledger.md);
- on PostgreSQL a deferred constraint trigger checks at commit that every entry is sealed and
  balances per asset.

Issuance lines live on the event rows (a subledger): a credited event's `issued_account`,
`asset` and `grams` *are* its posting in entry `entry_id`; the `postings` table holds the
balancing issuance postings and every later movement (binding moves, sales, retirements).
"""

from __future__ import annotations

import sqlalchemy as sa

from tanpuhui.adapters.db.types import UTCDateTime
from tanpuhui.domain.methodology import QUALITY_ORDER

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

OUTCOMES = ("credited", "capped", "duplicate", "rejected", "pending_binding")
QUALITIES = tuple(c.value for c in QUALITY_ORDER)  # a reduction's quality tier, best first

enterprises = sa.Table(
    "enterprises",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("is_scene", sa.Boolean, nullable=False),
    sa.Column("is_platform", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("is_scene OR is_platform", name="has_role"),
    info={"distribution": "reference"},
)

persons = sa.Table(
    "persons",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),  # shard_of_person(id)
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    info={"distribution": "shard"},
)

#: A subject's binding lives in the shard of the subject (`shard_of_subject`, that of its
#: pending account), so intake's subject → person lookup reads one shard. Its person is in
#: another shard: persons are never deleted, and the services check the person exists (a
#: foreign key across shards is what a distributed database cannot keep).
bindings = sa.Table(
    "bindings",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("enterprise_id", sa.Uuid, sa.ForeignKey("enterprises.id"), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("person_id", sa.Uuid, nullable=False),
    sa.Column("bound_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    # the subject first (migration 0023): a batch's lookup of its subjects probes them, not
    # every (shard, subject) pair of the shards they fall in
    sa.Index(
        "uq_bindings_active_subject",
        "enterprise_id",
        "subject",
        "shard",
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    ),
    info={"distribution": "shard"},
)

#: A person's bindings, in the person's shard: what a person's pages and `ledger show` list
#: (the binding itself, with its end, is read from its subject's shard by key).
person_bindings = sa.Table(
    "person_bindings",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),  # shard_of_person(person_id)
    sa.Column("person_id", sa.Uuid, primary_key=True),
    sa.Column("binding_id", sa.Uuid, primary_key=True),
    sa.Column("binding_shard", sa.SmallInteger, nullable=False),
    sa.Column("bound_at", UTCDateTime, nullable=False),
    info={"distribution": "shard"},
)

behaviour_groups = sa.Table(
    "behaviour_groups",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("exclusive", sa.Boolean, nullable=False),
    sa.Column("clock_skew_s", sa.Integer, nullable=False),
    sa.Column("daily_cap_grams", sa.BigInteger, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("day_merge", sa.Text, nullable=True),
    sa.Column("day_claims", sa.Text, nullable=True),  # JSON {behaviour: excluded group}
    info={"distribution": "reference"},
)

methodology_versions = sa.Table(
    "methodology_versions",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),  # canonical JSON of the version file
    sa.Column("source_name", sa.Text, nullable=False),
    sa.Column("effective_from", sa.Date, nullable=False),
    sa.Column("effective_to", sa.Date, nullable=True),
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("code", "version"),
    sa.CheckConstraint("version >= 1", name="version_positive"),
    info={"distribution": "reference"},
)

catalogue_revisions = sa.Table(
    "catalogue_revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),
    info={"distribution": "reference"},
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),  # the enterprise's shard
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("enterprise_id", sa.Uuid, sa.ForeignKey("enterprises.id"), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("event_count", sa.Integer, nullable=False),
    sa.Column("counts", sa.Text, nullable=False),  # JSON: outcomes by kind
    sa.Column("unkeyed", sa.Text, nullable=True),  # JSON: rejections of items with no event id
    # Commit order within the enterprise: numbered under its `feed_heads` row at the very end
    # of the batch's transaction, so a reader following `seq` never skips a batch that
    # commits late (ids alone could).
    sa.Column("seq", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("shard", "enterprise_id", "seq"),
    # an event's batch, joined by id while events are not keyed by shard yet
    sa.Index("ix_batches_id", "id"),
    info={"distribution": "shard"},
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    # the entry's home shard: that of its first logged line (docs/ledger.md); its postings
    # live with it, its leaves in the shards of their holders
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("memo", sa.Text, nullable=False),
    # NULL while the entry's transaction writes its lines; set once, when it is sealed: the
    # entry digest (domain/checkpoint.py) its leaves commit to.
    sa.Column("hash", sa.LargeBinary(32), nullable=True),
    sa.Index("ix_ledger_entries_id", "id"),
    info={"distribution": "shard"},
)

events = sa.Table(
    "events",
    metadata,
    # the holder's shard while the event has one — a reduction moves with its holder at
    # binding —, else its subject's, else its enterprise's (`shards.shard_of_event`). Its two
    # platform-wide keys live in their own shards: `event_keys`, `evidence_keys`. The key is
    # (id, shard): the id first, so readers that hold only a reduction id (postings, proofs)
    # use it, and no second index on the id is written per event.
    sa.Column("shard", sa.SmallInteger, nullable=False),
    sa.Column("id", sa.Uuid, nullable=False),
    sa.PrimaryKeyConstraint("id", "shard"),
    # References from this table (enterprise, methodology, entry) are checked per statement
    # by triggers (see the migration), not by per-row foreign keys: at tens of thousands of
    # rows a second the per-row checks cost more than the rest of the insert.
    sa.Column("enterprise_id", sa.Uuid, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("batch_id", sa.Uuid, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("payload_hash", sa.LargeBinary(16), nullable=False),
    # the event as understood (NULL when it failed validation)
    sa.Column("subject", sa.Text),
    sa.Column("behaviour", sa.Text),
    sa.Column("started_at", UTCDateTime),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("region", sa.Text),
    sa.Column("quantities", sa.Text),  # JSON {key: decimal string}
    sa.Column("evidence_ref", sa.Text),
    sa.Column("evidence_issuer", sa.Text),
    sa.Column("raw", sa.Text),  # JSON of a rejected event as received
    # the outcome
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("message", sa.Text),
    sa.Column("grams", sa.BigInteger, nullable=False),
    sa.Column("grams_cut", sa.BigInteger, nullable=False),
    sa.Column("duplicate_of", sa.Uuid),
    sa.Column("methodology_id", sa.Uuid),
    sa.Column("trace", sa.Text),  # JSON calculation trace
    sa.Column("group_code", sa.Text),
    sa.Column("day", sa.Date),
    # the reduction (grams > 0): its issuance line and where it is now
    sa.Column("asset", sa.Text),
    sa.Column("issued_account", sa.Text),
    sa.Column("entry_id", sa.Uuid),
    sa.Column("holder", sa.Text),
    sa.Column("state", sa.Text),  # active | reversed
    sa.Column("live_grams", sa.BigInteger, nullable=False),  # grams it backs now
    sa.Column(
        "resolution", sa.Text
    ),  # for pending ones, what binding did: moved|capped|duplicate|too_frequent
    sa.Column("resolution_ref", sa.Uuid),  # … and the claim it duplicated
    sa.Column("resolved_at", UTCDateTime),
    # the version its grams are quantified with now (NULL: the original, methodology_id)
    sa.Column("current_methodology_id", sa.Uuid),
    sa.Column("evidence_fp", sa.LargeBinary(16)),
    # the quality tier of the quantification its grams are backed by now (the trace's, or the
    # latest correction's): the lowest confidence among the factors used; NULL without a trace
    sa.Column("quality", sa.Text),
    # the GB/T 2260 code-list version `region` was recorded under (regions.csv's header)
    sa.Column("region_version", sa.Text),
    sa.CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome_known"),
    sa.CheckConstraint(
        "grams >= 0 AND grams_cut >= 0 AND live_grams >= 0", name="grams_not_negative"
    ),
    sa.CheckConstraint(
        "(grams > 0) = (entry_id IS NOT NULL AND issued_account IS NOT NULL"
        " AND asset IS NOT NULL AND methodology_id IS NOT NULL)",
        name="credit_has_entry",
    ),
    sa.CheckConstraint("state IS NULL OR state IN ('active', 'reversed')", name="state_known"),
    sa.CheckConstraint(f"quality IS NULL OR quality IN {QUALITIES!r}", name="quality_known"),
    sa.Index(
        "ix_events_claims",
        "holder",
        "started_at",
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    ),
    sa.Index("ix_events_entry_id", "entry_id"),
    sa.Index("ix_events_batch", "batch_id", "id"),  # a batch's outcomes, in order (the feed)
    info={"distribution": "shard"},
)

#: The idempotency key: one event per (enterprise, event id), platform-wide, in the shard of a
#: hash of the pair. Its primary key is what refuses a second event under one key (the race
#: arbiter: of two batches inserting it at once, one waits and loses). `event_row` is the
#: event's id (its shard moves at binding; the id does not). The key leads with the pair, so a
#: batch's lookup probes its own keys whatever the number of shards they fall in.
event_keys = sa.Table(
    "event_keys",
    metadata,
    sa.Column("shard", sa.SmallInteger, nullable=False),  # shard_of_event_key
    sa.Column("enterprise_id", sa.Uuid, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_row", sa.Uuid, nullable=False),
    sa.PrimaryKeyConstraint("enterprise_id", "event_id", "shard"),
    info={"distribution": "shard"},
)

#: One active reduction per evidence fingerprint, platform-wide, in the shard of the
#: fingerprint (a digest): written with a reduction that carries evidence, deleted when it is
#: reversed (at binding or by a correction), written again if a correction revives it.
evidence_keys = sa.Table(
    "evidence_keys",
    metadata,
    sa.Column("shard", sa.SmallInteger, nullable=False),  # shard_of_digest
    sa.Column("evidence_fp", sa.LargeBinary(16), nullable=False),
    sa.Column("reduction_id", sa.Uuid, nullable=False),
    sa.PrimaryKeyConstraint("evidence_fp", "shard"),
    info={"distribution": "shard"},
)

postings = sa.Table(
    "postings",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),  # the entry's home shard
    sa.Column("entry_id", sa.Uuid, primary_key=True),
    sa.Column("line", sa.Integer, primary_key=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("asset", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("reduction_id", sa.Uuid, nullable=True),
    sa.ForeignKeyConstraint(["shard", "entry_id"], ["ledger_entries.shard", "ledger_entries.id"]),
    sa.CheckConstraint("amount <> 0", name="amount_not_zero"),
    sa.Index("ix_postings_account", "account"),
    info={"distribution": "shard"},
)

#: Balances per (shard, account, asset). A holder's rows live in its own shard only; an
#: issuance account has one row per shard its entries were homed in (no row every writer
#: updates), summed when read.
balances = sa.Table(
    "balances",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("account", sa.Text, primary_key=True),
    sa.Column("asset", sa.Text, primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.CheckConstraint(
        "amount >= 0 OR account LIKE 'issuance:%' OR account LIKE 'buffer:%'",
        name="holder_not_negative",
    ),
    info={"distribution": "shard"},
)

#: The ledger's fixed parameters: its number of shards S, chosen when it is created.
ledger_config = sa.Table(
    "ledger_config",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("shards", sa.Integer, nullable=False),
    sa.CheckConstraint("id = 1 AND shards >= 1", name="one_row"),
    info={"distribution": "reference"},
)

#: One RFC 6962 log per shard: its size, root and frontier (the right-edge complete subtree
#: hashes, largest first). Appending locks only the touched shards' rows, in shard order.
log_heads = sa.Table(
    "log_heads",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("frontier", sa.LargeBinary, nullable=False),
    info={"distribution": "shard"},
)

#: The leaves of the shard logs: one per logged line. A line on an event row (an issuance
#: credit) is named by its reduction id; a posting by its line number.
log_leaves = sa.Table(
    "log_leaves",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("idx", sa.BigInteger, primary_key=True),
    sa.Column("entry_id", sa.Uuid, nullable=False),
    sa.Column("posting_line", sa.Integer, nullable=True),
    sa.Column("reduction_id", sa.Uuid, nullable=True),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sa.Index("ix_log_leaves_entry_id", "entry_id"),
    info={"distribution": "shard"},
)

#: Lines waiting to be integrated into their shard's log: one row per (shard, entry), its
#: leaves packed in entry order (`log_repository.pack_lines`). Writers insert here and never
#: lock a log head; the sequencer moves the rows into `log_leaves` under the head's lock.
log_queue = sa.Table(
    "log_queue",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("entry_id", sa.Uuid, primary_key=True),
    sa.Column("lines", sa.LargeBinary, nullable=False),
    info={"distribution": "shard"},
)

#: Complete subtrees of 2**level leaves (level >= 4) so proofs rehash at most 15 leaves a node.
log_nodes = sa.Table(
    "log_nodes",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("level", sa.SmallInteger, primary_key=True),
    sa.Column("idx", sa.BigInteger, primary_key=True),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    info={"distribution": "shard"},
)

#: Signed platform checkpoints (C2SP signed notes) over the head tree of all shard heads.
checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),  # leaves over all shards
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("heads", sa.LargeBinary, nullable=False),  # S × (8-byte size ‖ 32-byte root)
    sa.Column("note", sa.Text, nullable=False),  # body and the platform's signature
    sa.Column("cosignatures", sa.Text, nullable=False, server_default=""),  # witnesses' lines
    sa.Column("created_at", UTCDateTime, nullable=False),
    info={"distribution": "reference"},
)

#: Each shard's own signed checkpoints (written when its head moved since the last one).
shard_checkpoints = sa.Table(
    "shard_checkpoints",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("size", sa.BigInteger, primary_key=True),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    info={"distribution": "shard"},
)

#: An enterprise's outcome feed order: its batches numbered in commit order under its own row.
feed_heads = sa.Table(
    "feed_heads",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),  # the enterprise's shard
    sa.Column("enterprise_id", sa.Uuid, primary_key=True),
    sa.Column("batch_seq", sa.BigInteger, nullable=False),
    info={"distribution": "shard"},
)

#: Live grams per (region, group, day), striped: a writer adds to the rows of one shard it
#: picks at random (no row every writer of a region and day updates), readers sum the shards.
region_totals = sa.Table(
    "region_totals",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("group_code", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("grams", sa.BigInteger, nullable=False),
    info={"distribution": "shard"},
)

#: The issuer registry (domain/evidence.py): `enterprise_id` may cite `issuer`'s references;
#: `is_issuer`: it is that issuer. One enterprise per issuer is it; an enterprise is one issuer.
issuer_grants = sa.Table(
    "issuer_grants",
    metadata,
    sa.Column("issuer", sa.Text, primary_key=True),
    sa.Column("enterprise_id", sa.Uuid, sa.ForeignKey("enterprises.id"), primary_key=True),
    sa.Column("is_issuer", sa.Boolean, nullable=False),
    sa.Column("granted_at", UTCDateTime, nullable=False),
    sa.Index(
        "uq_issuer_grants_issuer_is_issuer",
        "issuer",
        unique=True,
        sqlite_where=sa.text("is_issuer"),
        postgresql_where=sa.text("is_issuer"),
    ),
    sa.Index(
        "uq_issuer_grants_enterprise_is_issuer",
        "enterprise_id",
        unique=True,
        sqlite_where=sa.text("is_issuer"),
        postgresql_where=sa.text("is_issuer"),
    ),
    info={"distribution": "reference"},
)

#: Day claims held until their window closes (domain/settlement.py): the event as understood;
#: once settled, its outcome is an ordinary `events` row and `settled_at` is set.
provisional_claims = sa.Table(
    "provisional_claims",
    metadata,
    # the enterprise's shard: replays of an enterprise's held event ids are answered from it
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("enterprise_id", sa.Uuid, sa.ForeignKey("enterprises.id"), nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("payload_hash", sa.LargeBinary(16), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("behaviour", sa.Text, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("quantities", sa.Text, nullable=False),
    sa.Column("evidence_ref", sa.Text, nullable=True),
    sa.Column("evidence_issuer", sa.Text, nullable=True),
    sa.Column("methodology", sa.Text, nullable=False),  # code@version it was quantified with
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("closes_at", UTCDateTime, nullable=False),
    sa.Column("settled_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("shard", "enterprise_id", "event_id"),
    sa.Index("ix_provisional_claims_closes_at", "closes_at"),
    info={"distribution": "shard"},
)

#: The exclusion register (domain/exclusions.py): subjects claimed under another mechanism.
exclusions = sa.Table(
    "exclusions",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("key", sa.Text, nullable=False),  # meter:… | installation:… | enterprise:…
    sa.Column("mechanism", sa.Text, nullable=False),
    sa.Column("behaviours", sa.Text, nullable=False),  # JSON list; [] = every behaviour
    sa.Column("valid_from", sa.Date, nullable=True),
    sa.Column("valid_to", sa.Date, nullable=True),
    sa.Column("declared_by", sa.Uuid, sa.ForeignKey("enterprises.id"), nullable=True),
    sa.Column("declared_at", UTCDateTime, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Index("ix_exclusions_key", "key"),
    info={"distribution": "reference"},
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("enterprise_id", sa.Uuid, sa.ForeignKey("enterprises.id"), nullable=False),
    sa.Column("public_key", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Index("ix_credentials_enterprise_id", "enterprise_id"),
    info={"distribution": "reference"},
)

request_nonces = sa.Table(
    "request_nonces",
    metadata,
    sa.Column("credential_id", sa.Uuid, primary_key=True),
    sa.Column("nonce", sa.Text, primary_key=True),
    sa.Column("seen_at", UTCDateTime, nullable=False),
    sa.Index("ix_request_nonces_seen_at", "seen_at"),
    info={"distribution": "reference"},
)

rate_buckets = sa.Table(
    "rate_buckets",
    metadata,
    sa.Column("credential_id", sa.Uuid, primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    info={"distribution": "reference"},
)

#: A person's API tokens and binding codes are found by the digest of the secret alone, so they
#: live in the digest's shard (`shard_of_digest`); their person is in another shard, and the
#: services check it exists (as for bindings).
person_tokens = sa.Table(
    "person_tokens",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("person_id", sa.Uuid, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    info={"distribution": "shard"},
)

binding_codes = sa.Table(
    "binding_codes",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("person_id", sa.Uuid, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
    sa.Column("used_by", sa.Uuid, nullable=True),  # the enterprise that redeemed it
    info={"distribution": "shard"},
)

corrections = sa.Table(
    "corrections",
    metadata,
    # the reduction's shard (`shard_of_reduction`: a hash of its id, known to every reader)
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("reduction_id", sa.Uuid, nullable=False),
    sa.Column("from_methodology_id", sa.Uuid, nullable=False),
    sa.Column("to_methodology_id", sa.Uuid, nullable=False),
    sa.Column("before_grams", sa.BigInteger, nullable=False),
    sa.Column("after_grams", sa.BigInteger, nullable=False),
    sa.Column("shortfall_grams", sa.BigInteger, nullable=False),
    sa.Column("trace", sa.Text, nullable=False),  # JSON calculation trace with the new version
    sa.Column("entry_id", sa.Uuid, nullable=True),  # in ledger_entries (any shard)
    sa.Column("created_at", UTCDateTime, nullable=False),
    # re-quantifying one reduction to one version happens once: the idempotency key
    sa.UniqueConstraint("shard", "reduction_id", "to_methodology_id"),
    # a reduction's current correction, joined by id while events are not keyed by shard yet
    sa.Index("ix_corrections_reduction_id", "reduction_id"),
    sa.CheckConstraint(
        "after_grams >= 0 AND before_grams >= 0 AND shortfall_grams >= 0", name="grams_valid"
    ),
    info={"distribution": "shard"},
)

# --- the pages: sign-in (issue 14; domain/sign_in.py) ---------------------------------------

#: People who sign in for a scene enterprise (`user`) or for the platform (`operator`). Few and
#: shared: a reference table, like the enterprises they belong to.
web_users = sa.Table(
    "web_users",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("enterprise_id", sa.Uuid, sa.ForeignKey("enterprises.id"), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("kind IN ('user', 'operator')", name="kind_known"),
    sa.CheckConstraint("(kind = 'user') = (enterprise_id IS NOT NULL)", name="user_has_enterprise"),
    sa.Index("ix_web_users_enterprise_id", "enterprise_id"),
    info={"distribution": "reference"},
)

#: One-time sign-in codes (only their digest), in the shard of the principal's owner account.
sign_in_codes = sa.Table(
    "sign_in_codes",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("principal", sa.Text, primary_key=True),  # person:… | user:… | operator:…
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
    sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    sa.Index("ix_sign_in_codes_shard_principal_created_at", "shard", "principal", "created_at"),
    info={"distribution": "shard"},
)

#: Server-side sessions of the pages (only the token's digest), in the principal's shard.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("principal", sa.Text, nullable=False),
    sa.Column("enterprise_id", sa.Uuid, nullable=True),  # a user's enterprise
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Index("ix_web_sessions_shard_principal", "shard", "principal"),
    info={"distribution": "shard"},
)

#: A person's claims that were not credited (the ledger page's "why not"), found through the
#: person's bindings: only those rows are indexed, so intake pays for it on duplicates alone.
NOT_CREDITED = "outcome = 'duplicate' OR resolution IN ('capped', 'duplicate', 'too_frequent')"
sa.Index(
    "ix_events_not_credited",
    events.c.enterprise_id,
    events.c.subject,
    sqlite_where=sa.text(NOT_CREDITED),
    postgresql_where=sa.text(NOT_CREDITED),
)


# --- governments and verifiers (issue 12, migration 0008) ---------------------------------


_CELL = ("region", "behaviour", "group_code", "enterprise_id", "methodology", "quality")


def _rollup_cell() -> list[sa.Column[object]]:
    """The dimensions of one aggregate cell (domain/aggregates.py `Cell`), after the period."""
    return [
        sa.Column("region", sa.Text, nullable=False),  # as recorded (mapped on read)
        sa.Column("behaviour", sa.Text, nullable=False),
        sa.Column("group_code", sa.Text, nullable=False),
        sa.Column("enterprise_id", sa.Uuid, nullable=False),
        sa.Column("methodology", sa.Text, nullable=False),  # the code, without version
        sa.Column("quality", sa.Text, nullable=False),
    ]


#: Partial sums of credited grams and reductions per (stripe, period, cell); `period` is
#: a day (2026-11-03), a month (2026-11) or a year (2026): every change writes all three, so a
#: query reads only rows of its own period. `shard` is the writer's stripe (one it holds alone
#: for its transaction, `SqlAggregates._stripe`; rows written before 0020 carry the holder's
#: shard), so concurrent writers never touch the same row; readers sum over stripes.
region_rollups = sa.Table(
    "region_rollups",
    metadata,
    sa.Column("shard", sa.SmallInteger, nullable=False),
    sa.Column("period", sa.Text, nullable=False),
    *_rollup_cell(),
    sa.Column("grams", sa.BigInteger, nullable=False),
    sa.Column("events", sa.BigInteger, nullable=False),
    # period and region lead the key: a query reads one period's range of codes in key order
    sa.PrimaryKeyConstraint("period", *_CELL, "shard"),
    sqlite_with_rowid=False,  # the key is the row: one B-tree, not a table and its index
    info={"distribution": "shard"},
)

#: First-seen rows: person `holder` was credited in this (period, cell). Counting distinct
#: holders over these rows is the number of active persons without reading reductions.
person_activity = sa.Table(
    "person_activity",
    metadata,
    sa.Column("shard", sa.SmallInteger, nullable=False),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("period", sa.Text, nullable=False),
    *_rollup_cell(),
    sa.PrimaryKeyConstraint("period", *_CELL, "holder", "shard"),
    sqlite_with_rowid=False,
    info={"distribution": "shard"},
)

#: First-seen rows by region alone: person `holder` was credited in `region` in `period`. The
#: persons of a region, or of each region of a breakdown, without filters count these — far
#: fewer rows than `person_activity`, whose cells multiply by behaviour and enterprise.
person_regions = sa.Table(
    "person_regions",
    metadata,
    sa.Column("shard", sa.SmallInteger, nullable=False),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("period", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("period", "region", "holder", "shard"),
    sqlite_with_rowid=False,
    info={"distribution": "shard"},
)

#: Coarse rollups per region *level* (0 the nation, code ""; 1 a province, 2 a city, codes as
#: recorded cut to the level: 440000, 440300; 3 the code as recorded), for months and years,
#: over all groups (`group_code` "") and, above a county, per behaviour group: grams,
#: reductions and the active persons (`persons`, counted as `person_levels` rows, or for a
#: county `person_regions` rows, are first inserted). A query of the nation, a province, a
#: city or a county without other filters reads a few of these rows instead of every fine
#: cell under it. `shard` is a stripe a writer holds alone for its transaction
#: (`stripes.writer_stripe`); readers sum the stripes.
region_levels = sa.Table(
    "region_levels",
    metadata,
    sa.Column("shard", sa.SmallInteger, nullable=False),
    sa.Column("period", sa.Text, nullable=False),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("group_code", sa.Text, nullable=False),
    sa.Column("grams", sa.BigInteger, nullable=False),
    sa.Column("events", sa.BigInteger, nullable=False),
    sa.Column("persons", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("period", "level", "region", "group_code", "shard"),
    sa.CheckConstraint("level IN (0, 1, 2, 3)", name="level_known"),
    sqlite_with_rowid=False,
    info={"distribution": "shard"},
)

#: First-seen rows of the coarse rollups: person `holder` was credited in (period, level,
#: region, group). Inserting one that is new adds 1 to the `persons` of its `region_levels`
#: cell, so a count is never a scan of persons.
person_levels = sa.Table(
    "person_levels",
    metadata,
    sa.Column("shard", sa.SmallInteger, nullable=False),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("period", sa.Text, nullable=False),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("group_code", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("period", "level", "region", "group_code", "holder", "shard"),
    sqlite_with_rowid=False,
    info={"distribution": "shard"},
)

#: Government, verifier and operator accounts; a government account is scoped to a region.
#: Only a SHA-256 of the bearer token is kept.
officials = sa.Table(
    "officials",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=True),
    sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    # the Ed25519 key its MRV statements are signed with (None: an account made before 0016)
    sa.Column("public_key", sa.LargeBinary(32), nullable=True),
    sa.UniqueConstraint("kind", "name"),
    sa.CheckConstraint("kind IN ('government', 'verifier', 'operator')", name="kind_known"),
    sa.CheckConstraint("(kind = 'government') = (region IS NOT NULL)", name="region_scoped"),
    info={"distribution": "reference"},
)

#: MRV issuance batches (domain/mrv.py): one methodology version's reductions of a region and
#: month, with the monitoring report generated at creation, the verifier's seeded sample and
#: the decision (state open → approved | rejected, once; actor and time recorded).
issuance_batches = sa.Table(
    "issuance_batches",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    # a batch covers one methodology version (in a region) or one scene enterprise
    sa.Column("methodology_id", sa.Uuid, sa.ForeignKey("methodology_versions.id"), nullable=True),
    sa.Column("region", sa.Text, nullable=True),  # None: the nation
    sa.Column("month", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("report", sa.Text, nullable=False),  # JSON monitoring report
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sample_seed", sa.BigInteger, nullable=True),
    sa.Column("sample", sa.Text, nullable=True),  # JSON: the sampled ids and their recomputation
    sa.Column("sampled_by", sa.Uuid, nullable=True),
    sa.Column("decided_by", sa.Uuid, sa.ForeignKey("officials.id"), nullable=True),
    sa.Column("decided_at", UTCDateTime, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("entry_id", sa.Uuid, nullable=True),  # a rejection's reversing entry
    sa.Column("enterprise_id", sa.Uuid, sa.ForeignKey("enterprises.id"), nullable=True),
    sa.CheckConstraint("state IN ('open', 'approved', 'rejected')", name="state_known"),
    sa.CheckConstraint("(methodology_id IS NULL) <> (enterprise_id IS NULL)", name="scope_one"),
    info={"distribution": "reference"},
)

#: Every state change of an issuance batch as a statement signed by its actor's Ed25519 key
#: (domain/mrv.py `statement_bytes`): the verifier's for a sample or a decision, the
#: platform's for a creation. The key is stored beside it, so `mrv verify` re-checks it later.
mrv_statements = sa.Table(
    "mrv_statements",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("batch_id", sa.Uuid, sa.ForeignKey("issuance_batches.id"), nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("statement", sa.Text, nullable=False),  # the canonical JSON that was signed
    sa.Column("signature", sa.Text, nullable=False),  # base64 Ed25519
    sa.Column("public_key", sa.LargeBinary(32), nullable=False),
    sa.CheckConstraint("action IN ('create', 'sample', 'approve', 'reject')", name="action_known"),
    sa.Index("ix_mrv_statements_batch_id", "batch_id"),
    info={"distribution": "reference"},
)

#: Which batch each reduction is in (at most one: the key) and its verification state.
batch_reductions = sa.Table(
    "batch_reductions",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),  # the reduction's holder's
    sa.Column("reduction_id", sa.Uuid, primary_key=True),
    sa.Column("batch_id", sa.Uuid, sa.ForeignKey("issuance_batches.id"), nullable=False),
    sa.Column("grams", sa.BigInteger, nullable=False),  # live grams when batched
    sa.Column("state", sa.Text, nullable=False),
    sa.CheckConstraint("state IN ('in_review', 'verified', 'rejected')", name="state_known"),
    sa.Index("ix_batch_reductions_batch_id", "batch_id"),
    info={"distribution": "shard"},
)

#: The audit trail (domain/audit.py): every administrative action, append-only (triggers
#: refuse UPDATE and DELETE), in a hash chain of its own ordered by `seq`.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("id", sa.Uuid, nullable=False, unique=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("before", sa.Text, nullable=True),  # JSON
    sa.Column("after", sa.Text, nullable=True),  # JSON
    sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sa.Index("ix_audit_log_actor", "actor"),
    sa.Index("ix_audit_log_kind", "kind"),
    info={"distribution": "reference"},
)


# --- the market (issue 11, domain/market.py) -------------------------------------------------

OFFER_STATUSES = ("open", "paused", "closed")
SALE_STATUSES = ("completed", "held", "confirmed", "voided", "expired")

#: Points programmes (services/programmes.py): versioned data files, like methodologies.
programmes = sa.Table(
    "programmes",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),  # canonical JSON of the version file
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("version >= 1", name="version_positive"),
    info={"distribution": "reference"},
)

#: A platform enterprise's offers. `remaining_grams` is the budget not yet sold or held: the
#: database refuses to let it go negative, whatever races.
offers = sa.Table(
    "offers",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("enterprise_id", sa.Uuid, sa.ForeignKey("enterprises.id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("budget_grams", sa.BigInteger, nullable=False),
    sa.Column("remaining_grams", sa.BigInteger, nullable=False),
    sa.Column("min_grams", sa.BigInteger, nullable=False),
    sa.Column("max_per_person_grams", sa.BigInteger, nullable=True),
    sa.Column("groups", sa.Text, nullable=False),  # JSON list
    sa.Column("regions", sa.Text, nullable=False),  # JSON list of provinces
    sa.Column("vintages", sa.Text, nullable=False),  # JSON list of YYYY-MM
    sa.Column("min_quality", sa.Text, nullable=True),
    sa.Column("programme", sa.Text, nullable=True),
    sa.Column("points_per_kg", sa.Integer, nullable=True),
    sa.Column("coupons", sa.Boolean, nullable=False),
    sa.Column("valid_from", UTCDateTime, nullable=False),
    sa.Column("valid_until", UTCDateTime, nullable=True),
    sa.Column("hold_minutes", sa.Integer, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(f"status IN {OFFER_STATUSES!r}", name="status_known"),
    sa.CheckConstraint(
        "remaining_grams >= 0 AND remaining_grams <= budget_grams AND min_grams >= 1",
        name="budget_valid",
    ),
    sa.CheckConstraint(
        "(coupons AND programme IS NULL AND points_per_kg IS NULL)"
        " OR (NOT coupons AND programme IS NOT NULL AND points_per_kg >= 1)",
        name="one_incentive",
    ),
    sa.CheckConstraint("hold_minutes IS NULL OR hold_minutes >= 1", name="hold_positive"),
    sa.Index("ix_offers_enterprise_id", "enterprise_id"),
    info={"distribution": "reference"},
)

#: A coupon offer's pool: one code per line; `sale_id` is the sale it was paid with.
offer_coupons = sa.Table(
    "offer_coupons",
    metadata,
    sa.Column("offer_id", sa.Uuid, sa.ForeignKey("offers.id"), primary_key=True),
    sa.Column("line", sa.Integer, primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("sale_id", sa.Uuid, nullable=True),
    sa.UniqueConstraint("offer_id", "code"),
    info={"distribution": "reference"},
)

#: Sales and holds, in the seller's shard; idempotent by (person, the client's request id).
sales = sa.Table(
    "sales",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("offer_id", sa.Uuid, sa.ForeignKey("offers.id"), nullable=False),
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
    sa.UniqueConstraint("shard", "person_id", "request_id"),
    sa.CheckConstraint(f"status IN {SALE_STATUSES!r}", name="status_known"),
    sa.CheckConstraint("grams > 0 AND points >= 0", name="amounts_valid"),
    sa.CheckConstraint(
        "(entry_id IS NOT NULL) = (status IN ('completed', 'confirmed'))", name="posted_has_entry"
    ),
    sa.Index("ix_sales_offer_id_created_at", "offer_id", "created_at"),
    sa.Index("ix_sales_id", "id"),  # a hold is confirmed by its id alone
    sa.Index(
        "ix_sales_held_expires_at",
        "expires_at",
        sqlite_where=sa.text("status = 'held'"),
        postgresql_where=sa.text("status = 'held'"),
    ),
    info={"distribution": "shard"},
)

#: The blocks of a sale: which reductions back its grams (reserved while it is a hold).
sale_lots = sa.Table(
    "sale_lots",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("sale_id", sa.Uuid, primary_key=True),
    sa.Column("reduction_id", sa.Uuid, primary_key=True),
    sa.Column("asset", sa.Text, nullable=False),
    sa.Column("grams", sa.BigInteger, nullable=False),
    sa.CheckConstraint("grams > 0", name="grams_positive"),
    sa.ForeignKeyConstraint(["shard", "sale_id"], ["sales.shard", "sales.id"]),
    info={"distribution": "shard"},
)

#: Lineage beyond the event rows: the grams of a reduction a holder gained (+) or gave away (−)
#: by sales. A holder's lot of a reduction = its live grams if it is the event row's holder,
#: plus this delta; a reduction never split has no row here.
holding_deltas = sa.Table(
    "holding_deltas",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("holder", sa.Text, primary_key=True),
    sa.Column("reduction_id", sa.Uuid, primary_key=True),
    sa.Column("asset", sa.Text, nullable=False),
    sa.Column("grams", sa.BigInteger, nullable=False),
    sa.Index("ix_holding_deltas_reduction_id", "reduction_id"),  # who holds it (requantify)
    info={"distribution": "shard"},
)

#: Points a holder earned per programme and day: the daily caps' state and the expiry's
#: (oldest first) record. Awards and sale incentives add to it; nothing subtracts.
points_days = sa.Table(
    "points_days",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("holder", sa.Text, primary_key=True),
    sa.Column("programme", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.CheckConstraint("points >= 0", name="points_not_negative"),
    info={"distribution": "shard"},
)

#: Redemptions at partner merchants, in the merchant's shard; idempotent by (merchant, the
#: merchant's request id).
redemptions = sa.Table(
    "redemptions",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("merchant_id", sa.Uuid, nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("person_id", sa.Uuid, nullable=False),
    sa.Column("programme", sa.Text, nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("entry_id", sa.Uuid, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("shard", "merchant_id", "request_id"),
    sa.CheckConstraint("points > 0", name="points_positive"),
    info={"distribution": "shard"},
)

# --- leaderboards and certificates (issue 13; domain/leaderboard.py, domain/certificates.py) --

#: The name a person shows on leaderboards and certificates, and whether they take part
#: (default out: a person without a row, or with `opted_in` false, never appears).
display_names = sa.Table(
    "display_names",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("person_id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("opted_in", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("length(name) BETWEEN 1 AND 32", name="name_length"),
    info={"distribution": "shard"},
)

CERTIFICATE_KINDS = ("leaderboard", "milestone", "retirement")

#: Issued certificates, in the shard of the holder they are about (the serial names it).
#: `award` is the idempotency key (one certificate per holder and award: a board placing, a
#: milestone, a retirement); `content` the canonical JSON that `signature` signs.
certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("serial", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("award", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("signature", sa.Text, nullable=False),
    sa.Column("key_name", sa.Text, nullable=False),
    sa.Column("issued_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("shard", "holder", "award"),
    sa.CheckConstraint(f"kind IN {CERTIFICATE_KINDS!r}", name="kind_known"),
    info={"distribution": "shard"},
)

# --- retirement and carbon-market export (issue 13; migration 0010, domain/retirement.py) ---

#: Per-class serial counters (and per-year retirement-certificate counters, `certificate:Y`):
#: the next number to hand out. Taken with `UPDATE … SET next = next + n RETURNING` inside the
#: retiring or exporting transaction, so the row lock orders concurrent allocations of a class.
serial_counters = sa.Table(
    "serial_counters",
    metadata,
    sa.Column("class", sa.Text, primary_key=True),
    sa.Column("next", sa.BigInteger, nullable=False),
    sa.CheckConstraint("next >= 1", name="next_positive"),
    info={"distribution": "reference"},
)

BLOCK_STATUSES = ("retired", "pending_export", "exported", "returned")
EXPORT_STATUSES = ("pending_export", "exported", "returned")

#: The platform's register of serial ranges (registry style): one row per block, keyed by
#: (class, first number) so two blocks of a class cannot start at the same number; `ledger
#: verify` checks that no two ranges of a class overlap. A register every retirement and export
#: writes once, never a hot path: a reference table.
serial_blocks = sa.Table(
    "serial_blocks",
    metadata,
    sa.Column("class", sa.Text, primary_key=True),
    sa.Column("start", sa.BigInteger, primary_key=True),
    sa.Column("end", sa.BigInteger, nullable=False),
    sa.Column("grams", sa.BigInteger, nullable=False),
    sa.Column("id", sa.Uuid, nullable=False, unique=True),
    sa.Column("serial", sa.Text, nullable=False, unique=True),
    sa.Column("shard", sa.SmallInteger, nullable=False),  # the holder's (its lineage's) shard
    sa.Column("enterprise_id", sa.Uuid, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("retirement_id", sa.Uuid, nullable=True),
    sa.Column("export_id", sa.Uuid, nullable=True),  # the latest export attempt
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint('start >= 1 AND "end" >= start AND grams = "end" - start + 1', name="range"),
    sa.CheckConstraint(f"status IN {BLOCK_STATUSES!r}", name="status_known"),
    sa.CheckConstraint(
        "(status = 'retired') = (retirement_id IS NOT NULL)"
        " AND (status = 'retired') = (export_id IS NULL)",
        name="one_purpose",
    ),
    sa.Index("ix_serial_blocks_enterprise_id", "enterprise_id", "status"),
    info={"distribution": "reference"},
)

#: Which reductions back each block (the block's holder's shard): sums to the block's size.
block_lineage = sa.Table(
    "block_lineage",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("class", sa.Text, primary_key=True),
    sa.Column("start", sa.BigInteger, primary_key=True),
    sa.Column("reduction_id", sa.Uuid, primary_key=True),
    sa.Column("asset", sa.Text, nullable=False),
    sa.Column("grams", sa.BigInteger, nullable=False),
    sa.CheckConstraint("grams > 0", name="grams_positive"),
    sa.ForeignKeyConstraint(["class", "start"], ["serial_blocks.class", "serial_blocks.start"]),
    info={"distribution": "shard"},
)

#: Retirements, in the enterprise's shard; idempotent by (enterprise, request id).
retirements = sa.Table(
    "retirements",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("enterprise_id", sa.Uuid, nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("grams", sa.BigInteger, nullable=False),
    sa.Column("beneficiary", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("period", sa.Text, nullable=True),
    sa.Column("certificate", sa.Text, nullable=False),  # RC-<year>-<seq>
    sa.Column("entry_id", sa.Uuid, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("shard", "enterprise_id", "request_id"),
    sa.CheckConstraint("grams > 0", name="grams_positive"),
    sa.Index("ix_retirements_certificate", "certificate"),
    sa.Index("ix_retirements_id", "id"),
    info={"distribution": "shard"},
)

#: Export attempts, in the enterprise's shard: `pending_export → exported | returned`.
exports = sa.Table(
    "exports",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("enterprise_id", sa.Uuid, nullable=False),
    sa.Column("registry", sa.Text, nullable=False),
    sa.Column("tonnes", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reference", sa.Text, nullable=True),  # the receiving registry's reference
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("marked_at", UTCDateTime, nullable=True),
    sa.CheckConstraint("tonnes > 0", name="tonnes_positive"),
    sa.CheckConstraint(f"status IN {EXPORT_STATUSES!r}", name="status_known"),
    sa.CheckConstraint("(status = 'exported') = (reference IS NOT NULL)", name="reference"),
    sa.Index("ix_exports_id", "id"),
    info={"distribution": "shard"},
)

#: The blocks of each export attempt (a returned block may be in a later attempt too).
export_blocks = sa.Table(
    "export_blocks",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("export_id", sa.Uuid, primary_key=True),
    sa.Column("class", sa.Text, primary_key=True),
    sa.Column("start", sa.BigInteger, primary_key=True),
    sa.ForeignKeyConstraint(["shard", "export_id"], ["exports.shard", "exports.id"]),
    sa.ForeignKeyConstraint(["class", "start"], ["serial_blocks.class", "serial_blocks.start"]),
    info={"distribution": "shard"},
)
