"""One Settings in sections (api, worker, ai) that still reads the flat ``KRSTOCK_<FIELD>`` names
the chart, the operator, the docs and the tests set."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

from krstock.config import (
    ENV_PREFIX,
    ApiSection,
    Section,
    Settings,
    SettingsError,
    WorkerSection,
    get_settings,
    section_owners,
    sections_of,
)

ROOT = Path(__file__).resolve().parents[2]


def flat_env_names() -> dict[str, str]:
    """Environment name -> the field it sets: KRSTOCK_DISPATCH_MODE -> api.dispatch_mode."""
    names = {
        (ENV_PREFIX + field).upper(): field
        for field in Settings.model_fields
        if field not in sections_of(Settings)
    }
    for field, section in section_owners(Settings).items():
        names[(ENV_PREFIX + field).upper()] = f"{section}.{field}"
        names[f"{ENV_PREFIX}{section}__{field}".upper()] = f"{section}.{field}"
    return names


def test_flat_names_reach_their_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRSTOCK_DISPATCH_MODE", "celery")
    monkeypatch.setenv("KRSTOCK_CORS_ORIGINS", '["https://a.example","https://b.example"]')
    monkeypatch.setenv("KRSTOCK_API_REQUIRE_KEY_FOR_READS", "true")
    monkeypatch.setenv("KRSTOCK_REDIS_PREFIX", "t1")
    monkeypatch.setenv("KRSTOCK_TASK_ALWAYS_EAGER", "true")
    monkeypatch.setenv("KRSTOCK_KRX_EXTRA_HOLIDAYS", "2026-01-02, 2026-07-17")
    monkeypatch.setenv("KRSTOCK_KRX_RATE_PER_S", "2.5")
    monkeypatch.setenv("KRSTOCK_LLM_RATE_PER_S", "0.5")
    settings = Settings()
    assert settings.api.dispatch_mode == "celery"
    assert settings.api.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.api.api_require_key_for_reads is True
    assert settings.worker.redis_prefix == "t1"
    assert settings.worker.task_always_eager is True
    assert settings.worker.krx_extra_holidays == [date(2026, 1, 2), date(2026, 7, 17)]
    assert settings.worker.krx_rate_per_s == 2.5
    assert settings.ai.llm_rate_per_s == 0.5


def test_the_nested_spelling_works_and_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRSTOCK_WORKER__REDIS_PREFIX", "nested")
    monkeypatch.setenv("KRSTOCK_API__PRICE_SOURCE", "db")
    assert Settings().worker.redis_prefix == "nested"
    monkeypatch.setenv("KRSTOCK_REDIS_PREFIX", "flat")
    assert Settings().worker.redis_prefix == "nested"
    assert Settings().api.price_source == "db"


def test_dotenv_file_is_read_with_flat_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "KRSTOCK_DATABASE_URL=postgresql://u@h/db\n"
        "KRSTOCK_DISPATCH_MODE=celery\n"
        "KRSTOCK_KRX_EXTRA_TRADING_DAYS=2026-12-31\n"
        "REDIS_PREFIX=not-ours\n"  # no prefix: not a setting
    )
    monkeypatch.chdir(tmp_path)
    for name in ("KRSTOCK_DATABASE_URL", "KRSTOCK_DISPATCH_MODE", "KRSTOCK_REDIS_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.api.dispatch_mode == "celery"
    assert settings.worker.krx_extra_trading_days == [date(2026, 12, 31)]
    assert settings.worker.redis_prefix == "krstock"
    monkeypatch.setenv("KRSTOCK_DISPATCH_MODE", "local")  # the environment beats .env
    assert Settings().api.dispatch_mode == "local"
    assert Settings(_env_file=None).database_url is None


def test_keyword_arguments_take_flat_names_and_beat_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KRSTOCK_REDIS_PREFIX", "env")
    monkeypatch.setenv("KRSTOCK_MAX_RETRIES", "7")
    settings = Settings(redis_prefix="kw", dispatch_mode="celery")
    assert settings.worker.redis_prefix == "kw"
    assert settings.worker.max_retries == 7  # the rest of the section still comes from env
    assert settings.api.dispatch_mode == "celery"
    nested = Settings(worker={"redis_prefix": "n"}, api=ApiSection(cache_enabled=False))
    assert nested.worker.redis_prefix == "n" and nested.api.cache_enabled is False


def test_sections_reject_unknown_names() -> None:
    with pytest.raises(ValidationError, match="extra"):
        WorkerSection(redis_prefx="typo")  # type: ignore[call-arg]


def test_a_field_name_may_live_in_one_place_only() -> None:
    class Api(Section):
        redis_url: str = ""

    class Clash(BaseModel):
        redis_url: str = ""
        api: Api = Field(default_factory=Api)

    with pytest.raises(TypeError, match="redis_url"):
        section_owners(Clash)
    section_owners(Settings)  # the real one is fine (also checked at import)


def test_invalid_values_name_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRSTOCK_DISPATCH_MODE", "sometimes")
    monkeypatch.setenv("KRSTOCK_LOCK_TTL_S", "-1")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as caught:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(caught.value)
    assert "KRSTOCK_DISPATCH_MODE (api.dispatch_mode)" in message and "'sometimes'" in message
    assert "KRSTOCK_LOCK_TTL_S (worker.lock_ttl_s)" in message


def test_sections_are_read_through_one_settings_object() -> None:
    settings = Settings(api_require_key_for_reads=True, llm_rate_per_s=3, krx_rate_per_s=4)
    assert settings.api.api_require_key_for_reads is True
    assert (settings.ai.llm_rate_per_s, settings.worker.krx_rate_per_s) == (3, 4)


# Set or documented under KRSTOCK_ but not platform settings.
NOT_SETTINGS = {
    "KRSTOCK_API_KEY": "the operator's enqueue Job reads it (standard library only)",
    "KRSTOCK_POLICY_FILE": "set on worker pods by the operator",
    "KRSTOCK_POLICY_NAME": "set on worker pods by the operator",
    "KRSTOCK_SCANJOB": "set on worker pods by the operator",
    "KRSTOCK_TOOLS_DIR": "scripts/install-helm.sh",
    "KRSTOCK_KIND_CLUSTER": "tests/e2e/kind-e2e.sh",
    "KRSTOCK_WORKER_METRICS_PORT": "the worker's --metrics-port (set on pods by the operator)",
    "KRSTOCK_BROWSER_ARTIFACTS": "where the browser tests write screenshots (tests only)",
    "KRSTOCK_CHROMIUM": "which browser scripts/install-chromium.sh and the browser tests use",
    "KRSTOCK_DEBUG": "krstock.cli's error path reads it (keep tracebacks), settings or not",
}
NOT_SETTINGS_PREFIXES = ("KRSTOCK_OPERATOR_", "KRSTOCK_TEST_", "KRSTOCK_E2E_")


def _mentioned_names() -> dict[str, set[str]]:
    places = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    for folder in ("charts", "deploy", "operator", "scripts", "tests"):
        places += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix != ".pyc"]
    found: dict[str, set[str]] = {}
    for place in places:
        text = place.read_text(encoding="utf-8", errors="ignore")
        for name in re.findall(r"KRSTOCK_[A-Z0-9_]+", text):
            found.setdefault(name, set()).add(str(place.relative_to(ROOT)))
    return found


def test_every_documented_variable_reaches_a_field() -> None:
    known = flat_env_names()
    unknown = {}
    for name, places in _mentioned_names().items():
        if name in known or name in NOT_SETTINGS or name.startswith(NOT_SETTINGS_PREFIXES):
            continue
        if name.endswith("_") and any(k.startswith(name) for k in known):
            continue  # a family written as KRSTOCK_CACHE_* or KRSTOCK_SCHEDULE_<JOB>
        unknown[name] = sorted(places)
    assert unknown == {}


def test_market_source_names_are_the_registry_ones() -> None:
    from krstock.config import MARKET_SOURCES
    from krstock.marketdata.registry import SOURCES

    assert tuple(SOURCES) == MARKET_SOURCES
