"""The one exception tree of tanpuhui, with stable machine-readable codes.

    TanpuhuiError                       code            meaning
    ├── InvalidInputError               invalid_input   a request or file the caller must fix
    │   └── MethodologyFileError        invalid_methodology  a methodology file fails validation
    ├── NotFoundError                   not_found       a named thing does not exist
    ├── ConflictError                   conflict        the request contradicts stored state
    │   └── ImmutableVersionError       immutable_version  a published version would change
    ├── LedgerError                     ledger_error    a movement would break a ledger invariant
    │   ├── UnbalancedEntryError        unbalanced_entry
    │   └── InsufficientBalanceError    insufficient_balance
    └── ConfigurationError              configuration   settings refuse to start

Entrypoints translate these (and only these) into HTTP problems, CLI messages and exit codes;
anything else escaping a service is a bug and is reported without internals.

Rejections of single behaviour events are *data*, not exceptions: see `events.Reason`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class TanpuhuiError(Exception):
    """Base of every error tanpuhui raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: Mapping[str, Any] = dict(details or {})


class InvalidInputError(TanpuhuiError):
    code = "invalid_input"


class MethodologyFileError(InvalidInputError):
    """A methodology or group file is invalid; `problems` lists every one found, with lines."""

    code = "invalid_methodology"

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message, details={"problems": problems})
        self.problems = problems


class NotFoundError(TanpuhuiError):
    code = "not_found"


class ConflictError(TanpuhuiError):
    code = "conflict"


class ImmutableVersionError(ConflictError):
    code = "immutable_version"


class LedgerError(TanpuhuiError):
    code = "ledger_error"


class UnbalancedEntryError(LedgerError):
    code = "unbalanced_entry"


class InsufficientBalanceError(LedgerError):
    code = "insufficient_balance"


class ConfigurationError(TanpuhuiError):
    code = "configuration"
