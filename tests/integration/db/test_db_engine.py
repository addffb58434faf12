"""Engines on the real server: statement timeout applied, cached process engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from krstock.config import Settings, get_settings
from krstock.db.session import get_engine, make_engine, session_scope

pytestmark = pytest.mark.integration


def test_statement_timeout_comes_from_settings(db_url: str) -> None:
    engine = make_engine(db_url, Settings(db_statement_timeout_ms=1234))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "1234ms"
    finally:
        engine.dispose()


@pytest.fixture
def configured(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("KRSTOCK_DATABASE_URL", db_url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        yield db_url
    finally:
        get_engine().dispose()
        get_engine.cache_clear()
        get_settings.cache_clear()


def test_get_engine_is_cached_and_session_scope_commits(configured: str) -> None:
    engine = get_engine()
    assert engine is get_engine()
    with session_scope() as session:
        session.execute(
            text("INSERT INTO fx_rates (pair, date, rate) VALUES ('USDKRW', '2024-01-02', 1300)")
        )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT rate FROM fx_rates")).scalar() == 1300
