"""The TimescaleDB paths as far as plain PostgreSQL runs them.

TimescaleDB cannot be installed on these machines. What runs here for real:
- the bulk writer's unit path (literal date bounds and segment lists, one UPDATE and INSERT per
  unit, then the chunks recompressed) on a plain table. TimescaleDB's catalog answer (which
  chunks exist and are compressed) is *simulated* by a ``CompressedLayout`` built in the test,
  and its ``decompress_chunk``/``compress_chunk`` functions are stood in for by SQL functions of
  the same signature that record their calls, next to statement triggers that record each
  UPDATE/INSERT: so the statements' order and results are checked, not TimescaleDB's batches;
- the trading-days query used on compressed chunks, against the loose index scan;
- ``krstock db maintain``/``db check`` without the extension; 0003 leaving plain tables alone;
- the template clone that ends the sessions holding the template.
The ``timescale``-marked tests in ``test_db_timescale.py`` run the rest on a real TimescaleDB.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import ModuleType

import pandas as pd
import psycopg
import pytest
from sqlalchemy import Connection, Engine, text
from typer.testing import CliRunner

from krstock.cli import app
from krstock.db import migrate, reader, timescale
from krstock.db.bulk import UpdateRules, bulk_upsert
from krstock.db.features import timescaledb_installed
from krstock.db.timescale import Chunk, CompressedLayout

pytestmark = pytest.mark.integration

ONLY_PLAIN = (
    "simulates TimescaleDB on plain PostgreSQL; this server has the extension, so "
    "test_db_timescale.py runs the real thing instead"
)


@pytest.fixture
def plain(db_engine: Engine) -> Engine:
    with db_engine.connect() as conn:
        if timescaledb_installed(conn):
            pytest.skip(ONLY_PLAIN)
    return db_engine


STAND_INS = """
CREATE TABLE chunk_calls (n serial PRIMARY KEY, call text NOT NULL, chunk text, query text);
CREATE TABLE fake_chunk_jan ();
CREATE TABLE fake_chunk_feb ();
CREATE TABLE fake_chunk_mar ();
CREATE FUNCTION decompress_chunk(c regclass, if_compressed boolean) RETURNS regclass
LANGUAGE sql AS $$ INSERT INTO chunk_calls (call, chunk) VALUES ('decompress', c::text);
SELECT c $$;
CREATE FUNCTION compress_chunk(c regclass, if_not_compressed boolean) RETURNS regclass
LANGUAGE sql AS $$ INSERT INTO chunk_calls (call, chunk) VALUES ('compress', c::text);
SELECT c $$;
CREATE FUNCTION record_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO chunk_calls (call, query) VALUES (lower(TG_OP), current_query());
RETURN NULL; END $$;
CREATE TRIGGER record_update AFTER UPDATE ON daily_prices
FOR EACH STATEMENT EXECUTE FUNCTION record_write();
CREATE TRIGGER record_insert AFTER INSERT ON daily_prices
FOR EACH STATEMENT EXECUTE FUNCTION record_write();
"""

JAN = Chunk("fake_chunk_jan", date(2024, 1, 1), date(2024, 2, 1), True)
FEB = Chunk("fake_chunk_feb", date(2024, 2, 1), date(2024, 3, 1), True)
MAR = Chunk("fake_chunk_mar", date(2024, 3, 1), date(2024, 4, 1), False)
TICKERS = [f"{i:06d}" for i in range(1, 6)]
DAYS = pd.bdate_range("2024-01-02", "2024-03-29")


def _prices() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "ticker": t,
                "date": d,
                "open": 100,
                "high": 110,
                "low": 90,
                "close": 100 + i,
                "volume": 10,
                "source": "test",
            }
            for i, t in enumerate(TICKERS)
            for d in DAYS
        ]
    )


@pytest.fixture
def seeded(plain: Engine) -> Engine:
    with plain.begin() as conn:
        bulk_upsert(conn, "daily_prices", _prices(), ["ticker", "date"])
        conn.exec_driver_sql(STAND_INS)
    return plain


def _statements(conn: Connection) -> list[tuple[str, str]]:
    """(call, chunk) of the chunk functions, ("update"|"insert", statement text) of the writes.
    An INSERT ... ON CONFLICT DO UPDATE fires the UPDATE statement triggers too: one entry."""
    out: list[tuple[str, str]] = []
    for call, chunk, query in conn.execute(
        text("SELECT call, chunk, query FROM chunk_calls ORDER BY n")
    ):
        if query is None:
            out.append((call, chunk))
        elif not out or out[-1][1] != query:
            kind = "update" if query.lstrip().upper().startswith("UPDATE") else "insert"
            out.append((kind, query))
    return out


def _calls(conn: Connection) -> list[tuple[str, str | None]]:
    return [(call, None if call in ("update", "insert") else x) for call, x in _statements(conn)]


def _stored_rows(conn: Connection, ticker: str, chunk: Chunk) -> int:
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM daily_prices WHERE ticker = :t AND date >= :lo AND date < :hi"
            ),
            {"t": ticker, "lo": chunk.start, "hi": chunk.end},
        ).scalar_one()
    )


def _simulate(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """TimescaleDB's catalog as the adapter would read it: January and February compressed."""
    layout = CompressedLayout("daily_prices", "date", ("ticker",), (JAN, FEB, MAR), limit)
    monkeypatch.setattr(timescale, "compressed_layout", lambda _cur, table: layout)


def test_a_correction_in_compressed_chunks_is_written_in_bounded_batches(
    seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _simulate(monkeypatch, limit=100_000)
    frame = _prices()
    frame.loc[(frame.ticker == "000002") & (frame.date == "2024-02-14"), "close"] = 555
    frame.loc[(frame.ticker == "000004") & (frame.date == "2024-01-10"), "close"] = 444
    frame.loc[(frame.ticker == "000005") & (frame.date == "2024-03-04"), "close"] = 333
    new_day = frame[frame.date == "2024-03-29"].assign(date=pd.Timestamp("2024-04-01"))
    with seeded.begin() as conn:
        counts = bulk_upsert(conn, "daily_prices", pd.concat([frame, new_day]), ["ticker", "date"])
        calls = _calls(conn)
        statements = [query for kind, query in _statements(conn) if kind == "update"]
        closes = conn.execute(
            text(
                "SELECT ticker, date, close FROM daily_prices WHERE close IN (555, 444, 333) "
                "ORDER BY close"
            )
        ).all()
        expected_chunks = [
            timescale.ChunkWrite("fake_chunk_jan", "batches", 1, _stored_rows(conn, "000004", JAN)),
            timescale.ChunkWrite("fake_chunk_feb", "batches", 1, _stored_rows(conn, "000002", FEB)),
        ]
        total = conn.execute(text("SELECT count(*) FROM daily_prices")).scalar_one()
    assert (counts.inserted, counts.updated) == (5, 3)
    assert counts.unchanged == len(frame) - 3
    assert [tuple(r) for r in closes] == [
        ("000005", date(2024, 3, 4), 333),
        ("000004", date(2024, 1, 10), 444),
        ("000002", date(2024, 2, 14), 555),
    ]
    assert total == len(frame) + 5
    assert list(counts.chunks) == expected_chunks
    # One unit for the uncompressed range (March on), then one per compressed chunk: each an
    # UPDATE and an INSERT; the chunks written into are recompressed at the end; nothing is
    # decompressed whole.
    assert calls == [
        *[("update", None), ("insert", None)] * 3,
        ("compress", "fake_chunk_jan"),
        ("compress", "fake_chunk_feb"),
    ]
    # The bounds are literals in the statements (what TimescaleDB narrows batches on).
    march_on, january, february = statements
    assert '"t"."date" >= \'2024-03-01\'::date' in march_on and "ANY(" not in march_on
    assert '"t"."date" < \'2024-02-01\'::date' in january
    assert '"t"."ticker" = ANY(\'{000004}\'::text[])' in january
    assert '"t"."ticker" = ANY(\'{000002}\'::text[])' in february


def test_a_chunk_over_the_limit_is_rewritten_as_one_step(
    seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _simulate(monkeypatch, limit=5)  # fewer rows than one ticker's February: no batch fits
    frame = _prices()
    frame.loc[frame.date == "2024-02-14", "close"] = 777
    with seeded.begin() as conn:
        counts = bulk_upsert(conn, "daily_prices", frame, ["ticker", "date"])
        calls = _calls(conn)
        changed = conn.execute(
            text("SELECT count(*) FROM daily_prices WHERE close = 777")
        ).scalar_one()
    assert counts.updated == 5 and changed == 5
    assert [c.as_dict()["mode"] for c in counts.chunks] == ["rewrite"]
    assert counts.chunks[0].segments == 0 and counts.chunks[0].decompressed > 5
    assert calls == [
        ("decompress", "fake_chunk_feb"),
        ("update", None),
        ("insert", None),
        ("compress", "fake_chunk_feb"),
    ]


def test_new_days_outside_compressed_chunks_take_the_plain_insert(
    seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _simulate(monkeypatch, limit=100_000)
    frame = _prices()
    new_day = frame[frame.date == "2024-03-29"].assign(date=pd.Timestamp("2024-04-01"))
    with seeded.begin() as conn:
        counts = bulk_upsert(conn, "daily_prices", new_day, ["ticker", "date"])
        statements = _statements(conn)
    assert (counts.inserted, counts.updated, counts.chunks) == (5, 0, ())
    assert [kind for kind, _ in statements] == ["insert"]
    assert "ON CONFLICT" not in statements[0][1]  # the fast path: no per-row conflict check


def test_rules_apply_in_the_unit_path_too(seeded: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _simulate(monkeypatch, limit=100_000)
    frame = _prices()
    frame["source"] = "other-copy"  # provenance only: not a change
    rules = UpdateRules(provenance=frozenset({"source"}))
    with seeded.begin() as conn:
        counts = bulk_upsert(conn, "daily_prices", frame, ["ticker", "date"], rules)
        calls = _calls(conn)
    assert (counts.inserted, counts.updated, counts.chunks) == (0, 0, ())
    assert calls == []


def test_without_timescaledb_the_plain_path_runs(seeded: Engine) -> None:
    frame = _prices()
    frame.loc[0, "close"] = 1
    with seeded.begin() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        with raw.cursor() as cur:
            assert timescale.compressed_layout(cur, "daily_prices") is None
            assert timescale.failing_jobs(cur) == []
            assert timescale.chunk_relations(cur, "daily_prices") == set()
        counts = bulk_upsert(conn, "daily_prices", frame, ["ticker", "date"])
        calls = _calls(conn)
    assert counts.updated == 1 and counts.chunks == ()
    assert calls == [("update", None), ("insert", None)]  # one statement each, no chunk step


def test_the_trading_days_queries_agree(seeded: Engine) -> None:
    with seeded.connect() as conn:
        assert timescale.distinct_trading_days(conn) is False
        for end in (date(2023, 12, 1), date(2024, 1, 2), date(2024, 2, 17), date(2024, 12, 31)):
            for days in (1, 5, 20, 70, 500):
                params = {"end": end, "days": days}
                loose = conn.execute(reader._TRADING_DAYS, params).scalars().all()
                for start in (end - reader._calendar_span(days), reader._EARLIEST):
                    distinct = (
                        conn.execute(reader._TRADING_DAYS_DISTINCT, {**params, "start": start})
                        .scalars()
                        .all()
                    )
                    # The bounded pass may find fewer (the reader then runs it unbounded).
                    assert distinct == loose[len(loose) - len(distinct) :], (end, days, start)
                    if start == reader._EARLIEST:
                        assert distinct == loose
                assert [d.isoformat() for d in reader.trading_days(conn, end, days).tolist()] == [
                    d.isoformat() for d in loose
                ]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("KRSTOCK_DATABASE_URL", raising=False)
    monkeypatch.delenv("KRSTOCK_MIGRATION_DATABASE_URL", raising=False)
    return CliRunner()


def test_db_maintain_on_plain_postgresql_has_nothing_to_do(
    runner: CliRunner, db_url: str, plain: Engine
) -> None:
    done = runner.invoke(app, ["db", "maintain", "--database-url", db_url])
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("nothing to maintain: TimescaleDB is not installed")
    as_json = runner.invoke(app, ["db", "maintain", "--database-url", db_url, "--json"])
    assert as_json.exit_code == 0
    summary = json.loads(as_json.stdout)
    assert summary["ok"] is True and summary["timescaledb"] is False and summary["steps"] == []
    check = runner.invoke(app, ["db", "check", "--database-url", db_url, "--json"])
    assert check.exit_code == 0 and json.loads(check.stdout)["failing_jobs"] == []


def test_db_maintain_of_an_unreachable_server_is_one_line(runner: CliRunner) -> None:
    done = runner.invoke(
        app, ["db", "maintain", "--database-url", "postgresql://nobody@127.0.0.1:1/none"]
    )
    assert done.exit_code == 3  # a service is unavailable (docs/errors.md), as every command says
    assert done.stderr.startswith("error: cannot maintain the database:")
    assert "Traceback" not in done.output


def test_0003_is_a_no_op_on_plain_postgresql(db_url: str, plain: Engine) -> None:
    db_engine = plain
    with db_engine.begin() as conn:
        conn.execute(text("CREATE INDEX daily_prices_date_idx ON daily_prices (date DESC)"))
    migrate.downgrade(db_url, "0002")
    migrate.upgrade(db_url, "head")
    with db_engine.connect() as conn:
        kept = conn.execute(text("SELECT to_regclass('daily_prices_date_idx')")).scalar()
    assert kept is not None  # no hypertable: 0003 leaves a plain table's indexes alone


def _integration_conftest() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("krstock_tests_integration_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def held_template(admin_url: str) -> Iterator[tuple[str, psycopg.Connection]]:
    """A template database with a session open on it (what TimescaleDB's scheduler does)."""
    base = admin_url.rpartition("/")[0]
    name = f"krstock_t_tmpl_{abs(hash(admin_url)) % 10_000}_{id(object())}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    holder = psycopg.connect(f"{base}/{name}", autocommit=True)
    try:
        yield name, holder
    finally:
        holder.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_template_is_cloned_although_a_session_holds_it(
    admin_url: str, held_template: tuple[str, psycopg.Connection]
) -> None:
    fixtures = _integration_conftest()
    template, holder = held_template
    base = admin_url.rpartition("/")[0]
    copy = fixtures._clone(admin_url, template)
    try:
        with psycopg.connect(f"{base}/{copy}") as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (copy,)
        with pytest.raises(psycopg.OperationalError):
            holder.execute("SELECT 1")  # its session was ended to make the copy
        fixtures._close_template(admin_url, template)
        with pytest.raises(psycopg.OperationalError, match="not currently accepting connections"):
            psycopg.connect(f"{base}/{template}")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
