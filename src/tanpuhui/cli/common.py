"""What every command shares: the app built from settings, output helpers, error mapping.

Project errors become one line `error[code]: message` (plus any listed problems) and a stable
exit code; no traceback is shown for them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from tanpuhui.bootstrap import App, build
from tanpuhui.config import Settings
from tanpuhui.domain.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TanpuhuiError,
    UnavailableError,
)

console = Console()
err_console = Console(stderr=True)

EXIT_CODES: list[tuple[type[TanpuhuiError], int]] = [
    (InvalidInputError, 2),
    (NotFoundError, 3),
    (ConflictError, 4),
    (ConfigurationError, 5),
    (UnavailableError, 5),
    (TanpuhuiError, 1),
]

P = ParamSpec("P")
R = TypeVar("R")


class State:
    database_url: str | None = None


state = State()


def settings() -> Settings:
    overrides: dict[str, Any] = {}
    if state.database_url:
        overrides["database_url"] = state.database_url
    try:
        return Settings(**overrides)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


@contextmanager
def app() -> Iterator[App]:
    built = build(settings())
    try:
        yield built
    finally:
        built.close()


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def fail(error: TanpuhuiError) -> None:
    err_console.print(
        Text.assemble(("error", "bold red"), f"[{error.code}]: {error.message}"), highlight=False
    )
    for problem in error.details.get("problems", []):
        err_console.print(f"  {problem}", highlight=False, markup=False)
    code = next(c for kind, c in EXIT_CODES if isinstance(error, kind))
    raise typer.Exit(code)


def handled(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command, turning project errors into a message and an exit code."""
    from functools import wraps

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except TanpuhuiError as error:
            fail(error)
            raise AssertionError("unreachable") from None

    return wrapper
