"""Which chat model the settings give: none without a key, none (rules, logged) when the SDK is
missing, else Gemini through the process's one client with the configured round cap."""

from __future__ import annotations

import sys

import pytest

from krstock.api.services.chatbot import build_chat_model
from krstock.config import Settings


def test_no_key_no_model() -> None:
    settings = Settings(gemini_api_key=None)
    assert build_chat_model(settings, settings.api) is None


def test_a_key_gives_gemini_with_the_round_cap() -> None:
    settings = Settings(
        gemini_api_key="k-test-model", gemini_model="gemini-x", chat_max_rounds=2,
        gemini_base_url="http://127.0.0.1:9",
    )  # fmt: skip
    model = build_chat_model(settings, settings.api)
    assert model is not None and (model.model, model.max_rounds) == ("gemini-x", 2)
    again = build_chat_model(settings, settings.api)
    assert again is not None and again.client is model.client  # one client per process


def test_a_key_without_the_sdk_is_rules_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "google.genai", None)  # as if the ai extra were missing
    settings = Settings(gemini_api_key="k-test-no-sdk", gemini_base_url="http://127.0.0.1:9")
    assert build_chat_model(settings, settings.api) is None
    assert "google-genai is missing" in caplog.text
