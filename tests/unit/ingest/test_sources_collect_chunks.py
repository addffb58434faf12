"""Collection chunks: contiguous calendar ranges of N trading days covering [start, end]."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from krstock.domain.calendar import krx_trading_dates
from krstock.ingest.collect import _chunks


def test_sources_collect_chunks_cover_the_range_without_gaps() -> None:
    start, end = date(2026, 9, 19), date(2026, 10, 20)
    days = krx_trading_dates(start, end)
    chunks = _chunks(start, end, days, 6)
    assert chunks[0][0] == start and chunks[-1][1] == end
    for (_, last), (first, _) in itertools.pairwise(chunks):
        assert first == last + timedelta(days=1)
    # 6 trading days each: Chuseok (Sep 24-25), Oct 5 (substitute) and Oct 9 are not
    counts = [sum(a <= d <= b for d in days) for a, b in chunks]
    assert counts == [6, 6, 6] and sum(counts) == len(days) == 18
    assert _chunks(date(2026, 9, 24), date(2026, 9, 25), [], 6) == []
