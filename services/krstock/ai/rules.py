"""The rule-based analyzer: honest and useful with no key, on rejection and over budget.

A Korean keyword/phrase lexicon (the monolith's ``positive_keywords``/``negative_keywords``)
read with its traps: phrases are matched before single words, so "적자 축소" and "흑자전환" are
good news although they contain 적자, "계약 해지" is bad news although it contains 계약, and
dilutive filings (전환사채, 유상증자, ...) count as negative. Reasons quote only facts (titles
and figures from the sheet, by id). Everything here says ``source: "rules"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from krstock.ai.answers import Claim, NewsJudgement, Recommendation
from krstock.ai.facts import MISSING, Fact, FactSheet

SOURCE = "rules"

# Phrases win over the words inside them (matched on text without spaces, longest first).
POSITIVE_PHRASES = (
    "흑자전환",
    "적자축소",
    "적자폭축소",
    "적자탈출",
    "손실축소",
    "적자개선",
    "무상증자",
    "자사주매입",
    "자사주소각",
    "관리종목해제",
    "거래재개",
    "감사의견적정",
    "상장폐지사유해소",
)
NEGATIVE_PHRASES = (
    "계약해지",
    "공급계약해지",
    "계약취소",
    "수주취소",
    "임상실패",
    "임상중단",
    "승인거절",
    "적자전환",
    "적자확대",
    "실적악화",
    "매출감소",
    "공매도급증",
    "외국인매도",
    "대량매도",
    # Dilutive filings: new shares or claims on them.
    "전환사채",
    "신주인수권부사채",
    "교환사채",
    "유상증자",
    "제3자배정",
    "CB발행",
    "BW발행",
)
# The monolith's SignalConfig lists (single words; phrases above take their text first).
POSITIVE_WORDS = (
    "실적개선",
    "어닝서프라이즈",
    "사상최대",
    "호실적",
    "매출증가",
    "영업이익",
    "순이익",
    "분기최대",
    "수주",
    "계약체결",
    "공급계약",
    "납품계약",
    "MOU",
    "LOI",
    "대규모계약",
    "독점계약",
    "장기공급",
    "신약개발",
    "임상성공",
    "FDA승인",
    "CE인증",
    "특허취득",
    "기술이전",
    "라이선스",
    "신제품",
    "양산",
    "상용화",
    "지분투자",
    "인수합병",
    "자회사편입",
    "지분확대",
    "정부지원",
    "국책사업",
    "수혜주",
    "관련주",
    "테마",
    "외국인매수",
    "기관매수",
    "프로그램매수",
    "상한가",
)
NEGATIVE_WORDS = (
    "횡령",
    "배임",
    "분식",
    "상장폐지",
    "관리종목",
    "감사의견거절",
    "자본잠식",
    "부도",
    "파산",
    "워크아웃",
    "법정관리",
    "검찰",
    "수사",
    "구속",
    "기소",
    "거래정지",
    "하한가",
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Hits:
    positive: tuple[str, ...]
    negative: tuple[str, ...]

    @property
    def net(self) -> int:
        return len(self.positive) - len(self.negative)


def read(text: str) -> Hits:
    """The lexicon's hits in ``text``: phrases first (their text is then masked), then words."""
    rest = _SPACES.sub("", text)
    positive: list[str] = []
    negative: list[str] = []
    phrases = sorted(
        [(p, positive) for p in POSITIVE_PHRASES] + [(p, negative) for p in NEGATIVE_PHRASES],
        key=lambda pair: -len(pair[0]),
    )
    for phrase, bucket in phrases:
        if phrase.lower() in rest.lower():
            bucket.append(phrase)
            rest = re.sub(re.escape(phrase), "·", rest, flags=re.I)
    for word in POSITIVE_WORDS:
        if word.lower() in rest.lower():
            positive.append(word)
    for word in NEGATIVE_WORDS:
        if word.lower() in rest.lower():
            negative.append(word)
    return Hits(tuple(dict.fromkeys(positive)), tuple(dict.fromkeys(negative)))


def _title(fact: Fact) -> str:
    return fact.text


def news_judgement(sheet: FactSheet) -> NewsJudgement:
    """0 no news or bad news outweighs good; 1 news without a signal either way; 2 one or two
    good hits more than bad; 3 three or more."""
    items = sheet.news()
    if not items:
        return NewsJudgement(score=0, reason="뉴스 없음 (규칙 기반)", evidence=[])
    per_item = [(fact, read(fact.text)) for fact in items]
    net = sum(h.net for _, h in per_item)
    score = 0 if net < 0 else 1 if net == 0 else 2 if net <= 2 else 3
    parts = []
    for fact, hits in per_item:
        words = [f"+{w}" for w in hits.positive] + [f"-{w}" for w in hits.negative]
        if words:
            parts.append(f"{fact.id} {', '.join(words)}")
    detail = "; ".join(parts) if parts else "긍정/부정 키워드 없음"
    return NewsJudgement(
        score=score,
        reason=f"규칙 기반 뉴스 판단: {detail}",
        evidence=[fact.id for fact, hits in per_item if hits.positive or hits.negative]
        or [items[0].id],
    )


def _figure(sheet: FactSheet, label: str) -> Fact | None:
    return next((f for f in sheet.facts if f.kind == "figure" and f.label == label), None)


def _value(fact: Fact | None) -> float | None:
    if fact is None or fact.text == MISSING or not fact.numbers:
        return None
    return fact.numbers[0]


BUY_SCORE = 70.0  # the monolith's rule-based fallback: score ≥ 70 and foreign buying → BUY


def recommendation(
    sheet: FactSheet,
    score_label: str,
    flow_labels: Sequence[str],
    buy_score: float = BUY_SCORE,
) -> Recommendation:
    """The monolith's p10 fallback, made honest: score ≥ ``buy_score`` (70 on the VCP scale; a
    closing-bet total is of 12) with foreign net buying → BUY 60;
    foreign and institutional selling both → SELL 55; otherwise HOLD 50. Bad news (the lexicon)
    never lets a BUY stand. Each claim cites the facts it used."""
    score_fact = _figure(sheet, score_label)
    foreign_fact = _figure(sheet, flow_labels[0])
    inst_fact = _figure(sheet, flow_labels[1])
    score, foreign, inst = _value(score_fact), _value(foreign_fact), _value(inst_fact)
    news = news_judgement(sheet)
    bad_news = bool(sheet.news()) and news.score == 0
    claims: list[Claim] = []
    if score is not None and foreign is not None and score >= buy_score and foreign > 0:
        action, confidence = "BUY", 60
        claims.append(
            Claim(
                text=f"점수 {score_fact.text if score_fact else ''}, 외국인 순매수",
                evidence=[f.id for f in (score_fact, foreign_fact) if f],
            )
        )
    elif foreign is not None and inst is not None and foreign < 0 and inst < 0:
        action, confidence = "SELL", 55
        claims.append(
            Claim(
                text="외국인과 기관이 모두 순매도",
                evidence=[f.id for f in (foreign_fact, inst_fact) if f],
            )
        )
    else:
        action, confidence = "HOLD", 50
        used = [f.id for f in (score_fact, foreign_fact, inst_fact) if f]
        missing = [
            f.label for f in (score_fact, foreign_fact, inst_fact) if f and _value(f) is None
        ]
        text = "매수 조건(기준 이상의 전략 점수와 외국인 순매수) 미충족"
        if missing:
            text += f"; 데이터 없음: {', '.join(missing)}"
        claims.append(Claim(text=text, evidence=used or [sheet.facts[0].id]))
    if bad_news and action == "BUY":
        action, confidence = "HOLD", 50
    if sheet.news():
        claims.append(Claim(text=news.reason, evidence=news.evidence or [sheet.news()[0].id]))
    reason = "규칙 기반: " + "; ".join(c.text for c in claims)
    return Recommendation(action=action, confidence=confidence, reason=reason[:600], claims=claims)
