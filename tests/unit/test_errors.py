"""``krstock.errors``: each exception a command may meet becomes the user error of its class,
with the exit code docs/errors.md gives, and the module stays light to import."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import psycopg.errors
import pytest
import redis
import yaml
from pydantic import BaseModel
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError

from krstock.errors import (
    InputError,
    InternalError,
    KrstockError,
    ServiceUnavailable,
    UsageError,
    as_user_error,
)


class _Model(BaseModel):
    count: int


def _validation_error() -> Exception:
    try:
        _Model.model_validate({"count": "many"})
    except ValueError as exc:
        return exc
    raise AssertionError("no error")


def _yaml_error() -> Exception:
    try:
        yaml.safe_load("a: [1\n")
    except yaml.YAMLError as exc:
        return exc
    raise AssertionError("no error")


def test_exit_codes_by_class() -> None:
    assert (UsageError("x").exit_code, InputError("x").exit_code) == (2, 1)
    assert (ServiceUnavailable("x").exit_code, InternalError("x").exit_code) == (3, 1)
    error = ServiceUnavailable("down", "start it")
    assert error.line() == "error: down; start it"
    assert error.to_dict() == {"type": "ServiceUnavailable", "message": "down", "hint": "start it"}


@pytest.mark.parametrize(
    ("exc", "cls", "fragment"),
    [
        (
            OperationalError(
                "SELECT 1", {}, psycopg.OperationalError("connection failed: refused")
            ),
            ServiceUnavailable,
            "cannot use the database: refused",
        ),
        (psycopg.OperationalError("timeout expired"), ServiceUnavailable, "timeout expired"),
        (
            ProgrammingError(
                "SELECT", {}, psycopg.errors.UndefinedTable('relation "signals" does not exist')
            ),
            ServiceUnavailable,
            "not migrated (table signals is missing)",
        ),
        (ArgumentError("Could not parse URL from string 'x'"), UsageError, "bad database URL"),
        (redis.ConnectionError("Error 111"), ServiceUnavailable, "cannot reach Redis"),
        (_validation_error(), InputError, "count: Input should be a valid integer"),
        (_yaml_error(), InputError, "malformed YAML"),
        (FileNotFoundError(2, "No such file", "p.yaml"), InputError, "file not found: p.yaml"),
        (LookupError("no daily prices on 2025-06-05"), InputError, "no daily prices"),
        (KeyError("ticker"), InputError, "'ticker'"),
        (ValueError("unknown preset 'x'"), InputError, "unknown preset 'x'"),
        (TypeError("boom"), InternalError, "TypeError: boom"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_third_party_errors_map_to_their_class(
    exc: Exception, cls: type[KrstockError], fragment: str
) -> None:
    error = as_user_error(exc)
    assert type(error) is cls and fragment in error.message, error.message
    assert "\n" not in error.line()


def test_a_hint_on_a_plain_exception_is_kept() -> None:
    missing = FileNotFoundError("policy file not found: x.yaml")
    missing.hint = "use a preset"  # type: ignore[attr-defined]
    assert as_user_error(missing).to_dict()["hint"] == "use a preset"


def test_importing_errors_loads_no_third_party_library() -> None:
    code = "import json, sys, krstock.errors; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert loaded.isdisjoint({"sqlalchemy", "psycopg", "redis", "yaml", "pydantic"})
