"""``python -m krstock_operator.enqueue``: what a ScanJob's CronJob or Job pod runs.

It only asks the krstock API to start a run (``POST /api/v1/runs``) — the API records the run with
its ScanJob (``namespace/name``, which is how the operator finds it again for the status) and puts
the task on its Celery queue; the workers do the work. It runs in the platform image; the write
key comes from ``KRSTOCK_API_KEY``.

Scheduled runs pass ``--skip-closed-days``: on a weekend or a KRX holiday (today, in the
schedule's ``--time-zone``) nothing is started and the pod exits 0, so a CronJob on ``* * 1-5``
never starts a run on a closed market. ``--date today`` sends today's date in that zone (a collect
run then fetches today's prices instead of re-reading the newest day already stored).

Exit status: 0 when the run was accepted, or skipped because a run of that kind is still active
(HTTP 409: the same rule as the CronJob's ``concurrencyPolicy: Forbid``); 1 otherwise, so the Job
retries within its ``backoffLimit``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--param {item!r} is not KEY=VALUE")
        params[key] = value
    body: dict[str, Any] = {"kind": args.kind, "scanjob": args.scanjob, "params": params}
    if args.tickers:  # a list, as the tasks that take tickers (collect) expect
        body["params"]["tickers"] = [t.strip() for t in args.tickers.split(",") if t.strip()]
    if args.policy:
        body["policy"] = args.policy
    if args.date:
        body["date"] = args.date
    return body


def today_in(zone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(ZoneInfo(zone))).astimezone(ZoneInfo(zone)).date()


def closed_reason(day: date) -> str | None:
    """Why the KRX is closed on ``day`` (weekend, holiday, or a configured extra holiday), or
    None when it trades. The platform's calendar, imported only when asked (platform image)."""
    from krstock.config import get_settings
    from krstock.domain.calendar import KrxCalendar

    worker = get_settings().worker
    calendar = KrxCalendar(worker.krx_extra_holidays, worker.krx_extra_trading_days, strict=False)
    return calendar.holiday_reason(day)


def post_run(
    api: str, body: dict[str, Any], api_key: str | None, timeout: float
) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{api.rstrip('/')}/api/v1/runs",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    if api_key:
        request.add_header("X-API-Key", api_key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            return exc.code, json.loads(text)
        except json.JSONDecodeError:
            return exc.code, text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Start one run of a ScanJob through the API.")
    parser.add_argument(
        "--api", required=True, help="API base URL, e.g. http://krstock-gateway:8000"
    )
    parser.add_argument("--kind", required=True, help="run kind (vcp, closing_bet, pipeline, ...)")
    parser.add_argument("--scanjob", required=True, help="NAMESPACE/NAME of the ScanJob")
    parser.add_argument("--policy", help="SignalPolicy file the workers load (or a preset name)")
    parser.add_argument(
        "--date",
        help="trading day YYYY-MM-DD, or 'today' in --time-zone (default: the latest data)",
    )
    parser.add_argument(
        "--time-zone", default="Asia/Seoul", help="zone of 'today' (the schedule's)"
    )
    parser.add_argument(
        "--skip-closed-days",
        action="store_true",
        help="start nothing (exit 0) when today is not a KRX trading day",
    )
    parser.add_argument("--param", action="append", default=[], help="extra KEY=VALUE argument")
    parser.add_argument("--tickers", help="comma-separated KRX tickers (sent as a list)")
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return enqueue(parse_args(argv))


def enqueue(args: argparse.Namespace, now: datetime | None = None) -> int:
    today = today_in(args.time_zone, now)
    if args.skip_closed_days:
        reason = closed_reason(today)
        if reason is not None:
            print(
                json.dumps({"skipped": f"{today.isoformat()} is not a KRX trading day ({reason})"})
            )
            return 0
    if args.date == "today":
        args.date = today.isoformat()
    body = build_request(args)
    try:
        status, answer = post_run(args.api, body, os.environ.get("KRSTOCK_API_KEY"), args.timeout)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        print(json.dumps({"error": f"API unreachable: {exc}", "request": body}))
        return 1
    print(json.dumps({"status": status, "answer": answer, "request": body}))
    if status in (200, 201, 202):
        return 0
    if status == 409:  # a run of that kind is still active: this one is skipped, not retried
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
