"""A fake Gemini per test (the real SDK talks to it over loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.fake_gemini import FakeGemini


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake
