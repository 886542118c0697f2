"""The pure parts of the API hardening (issue 15), without a server: the strict signature
headers, the canonical strings' coverage, bounded raw input, the failure limiter, opaque
references to other tenants' claims, and SQLite's "database is locked" as a retryable error."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from tanpuhui.adapters.db.intake_repository import RAW_LIMIT, bounded_raw, stored_raw
from tanpuhui.adapters.db.unit_of_work import translate
from tanpuhui.api.security import FailureLimiter
from tanpuhui.api.tenancy import foreign_reference
from tanpuhui.domain.errors import (
    AuthenticationError,
    DatabaseLockedError,
    NotMigratedError,
    RateLimitedError,
    TransientError,
)
from tanpuhui.domain.signing import canonical_request, read_headers

CREDENTIAL = "0191fe2a-5c00-7d3e-9a41-6b2f0c8e1d57"
NONCE = "3q2nF8Q0xM5uYvZ1kL7pAa"
SIGNATURE = "A" * 86 + "=="


@pytest.mark.parametrize(
    "timestamp",
    ["+1726531200", "1_726_531_200", " 1726531200", "1726531200.0", "01726531200", "1" * 13, "٣"],
)
def test_a_timestamp_is_read_only_as_plain_decimal_digits(timestamp: str) -> None:
    with pytest.raises(AuthenticationError) as refused:
        read_headers(CREDENTIAL, timestamp, NONCE, SIGNATURE)
    assert refused.value.code == "missing_signature"


def test_headers_in_their_one_spelling_are_read() -> None:
    headers = read_headers(CREDENTIAL, "1726531200", NONCE, SIGNATURE)
    assert (headers.credential_id, headers.timestamp) == (uuid.UUID(CREDENTIAL), 1726531200)
    with pytest.raises(AuthenticationError):
        read_headers(CREDENTIAL.upper(), "1726531200", NONCE, SIGNATURE)


def test_the_v2_canonical_string_covers_host_and_credential() -> None:
    base = ("POST", "a.example", "/v1/events", CREDENTIAL, 1726531200, NONCE, b"{}")
    other_host = ("POST", "b.example", *base[2:])
    other_credential = (*base[:3], str(uuid.uuid4()), *base[4:])
    assert canonical_request(*base) != canonical_request(*other_host)  # type: ignore[arg-type]
    assert canonical_request(*base) != canonical_request(*other_credential)  # type: ignore[arg-type]
    assert canonical_request(*base) == canonical_request("post", "A.EXAMPLE", *base[2:])  # type: ignore[arg-type]


def containers(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=80), inner, max_size=40)


SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=3000)
JSONISH = st.recursive(SCALARS, containers, max_leaves=60)


@given(value=JSONISH)
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
def test_stored_raw_input_is_always_bounded_valid_json(value: object) -> None:
    text = bounded_raw(value)
    assert len(text) <= RAW_LIMIT
    parsed = json.loads(text)
    if len(json.dumps(value, ensure_ascii=True)) <= RAW_LIMIT:
        assert parsed == value
    else:
        assert parsed["truncated"] is True and len(parsed["sha256"]) == 64


def test_an_over_long_event_keeps_its_short_fields() -> None:
    """Was: `json.dumps(raw)[:8192]`, no longer JSON."""
    raw = {"event_id": "e-1", "junk": "x" * 9000, "k" * 100: 1}
    summary = json.loads(bounded_raw(raw))
    assert summary["fields"] == {"event_id": "e-1"}
    assert summary["omitted_fields"] == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ('{"a": 1}', {"a": 1}),
        ('{"a": "\\ud800"}', {"a": "\ufffd"}),
        ('{"a": "\\ud83d\\ude00"}', {"a": "\U0001f600"}),
    ],
)
def test_stored_raw_reads_back(text: str | None, expected: object) -> None:
    assert stored_raw(text) == expected


def test_stored_raw_survives_a_row_cut_by_older_code() -> None:
    marker = stored_raw('{"event_id": "e-1", "junk": "xxx')
    assert isinstance(marker, dict) and marker["unreadable"] is True


def test_the_failure_limiter_refuses_after_the_burst_and_only_that_address() -> None:
    limiter = FailureLimiter(per_minute=60, burst=2)
    for _ in range(2):
        limiter.check("10.0.0.1")
        limiter.fail("10.0.0.1")
    with pytest.raises(RateLimitedError) as refused:
        limiter.check("10.0.0.1")
    assert 0 < refused.value.retry_after_s <= 1.0
    limiter.check("10.0.0.2")


def test_the_failure_limiter_forgets_full_buckets_when_it_holds_too_many() -> None:
    limiter = FailureLimiter(per_minute=6e6, burst=1)
    limiter.MAX_ADDRESSES = 10
    for i in range(50):
        limiter.fail(f"10.0.0.{i}")
    assert len(limiter.buckets) <= 11


def test_a_foreign_reference_is_stable_per_viewer_and_hides_the_original() -> None:
    viewer, other, original = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ref = foreign_reference(viewer, original)
    assert ref == foreign_reference(viewer, original)
    assert ref != foreign_reference(other, original)
    assert original.hex[:12] not in ref and str(original) not in ref


def driver_error(message: str) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError(message))


def test_sqlite_locked_past_the_busy_timeout_is_retryable() -> None:
    """Was: an untranslated driver error — a 500 `internal_error` that called itself a bug."""
    error = translate(driver_error("database is locked"))
    assert isinstance(error, DatabaseLockedError) and isinstance(error, TransientError)
    assert error.code == "database_busy" and "locked" not in error.message


def test_a_missing_table_is_a_retryable_not_migrated() -> None:
    error = translate(driver_error("no such table: credentials"))
    assert isinstance(error, NotMigratedError) and error.code == "not_migrated"


def test_the_v1_deprecation_setting_reads_a_date_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from tanpuhui.config import Settings

    monkeypatch.setenv("TANPUHUI_SIGNATURE_V1_UNTIL", "")
    assert Settings().signature_v1_deadline() is None
    monkeypatch.setenv("TANPUHUI_SIGNATURE_V1_UNTIL", "2030-01-02")
    monkeypatch.setenv("TANPUHUI_PUBLIC_HOSTS", "API.example, b.example:8443 ,")
    settings = Settings()
    assert settings.signature_v1_deadline() == datetime(2030, 1, 2, tzinfo=UTC)
    assert settings.host_names() == {"api.example", "b.example:8443"}
