"""legacy_io._has_padded_field: the check that decides whether text fields are stripped."""

from __future__ import annotations

import pytest

from krstock.marketdata.legacy_io import _has_padded_field


@pytest.mark.parametrize(
    ("text", "padded"),
    [
        ("005930,2024-01-02,100\n000660,2024-01-02,200", False),  # no blank at all
        ("005930,삼성 전자,100", False),  # a blank inside a field is not padding
        ("005930,\t2024-01-02,100", True),
        ("005930 ,2024-01-02", True),
        ("005930, 2024-01-02", True),
        ("005930,100 \n000660,200", True),
        ("005930,100\n 000660,200", True),
        (" 005930,100", True),
        ("005930,100 ", True),
        ("005930,2024-01-02 16:05:00,삼성 전자", False),  # blanks inside, none at an edge
        ("005930,2024-01-02 16:05:00,삼성 ", True),
        ("005930,\n000660, ", True),
    ],
)
def test_padding_is_found_wherever_it_is(text: str, padded: bool) -> None:
    assert _has_padded_field(text.encode()) is padded
