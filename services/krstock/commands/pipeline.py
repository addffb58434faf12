"""Pipeline commands: worker, enqueue, run daily, flower, bus consume, schedule."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
from datetime import date
from typing import Any, NoReturn

import typer

from krstock.app.kinds import SCAN_KINDS, RunKind, Task, parse_kind, queue_for, task_for
from krstock.errors import UsageError
from krstock.output import emit_json, stderr_console

TASK_HELP = (
    "A run kind (" + ", ".join(RunKind) + "; also gate, daily), "
    "'scan' with --kind, or 'scheduled' with --job."
)


def _task_named(task: str) -> tuple[Task, str | None]:
    """The task and, for a scan kind named directly, its kind."""
    if task == "scan":
        return Task.SCAN, None
    if task == "scheduled":
        return Task.SCHEDULED, None
    kind = parse_kind(task)
    return task_for(kind), (str(kind) if kind in SCAN_KINDS else None)


def _fail(message: str) -> NoReturn:
    """A usage mistake: one line through the CLI's error path (exit 2)."""
    raise UsageError(message)


def _require_redis() -> str:
    from krstock.config import get_settings

    url = get_settings().redis_url
    if not url:
        _fail("KRSTOCK_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
    assert url is not None
    return url


def _require_reachable_redis(url: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, in one line, when Redis does not answer: Celery would otherwise retry
    its broker connection for half a minute and end in a long traceback."""
    import redis

    from krstock.errors import REDIS_HINT, ServiceUnavailable

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ServiceUnavailable(
            f"cannot reach Redis at {_redis_address(url)}: {exc}", REDIS_HINT
        ) from exc
    finally:
        client.close()


def _redis_address(url: str) -> str:
    """host:port/db of a Redis URL, without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or ''}"


def worker(
    queues: str = typer.Option(
        "collect,scan,ai,maintenance", "--queues", "-Q", help="Comma-separated queues."
    ),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Pool processes."),
    name: str = typer.Option(None, "--name", "-n", help="Worker node name (default host)."),
    pool: str = typer.Option("prefork", help="prefork, threads or solo."),
    beat: bool = typer.Option(False, help="Also run the schedule (beat) in this worker."),
    metrics_port: int = typer.Option(
        0,
        envvar="KRSTOCK_WORKER_METRICS_PORT",
        help="Serve Prometheus /metrics on this port (0: off).",
    ),
    include: list[str] = typer.Option([], help="Extra task modules to import."),
    loglevel: str = typer.Option("INFO", help="Celery log level."),
) -> None:
    """Run a Celery worker on the given queues (what a worker Deployment runs)."""
    from krstock.app.kinds import QUEUES

    redis_url = _require_redis()
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(QUEUES))
    if unknown:
        _fail(f"unknown queues {unknown}; use {', '.join(QUEUES)}")
    if metrics_port and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Must be set before prometheus_client creates the metrics (pool children inherit it).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="krstock-prom-")
    from krstock.worker.celery_app import app

    if metrics_port:
        import redis

        from krstock.worker.metrics import serve_worker_metrics

        serve_worker_metrics(metrics_port, redis.Redis.from_url(redis_url), wanted)
    argv = [
        "worker",
        f"--queues={','.join(wanted)}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if name:
        argv.append(f"--hostname={name}")
    if beat:
        argv.append("--beat")
    for module in include:
        argv.append(f"--include={module}")
    app.worker_main(argv)


def _parse_kv(values: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--arg {item!r} is not KEY=VALUE")
        out[key.replace("-", "_")] = value
    return out


def enqueue(
    task: str = typer.Argument(..., help=TASK_HELP),
    day: str = typer.Option(None, "--date", "-d", help="Trading day (YYYY-MM-DD or 'today')."),
    kind: str = typer.Option(None, help="Scan kind: vcp, vcp-legacy, trend-template, closing-bet."),
    start: str = typer.Option(None, help="Range start (collect, backtest)."),
    end: str = typer.Option(None, help="Range end (collect, backtest)."),
    source: str = typer.Option(None, help="Market data source (collect, pipeline)."),
    strategy: str = typer.Option(None, help="Backtest strategy."),
    job: str = typer.Option(None, help="Scheduled job name (task 'scheduled')."),
    run_id: str = typer.Option(None, help="Run id (idempotency key); generated when absent."),
    arg: list[str] = typer.Option([], help="Extra KEY=VALUE task argument."),
    wait: bool = typer.Option(False, help="Wait for the result and print it."),
    timeout: float = typer.Option(3600.0, help="Seconds to wait with --wait."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Put one task on its queue (what the Kubernetes CronJobs run)."""
    try:
        name, implied_kind = _task_named(task)
        scan_kind = str(parse_kind(kind, SCAN_KINDS, what="scan kind")) if kind else implied_kind
    except ValueError as exc:
        _fail(str(exc))
        return
    kwargs: dict[str, Any] = {
        "day": day,
        "kind": scan_kind,
        "start": start,
        "end": end,
        "source": source,
        "strategy": strategy,
        "job": job,
        "run_id": run_id,
        **_parse_kv(arg),
    }
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if name is Task.SCAN and "kind" not in kwargs:
        _fail("scan needs --kind")
    if name is Task.SCHEDULED and "job" not in kwargs:
        _fail("scheduled needs --job")
    if name is Task.SCHEDULED and "day" in kwargs:
        _fail("scheduled decides the day itself; use the task directly for a given --date")
    if name is Task.COLLECT and "day" in kwargs:
        kwargs.setdefault("start", kwargs["day"])
        kwargs.setdefault("end", kwargs.pop("day"))
    _require_reachable_redis(_require_redis())
    from krstock.worker.celery_app import app

    queue = str(queue_for(name))
    result = app.send_task(str(name), kwargs=kwargs, queue=queue)
    payload: dict[str, Any] = {"task": str(name), "task_id": result.id, "queue": queue}
    if wait:
        value = result.get(timeout=timeout, propagate=False)
        payload["state"] = result.state
        if result.failed():
            payload["error"] = f"{type(value).__name__}: {value}"
        else:
            payload["result"] = value
            if name is Task.PIPELINE and isinstance(value, dict) and value.get("id"):
                final = app.AsyncResult(value["id"])
                payload["pipeline"] = final.get(timeout=timeout, propagate=False)
                payload["state"] = final.state
    if json_out:
        emit_json(payload)
    else:
        stderr_console.print(payload)
    if payload.get("state") == "FAILURE":
        raise typer.Exit(1)


def run_daily(
    day: str = typer.Option(..., "--date", "-d", help="Trading day (YYYY-MM-DD)."),
    source: str = typer.Option(None, help="Market data source (default KRSTOCK_MARKET_SOURCE)."),
    scans: str = typer.Option("vcp,vcp-legacy,closing-bet", help="Comma-separated scan kinds."),
    collect_days: int = typer.Option(1, min=1, help="Calendar days collected up to --date."),
    sample_tickers: int = typer.Option(
        None, min=60, help="Synthetic market size (source sample; default the source's own)."
    ),
    force: bool = typer.Option(False, help="Run even when --date is not a KRX trading day."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The whole daily pipeline in this process (eager Celery: the same task code)."""
    from krstock.worker.rundaily import run_daily_in_process

    try:
        summary = run_daily_in_process(
            date.fromisoformat(day),
            source=source,
            scans=tuple(s.strip() for s in scans.split(",") if s.strip()),
            collect_days=collect_days,
            source_options={"n_tickers": sample_tickers} if sample_tickers else None,
            force=force,
        )
    except ValueError as exc:
        _fail(str(exc))
        return
    if json_out:
        emit_json(summary)
    else:
        stderr_console.print(summary)
    if summary.get("status") == "FAILED":
        raise typer.Exit(1)


def flower(
    port: int = typer.Option(5555, help="HTTP port."),
    address: str = typer.Option("127.0.0.1", help="Bind address."),
) -> None:
    """Flower, the Celery monitoring UI (also serves Prometheus metrics at /metrics)."""
    try:
        import flower as _flower  # noqa: F401
    except ImportError:
        _fail(
            "flower is not installed: pip install 'krstock[dev]' (or pip install flower), "
            "or run: celery -A krstock.worker.celery_app flower"
        )
    _require_redis()
    from krstock.worker.celery_app import app

    app.start(["flower", f"--port={port}", f"--address={address}"])


def bus_consume(
    group: str = typer.Argument(..., help="scanner, analyzer, signals or notifier."),
    consumer: str = typer.Option(None, help="Consumer name (default host-pid)."),
) -> None:
    """Consume the event bus as one service's consumer group until interrupted."""
    from krstock.bus.consumer import EventConsumer
    from krstock.worker.reactions import handlers_for
    from krstock.worker.rundaily import handler_deps

    _require_redis()
    from krstock.worker.celery_app import app
    from krstock.worker.context import get_context

    ctx = get_context()
    try:
        handlers = handlers_for(group, handler_deps(ctx, app.send_task))
    except ValueError as exc:
        _fail(str(exc))
        return
    consumer_name = consumer or f"{socket.gethostname()}-{os.getpid()}"
    runner = EventConsumer(
        ctx.broker,
        ctx.redis,
        group=group,
        consumer=consumer_name,
        handlers=handlers,
        prefix=ctx.settings.worker.redis_prefix,
        max_attempts=ctx.settings.worker.bus_max_attempts,
        claim_idle_ms=ctx.settings.worker.bus_claim_idle_ms,
        dedup_ttl_s=ctx.settings.worker.bus_dedup_ttl_s,
    )
    stop = threading.Event()
    # SIGTERM (Kubernetes) and SIGINT finish the current delivery, then leave the loop.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stderr_console.print(f"consuming {sorted(handlers)} as {group}/{consumer_name}")
    runner.run(stop)
    stderr_console.print("consumer stopped")


def schedule(
    count: int = typer.Option(3, min=1, help="Next runs per job."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The schedule (KST, KRX calendar): each job's cron line and its next real runs."""
    from krstock.config import get_settings
    from krstock.domain.calendar import KrxCalendar, kst_now
    from krstock.worker.schedules import default_jobs, next_runs

    settings = get_settings().worker
    calendar = KrxCalendar(settings.krx_extra_holidays, settings.krx_extra_trading_days)
    now = kst_now()
    rows = [
        {
            "job": job.name,
            "cron_kst": job.cron(),
            "task": job.task,
            "description": job.description,
            "next": [m.isoformat() for m in next_runs(job, now, calendar, count)],
        }
        for job in default_jobs(settings).values()
    ]
    if json_out:
        emit_json(rows)
    else:
        for row in rows:
            stderr_console.print(f"{row['job']:<12} {row['cron_kst']:<14} {', '.join(row['next'])}")


def worker_probe(
    check: str = typer.Argument(..., help="live (heartbeat fresh) or ready (ready file present)."),
    max_age: float = typer.Option(60.0, help="live: the heartbeat may be at most this old (s)."),
) -> None:
    """Kubernetes exec probe for a worker: exit 0 when healthy, 1 otherwise."""
    from pathlib import Path

    from krstock.config import get_settings
    from krstock.worker.probes import heartbeat_age

    settings = get_settings().worker
    if check == "live":
        age = heartbeat_age(settings.worker_heartbeat_file)
        if age is None or age > max_age:
            stderr_console.print(f"heartbeat {'missing' if age is None else f'{age:.0f} s old'}")
            raise typer.Exit(1)
    elif check == "ready":
        if not Path(settings.worker_ready_file).exists():
            stderr_console.print("worker not ready")
            raise typer.Exit(1)
    else:
        _fail(f"unknown check {check!r}; use live or ready")


def register(app: typer.Typer) -> None:
    app.command("worker-probe")(worker_probe)
    app.command("worker")(worker)
    app.command("enqueue")(enqueue)
    app.command("flower")(flower)
    app.command("schedule")(schedule)
    run_app = typer.Typer(help="Run a whole workflow in this process.")
    run_app.command("daily")(run_daily)
    app.add_typer(run_app, name="run")
    bus_app = typer.Typer(help="The event bus (Redis Streams).")
    bus_app.command("consume")(bus_consume)
    app.add_typer(bus_app, name="bus")
