"""What every command shares: the app built from settings, output helpers, and the one place
where anything a command raises becomes what its user sees.

Invariant: whatever escapes a command — a project error, a bad argument Click refuses, a
missing or unreadable file, a driver error of an unreachable or un-migrated database, Ctrl-C or
a stop signal, or a bug — the user gets exactly one line `error[code]: message` on stderr
(project errors may list their problems on indented lines below it) and a documented exit
status, never a traceback (unless they ask with `--traceback`):

    status  codes                                        meaning
    0                                                    done
    1       error, ledger_error, unauthorized, …         the command ran and found a problem
                                                         (also: `ledger verify` violations,
                                                         `docs … --check` stale)
    2       usage, invalid_input, invalid_methodology,   fix the command line or the input
            file_error, body_too_large
    3       not_found                                    a named thing does not exist
    4       conflict, immutable_version                  contradicts stored state
    5       configuration, not_migrated, unavailable,    the environment: settings, database,
            database_unavailable, database_error,        a port
            port_in_use, port_unavailable, foreign_server
    70      internal                                     a bug: please report it
    128+N   interrupted                                  stopped by signal N (130: Ctrl-C)

A command group run without a command prints its help and exits 2.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from rich.console import Console

from tanpuhui.adapters.db.unit_of_work import translate as translate_database_error
from tanpuhui.adapters.processes import signal_number, stop_signals
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

try:  # recent Typer versions vendor Click; earlier ones use Click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click import exceptions as click_errors  # type: ignore[no-redef]

console = Console()
err_console = Console(stderr=True)

#: exit status by error class, most specific first (docs/operations.md lists them)
EXIT_CODES: list[tuple[type[TanpuhuiError], int]] = [
    (InvalidInputError, 2),
    (NotFoundError, 3),
    (ConflictError, 4),
    (ConfigurationError, 5),
    (UnavailableError, 5),
    (TanpuhuiError, 1),
]
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug, never a user's mistake

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
P = ParamSpec("P")
R = TypeVar("R")


class State:
    database_url: str | None = None
    traceback: bool = False  # --traceback: show the traceback of an unexpected error


state = State()


def settings() -> Settings:
    overrides: dict[str, Any] = {}
    if state.database_url:
        overrides["database_url"] = state.database_url
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"TANPUHUI_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigurationError(f"unusable settings: {problems}") from None
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


def as_error(exc: BaseException) -> TanpuhuiError:
    """The project error that stands for anything a command raised (the translation is total:
    an exception nothing below expects becomes `internal`)."""
    if isinstance(exc, TanpuhuiError):
        return exc
    if isinstance(exc, KeyboardInterrupt | typer.Abort):
        signum = signal_number(exc) if isinstance(exc, KeyboardInterrupt) else signal.SIGINT
        how = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        return TanpuhuiError(
            f"interrupted ({how})", code="interrupted", details={"signal": int(signum)}
        )
    if isinstance(exc, click_errors.FileError):
        return InvalidInputError(f"cannot open {exc.ui_filename}: {exc.message}", code="file_error")
    if isinstance(exc, click_errors.ClickException):
        return _usage_error(exc)
    if isinstance(exc, sa.exc.DBAPIError):
        translated = translate_database_error(exc)
        if isinstance(translated, TanpuhuiError):
            return translated
        return UnavailableError(
            f"the database refused: {_first_line(str(exc.orig))}", code="database_error"
        )
    if isinstance(exc, sa.exc.ArgumentError):
        return ConfigurationError(f"unusable database URL: {exc}")
    if isinstance(exc, OSError):
        return _file_error(exc)
    if isinstance(exc, UnicodeDecodeError):
        return InvalidInputError(f"a file is not UTF-8 text ({exc.reason})", code="file_error")
    return TanpuhuiError(
        f"unexpected {type(exc).__name__}: {_first_line(str(exc))} — this is a bug, please "
        f"report it (`tanpuhui --traceback …` shows where)",
        code="internal",
    )


def _usage_error(exc: click_errors.ClickException) -> InvalidInputError:
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        message += f" (see `{ctx.command_path} --help`)"
    return InvalidInputError(message, code="usage")


def _file_error(exc: OSError) -> InvalidInputError:
    what = f"{exc.filename}: " if exc.filename else ""
    return InvalidInputError(f"{what}{exc.strerror or exc}", code="file_error")


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def exit_status(error: TanpuhuiError) -> int:
    if error.code == "interrupted":
        return 128 + int(error.details.get("signal", signal.SIGINT))
    if error.code == "internal":
        return EXIT_INTERNAL
    return next(c for kind, c in EXIT_CODES if isinstance(error, kind))


def report(exc: BaseException) -> int:
    """Show what went wrong in one line on stderr; returns the exit status."""
    error = as_error(exc)
    if state.traceback and error.code == "internal":
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(f"error[{error.code}]: {_one_line(error.message)}\n")
    for problem in error.details.get("problems", []):
        sys.stderr.write(f"  {_one_line(str(problem))}\n")
    sys.stderr.flush()
    return exit_status(error)


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text.strip())


def handled(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command; anything it raises is reported (`report`) and becomes its exit status.
    SIGTERM and SIGHUP interrupt it as Ctrl-C does, so its `finally` blocks (which stop the
    processes it started) run on those signals too."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with stop_signals():
                return func(*args, **kwargs)
        except (typer.Exit, SystemExit):
            raise
        except BaseException as exc:
            raise typer.Exit(report(exc)) from None

    return wrapper


def run(cli: typer.Typer, args: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status. Errors Click raises before a command
    runs (bad arguments) are reported here, everything else by `handled`."""
    command = typer.main.get_command(cli)
    try:
        status = command.main(args, prog_name="tanpuhui", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        return report(exc)
    return status if isinstance(status, int) else 0
