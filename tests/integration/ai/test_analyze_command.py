"""`krstock analyze` and `krstock eval ai` as a user runs them (a real process): the JSON shape
the issue fixes, the cache on a re-run, --refresh, and bad input as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from ai_seed import DAY, seed_day
from helpers.fake_gemini import FakeGemini, json_answer
from sqlalchemy import Engine

pytestmark = pytest.mark.integration
KRSTOCK = str(Path(sys.executable).parent / "krstock")
GOOD = {
    "action": "HOLD",
    "confidence": 40,
    "reason": "전략 점수는 높지만 근거가 더 필요",  # no figure: it fits both stocks' facts
    "claims": [{"text": "전략 점수가 높음", "evidence": ["F4"]}],
}


def krstock(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("KRSTOCK_", "GEMINI", "GOOGLE"))
    }
    return subprocess.run(
        [KRSTOCK, *args], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_analyze_json_shape_cache_and_refresh(
    db_url: str, db_engine: Engine, fake_gemini: FakeGemini, redis_url: str
) -> None:
    seed_day(db_engine)
    env = {
        "KRSTOCK_DATABASE_URL": db_url,
        "KRSTOCK_REDIS_URL": redis_url,
        "KRSTOCK_REDIS_PREFIX": f"krstock-test-cli-{uuid.uuid4().hex[:12]}",
        "GEMINI_API_KEY": fake_gemini.api_key,
        "KRSTOCK_GEMINI_BASE_URL": fake_gemini.url,
        "KRSTOCK_AI_TOP_N": "2",
    }
    fake_gemini.script(json_answer(GOOD), json_answer(GOOD))
    args = ("analyze", "--date", DAY.isoformat(), "--strategy", "vcp", "--json")
    first = krstock(*args, env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert set(report) == {"date", "analyzed", "cached", "rejected", "source", "items"}
    assert (report["date"], report["analyzed"], report["cached"]) == ("2026-02-05", 2, 0)
    assert report["source"] == "gemini"
    assert set(report["items"][0]) == {
        "ticker",
        "strategy",
        "action",
        "source",
        "grounded",
        "reason",
    }
    assert report["items"][0]["grounded"] is True
    assert len(fake_gemini.requests) == 2

    again = json.loads(krstock(*args, env=env).stdout)
    assert again["cached"] == 2 and len(fake_gemini.requests) == 2  # no HTTP call

    fake_gemini.script(json_answer(GOOD), json_answer(GOOD))
    refreshed = json.loads(krstock(*args, "--refresh", env=env).stdout)
    assert refreshed["cached"] == 0 and len(fake_gemini.requests) == 4

    evaluated = krstock("eval", "ai", "--after", "2026-01-01", "--json", env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads(evaluated.stdout)
    (row,) = scores["by_action"]  # both HOLD by Gemini; next day +2% (005930), +1% (035720)
    assert (row["source"], row["action"], row["n"]) == ("gemini", "HOLD", 2)
    assert row["mean_next_day_return_pct"] == pytest.approx(1.5)
    assert row["hit_rate"] == 1.0  # HOLD hits within +-2%


def test_analyze_without_a_key_says_rules(db_url: str, db_engine: Engine) -> None:
    seed_day(db_engine)
    done = krstock(
        "analyze", "--date", DAY.isoformat(), "--json", env={"KRSTOCK_DATABASE_URL": db_url}
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["source"] == "rules" and report["analyzed"] == 3
    assert all(i["source"] == "rules" and not i["grounded"] for i in report["items"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("analyze", "--date", "2026-13-01"), "--date"),
        (("analyze", "--date", "2026-02-05", "--strategy", "momentum"), "momentum"),
        (("eval", "ai", "--after", "soon"), "--after"),
    ],
)
def test_bad_input_is_one_line(args: tuple[str, ...], message: str) -> None:
    done = krstock(*args, env={"KRSTOCK_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"})
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_eval_names_a_bad_policy_before_any_database_work() -> None:
    done = krstock(
        "eval",
        "ai",
        "--policy",
        "/nope/policy.yaml",
        env={"KRSTOCK_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"},
    )
    assert done.returncode == 1  # InputError (docs/errors.md), not the unreachable database
    assert "/nope/policy.yaml" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
