"""The one exception tree of tanpuhui, with stable machine-readable codes.

    TanpuhuiError                       code (default)   HTTP  meaning
    ├── InvalidInputError               invalid_input    422   a request or file to fix
    │   ├── MethodologyFileError        invalid_methodology    a methodology file fails checks
    │   ├── PayloadTooLargeError        body_too_large   413   a body or batch over the limit
    │   └── RequestTimeoutError         body_timeout     408   the body did not arrive in time
    ├── AuthenticationError             unauthorized     401   who is calling is not proven:
    │                                   missing_signature, stale_timestamp, bad_signature
    │                                   (also for unknown credentials), revoked_credential
    │                                   (only to a valid signature), replayed_nonce,
    │                                   invalid_token
    ├── ForbiddenError                  forbidden        403   proven, but not allowed
    ├── NotFoundError                   not_found        404   a named thing does not exist
    ├── ConflictError                   conflict         409   contradicts stored state
    │   └── ImmutableVersionError       immutable_version      a published version would change
    ├── MarketError                     market_refused   409   a sale or hold the market refuses
    │   │                                                      (CLI exit 1, as ledger refusals)
    │   ├── OfferClosedError            offer_closed           the offer is paused, closed or
    │   │                                                      outside its window
    │   ├── BudgetExhaustedError        budget_exhausted       the offer's budget (or coupon
    │   │                               coupons_exhausted      pool) cannot cover the sale
    │   ├── PerPersonLimitError         per_person_limit       over the offer's per-person cap
    │   ├── HoldExpiredError            hold_expired           a hold's expiry has passed
    │   └── HoldStateError              hold_not_held          a hold is confirmed or voided
    ├── RateLimitedError                rate_limited     429   slow down (`retry_after_s`)
    ├── LedgerError                     ledger_error     409   a movement would break the ledger
    │   ├── UnbalancedEntryError        unbalanced_entry
    │   └── InsufficientBalanceError    insufficient_balance
    ├── UnavailableError                unavailable      503   a dependency (the database) is
    │   │                               database_unavailable   down or unreachable
    │   └── TransientError              transient        503   the same request may succeed a
    │       │                                                  moment later (Retry-After):
    │       ├── RaceLostError           concurrent_write       a concurrent writer won a race
    │       ├── LockTableFullError      database_busy          no room for more locks
    │       ├── DatabaseLockedError     database_busy          SQLite's writer lock stayed taken
    │       └── NotMigratedError        not_migrated           the schema is not at head yet
    └── ConfigurationError              configuration    503   settings refuse to start

An error may carry a more specific stable `code` than its class default (401s say which check
failed). Entrypoints translate these (and only these) into HTTP problems (api/errors.py), CLI
messages and exit codes; anything else escaping a service is a bug and is reported without
internals.

Rejections of single behaviour events are *data*, not exceptions: see `events.Reason`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TanpuhuiError(Exception):
    """Base of every error tanpuhui raises on purpose."""

    code: str = "error"

    def __init__(
        self, message: str, *, details: Mapping[str, Any] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: Mapping[str, Any] = dict(details or {})
        if code is not None:
            self.code = code


class InvalidInputError(TanpuhuiError):
    code = "invalid_input"


class MethodologyFileError(InvalidInputError):
    """A methodology or group file is invalid; `problems` lists every one found, with lines."""

    code = "invalid_methodology"

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message, details={"problems": problems})
        self.problems = problems


class PayloadTooLargeError(InvalidInputError):
    code = "body_too_large"


class RequestTimeoutError(InvalidInputError):
    """The request body arrived too slowly (a stalled or trickling upload)."""

    code = "body_timeout"


class AuthenticationError(TanpuhuiError):
    code = "unauthorized"


class ForbiddenError(TanpuhuiError):
    code = "forbidden"


class RateLimitedError(TanpuhuiError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, details={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class NotFoundError(TanpuhuiError):
    code = "not_found"


class ConflictError(TanpuhuiError):
    code = "conflict"


class ImmutableVersionError(ConflictError):
    code = "immutable_version"


class MarketError(TanpuhuiError):
    code = "market_refused"


class OfferClosedError(MarketError):
    code = "offer_closed"


class BudgetExhaustedError(MarketError):
    code = "budget_exhausted"


class PerPersonLimitError(MarketError):
    code = "per_person_limit"


class HoldExpiredError(MarketError):
    code = "hold_expired"


class HoldStateError(MarketError):
    code = "hold_not_held"


class LedgerError(TanpuhuiError):
    code = "ledger_error"


class UnbalancedEntryError(LedgerError):
    code = "unbalanced_entry"


class InsufficientBalanceError(LedgerError):
    code = "insufficient_balance"


class UnavailableError(TanpuhuiError):
    code = "unavailable"


class TransientError(UnavailableError):
    """A refusal the same request may not meet again a moment later. Its message is the
    class's own; the driver's words stay in `details` (not shown to clients)."""

    code = "transient"
    advice = "retry"

    def __init__(self, driver_message: str = "") -> None:
        super().__init__(self.advice, details={"driver": driver_message})


class RaceLostError(TransientError):
    """A concurrent transaction won a uniqueness race; the service may retry the whole unit.
    Where it does not, the caller sees a retryable refusal (HTTP 503), never a crash."""

    code = "concurrent_write"
    advice = "a concurrent request changed the same records at the same moment; retry"


class LockTableFullError(TransientError):
    """The database ran out of room for locks; the service may retry with fewer at once."""

    code = "database_busy"
    advice = "the database has no room for more locks right now; retry"


class DatabaseLockedError(TransientError):
    """SQLite's single writer lock stayed taken past the busy timeout (another process)."""

    code = "database_busy"
    advice = "the database is busy with another writer; retry"


class NotMigratedError(TransientError):
    """The schema is not (yet) at the newest migration: a deploy is under way."""

    code = "not_migrated"
    advice = "the database has not been migrated yet: run `tanpuhui db upgrade`; retry"


class ConfigurationError(TanpuhuiError):
    code = "configuration"
