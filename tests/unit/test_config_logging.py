import json
import logging
from typing import Annotated

import pytest
from pydantic import Field, SecretStr

from krstock.config import AiSection, EnvNames, Settings, get_settings
from krstock.logging_setup import ConsoleFormatter, JsonFormatter, configure_logging


def test_settings_read_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRSTOCK_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("KRSTOCK_DB_POOL_SIZE", "12")
    settings = Settings()
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.db_pool_size == 12


class _AiWithKey(AiSection):
    """How the AI feature will declare its key (no field reads it yet, so it is not in config)."""

    gemini_api_key: Annotated[SecretStr | None, EnvNames("GEMINI_API_KEY", "GOOGLE_API_KEY")] = None


class _SettingsWithKey(Settings):
    ai: _AiWithKey = Field(default_factory=_AiWithKey)


def test_a_key_accepts_the_monolith_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRSTOCK_GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", "g-123")
    key = _SettingsWithKey().ai.gemini_api_key
    assert key is not None and key.get_secret_value() == "g-123"
    assert "g-123" not in repr(_SettingsWithKey())
    monkeypatch.setenv("KRSTOCK_GEMINI_API_KEY", "k-1")  # the prefixed name comes first
    key = _SettingsWithKey().ai.gemini_api_key
    assert key is not None and key.get_secret_value() == "k-1"


def test_invalid_pool_size_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRSTOCK_DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="db_pool_size"):
        Settings()


def test_get_settings_is_cached() -> None:
    get_settings.cache_clear()
    assert get_settings() is get_settings()


def test_json_formatter_keeps_extra_fields() -> None:
    record = logging.makeLogRecord({"msg": "loaded %d", "args": (5,), "levelname": "INFO"})
    record.rows = 5
    out = json.loads(JsonFormatter().format(record))
    assert out["msg"] == "loaded 5"
    assert out["rows"] == 5
    assert out["level"] == "info"


def test_console_formatter_is_one_readable_line() -> None:
    record = logging.makeLogRecord({"msg": "hello", "levelname": "WARNING", "name": "x"})
    record.ticker = "005930"
    line = ConsoleFormatter().format(record)
    assert "warning" in line and "hello" in line and "ticker=005930" in line


def test_configure_logging_installs_one_handler() -> None:
    configure_logging("DEBUG", "json")
    configure_logging("INFO", "json")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_krstock", False)]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, JsonFormatter)
