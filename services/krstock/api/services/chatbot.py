"""A rule-based local chatbot for the monolith's chatbot routes: answers from the database.

It is not an LLM and says so (``source: "rules"``). Per-user memory and the chat history live in
Redis (``krstock.api.infra.chat_store``). The AI issue will put Gemini behind the same routes.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from krstock.api.infra.chat_store import ChatStore
from krstock.api.services.market import gate_body, gate_snapshot
from krstock.api.services.serializers import stored_mark
from krstock.api.services.stocks import names_for
from krstock.api.services.vcp_signals import open_vcp_signals
from krstock.app.prices import latest_closes
from krstock.db.models import Signal, Stock

SOURCE = "rules"
CONTEXT_TURNS = 10
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
HELP = (
    "규칙 기반 도우미입니다 (LLM 아님). 질문 예: '시장 상태', '추천 종목', '005930', '삼성전자'.\n"
    "명령: /help, /status, /memory view|add <키> <값>|remove <키>|clear, /clear"
)
WELCOME = (
    "안녕하세요! krstock 도우미입니다. 마켓 게이트, 오늘의 시그널, 종목별 최신 시그널을 "
    "데이터베이스에서 찾아 답합니다. (규칙 기반, LLM 아님)"
)


def _gate_text(session: Session) -> str:
    snapshot = gate_snapshot(session)
    if snapshot is None:
        return "마켓 게이트 데이터가 아직 없습니다 (krstock scan market-gate 를 실행하세요)."
    body = gate_body(snapshot)
    reasons = " / ".join(str(r) for r in body["reasons"][:3])
    return (
        f"{body['date']} 마켓 게이트: {body['status']} ({body['label']}, {body['score']}점). "
        f"{reasons}"
    ).strip()


def _top_signals_text(session: Session) -> str:
    rows = open_vcp_signals(session)[:5]
    if not rows:
        return "열린 VCP 시그널이 없습니다."
    names = names_for(session, [r.ticker for r in rows])
    lines = [
        f"{names.get(r.ticker, ('', ''))[0] or r.ticker}({r.ticker}) 점수 {r.score:.1f}, "
        f"진입 {r.entry_price:,.0f}원, {r.signal_date}"
        for r in rows
        if r.score is not None and r.entry_price is not None
    ]
    return "열린 VCP 시그널 상위:\n" + "\n".join(lines)


def _ticker_text(session: Session, ticker: str) -> str:
    stock = session.get(Stock, ticker)
    label = f"{stock.name}({ticker})" if stock else ticker
    signal = session.scalars(
        select(Signal).where(Signal.ticker == ticker).order_by(Signal.signal_date.desc()).limit(1)
    ).first()
    price = latest_closes(session, [ticker]).get(ticker)
    parts = [label]
    if price:
        parts.append(f"최근 종가 {price[0]:,.0f}원 ({price[1]})")
    if signal is None:
        parts.append("시그널 기록 없음")
    else:
        parts.append(
            f"최신 시그널: {signal.strategy} {signal.signal_date} {signal.status}"
            + (f" 등급 {signal.grade}" if signal.grade else "")
            + (f" 점수 {signal.score:.1f}" if signal.score is not None else "")
            + _return_text(signal)
        )
    return ", ".join(parts)


def _return_text(signal: Signal) -> str:
    """The stored valuation (serializers.stored_mark), or why there is none."""
    mark = stored_mark(signal)
    if mark.return_pct is not None:
        return f" 수익률 {mark.return_pct:+.2f}%"
    if signal.status == "OPEN":
        return " 현재가 없음 (시그널 이후 가격 데이터 없음)"
    return ""


def _find_ticker(session: Session, message: str) -> str | None:
    match = _CODE.search(message)
    if match:
        return match.group(1)
    words = [w for w in re.split(r"\s+", message) if len(w) >= 2][:8]
    if not words:
        return None
    hit = session.execute(
        select(Stock.ticker).where(Stock.name.in_(words)).order_by(Stock.ticker).limit(1)
    ).first()
    return hit.ticker if hit else None


def _command(store: ChatStore, message: str) -> str:
    parts = message.split(maxsplit=3)
    head = parts[0].lower()
    if head == "/help":
        return HELP
    if head == "/status":
        return f"source=rules, memory={len(store.memory())}, history={len(store.history())}"
    if head == "/clear":
        store.clear_history()
        if len(parts) > 1 and parts[1] == "all":
            store.forget()
        return "대화 기록을 지웠습니다."
    if head == "/memory":
        verb = parts[1].lower() if len(parts) > 1 else "view"
        if verb == "view":
            memory = store.memory()
            return "\n".join(f"{k}: {v['value']}" for k, v in memory.items()) or "메모리 없음"
        if verb in ("add", "update") and len(parts) == 4:
            store.remember({parts[2]: parts[3]})
            return f"기억했습니다: {parts[2]}"
        if verb == "remove" and len(parts) >= 3:
            store.forget(parts[2])
            return f"지웠습니다: {parts[2]}"
        if verb == "clear":
            store.forget()
            return "메모리를 모두 지웠습니다."
    return HELP


def answer(session: Session, store: ChatStore, message: str) -> str:
    text = message.strip()
    if text.startswith("/"):
        return _command(store, text)
    lowered = text.lower()
    if any(w in lowered for w in ("시장", "마켓", "게이트", "market", "gate", "코스피", "kospi")):
        return _gate_text(session)
    ticker = _find_ticker(session, text)
    if ticker:
        return _ticker_text(session, ticker)
    if any(w in lowered for w in ("추천", "시그널", "종목", "signal", "top", "매수")):
        return _top_signals_text(session)
    return HELP


def status(store: ChatStore) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "model": None,
        "llm": False,
        "memory_items": len(store.memory()),
        "history_messages": len(store.history()),
        "context_turns": CONTEXT_TURNS,
        "message": "rule-based answers from the database; no LLM is configured for chat",
    }
