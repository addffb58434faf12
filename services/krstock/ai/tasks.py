"""The two questions we ask a model, each with its prompt version, instructions, answer model
and rule-based stand-in: the closing-bet news judgement and the signal recommendation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from krstock.ai import rules
from krstock.ai.answers import Answer, NewsJudgement, Recommendation
from krstock.ai.facts import FactSheet

GROUNDING = (
    "규칙: 아래 사실표에 있는 것만 근거로 판단하세요. 숫자는 사실표에 적힌 그대로만 쓰고 "
    "계산하거나 추정한 숫자, URL, 사실표에 없는 날짜는 쓰지 마세요. "
    "'없음'인 값은 추정하지 마세요. 근거는 사실 id(F1, N1, D1 …)로 밝히세요. "
    "답은 주어진 JSON 스키마의 객체 하나입니다."
)


@dataclass(frozen=True)
class Task:
    purpose: str
    prompt_version: str
    system: str
    answer: type[Answer]
    rules: Callable[[FactSheet], Answer]
    temperature: float = 0.1

    def prompt(self, sheet: FactSheet) -> str:
        return f"{sheet.text()}\n\n{GROUNDING}"


NEWS = Task(
    purpose="news",
    prompt_version="news-v1",
    system=(
        "당신은 한국 주식 뉴스 분석가입니다. 종가베팅 후보 종목의 최근 뉴스 전체를 0–3점으로 "
        "평가합니다. 3 = 뚜렷한 호재(대규모 수주, 상한가 관련 뉴스, 어닝 서프라이즈, 경영권 분쟁), "
        "2 = 호재(실적 개선, 기대감, 테마), 1 = 중립, 0 = 악재이거나 의미 있는 뉴스 없음. 전환사채·"
        "유상증자 같은 희석성 공시는 악재입니다. 평범한 뉴스에 높은 점수를 주지 마세요. reason은 "
        "한두 문장, evidence는 사용한 뉴스 id입니다."
    ),
    answer=NewsJudgement,
    rules=rules.news_judgement,
)

SCORE_LABEL = "전략 점수"
FLOW_LABELS = ("외국인 5일 순매수", "기관 5일 순매수")


# A closing-bet total is of 12 points: 8 is the monolith's A-grade floor.
CLOSING_BET_BUY_SCORE = 8.0


def _recommendation_rules(sheet: FactSheet) -> Answer:
    buy = CLOSING_BET_BUY_SCORE if sheet.strategy == "closing-bet" else rules.BUY_SCORE
    return rules.recommendation(sheet, SCORE_LABEL, FLOW_LABELS, buy)


RECOMMENDATION = Task(
    purpose="recommendation",
    prompt_version="rec-v1",
    system=(
        "당신은 신중한 한국 주식 애널리스트입니다. 신호가 난 종목을 사실표만 보고 BUY, HOLD, SELL "
        "중 하나로 판단하고 confidence(0–100), reason, claims(각 주장과 그 근거 사실 id)를 "
        "답합니다. 근거가 약하거나 데이터가 없으면 HOLD이고 confidence를 낮추세요. 모든 종목에 "
        "BUY를 주는 것은 판단이 아닙니다."
    ),
    answer=Recommendation,
    rules=_recommendation_rules,
)
