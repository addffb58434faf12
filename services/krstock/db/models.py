"""The schema as SQLAlchemy 2 models. Alembic migrations are generated from and tested against this.

Units are in the column names or comments: prices and money are integer KRW (BIGINT), volumes are
shares, index levels and FX rates are floats. Investor flows keep shares and KRW apart.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Ticker = String(6)
EMPTY_OBJECT = text("'{}'::jsonb")
EMPTY_ARRAY = text("'[]'::jsonb")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class Stock(TimestampMixin, Base):
    """The universe: one row per 6-character KRX code."""

    __tablename__ = "stocks"
    __table_args__ = (
        CheckConstraint("char_length(ticker) = 6", name="ticker_len"),
        CheckConstraint(
            "listing_status IN ('LISTED', 'SUSPENDED', 'DELISTED', 'UNKNOWN')",
            name="listing_status",
        ),
    )

    ticker: Mapped[str] = mapped_column(Ticker, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    market: Mapped[str] = mapped_column(
        String(16), nullable=False, default="UNKNOWN", server_default="UNKNOWN"
    )
    sector: Mapped[str | None] = mapped_column(Text)
    listing_status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="LISTED", server_default="LISTED"
    )
    is_etf: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    is_etn: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    is_spac: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    is_reit: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    is_preferred: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    yahoo_symbol: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(32))


class DailyPrice(Base):
    """Daily OHLCV in KRW and shares. Halted days are kept (volume 0, close carried over)."""

    __tablename__ = "daily_prices"
    __table_args__ = (
        CheckConstraint("volume >= 0", name="volume_nonneg"),
        CheckConstraint("close >= 0", name="close_nonneg"),
        Index("ix_daily_prices_date_ticker", "date", "ticker"),
    )

    ticker: Mapped[str] = mapped_column(Ticker, primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    open: Mapped[int] = mapped_column(BigInteger, nullable=False)
    high: Mapped[int] = mapped_column(BigInteger, nullable=False)
    low: Mapped[int] = mapped_column(BigInteger, nullable=False)
    close: Mapped[int] = mapped_column(BigInteger, nullable=False)
    volume: Mapped[int] = mapped_column(BigInteger, nullable=False)
    trading_value: Mapped[int | None] = mapped_column(BigInteger, comment="KRW")
    change: Mapped[int | None] = mapped_column(BigInteger, comment="close - previous close, KRW")
    change_pct: Mapped[float | None] = mapped_column(Double, comment="percent")
    halted: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    source: Mapped[str | None] = mapped_column(String(32))


class InvestorFlow(Base):
    """Daily net buying per investor type. Shares and KRW in separate columns, never mixed."""

    __tablename__ = "investor_flows"
    __table_args__ = (
        CheckConstraint(
            "investor IN ('foreign', 'institution', 'individual', 'other')", name="investor"
        ),
        CheckConstraint("net_volume IS NOT NULL OR net_value IS NOT NULL", name="has_a_unit"),
        Index("ix_investor_flows_date_ticker", "date", "ticker"),
    )

    ticker: Mapped[str] = mapped_column(Ticker, primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    investor: Mapped[str] = mapped_column(String(16), primary_key=True)
    net_volume: Mapped[int | None] = mapped_column(BigInteger, comment="shares")
    net_value: Mapped[int | None] = mapped_column(BigInteger, comment="KRW")
    source: Mapped[str | None] = mapped_column(String(32))


class InvestorFlowSummary(Base):
    """The Gen1 monolith's per-ticker flow summary (shares), kept as it was scraped."""

    __tablename__ = "investor_flow_summaries"

    ticker: Mapped[str] = mapped_column(Ticker, primary_key=True)
    as_of_date: Mapped[date] = mapped_column(Date, primary_key=True)
    data_source: Mapped[str | None] = mapped_column(String(64))
    total_days: Mapped[int | None] = mapped_column(Integer)
    inst_net_5d: Mapped[int | None] = mapped_column(BigInteger, comment="shares")
    inst_net_10d: Mapped[int | None] = mapped_column(BigInteger, comment="shares")
    inst_net_20d: Mapped[int | None] = mapped_column(BigInteger, comment="shares")
    inst_net_60d: Mapped[int | None] = mapped_column(BigInteger, comment="shares")
    foreign_net_5d: Mapped[int | None] = mapped_column(BigInteger, comment="shares")
    foreign_net_10d: Mapped[int | None] = mapped_column(BigInteger, comment="shares")
    foreign_net_20d: Mapped[int | None] = mapped_column(BigInteger, comment="shares")
    foreign_net_60d: Mapped[int | None] = mapped_column(BigInteger, comment="shares")
    supply_demand_index: Mapped[float | None] = mapped_column(Double)
    supply_demand_stage: Mapped[str | None] = mapped_column(String(16))
    extras: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=EMPTY_OBJECT
    )


class IndexPrice(Base):
    """Index and benchmark series: KOSPI, KOSDAQ, KOSPI200 and the sector ETFs (by code)."""

    __tablename__ = "index_prices"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    open: Mapped[float | None] = mapped_column(Double)
    high: Mapped[float | None] = mapped_column(Double)
    low: Mapped[float | None] = mapped_column(Double)
    close: Mapped[float] = mapped_column(Double, nullable=False)
    volume: Mapped[int | None] = mapped_column(BigInteger)
    trading_value: Mapped[int | None] = mapped_column(BigInteger, comment="KRW")
    source: Mapped[str | None] = mapped_column(String(32))


class FxRate(Base):
    """Daily FX closes, e.g. pair USDKRW (KRW per USD)."""

    __tablename__ = "fx_rates"

    pair: Mapped[str] = mapped_column(String(8), primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    rate: Mapped[float] = mapped_column(Double, nullable=False)
    source: Mapped[str | None] = mapped_column(String(32))


class ScanRun(Base):
    """One run of a scan, collection, pipeline or import; progress for live viewers."""

    __tablename__ = "scan_runs"
    __table_args__ = (
        CheckConstraint("status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED')", name="status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        Index("ix_scan_runs_kind_date", "kind", "scan_date"),
        Index("ix_scan_runs_scanjob_created", "scanjob", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    scan_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="PENDING", server_default="PENDING"
    )
    progress: Mapped[float] = mapped_column(
        Double, nullable=False, default=0.0, server_default=text("0")
    )
    counts: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=EMPTY_OBJECT
    )
    params: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=EMPTY_OBJECT
    )
    error: Mapped[str | None] = mapped_column(Text)
    policy_name: Mapped[str | None] = mapped_column(String(64))
    scanjob: Mapped[str | None] = mapped_column(String(253), comment="namespace/name")
    source: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Signal(TimestampMixin, Base):
    """A signal of any strategy, from detection (OPEN/PENDING) to its exit (CLOSED)."""

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("strategy", "signal_date", "ticker", name="uq_signals_natural"),
        CheckConstraint("status IN ('PENDING', 'OPEN', 'CLOSED', 'CANCELLED')", name="status"),
        CheckConstraint(
            "exit_reason IS NULL OR exit_reason IN "
            "('STOP_LOSS', 'TARGET', 'TIME_EXIT', 'TRAILING', 'GAP_UP', 'GAP_DOWN', 'MANUAL')",
            name="exit_reason",
        ),
        Index("ix_signals_status_strategy", "status", "strategy"),
        Index("ix_signals_date_strategy", "signal_date", "strategy"),
        Index("ix_signals_ticker_date", "ticker", "signal_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    strategy: Mapped[str] = mapped_column(String(32), nullable=False)
    ticker: Mapped[str] = mapped_column(Ticker, nullable=False)
    signal_date: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="OPEN", server_default="OPEN"
    )
    grade: Mapped[str | None] = mapped_column(String(2))
    score: Mapped[float | None] = mapped_column(Double, comment="total score")
    score_breakdown: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=EMPTY_OBJECT
    )
    entry_price: Mapped[float | None] = mapped_column(Double, comment="KRW")
    stop_price: Mapped[int | None] = mapped_column(BigInteger, comment="KRW")
    target_price: Mapped[int | None] = mapped_column(BigInteger, comment="KRW")
    quantity: Mapped[int | None] = mapped_column(BigInteger, comment="shares")
    position_size: Mapped[int | None] = mapped_column(BigInteger, comment="KRW")
    foreign_5d: Mapped[int | None] = mapped_column(BigInteger)
    inst_5d: Mapped[int | None] = mapped_column(BigInteger)
    flow_unit: Mapped[str | None] = mapped_column(String(8), comment="shares or krw")
    contraction_ratio: Mapped[float | None] = mapped_column(Double)
    current_price: Mapped[float | None] = mapped_column(Double)
    exit_price: Mapped[float | None] = mapped_column(Double)
    exit_date: Mapped[date | None] = mapped_column(Date)
    exit_reason: Mapped[str | None] = mapped_column(String(16))
    return_pct: Mapped[float | None] = mapped_column(Double)
    hold_days: Mapped[int | None] = mapped_column(Integer, comment="calendar days")
    policy_name: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("scan_runs.id", ondelete="SET NULL"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        default=dict,
        server_default=EMPTY_OBJECT,
        comment="the strategy's full output item",
    )


class Trade(Base):
    """A closed (or open) position derived from a signal, with costs."""

    __tablename__ = "trades"
    __table_args__ = (
        UniqueConstraint("signal_id", name="uq_trades_signal_id"),
        Index("ix_trades_strategy_exit", "strategy", "exit_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="CASCADE"))
    strategy: Mapped[str] = mapped_column(String(32), nullable=False)
    ticker: Mapped[str] = mapped_column(Ticker, nullable=False)
    grade: Mapped[str | None] = mapped_column(String(2))
    entry_date: Mapped[date] = mapped_column(Date, nullable=False)
    entry_price: Mapped[float] = mapped_column(Double, nullable=False)
    exit_date: Mapped[date | None] = mapped_column(Date)
    exit_price: Mapped[float | None] = mapped_column(Double)
    quantity: Mapped[int | None] = mapped_column(BigInteger)
    gross_return_pct: Mapped[float | None] = mapped_column(Double)
    net_return_pct: Mapped[float | None] = mapped_column(Double)
    cost_pct: Mapped[float | None] = mapped_column(Double)
    exit_reason: Mapped[str | None] = mapped_column(String(16))
    hold_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class AIAnalysis(Base):
    """An LLM (or rule-based) analysis of a signal; ``analysis_source`` says which."""

    __tablename__ = "ai_analyses"
    __table_args__ = (
        UniqueConstraint("ticker", "signal_date", "analysis_source", name="uq_ai_analyses_natural"),
        Index("ix_ai_analyses_date", "signal_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # Indexed: deleting a signal sets this to NULL, which must not scan the whole table.
    signal_id: Mapped[int | None] = mapped_column(
        ForeignKey("signals.id", ondelete="SET NULL"), index=True
    )
    ticker: Mapped[str] = mapped_column(Ticker, nullable=False)
    signal_date: Mapped[date] = mapped_column(Date, nullable=False)
    analysis_source: Mapped[str] = mapped_column(String(32), nullable=False)
    action: Mapped[str | None] = mapped_column(String(8))
    confidence: Mapped[float | None] = mapped_column(Double)
    reason: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(64))
    recommendations: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=EMPTY_OBJECT
    )
    news: Mapped[list[Any]] = mapped_column(
        JSONB, nullable=False, default=list, server_default=EMPTY_ARRAY
    )
    fundamentals: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=EMPTY_OBJECT
    )
    payload: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=EMPTY_OBJECT
    )
    generated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class LlmCall(Base):
    """One LLM request and what became of it: the cache (``cache_key`` = hash of prompt
    version, model, ticker, date and facts) and the audit trail. ``outcome`` is accepted,
    repair (a first answer that failed a check), rejected, failed or rate_limited (a 429); only
    accepted and rejected rows answer a later identical request without a call."""

    __tablename__ = "llm_calls"
    __table_args__ = (
        Index("ix_llm_calls_cache_key", "cache_key", "created_at"),
        Index("ix_llm_calls_date", "signal_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    cache_key: Mapped[str] = mapped_column(String(64), nullable=False)
    purpose: Mapped[str] = mapped_column(String(32), nullable=False, comment="news, recommendation")
    prompt_version: Mapped[str] = mapped_column(String(32), nullable=False)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    model: Mapped[str] = mapped_column(String(64), nullable=False)
    ticker: Mapped[str | None] = mapped_column(Ticker)
    signal_date: Mapped[date | None] = mapped_column(Date)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text, comment="why rejected or failed")
    request: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=EMPTY_OBJECT
    )
    raw_answer: Mapped[str | None] = mapped_column(Text)
    parsed: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cost_usd: Mapped[float] = mapped_column(Double, nullable=False, default=0.0)
    latency_ms: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class MarketGateSnapshot(Base):
    """The Market Gate for one day (and policy): colour, score, reasons, sectors, metrics."""

    __tablename__ = "market_gate_snapshots"
    __table_args__ = (CheckConstraint("status IN ('GREEN', 'YELLOW', 'RED')", name="status"),)

    date: Mapped[date] = mapped_column(Date, primary_key=True)
    policy_name: Mapped[str] = mapped_column(String(64), primary_key=True, default="monolith")
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    label: Mapped[str] = mapped_column(String(16), nullable=False)
    reasons: Mapped[list[Any]] = mapped_column(
        JSONB, nullable=False, default=list, server_default=EMPTY_ARRAY
    )
    sectors: Mapped[list[Any]] = mapped_column(
        JSONB, nullable=False, default=list, server_default=EMPTY_ARRAY
    )
    metrics: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=EMPTY_OBJECT
    )
    market_status: Mapped[str | None] = mapped_column(String(16), comment="RISK_ON/OFF/NEUTRAL")
    run_id: Mapped[str | None] = mapped_column(ForeignKey("scan_runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class NewsItem(Base):
    """A news headline about a ticker, with source credibility and an optional sentiment."""

    __tablename__ = "news_items"
    __table_args__ = (
        UniqueConstraint("ticker", "url", name="uq_news_items_ticker_url"),
        Index("ix_news_items_ticker_published", "ticker", "published_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticker: Mapped[str] = mapped_column(Ticker, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    credibility: Mapped[float | None] = mapped_column(Double)
    sentiment: Mapped[str | None] = mapped_column(String(16))
    origin: Mapped[str | None] = mapped_column(String(32), comment="naver, sample, legacy, ...")
    fetched_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class ApiKey(Base):
    """An API key: only a hash is stored; the prefix identifies it in logs and listings."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    key_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(16)), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


TIME_SERIES_TABLES = ("daily_prices", "investor_flows", "index_prices", "fx_rates")
