"""The monolith's chatbot, answered from our database: by Gemini with read-only tools when a key
is configured, by rules otherwise, and every reply says which (``source``).

Tools (``TOOLS``): the market gate, signal lists, one stock's prices and latest signal, strategy
performance, a stock lookup by name. Each reads, never writes, and takes validated arguments.
Gemini's answer is used only when every number in it comes from a tool result (``krstock.ai.chat``);
otherwise, and on any failure, the rules answer from the same tool functions, with a ``note``
saying why. Commands (``/help``, ``/memory`` …) are always handled by rules.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from krstock.ai import metrics as llm_metrics
from krstock.ai.chat import ChatRejected, ChatTool, converse
from krstock.ai.gemini import PROVIDER, gemini_client
from krstock.ai.limits import Limiter
from krstock.api.infra.chat_store import ChatStore
from krstock.api.infra.state import AppState
from krstock.api.services.market import NO_GATE_YET, gate_body, gate_snapshot
from krstock.api.services.performance import performance_report
from krstock.api.services.serializers import stored_mark
from krstock.api.services.stocks import names_for, price_history
from krstock.api.services.strategies import CLOSING_BET_STRATEGIES, VCP_STRATEGIES
from krstock.config import ApiSection, Settings
from krstock.db.models import NewsItem, Signal, Stock
from krstock.domain.calendar import KST

log = logging.getLogger("krstock.api.chatbot")
ANSWERS = Counter(
    "krstock_chat_answers_total",
    "Chat answers by source, and why the rules answered (no_model, command, or the rejection)",
    ["source", "reason"],
)

RULES = "rules"
GEMINI = "gemini"
SOURCE = RULES  # the source when no model is configured (the welcome text's)
CONTEXT_TURNS = 10
CHAT_MODEL_KEY = "chat_model"  # in AppState.extras
# A rejected chat turn as the LLM metrics' outcomes (krstock_llm_calls).
LLM_OUTCOMES = {
    "ungrounded": "rejected",
    "round_cap": "rejected",
    "no_text": "rejected",
    "api_error": "failed",
    "unreachable": "failed",
    "rate_limited": "rate_limited",
    "over_budget": "over_budget",
}
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
COMMANDS = (
    "명령: /help, /status, /memory view|add <키> <값>|remove <키>|clear, /clear [all], /refresh"
)
HELP = (
    "규칙 기반 도우미입니다 (LLM 아님). 질문 예: '시장 상태', '추천 종목', '005930', '삼성전자', "
    "'성과'.\n" + COMMANDS
)
GEMINI_HELP = (
    "Gemini 도우미입니다: 데이터베이스를 조회하는 도구(마켓 게이트, 시그널, 종목, 성과, "
    "종목 검색)로 답하고, 도구 결과에 없는 숫자가 있으면 규칙 기반 답으로 바꿉니다.\n" + COMMANDS
)
WELCOME = (
    "안녕하세요! krstock 도우미입니다. 마켓 게이트, 오늘의 시그널, 종목별 최신 시그널을 "
    "데이터베이스에서 찾아 답합니다."
)
SYSTEM = """당신은 한국 주식 시그널 플랫폼 krstock의 도우미입니다.
- 사실(가격, 점수, 등급, 날짜, 수익률, 시장 상태)은 반드시 도구 결과에서만 가져오고, 숫자는 도구 결과에 있는 그대로 쓰세요. 계산하거나 추정한 숫자를 쓰지 마세요.
- 도구 결과에 없는 정보는 "데이터 없음"이라고 말하세요. 뉴스나 URL을 지어내지 마세요.
- 종목 이름만 알면 find_stock 으로 종목코드를 찾은 다음 stock 을 호출하세요.
- 뉴스는 news 도구가 준 것만 말하고, 링크는 그 결과의 url 을 그대로 쓰세요.
- 투자 권유가 아니라 데이터 설명입니다. 한국어로 간결하게 답하세요.
"""  # noqa: E501


# ----------------------------------------------------------------------------- tools


def _strategies(strategy: str) -> tuple[str, ...]:
    return VCP_STRATEGIES if strategy == "vcp" else CLOSING_BET_STRATEGIES


def _signal_fields(signal: Signal, name: str | None) -> dict[str, Any]:
    mark = stored_mark(signal)
    return {
        "ticker": signal.ticker,
        "name": name or "",
        "strategy": signal.strategy,
        "signal_date": signal.signal_date.isoformat(),
        "status": signal.status,
        "grade": signal.grade,
        "score": round(float(signal.score), 1) if signal.score is not None else None,
        "entry_price": signal.entry_price,
        "current_price": mark.current_price,
        "return_pct": round(mark.return_pct, 2) if mark.return_pct is not None else None,
        "price_status": mark.price_status,
        "exit_date": signal.exit_date.isoformat() if signal.exit_date else None,
    }


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GateArgs(_Args):
    date: dt.date | None = Field(None, description="YYYY-MM-DD; the newest gate when omitted")


class SignalsArgs(_Args):
    strategy: Literal["vcp", "closing-bet"] = "vcp"
    status: Literal["OPEN", "ALL"] = Field("OPEN", description="OPEN, or ALL for every status")
    limit: int = Field(5, ge=1, le=10)


Ticker = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]


class StockArgs(_Args):
    ticker: Ticker = Field(description="6-digit KRX code, e.g. 005930")
    days: int = Field(5, ge=1, le=20, description="how many recent daily bars")


class PerformanceArgs(_Args):
    strategy: Literal["vcp", "closing-bet"] = "vcp"


class NewsArgs(_Args):
    ticker: Ticker = Field(description="6-digit KRX code")
    limit: int = Field(5, ge=1, le=10)


class FindArgs(_Args):
    name: Annotated[str, StringConstraints(min_length=1, max_length=40, strip_whitespace=True)]


def market_gate(session: Session, args: GateArgs) -> dict[str, Any]:
    snapshot = gate_snapshot(session, args.date)
    if snapshot is None:
        return {"available": False, "message": NO_GATE_YET}
    body = gate_body(snapshot)
    return {
        "available": True,
        **{k: body[k] for k in ("date", "status", "label", "score")},
        "reasons": [str(r) for r in body["reasons"][:5]],
        **{k: body[k] for k in ("kospi_close", "kospi_change_pct")},
        **{k: body[k] for k in ("kosdaq_close", "kosdaq_change_pct")},
        "sectors": [
            {"name": s.get("name"), "signal": s.get("signal"), "change_pct": s.get("change_pct")}
            for s in body["sectors"][:8]
        ],
    }


def signals(session: Session, args: SignalsArgs) -> dict[str, Any]:
    query = select(Signal).where(Signal.strategy.in_(_strategies(args.strategy)))
    if args.status == "OPEN":
        query = query.where(Signal.status == "OPEN")
    rows = list(
        session.scalars(
            query.order_by(
                Signal.signal_date.desc(), Signal.score.desc().nulls_last(), Signal.id
            ).limit(args.limit)
        )
    )
    names = names_for(session, [r.ticker for r in rows])
    return {
        "strategy": args.strategy,
        "status": args.status,
        "count": len(rows),
        "signals": [_signal_fields(r, names.get(r.ticker, ("", ""))[0]) for r in rows],
    }


def stock(session: Session, args: StockArgs) -> dict[str, Any]:
    found = session.get(Stock, args.ticker)
    bars = price_history(session, args.ticker, args.days)
    latest = session.scalars(
        select(Signal)
        .where(Signal.ticker == args.ticker)
        .order_by(Signal.signal_date.desc(), Signal.id.desc())
        .limit(1)
    ).first()
    return {
        "ticker": args.ticker,
        "known": found is not None,
        "name": found.name if found else None,
        "market": found.market if found else None,
        "prices": [
            {"date": b.date.isoformat(), "close": b.close, "volume": b.volume} for b in bars
        ],
        "latest_signal": _signal_fields(latest, found.name if found else None) if latest else None,
    }


def performance(session: Session, args: PerformanceArgs) -> dict[str, Any]:
    report = performance_report(session, _strategies(args.strategy))
    keys = (
        "total_signals", "closed_signals", "open_signals", "wins", "losses", "win_rate",
        "avg_return", "best_trade", "worst_trade", "avg_hold_days",
    )  # fmt: skip
    return {"strategy": args.strategy, **{k: report.get(k) for k in keys}}


def find_stock(session: Session, args: FindArgs) -> dict[str, Any]:
    pattern = "%" + args.name.replace("\\", "").replace("%", "").replace("_", "") + "%"
    rows = session.execute(
        select(Stock.ticker, Stock.name, Stock.market)
        .where(Stock.name.ilike(pattern))
        .order_by(func.length(Stock.name), Stock.ticker)
        .limit(10)
    ).all()
    return {
        "query": args.name,
        "matches": [{"ticker": r.ticker, "name": r.name, "market": r.market} for r in rows],
    }


def news(session: Session, args: NewsArgs) -> dict[str, Any]:
    """The newest collected items (news_items: the collectors' own URLs, never a model's)."""
    rows = session.execute(
        select(
            NewsItem.title,
            NewsItem.source,
            NewsItem.published_at,
            NewsItem.url,
            NewsItem.origin,
        )
        .where(NewsItem.ticker == args.ticker, NewsItem.published_at.is_not(None))
        .order_by(NewsItem.published_at.desc(), NewsItem.credibility.desc().nulls_last())
        .limit(args.limit)
    ).all()
    return {
        "ticker": args.ticker,
        "count": len(rows),
        "items": [
            {
                "title": r.title,
                "source": r.source or "",
                "published_at": r.published_at.astimezone(KST).isoformat(),
                "url": r.url,
                "provider": r.origin or "",
            }
            for r in rows
        ],
    }


TOOL_NAMES = ("market_gate", "signals", "stock", "performance", "find_stock", "news")


def tools_for(session: Session) -> list[ChatTool]:
    """The read-only tools over ``session``."""

    def bind(fn: Any) -> Any:
        return lambda args: fn(session, args)

    return [
        ChatTool(
            "market_gate",
            "오늘(또는 지정일)의 마켓 게이트: 상태, 점수, 이유, 지수, 섹터",
            GateArgs,
            bind(market_gate),
        ),
        ChatTool(
            "signals",
            "최근 시그널 목록 (vcp 또는 closing-bet, OPEN 또는 ALL)",
            SignalsArgs,
            bind(signals),
        ),
        ChatTool("stock", "종목 하나의 최근 종가와 최신 시그널", StockArgs, bind(stock)),
        ChatTool(
            "performance", "전략의 성과: 승률, 평균 수익률", PerformanceArgs, bind(performance)
        ),
        ChatTool("find_stock", "종목 이름으로 종목코드 찾기", FindArgs, bind(find_stock)),
        ChatTool(
            "news",
            "종목의 수집된 최근 뉴스와 공시 (제목, 출처, 날짜, URL)",
            NewsArgs,
            bind(news),
        ),
    ]


# ----------------------------------------------------------------------------- rules


def _gate_text(session: Session) -> str:
    gate = market_gate(session, GateArgs())
    if not gate["available"]:
        return "마켓 게이트 데이터가 아직 없습니다 (krstock scan market-gate 를 실행하세요)."
    reasons = " / ".join(gate["reasons"][:3])
    return (
        f"{gate['date']} 마켓 게이트: {gate['status']} ({gate['label']}, {gate['score']}점). "
        f"{reasons}"
    ).strip()


def _top_signals_text(session: Session) -> str:
    rows = [
        s
        for s in signals(session, SignalsArgs(strategy="vcp", status="OPEN", limit=5))["signals"]
        if s["score"] is not None and s["entry_price"] is not None
    ]
    if not rows:
        return "열린 VCP 시그널이 없습니다."
    lines = [
        f"{r['name'] or r['ticker']}({r['ticker']}) 점수 {r['score']:.1f}, "
        f"진입 {r['entry_price']:,.0f}원, {r['signal_date']}"
        for r in rows
    ]
    return "열린 VCP 시그널 상위:\n" + "\n".join(lines)


def _ticker_text(session: Session, ticker: str) -> str:
    info = stock(session, StockArgs(ticker=ticker, days=1))
    parts = [f"{info['name']}({ticker})" if info["name"] else ticker]
    if info["prices"]:
        bar = info["prices"][-1]
        parts.append(f"최근 종가 {bar['close']:,.0f}원 ({bar['date']})")
    signal = info["latest_signal"]
    if signal is None:
        parts.append("시그널 기록 없음")
    else:
        text = f"최신 시그널: {signal['strategy']} {signal['signal_date']} {signal['status']}"
        if signal["grade"]:
            text += f" 등급 {signal['grade']}"
        if signal["score"] is not None:
            text += f" 점수 {signal['score']:.1f}"
        if signal["return_pct"] is not None:
            text += f" 수익률 {signal['return_pct']:+.2f}%"
        elif signal["status"] == "OPEN":
            text += " 현재가 없음 (시그널 이후 가격 데이터 없음)"
        parts.append(text)
    return ", ".join(parts)


def _news_text(session: Session, ticker: str) -> str:
    found = news(session, NewsArgs(ticker=ticker, limit=3))
    if not found["items"]:
        return f"{ticker}: 수집된 뉴스가 없습니다."
    lines = [
        f"- {i['title']} ({i['source']}, {i['published_at'][:10]}) {i['url']}"
        for i in found["items"]
    ]
    return f"{ticker} 최근 뉴스:\n" + "\n".join(lines)


def _performance_text(session: Session) -> str:
    lines = []
    for strategy in ("vcp", "closing-bet"):
        p = performance(session, PerformanceArgs(strategy=strategy))
        if not p["closed_signals"]:
            lines.append(f"{strategy}: 종료된 시그널 없음 (전체 {p['total_signals']}건)")
        else:
            lines.append(
                f"{strategy}: 종료 {p['closed_signals']}건, 승률 {p['win_rate']}%, "
                f"평균 수익률 {p['avg_return']}%"
            )
    return "전략 성과:\n" + "\n".join(lines)


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


def _command(store: ChatStore, message: str, llm: str | None) -> str:
    parts = message.split(maxsplit=3)
    head = parts[0].lower()
    if head == "/help":
        return GEMINI_HELP if llm else HELP
    if head == "/refresh":
        return "캐시가 없습니다: 질문할 때마다 데이터베이스에서 읽습니다."
    if head == "/status":
        source = f"gemini ({llm})" if llm else "rules"
        return f"source={source}, memory={len(store.memory())}, history={len(store.history())}"
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


def rules_answer(session: Session, message: str) -> str:
    text = message.strip()
    lowered = text.lower()
    if any(w in lowered for w in ("시장", "마켓", "게이트", "market", "gate", "코스피", "kospi")):
        return _gate_text(session)
    ticker = _find_ticker(session, text)
    if ticker and any(w in lowered for w in ("뉴스", "공시", "news")):
        return _news_text(session, ticker)
    if ticker:
        return _ticker_text(session, ticker)
    if any(w in lowered for w in ("성과", "승률", "수익률", "performance")):
        return _performance_text(session)
    if any(w in lowered for w in ("추천", "시그널", "종목", "signal", "top", "매수")):
        return _top_signals_text(session)
    return HELP


# ----------------------------------------------------------------------------- the turn


@dataclass(frozen=True)
class ChatModel:
    """A configured chat model: the process's one google-genai client and the model name."""

    client: Any  # google.genai.Client
    model: str
    max_rounds: int = 4
    limiter: Limiter | None = None  # the provider project's shared bucket and budgets


@dataclass
class Reply:
    text: str
    source: str  # "gemini" | "rules"
    note: str | None = None  # why the rules answered although a model is configured
    tool_calls: list[dict[str, Any]] | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"response": self.text, "source": self.source}
        if self.note:
            body["note"] = self.note
        if self.tool_calls is not None:
            body["tool_calls"] = self.tool_calls
        return body


def chat_model_for(state: AppState) -> ChatModel | None:
    """The app's chat model, built once per app from its settings (None: no key, rules)."""
    if CHAT_MODEL_KEY not in state.extras:
        state.extras[CHAT_MODEL_KEY] = build_chat_model(state.settings, state.api, state.redis)
    model: ChatModel | None = state.extras[CHAT_MODEL_KEY]
    return model


def build_chat_model(
    settings: Settings, api: ApiSection, redis: Any | None = None
) -> ChatModel | None:
    """Gemini through the process's one google-genai client (``krstock.ai.gemini``), or None
    when no key is configured, or when the SDK (the ``ai`` extra) is not installed: then the
    rules answer and the log says why. Its calls share the analyses' limits (``Limiter`` over
    ``redis``; in this process only without Redis)."""
    try:
        client = gemini_client(settings)
    except ImportError as exc:
        log.error("a Gemini key is set but google-genai is missing (%s): chat uses rules", exc)
        return None
    if client is None:
        return None
    limiter = Limiter(settings, PROVIDER, redis)
    return ChatModel(client, settings.ai.gemini_model, api.chat_max_rounds, limiter)


def _memory_text(memory: dict[str, Any]) -> str:
    if not memory:
        return ""
    lines = [f"- {k}: {v.get('value') if isinstance(v, dict) else v}" for k, v in memory.items()]
    return "\n사용자 메모리 (사용자가 알려준 것):\n" + "\n".join(lines)


def answer(
    session: Session, store: ChatStore, message: str, model: ChatModel | None = None
) -> Reply:
    text = message.strip()
    if text.startswith("/"):
        ANSWERS.labels(RULES, "command").inc()
        return Reply(_command(store, text, model.model if model else None), RULES)
    if model is None:
        ANSWERS.labels(RULES, "no_model").inc()
        return Reply(rules_answer(session, text), RULES)
    memory = store.memory()
    history = [
        ("model" if h.get("role") == "model" else "user", str(h.get("content", "")))
        for h in store.history()[-CONTEXT_TURNS:]
    ]
    try:
        got = converse(
            model.client,
            model.model,
            system=SYSTEM + _memory_text(memory),
            history=history,
            message=text,
            tools=tools_for(session),
            max_rounds=model.max_rounds,
            grounding=[memory],
            limiter=model.limiter,
        )
    except ChatRejected as exc:
        log.warning("chat answered by rules: %s", exc.reason)
        ANSWERS.labels(RULES, exc.kind).inc()
        llm_metrics.CALLS.labels(PROVIDER, LLM_OUTCOMES.get(exc.kind, "failed")).inc()
        return Reply(
            rules_answer(session, text),
            RULES,
            note=f"Gemini's answer was not used ({exc.reason}); answered by rules",
            tool_calls=[asdict(c) for c in exc.calls],
        )
    ANSWERS.labels(GEMINI, "ok").inc()
    llm_metrics.CALLS.labels(PROVIDER, "accepted").inc()
    return Reply(got.text, GEMINI, tool_calls=[asdict(c) for c in got.calls])


def status(store: ChatStore, model: ChatModel | None = None) -> dict[str, Any]:
    base = {
        "memory_items": len(store.memory()),
        "history_messages": len(store.history()),
        "context_turns": CONTEXT_TURNS,
    }
    if model is None:
        return {
            "source": RULES,
            "model": None,
            "llm": False,
            **base,
            "message": "rule-based answers from the database; no LLM is configured for chat "
            "(set KRSTOCK_GEMINI_API_KEY)",
        }
    return {
        "source": GEMINI,
        "model": model.model,
        "llm": True,
        "tools": list(TOOL_NAMES),
        "max_rounds": model.max_rounds,
        **base,
        "message": "Gemini with read-only tools over the database; answers whose numbers are "
        "not in a tool result are replaced by the rule-based answer",
    }
