"""Runtime settings: one ``Settings``, read once from the environment (and ``.env``).

Shared knobs (database, Redis, logging, market data source) sit at the top level; ``api``,
``worker`` and ``ai`` hold what only those parts read. Every field keeps its flat environment name
``KRSTOCK_<FIELD>`` whatever its section (``api.dispatch_mode`` is ``KRSTOCK_DISPATCH_MODE``),
because the chart, the operator, the docs and the tests set those names; the nested spelling
``KRSTOCK_API__DISPATCH_MODE`` works too and wins when both are set. Hence no field name may appear
twice. Keyword arguments take the same flat names: ``Settings(dispatch_mode="celery")``.

Only pydantic here: the ``krstock`` command imports this module on every start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from ipaddress import ip_network
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "KRSTOCK_"
NESTED_DELIMITER = "__"

# The names krstock.marketdata.registry builds (a test keeps the two lists equal).
MarketSource = Literal["sample", "krx", "yahoo", "krx-csv"]
MARKET_SOURCES: tuple[str, ...] = get_args(MarketSource)
QUEUE_NAMES = ("collect", "scan", "ai", "maintenance")


class Section(BaseModel):
    """A group of settings inside ``Settings``; unknown names are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class EnvNames:
    """More environment names for a section field, read after ``KRSTOCK_<FIELD>``, e.g.
    ``key: Annotated[SecretStr | None, EnvNames("GEMINI_API_KEY", "GOOGLE_API_KEY")] = None``.
    (Not pydantic aliases: those would rename the field in keyword arguments too.)"""

    names: tuple[str, ...]

    def __init__(self, *names: str) -> None:
        object.__setattr__(self, "names", names)


class ApiSection(Section):
    """The HTTP services: upstreams, dispatch, rate limits, cache, prices, CORS, read keys."""

    # Upstream services for the gateway: comma-separated base URLs per service name
    # (KRSTOCK_SERVICE_SIGNALS_URLS=http://a:8000,http://b:8000). Empty means "serve in-process".
    service_scanner_urls: str = ""
    service_signals_urls: str = ""
    service_analyzer_urls: str = ""
    # In a cluster (KUBERNETES_SERVICE_HOST set) an unset service resolves to its DNS name.
    service_dns_template: str = "http://krstock-{name}:8000"
    upstream_timeout_s: float = Field(default=2.0, gt=0)
    upstream_retries: int = Field(default=2, ge=0, le=5)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_reset_s: float = Field(default=15.0, gt=0)

    # How trigger routes run work: "local" runs krstock.app.runs in a background thread,
    # "celery" enqueues the task by name on the broker.
    dispatch_mode: Literal["local", "celery"] = "local"
    # At shutdown, how long to wait for local runs before marking them FAILED (interrupted);
    # below the pod's terminationGracePeriodSeconds (30 s).
    shutdown_grace_s: float = Field(default=20.0, ge=0)

    # Rate limits: requests per window, per API key and per client IP.
    rate_limit_enabled: bool = True
    rate_limit_window_s: int = Field(default=60, ge=1)
    rate_limit_per_ip: int = Field(default=600, ge=1)
    rate_limit_per_key: int = Field(default=3000, ge=1)
    trust_forwarded_for: bool = False
    rate_limit_prefix: str = "krstock:rl"

    # Cache TTLs in seconds (stock info 1 h, signals 5 min, prices 1 min, market gate 15 min).
    cache_enabled: bool = True
    cache_ttl_stock_s: int = 3600
    cache_ttl_signals_s: int = 300
    cache_ttl_prices_s: int = 60
    cache_ttl_gate_s: int = 900
    cache_prefix: str = "krstock:cache"

    # Realtime prices: "db" (latest daily bar), "yfinance" (when installed and reachable), "auto".
    price_source: Literal["db", "yfinance", "auto"] = "auto"

    # Reads are open unless this is set; writes, triggers and admin always need a key.
    api_require_key_for_reads: bool = False
    # Writes without a key from these client networks (comma-separated CIDRs, e.g.
    # 127.0.0.0/8,::1/128), for a frontend that cannot send a key (the monolith's). Empty: off;
    # `krstock demo` sets loopback. The client is the socket peer; X-Forwarded-For names it only
    # when the peer is one of ``trusted_proxies`` (docs/security.md).
    write_trusted_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # A JSON list: KRSTOCK_CORS_ORIGINS='["https://a.example","https://b.example"]'.
    cors_origins: list[str] = Field(default_factory=lambda: ["http://localhost:3000"])

    # Request bodies (docs/security.md): larger ones are a 413 before they are read. Routes that
    # need more get it by path: KRSTOCK_MAX_BODY_BYTES_BY_PATH='{"/api/v1/x": 1048576}'.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_body_bytes_by_path: dict[str, int] = Field(default_factory=dict)
    # Failed authentications per client address and window, before that address gets 429s.
    auth_failures_per_ip: int = Field(default=30, ge=1)
    # /docs and /redoc (off in deployments that do not want them), their assets' base URL (a
    # cluster without internet serves swagger-ui-dist@5 and redoc@2 under its own URL), and
    # HSTS max-age for TLS deployments (0: no Strict-Transport-Security header).
    docs_enabled: bool = True
    docs_assets_url: str = "https://cdn.jsdelivr.net/npm"
    hsts_max_age_s: int = Field(default=0, ge=0)

    # Chat memory and history (Redis): the user is the API key, or the client address when
    # anonymous chat is allowed; anonymous chats are ephemeral and have a pool of their own.
    chat_allow_anonymous: bool = True
    chat_prefix: str = "krstock:chat"
    chat_ttl_s: int = Field(default=90 * 24 * 3600, ge=60)
    chat_anonymous_ttl_s: int = Field(default=3600, ge=60)
    chat_value_max_bytes: int = Field(default=4096, ge=256)
    chat_memory_items_max: int = Field(default=50, ge=1)
    chat_user_max_bytes: int = Field(default=256 * 1024, ge=4096)
    chat_keyed_max_bytes: int = Field(default=64 * 1024 * 1024, ge=65536)
    chat_anonymous_max_bytes: int = Field(default=16 * 1024 * 1024, ge=65536)
    # Gemini's tool rounds per chat turn (a round is one model answer asking for tools).
    chat_max_rounds: int = Field(default=4, ge=1, le=8)

    @field_validator("write_trusted_networks", "trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        return _networks(value)


def _networks(value: object) -> object:
    """``10.0.0.0/8, 192.168.1.7`` (how the environment spells it) as normalized CIDRs; a value
    that is no address or network is an error naming it."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return value
    networks = []
    for item in items:
        text = str(item).strip()
        if text:
            try:
                networks.append(str(ip_network(text, strict=False)))
            except ValueError:
                raise ValueError(f"{text!r} is not an IP address or CIDR network") from None
    return networks


def _iso_dates(value: object) -> object:
    """``2026-01-02,2026-01-03`` (how the environment spells it) as a list of dates."""
    if isinstance(value, str):
        return [date.fromisoformat(part.strip()) for part in value.split(",") if part.strip()]
    return value


class WorkerSection(Section):
    """Celery limits and retries, probes, locks, the event bus, notifications, the schedule."""

    # Celery. Hard limits per queue; the soft limit fires ``soft_margin_s`` earlier.
    task_time_limit_collect_s: int = Field(default=1800, ge=5)
    task_time_limit_scan_s: int = Field(default=600, ge=5)
    task_time_limit_ai_s: int = Field(default=900, ge=5)
    task_time_limit_maintenance_s: int = Field(default=3600, ge=5)
    soft_margin_s: int = Field(default=30, ge=1)
    # Must stay above the longest hard limit, or Redis redelivers a task that is still running.
    visibility_timeout_s: int | None = Field(default=None, ge=1)
    unacked_restore_interval_s: int = Field(default=10, ge=1)
    max_retries: int = Field(default=5, ge=0)
    retry_backoff_max_s: int = Field(default=300, ge=1)
    task_always_eager: bool = False
    # Worker probes (Kubernetes): liveness reads the heartbeat file, readiness the ready file.
    worker_heartbeat_file: str = "/tmp/krstock-worker-heartbeat"
    worker_ready_file: str = "/tmp/krstock-worker-ready"
    worker_heartbeat_interval_s: float = Field(default=10.0, gt=0)
    # Celery beat's state file (outside Kubernetes only; containers may have a read-only cwd).
    beat_schedule_file: str = "/tmp/krstock-celerybeat-schedule"
    # Locks: renewed while the task runs, so a killed worker frees it within the TTL.
    lock_ttl_s: float = Field(default=30.0, gt=0)
    # Redis key namespace (tests use a fresh one each).
    redis_prefix: str = "krstock"
    # Event bus.
    bus_max_attempts: int = Field(default=5, ge=1)
    bus_claim_idle_ms: int = Field(default=60_000, ge=1)
    bus_dedup_ttl_s: int = Field(default=7 * 24 * 3600, ge=1)
    bus_stream_maxlen: int = Field(default=100_000, ge=100)
    # Notifications (both off unless configured).
    notify_webhook_url: str | None = None
    telegram_bot_token: str | None = None
    telegram_chat_id: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    # Calendar corrections (comma-separated ISO dates) and schedule overrides ("HH:MM" KST).
    krx_extra_holidays: Annotated[list[date], NoDecode] = Field(default_factory=list)
    krx_extra_trading_days: Annotated[list[date], NoDecode] = Field(default_factory=list)
    schedule_full_update: str = "15:10"
    schedule_closing_bet: str = "15:20"
    schedule_prices: str = "16:00"
    schedule_flows: str = "16:10"
    schedule_vcp: str = "16:20"
    schedule_report: str = "16:30"
    schedule_backfill: str = "10:00"
    backfill_days: int = Field(default=30, ge=1)
    # Market data for collect tasks when the task does not name one (else ``market_source``).
    default_source: str | None = None
    # KRX scraping, shared by every worker (requests per second).
    krx_rate_per_s: float = Field(default=5.0, gt=0)

    @field_validator("krx_extra_holidays", "krx_extra_trading_days", mode="before")
    @classmethod
    def _split_dates(cls, value: object) -> object:
        return _iso_dates(value)

    def time_limit(self, queue: str) -> int:
        limits = {
            "collect": self.task_time_limit_collect_s,
            "scan": self.task_time_limit_scan_s,
            "ai": self.task_time_limit_ai_s,
            "maintenance": self.task_time_limit_maintenance_s,
        }
        if queue not in limits:
            raise ValueError(f"unknown queue {queue!r}; expected one of {sorted(limits)}")
        return limits[queue]

    def soft_time_limit(self, queue: str) -> int:
        hard = self.time_limit(queue)
        return max(1, hard - min(self.soft_margin_s, hard // 2))

    @property
    def effective_visibility_timeout_s(self) -> int:
        longest = max(self.time_limit(queue) for queue in QUEUE_NAMES)
        return self.visibility_timeout_s or longest + 300


class AiSection(Section):
    """The AI analysis (LLM calls)."""

    # LLM requests per second, shared by every worker.
    llm_rate_per_s: float = Field(default=1.0, gt=0)

    # Gemini through google-genai (docs/ai.md). No key: every analysis is rule-based, said so.
    gemini_api_key: Annotated[SecretStr | None, EnvNames("GEMINI_API_KEY", "GOOGLE_API_KEY")] = None
    gemini_model: str = "gemini-2.5-flash"
    # The SDK's base_url (a proxy; a loopback fake in tests). None: Google's endpoint.
    gemini_base_url: str | None = None
    gemini_timeout_ms: int = Field(default=30_000, ge=100)
    # SDK attempts for 5xx and timeouts only (429 is ours: a cooldown from its retryDelay).
    gemini_retry_attempts: int = Field(default=2, ge=1, le=5)
    # A second, OpenAI-compatible provider (OpenAI, or a local server speaking its API): the
    # monolith's second recommendation slot. No key: that slot says it is not configured.
    openai_api_key: Annotated[SecretStr | None, EnvNames("OPENAI_API_KEY")] = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    openai_price_input_per_mtok: float = Field(default=0.15, ge=0)
    openai_price_output_per_mtok: float = Field(default=0.60, ge=0)
    # Which news judgement the closing-bet scan uses: "auto" = the LLM when a key is set.
    ai_news_source: Literal["auto", "llm", "rules"] = "auto"
    # Shared limits per provider project (Redis token bucket; Celery's rate_limit is per worker).
    llm_project: str = "default"
    llm_requests_per_min: int = Field(default=10, ge=1)
    llm_tokens_per_min: int = Field(default=250_000, ge=1000)
    # The bucket holds this many seconds of its rate: the burst allowed after a quiet spell.
    llm_burst_s: float = Field(default=6.0, gt=0)
    llm_requests_per_day: int = Field(default=250, ge=1)
    llm_budget_usd_per_day: float = Field(default=1.0, ge=0)
    # How long a call waits for the bucket or a 429 cooldown before the rules answer instead.
    llm_max_wait_s: float = Field(default=60.0, ge=0)
    # Prices in USD per million tokens (input, output incl. thinking), from the provider's list.
    llm_price_input_per_mtok: float = Field(default=0.30, ge=0)
    llm_price_output_per_mtok: float = Field(default=2.50, ge=0)
    # Analyses per strategy and day (the monolith: top 10).
    ai_top_n: int = Field(default=10, ge=1, le=100)
    # `krstock eval ai` counts only signal dates after the model's knowledge cutoff.
    ai_knowledge_cutoff: date = date(2025, 1, 31)


class NewsSection(Section):
    """News collectors with an API (docs/ai.md, News): Naver Search and OpenDART, keyed; the
    Naver Finance HTML page only when opted in. Without keys collection keeps the market
    source's own news and says so."""

    naver_client_id: SecretStr | None = None
    naver_client_secret: SecretStr | None = None
    dart_api_key: SecretStr | None = None
    # Base URLs (a proxy, or a loopback fake in tests).
    naver_api_base_url: str = "https://openapi.naver.com"
    dart_api_base_url: str = "https://opendart.fss.or.kr"
    naver_finance_base_url: str = "https://finance.naver.com"
    news_html_fallback: bool = False
    news_timeout_s: float = Field(default=5.0, gt=0)
    # Naver requests per second (its limit is 25,000 a day) and per collect run: the movers of
    # the last day (change >= news_min_change_pct, by trading value), at most news_max_tickers.
    news_rate_per_s: float = Field(default=5.0, gt=0)
    news_max_tickers: int = Field(default=30, ge=1, le=500)
    news_min_change_pct: float = 5.0
    dart_max_pages: int = Field(default=30, ge=1, le=200)


class Settings(BaseSettings):
    """Every knob of the platform; the defaults run a laptop demo."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        env_file=".env",
        case_sensitive=False,
        extra="ignore",  # the environment holds other KRSTOCK_* names (operator, tests)
    )

    # Storage. ``database_url`` is what the application uses (the least-privilege role in
    # production); ``migration_database_url`` is the schema owner used by ``krstock db upgrade``.
    database_url: str | None = None
    migration_database_url: str | None = None
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_max_overflow: int = Field(default=5, ge=0, le=100)
    db_pool_timeout_s: float = Field(default=10.0, gt=0)
    db_statement_timeout_ms: int = Field(default=60_000, ge=0)
    # The application role ``krstock db upgrade --grant-app-role`` creates, and its password.
    app_role: str = "krstock_app"
    app_role_password: SecretStr | None = None

    # Redis: broker, cache and event stream.
    redis_url: str | None = None

    # Logging: "json" in production, "console" (readable) on a terminal, "auto" picks by tty.
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Market data source of collect runs (API triggers and scheduled tasks).
    market_source: MarketSource = "sample"

    api: ApiSection = Field(default_factory=ApiSection)
    worker: WorkerSection = Field(default_factory=WorkerSection)
    ai: AiSection = Field(default_factory=AiSection)
    news: NewsSection = Field(default_factory=NewsSection)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The default sources, taught the flat names of section fields."""
        owners = section_owners(settings_cls)
        if isinstance(init_settings, InitSettingsSource):
            init_settings.init_kwargs = nest_flat_names(init_settings.init_kwargs, owners)
        for source in (env_settings, dotenv_settings):
            if isinstance(source, EnvSettingsSource):
                source.env_vars = add_nested_spellings(source.env_vars, settings_cls)
        return init_settings, env_settings, dotenv_settings, file_secret_settings


# --------------------------------------------------------------- flat names onto sections


def sections_of(settings_cls: type[BaseModel]) -> dict[str, type[Section]]:
    """The section fields of ``settings_cls``: name -> section model."""
    return {
        name: info.annotation
        for name, info in settings_cls.model_fields.items()
        if isinstance(info.annotation, type) and issubclass(info.annotation, Section)
    }


def section_owners(settings_cls: type[BaseModel]) -> dict[str, str]:
    """Field name -> the section that owns it; a name used twice is a programming error, since
    its flat environment name could not say which field it sets."""
    owners: dict[str, str] = {}
    for section, model in sections_of(settings_cls).items():
        for field in model.model_fields:
            if field in owners or field in settings_cls.model_fields:
                first = owners.get(field, "the top level")
                raise TypeError(f"settings field {field!r} is in both {first} and {section}")
            owners[field] = section
    return owners


def _env_names(field: str, info: FieldInfo) -> Iterator[str]:
    """The flat environment names of a section field, in priority order: ``KRSTOCK_<FIELD>``,
    then those of its ``EnvNames`` (``GEMINI_API_KEY``)."""
    yield ENV_PREFIX + field
    for extra in info.metadata:
        if isinstance(extra, EnvNames):
            yield from extra.names


def add_nested_spellings(
    env_vars: Mapping[str, str | None], settings_cls: type[BaseModel]
) -> dict[str, str | None]:
    """``env_vars`` plus ``krstock_<section>__<field>`` for every flat section name found, so that
    pydantic-settings' own nested parsing (JSON lists, ``NoDecode``, errors) reads them. A nested
    name already present wins. Names are lower case, as pydantic-settings keeps them when
    ``case_sensitive`` is false."""
    out = dict(env_vars)
    for section, model in sections_of(settings_cls).items():
        for field, info in model.model_fields.items():
            nested = f"{ENV_PREFIX}{section}{NESTED_DELIMITER}{field}".lower()
            for name in _env_names(field, info):
                value = env_vars.get(name.lower())
                if value is not None:
                    out.setdefault(nested, value)
                    break
    return out


def nest_flat_names(kwargs: Mapping[str, Any], owners: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments with section fields given flat (``dispatch_mode=``) moved into their
    section (``api={"dispatch_mode": ...}``); a flat value wins over the same field nested."""
    out = dict(kwargs)
    for field, section in owners.items():
        if field not in out:
            continue
        current = out.get(section) or {}
        if isinstance(current, BaseModel):
            current = current.model_dump()
        out[section] = {**current, field: out.pop(field)}
    return out


# Fail at import, not at the first read, if a field name is used twice.
section_owners(Settings)


# --------------------------------------------------------------- the accessor


class SettingsError(ValueError):
    """Invalid settings, each problem named by the environment variable that sets it."""


def env_name_of(location: tuple[int | str, ...]) -> str:
    """The flat environment name for a validation error location: ``("api", "dispatch_mode")``
    is ``KRSTOCK_DISPATCH_MODE``."""
    names = [str(part) for part in location]
    field = names[1] if len(names) > 1 and names[0] in sections_of(Settings) else names[0]
    return (ENV_PREFIX + field).upper()


def describe(error: ValidationError) -> str:
    """One line per problem: ``KRSTOCK_DISPATCH_MODE (api.dispatch_mode): Input should be ...``."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        given = problem.get("input")
        got = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        lines.append(f"  {env_name_of(problem['loc'])} ({where}): {problem['msg']}{got}")
    return "invalid settings:\n" + "\n".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests call ``get_settings.cache_clear()`` after changing env)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from exc
