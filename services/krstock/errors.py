"""The errors a user can fix, by class, and how the CLI reports any exception as one of them.

Each class has an exit code (``docs/errors.md``): usage 2, input/data 1, unavailable service 3.
``as_user_error`` turns third-party exceptions (SQLAlchemy, psycopg, Redis, pydantic, YAML)
into these classes by their class names, so that importing this module loads none of them.
"""

from __future__ import annotations

import re

DEBUG_HINT = "rerun with --debug (or KRSTOCK_DEBUG=1) for the traceback"
DATABASE_HINT = "is PostgreSQL running? check --database-url or KRSTOCK_DATABASE_URL"
REDIS_HINT = "is Redis running? check KRSTOCK_REDIS_URL"
MIGRATE_HINT = "run `krstock db upgrade` on this database"


class KrstockError(Exception):
    """An error the user can act on: a message and, when there is one, what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, str | None]:
        return {"type": self.type, "message": self.message, "hint": self.hint}

    def line(self) -> str:
        """The one line the CLI prints on stderr."""
        return f"error: {self.message}" + (f"; {self.hint}" if self.hint else "")


class UsageError(KrstockError, ValueError):
    """The command was called wrongly: a missing or malformed option, URL or setting."""

    exit_code = 2


class InputError(KrstockError, ValueError):
    """The input or the data cannot be used: a bad file, an unknown name, a day with no data."""

    exit_code = 1


class ServiceUnavailable(KrstockError, RuntimeError):
    """PostgreSQL or Redis cannot be reached, or the database is not migrated."""

    exit_code = 3


class InternalError(KrstockError):
    """Anything else: a bug to report, with the traceback from --debug."""

    exit_code = 1


def _class_names(exc: BaseException) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _database_error(exc: BaseException, names: set[str]) -> KrstockError | None:
    """SQLAlchemy wraps the driver's error as ``orig``; psycopg's names say what happened."""
    orig = getattr(exc, "orig", None) or exc
    orig_names = _class_names(orig) | names
    if "psycopg.errors.UndefinedTable" in orig_names:
        missing = re.search(r'relation "([^"]+)"', str(orig))
        what = f" (table {missing.group(1)} is missing)" if missing else ""
        return ServiceUnavailable(f"the database is not migrated{what}", MIGRATE_HINT)
    if orig_names & {"psycopg.OperationalError", "sqlalchemy.exc.OperationalError"}:
        detail = re.sub(r"^connection failed: ", "", _first_line(orig))
        return ServiceUnavailable(f"cannot use the database: {detail}", DATABASE_HINT)
    if "sqlalchemy.exc.ArgumentError" in names:
        return UsageError(f"bad database URL: {_first_line(exc)}", DATABASE_HINT)
    return None


def _redis_error(names: set[str], exc: BaseException) -> KrstockError | None:
    if names & {
        "redis.exceptions.ConnectionError",
        "redis.exceptions.TimeoutError",
        "kombu.exceptions.OperationalError",
    }:
        return ServiceUnavailable(f"cannot reach Redis: {_first_line(exc)}", REDIS_HINT)
    return None


def validation_message(exc: BaseException, limit: int = 3) -> str:
    """A pydantic ValidationError as ``field.path: message`` items, at most ``limit``."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    items = [
        f"{'.'.join(str(part) for part in error['loc']) or '(top level)'}: {error['msg']}"
        for error in errors[:limit]
    ]
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(items) + more if items else _first_line(exc)


def yaml_message(exc: BaseException) -> str:
    """A YAML parse error as ``<problem> at line L, column C``."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or _first_line(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{problem}{where}"


def as_user_error(exc: BaseException) -> KrstockError:
    """The user-facing error for any exception (``InternalError`` when none fits)."""
    if isinstance(exc, KrstockError):
        return exc
    names = _class_names(exc)
    found = _database_error(exc, names) or _redis_error(names, exc)
    if found:
        return found
    if "pydantic_core._pydantic_core.ValidationError" in names:
        return InputError(f"invalid input: {validation_message(exc)}")
    if "yaml.error.YAMLError" in names:
        return InputError(f"malformed YAML: {yaml_message(exc)}")
    if "krstock.db.session.DatabaseNotConfiguredError" in names:
        return UsageError(str(exc))
    hint = getattr(exc, "hint", None)  # lower layers may say what to do without our classes
    if isinstance(exc, FileNotFoundError):
        message = f"file not found: {exc.filename}" if exc.filename else str(exc)
        return InputError(message, hint)
    if isinstance(exc, LookupError | ValueError):
        return InputError(_first_line(exc) if isinstance(exc, KeyError) else str(exc), hint)
    return InternalError(f"{type(exc).__name__}: {_first_line(exc)}", DEBUG_HINT)
