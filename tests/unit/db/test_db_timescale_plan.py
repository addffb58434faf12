"""The TimescaleDB adapter's write plan and the SQL it generates (no server needed).

What TimescaleDB does with the statements cannot be run here (no extension on these machines);
what is checked: which units a write is split into, their bounds, the batch sizes against the
decompression limit, the statements' text and order. ``tests/integration/db`` runs the same
statements on plain PostgreSQL, and the ``timescale``-marked tests on a real TimescaleDB.
"""

from __future__ import annotations

from datetime import date

import pytest

from krstock.db import bulk, timescale
from krstock.db.bulk import NO_RULES, UpsertCounts
from krstock.db.timescale import Chunk, CompressedLayout, WriteUnit

JAN = Chunk('"_timescaledb_internal"._hyper_1_1_chunk', date(2024, 1, 1), date(2024, 2, 1), True)
FEB = Chunk('"_timescaledb_internal"._hyper_1_2_chunk', date(2024, 2, 1), date(2024, 3, 1), True)
MAR = Chunk('"_timescaledb_internal"._hyper_1_3_chunk', date(2024, 3, 1), date(2024, 4, 1), False)
JUN = Chunk('"_timescaledb_internal"._hyper_1_4_chunk', date(2024, 6, 1), date(2024, 7, 1), True)


def layout(*chunks: Chunk, limit: int = 100_000) -> CompressedLayout:
    return CompressedLayout("daily_prices", "date", ("ticker",), chunks, limit)


def text(composable: object) -> str:
    return composable.as_string(None)  # type: ignore[attr-defined]


def test_uncompressed_ranges_lie_between_compressed_chunks() -> None:
    assert timescale.uncompressed_ranges([JAN, FEB, MAR, JUN]) == [
        (None, date(2024, 1, 1)),
        (date(2024, 3, 1), date(2024, 6, 1)),
        (date(2024, 7, 1), None),
    ]
    assert timescale.uncompressed_ranges([MAR]) == [(None, None)]


def test_rows_outside_compressed_chunks_are_one_unit_per_range() -> None:
    rows = [(date(2024, 3, 5), "000001"), (date(2024, 3, 6), "000002"), (date(2024, 8, 1), "A")]
    units = timescale.plan_units(layout(JAN, FEB, MAR, JUN), rows, {})
    assert units == [
        WriteUnit(date(2024, 3, 1), date(2024, 6, 1)),
        WriteUnit(date(2024, 7, 1), None),
    ]


def test_a_one_row_correction_touches_one_segment_of_one_chunk() -> None:
    stored = {(FEB.name, "005930"): 21}
    units = timescale.plan_units(layout(JAN, FEB, MAR), [(date(2024, 2, 14), "005930")], stored)
    assert units == [
        WriteUnit(FEB.start, FEB.end, FEB, "ticker", ("005930",), rewrite=False, decompresses=21)
    ]
    assert timescale.chunk_writes(units) == [
        timescale.ChunkWrite(FEB.name, "batches", segments=1, decompressed=21)
    ]


def test_batches_stay_within_the_statement_size_and_the_decompression_limit() -> None:
    tickers = [f"{i:06d}" for i in range(450)]
    rows = [(date(2024, 1, 10), t) for t in tickers]
    stored = {(JAN.name, t): 22 for t in tickers}
    units = timescale.plan_units(layout(JAN, limit=2_000), rows, stored, per_statement=200)
    # 2,000 rows at 22 per segment: 90 segments a statement (under the 200 asked for).
    assert [len(u.segments) for u in units] == [90, 90, 90, 90, 90]
    assert all(u.decompresses <= 2_000 and not u.rewrite for u in units)
    assert sorted(s for u in units for s in u.segments) == tickers

    unbounded = timescale.plan_units(layout(JAN, limit=0), rows, stored, per_statement=200)
    assert [len(u.segments) for u in unbounded] == [200, 200, 50]


def test_a_chunk_needing_too_many_batches_is_rewritten_once() -> None:
    tickers = [f"{i:06d}" for i in range(2_500)]
    rows = [(date(2024, 2, 2), t) for t in tickers]
    stored = {(FEB.name, t): 20 for t in tickers}
    units = timescale.plan_units(layout(JAN, FEB), rows, stored, per_statement=200, max_batches=10)
    assert units == [WriteUnit(FEB.start, FEB.end, FEB, rewrite=True, decompresses=50_000)]
    assert timescale.chunk_writes(units)[0].mode == "rewrite"


def test_a_segment_bigger_than_the_limit_rewrites_its_chunk() -> None:
    units = timescale.plan_units(
        layout(JAN, limit=500), [(date(2024, 1, 3), "000001")], {(JAN.name, "000001"): 900}
    )
    assert [u.rewrite for u in units] == [True]


def test_without_segmentby_a_compressed_chunk_is_rewritten() -> None:
    plain = CompressedLayout("fx_rates", "date", (), (JAN,), 100_000)
    units = timescale.plan_units(plain, [(date(2024, 1, 3), "")], {})
    assert [u.rewrite for u in units] == [True]


def test_unit_filters_are_literals() -> None:
    unit = WriteUnit(FEB.start, FEB.end, FEB, "ticker", ("005930", "000660"))
    assert text(timescale.unit_filter(unit, "date", "t")) == (
        '"t"."date" >= \'2024-02-01\'::date AND "t"."date" < \'2024-03-01\'::date '
        'AND "t"."ticker" = ANY(\'{005930,000660}\'::text[])'
    )
    assert text(timescale.unit_filter(WriteUnit(None, date(2024, 1, 1)), "date", "s")) == (
        '"s"."date" < \'2024-01-01\'::date'
    )
    assert text(timescale.unit_filter(WriteUnit(None, None), "date", "s")) == "TRUE"


def test_the_update_and_insert_of_a_unit_carry_its_bounds() -> None:
    unit = WriteUnit(FEB.start, FEB.end, FEB, "ticker", ("005930",))
    on_t = timescale.unit_filter(unit, "date", "t")
    on_s = timescale.unit_filter(unit, "date", "s")
    types = {"ticker": "character varying(6)", "date": "date", "close": "bigint"}
    columns, keys = ["ticker", "date", "close"], ["ticker", "date"]
    update = bulk._update_statement(
        "daily_prices", "_diff", columns, keys, types, NO_RULES, (on_t, on_s)
    )
    assert update is not None
    update_sql = text(update)
    assert update_sql.startswith('UPDATE "daily_prices" AS t SET "close" = "s"."close" FROM')
    assert update_sql.endswith(f" AND {text(on_t)} AND {text(on_s)}")
    insert_sql = text(
        bulk._insert_missing_statement(
            "daily_prices", "_diff", columns, keys, types, NO_RULES, on_s
        )
    )
    assert f'FROM "_diff" AS s WHERE _missing AND {text(on_s)} ON CONFLICT' in insert_sql

    # Without bounds (plain PostgreSQL, no compressed chunk) the statements are as before.
    plain = bulk._update_statement("daily_prices", "_diff", columns, keys, types, NO_RULES)
    assert plain is not None and text(plain).endswith('IS DISTINCT FROM ("s"."close")')


def test_chunk_statements() -> None:
    assert text(timescale.decompress_statement(JAN)) == (
        "SELECT decompress_chunk('\"_timescaledb_internal\"._hyper_1_1_chunk'::regclass, "
        "if_compressed => true)"
    )
    assert text(timescale.compress_statement(JAN)) == (
        "SELECT compress_chunk('\"_timescaledb_internal\"._hyper_1_1_chunk'::regclass, "
        "if_not_compressed => true)"
    )


def test_maintenance_statements() -> None:
    job = timescale.Job(1001, "policy_compression", "daily_prices")
    assert text(timescale.run_job_statement(job)) == "CALL run_job(1001)"
    assert text(timescale.refresh_statement("daily_prices_weekly", date(2026, 12, 3))) == (
        "CALL refresh_continuous_aggregate('daily_prices_weekly', NULL, '2026-12-03'::date)"
    )
    assert timescale.history_end(date(2026, 12, 4)) == date(2026, 12, 3)
    assert timescale.MAINTENANCE_PROCS.index("policy_refresh_continuous_aggregate") < (
        timescale.MAINTENANCE_PROCS.index("policy_compression")
    )


def test_upsert_counts_add_their_chunks() -> None:
    a = UpsertCounts(1, 2, 3, 0, (timescale.ChunkWrite("c1", "batches", 1, 20),))
    b = UpsertCounts(0, 1, 0, 1, (timescale.ChunkWrite("c2", "rewrite", 9, 900),))
    total = a + b
    assert (total.inserted, total.updated, total.unchanged, total.duplicates) == (1, 3, 3, 1)
    assert [c.chunk for c in total.chunks] == ["c1", "c2"]
    assert total.chunks[1].as_dict() == {
        "chunk": "c2",
        "mode": "rewrite",
        "segments": 9,
        "decompressed": 900,
    }


@pytest.mark.parametrize("limit", [0, 1, 50])
def test_every_row_lands_in_exactly_one_unit(limit: int) -> None:
    chunks = (JAN, FEB, MAR, JUN)
    rows = [
        (date(2023, 12, 31), "A"),
        (date(2024, 1, 1), "A"),
        (date(2024, 1, 31), "B"),
        (date(2024, 2, 1), "A"),
        (date(2024, 3, 31), "C"),
        (date(2024, 6, 30), "D"),
        (date(2024, 7, 1), "E"),
    ]
    stored = {(c.name, s): 10 for c in chunks for s in "ABCDE"}
    units = timescale.plan_units(layout(*chunks, limit=limit), rows, stored, per_statement=1)

    def covers(unit: WriteUnit, day: date, segment: str) -> bool:
        inside = (unit.lo is None or day >= unit.lo) and (unit.hi is None or day < unit.hi)
        return inside and (not unit.segments or segment in unit.segments)

    for day, segment in rows:
        assert sum(covers(u, day, segment) for u in units) == 1, (day, segment)


def test_the_import_report_names_the_chunks_written() -> None:
    from krstock.ingest.report import FileResult, ImportSummary

    chunk = timescale.ChunkWrite(FEB.name, "batches", 1, 21)
    result = FileResult(
        name="krx",
        read=2,
        tables={
            "daily_prices": UpsertCounts(0, 1, 1, 0, (chunk,)),
            "stocks": UpsertCounts(0, 0, 1),
        },
    )
    tables = ImportSummary(files={"krx": result}, rejects_file="x.csv").to_dict()["tables"]["krx"]
    assert tables["daily_prices"]["compressed_chunks"] == [chunk.as_dict()]
    assert tables["daily_prices"]["updated"] == 1
    assert "compressed_chunks" not in tables["stocks"]  # plain PostgreSQL: the report as before


def test_a_load_touches_compressed_chunks_when_its_days_meet_one() -> None:
    chunks = layout(JAN, FEB, MAR, JUN)
    assert timescale.touches_compressed(chunks, date(2024, 1, 31), date(2024, 1, 31))
    assert timescale.touches_compressed(chunks, date(2024, 3, 5), date(2024, 6, 1))
    assert not timescale.touches_compressed(chunks, date(2024, 3, 1), date(2024, 5, 31))
    assert not timescale.touches_compressed(chunks, date(2024, 7, 1), date(2024, 7, 1))
    assert timescale.touches_compressed(chunks, None, None)  # unknown: assume it does


def test_the_diff_join_is_bounded_to_the_load_days() -> None:
    span = bulk._span_sql((date(2024, 3, 4), date(2024, 3, 8)), layout(JAN))
    assert span is not None
    assert text(span) == (
        '"t"."date" >= \'2024-03-04\'::date AND "t"."date" < \'2024-03-09\'::date'
    )
    types = {"ticker": "character varying(6)", "date": "date", "close": "bigint"}
    cols, keys = ["ticker", "date", "close"], ["ticker", "date"]
    bounded = text(bulk._diff_statement("p", "_s", "_d", cols, keys, types, NO_RULES, span))
    assert f'ON "t"."ticker" = "s"."ticker" AND "t"."date" = "s"."date" AND {text(span)}' in bounded
    plain = text(bulk._diff_statement("p", "_s", "_d", cols, keys, types, NO_RULES))
    assert "'2024" not in plain
    assert bulk._span_sql((date(2024, 3, 4), date(2024, 3, 8)), None) is None
