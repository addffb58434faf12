"""Write the Grafana dashboards of charts/krstock/monitoring/dashboards/ (Grafana 11 JSON).

    .venv/bin/python scripts/dashboards.py          # rewrite the JSON files
    .venv/bin/python scripts/dashboards.py --check  # exit 1 when a file differs (stale)
    .venv/bin/python scripts/dashboards.py --png    # docs/dashboards/<name>.png (matplotlib)

Plain dictionaries rather than a builder library: the output is checked against the dashboard
JSON Schema (tests/monitoring), and every query here is run by the tests — PromQL against a real
Prometheus scraping the services, SQL against the migrated schema with the synthetic market.
Each dashboard selects its data source through a ``${datasource}`` variable and keeps a stable
uid, so links and the Grafana sidecar's updates survive regeneration.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "charts" / "krstock" / "monitoring" / "dashboards"
PROMETHEUS = "prometheus"
POSTGRES = "grafana-postgresql-datasource"
SCHEMA_VERSION = 39


class Board:
    """Panels laid out left to right, rows of 24 grid units."""

    def __init__(self, uid: str, title: str, description: str, datasource_type: str) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.datasource_type = datasource_type
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.row_h = 0

    def _place(self, w: int, h: int) -> dict[str, int]:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append(
            {
                "type": "row",
                "id": len(self.panels) + 1,
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            }
        )
        self.y += 1

    def panel(
        self,
        kind: str,
        title: str,
        targets: list[dict[str, Any]],
        *,
        unit: str = "short",
        w: int = 12,
        h: int = 8,
        description: str = "",
        options: dict[str, Any] | None = None,
    ) -> None:
        source = {"type": self.datasource_type, "uid": "${datasource}"}
        self.panels.append(
            {
                "type": kind,
                "id": len(self.panels) + 1,
                "title": title,
                "description": description,
                "datasource": source,
                "gridPos": self._place(w, h),
                "targets": [
                    {"refId": chr(ord("A") + i), "datasource": source, **t}
                    for i, t in enumerate(targets)
                ],
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": options or {},
            }
        )

    def render(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["krstock"],
            "timezone": "browser",
            "editable": True,
            "graphTooltip": 1,
            "time": {"from": "now-24h", "to": "now"},
            "refresh": "1m",
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "links": [],
            "annotations": {"list": []},
            "templating": {
                "list": [
                    {
                        "type": "datasource",
                        "name": "datasource",
                        "label": "Data source",
                        "query": self.datasource_type,
                        "description": f"Any {self.datasource_type} data source",
                    }
                ]
            },
            "panels": self.panels,
        }


def prom(expr: str, legend: str = "") -> dict[str, Any]:
    return {"expr": expr, "legendFormat": legend or "__auto", "range": True}


def sql(query: str, fmt: str = "table") -> dict[str, Any]:
    return {"rawSql": query, "format": fmt, "rawQuery": True, "editorMode": "code"}


def operations() -> dict[str, Any]:
    b = Board(
        "krstock-operations",
        "krstock / Operations",
        "RED per service, Celery queues and tasks, the event bus, the database pool",
        PROMETHEUS,
    )
    b.row("HTTP services")
    b.panel(
        "timeseries",
        "Requests per second by service and status",
        [prom("sum by (service, status) (krstock:http_requests:rate5m)", "{{service}} {{status}}")],
        unit="reqps",
    )
    b.panel(
        "timeseries",
        "5xx ratio by service",
        [prom("krstock:http_5xx_ratio:rate5m", "{{service}}")],
        unit="percentunit",
    )
    b.panel(
        "timeseries",
        "p99 latency by service",
        [prom("krstock:http_request_duration_seconds:p99_5m", "{{service}}")],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Busiest routes",
        [prom("topk(10, sum by (service, route) (krstock:http_requests:rate5m))", "{{route}}")],
        unit="reqps",
    )
    b.row("Celery")
    b.panel(
        "timeseries",
        "Queue length",
        [prom("krstock:queue_length:max", "{{queue}}")],
        unit="short",
    )
    b.panel(
        "timeseries",
        "Tasks per second by state",
        [prom("sum by (task, state) (krstock:tasks:rate5m)", "{{task}} {{state}}")],
        unit="ops",
    )
    b.panel(
        "timeseries",
        "Task p90 duration",
        [
            prom(
                "histogram_quantile(0.9, sum by (task, le) "
                "(rate(krstock_task_duration_seconds_bucket[15m])))",
                "{{task}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Retries and failure ratio",
        [
            prom("sum by (task) (rate(krstock_task_retries_total[15m]))", "retries {{task}}"),
            prom("krstock:task_failure_ratio:rate15m", "failure ratio {{task}}"),
        ],
    )
    b.panel(
        "stat",
        "Workers per queue",
        [prom("sum by (queue) (krstock_worker_queue_consumers)", "{{queue}}")],
        w=24,
        h=4,
    )
    b.row("Event bus")
    b.panel(
        "timeseries",
        "Pending and unread entries per consumer group",
        [
            prom("sum by (group) (krstock_bus_pending_messages)", "pending {{group}}"),
            prom("sum by (group) (krstock_bus_consumer_lag_messages)", "unread {{group}}"),
        ],
    )
    b.panel(
        "timeseries",
        "Dead-letter stream length",
        [prom("max(krstock_bus_dead_letter_messages)", "dead letters")],
    )
    b.panel(
        "timeseries",
        "Deliveries by outcome",
        [prom("sum by (outcome) (rate(krstock_events_total[5m]))", "{{outcome}}")],
        unit="ops",
    )
    b.panel(
        "timeseries",
        "Handling lag p90",
        [
            prom(
                "histogram_quantile(0.9, sum by (group, le) "
                "(rate(krstock_event_lag_seconds_bucket[15m])))",
                "{{group}}",
            )
        ],
        unit="s",
    )
    b.row("LLM")
    b.panel(
        "timeseries",
        "LLM calls by outcome",
        [prom("sum by (provider, outcome) (rate(krstock_llm_calls_total[15m]))", "{{outcome}}")],
        unit="ops",
    )
    b.panel(
        "timeseries",
        "LLM tokens and cost (last 24 h)",
        [
            prom(
                "sum by (direction) (increase(krstock_llm_tokens_total[1d]))",
                "tokens {{direction}}",
            ),
            prom("sum(increase(krstock_llm_cost_usd_total[1d]))", "USD"),
        ],
    )
    b.row("Database")
    b.panel(
        "timeseries",
        "Pool use",
        [prom("krstock:db_pool_usage:ratio", "{{job}} {{instance}}")],
        unit="percentunit",
    )
    b.panel(
        "stat",
        "Database reachable",
        [prom("max(krstock_db_up)", "db up")],
        options={"colorMode": "background"},
    )
    return b.render()


def pipeline() -> dict[str, Any]:
    b = Board(
        "krstock-pipeline",
        "krstock / Pipeline",
        "Daily pipeline runs per step, durations, failures, data freshness and the KRX calendar",
        PROMETHEUS,
    )
    b.row("Runs")
    b.panel(
        "timeseries",
        "Runs per step and outcome (last 24 h)",
        [prom("krstock:pipeline_runs:increase1d", "{{step}} {{outcome}}")],
    )
    b.panel(
        "timeseries",
        "Step p90 duration",
        [
            prom(
                "histogram_quantile(0.9, sum by (step, le) "
                "(rate(krstock_pipeline_run_duration_seconds_bucket[1h])))",
                "{{step}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Failed runs (last 24 h)",
        [prom('sum by (step) (krstock:pipeline_runs:increase1d{outcome="failed"})', "{{step}}")],
    )
    b.panel(
        "table",
        "Time since each step's last success",
        [prom("time() - krstock_pipeline_last_success_timestamp_seconds", "{{step}}")],
        unit="s",
    )
    b.row("Scans")
    b.panel(
        "timeseries",
        "Scan p90 duration by strategy",
        [
            prom(
                "histogram_quantile(0.9, sum by (strategy, le) "
                "(rate(krstock_scan_duration_seconds_bucket[1h])))",
                "{{strategy}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Tickers read and signals found (last 24 h)",
        [
            prom(
                "sum by (strategy) (increase(krstock_scan_tickers_read_total[1d]))",
                "tickers {{strategy}}",
            ),
            prom(
                "sum by (strategy) (increase(krstock_scan_signals_found_total[1d]))",
                "signals {{strategy}}",
            ),
        ],
    )
    b.row("Freshness and calendar")
    b.panel(
        "stat",
        "Trading days behind the expected day",
        [prom("krstock:data_lag_days", "{{dataset}}")],
        unit="d",
        w=8,
    )
    b.panel(
        "stat",
        "Last trading day with data",
        [prom("max by (dataset) (krstock_data_last_day_timestamp_seconds) * 1000", "{{dataset}}")],
        unit="dateTimeAsIsoNoDateIfToday",
        w=8,
    )
    b.panel(
        "stat",
        "Expected and next KRX trading day",
        [
            prom("max(krstock_krx_expected_trading_day_timestamp_seconds) * 1000", "expected"),
            prom("max(krstock_krx_next_trading_day_timestamp_seconds) * 1000", "next"),
        ],
        unit="dateTimeAsIsoNoDateIfToday",
        w=8,
    )
    b.panel(
        "stat",
        "Daily pipeline covered day",
        [
            prom(
                'max(krstock_pipeline_last_success_day_timestamp_seconds{step="pipeline"}) * 1000',
                "daily pipeline",
            )
        ],
        unit="dateTimeAsIsoNoDateIfToday",
        w=12,
    )
    b.panel(
        "table",
        "Next scheduled runs (ScanJobs)",
        [
            prom(
                "max by (namespace, scanjob) "
                "(krstock_operator_scanjob_next_run_timestamp_seconds) * 1000",
                "{{namespace}}/{{scanjob}}",
            )
        ],
        unit="dateTimeAsIso",
        w=12,
    )
    return b.render()


def market() -> dict[str, Any]:
    b = Board(
        "krstock-market",
        "krstock / Market",
        "From the krstock database: Market Gate history, the latest signals, open positions, "
        "realised performance against KOSPI (a read-only PostgreSQL data source)",
        POSTGRES,
    )
    b.panel(
        "timeseries",
        "Market Gate score",
        [
            sql(
                'SELECT date::timestamp AS time, score AS "gate score"\n'
                "FROM market_gate_snapshots\nWHERE policy_name = 'monolith'\n"
                "ORDER BY date DESC\nLIMIT 250",
                "time_series",
            )
        ],
        w=16,
    )
    b.panel(
        "table",
        "Market Gate, last 10 days",
        [
            sql(
                "SELECT date, status, score, label, market_status\n"
                "FROM market_gate_snapshots\nWHERE policy_name = 'monolith'\n"
                "ORDER BY date DESC\nLIMIT 10"
            )
        ],
        w=8,
    )
    b.panel(
        "barchart",
        "Latest signals by strategy and grade",
        [
            sql(
                "SELECT strategy || ' ' || coalesce(grade, '-') AS \"strategy grade\",\n"
                "       count(*) AS signals\nFROM signals\n"
                "WHERE signal_date = (SELECT max(signal_date) FROM signals)\n"
                "GROUP BY strategy, grade\nORDER BY strategy, grade"
            )
        ],
    )
    b.panel(
        "table",
        "Open positions",
        [
            sql(
                "SELECT strategy, ticker, signal_date, grade, entry_price, current_price,\n"
                "       round(((current_price / nullif(entry_price, 0) - 1) * 100)::numeric, 2)"
                " AS unrealised_pct\n"
                "FROM signals\nWHERE status = 'OPEN'\n"
                "ORDER BY signal_date DESC, strategy, ticker\nLIMIT 100"
            )
        ],
    )
    b.panel(
        "timeseries",
        "Realised return of closed signals vs KOSPI (cumulative, %)",
        [
            sql(
                "WITH closed AS (\n"
                "  SELECT exit_date AS day, sum(return_pct) AS total, count(*) AS n\n"
                "  FROM signals WHERE status = 'CLOSED' AND exit_date IS NOT NULL\n"
                "  GROUP BY exit_date),\n"
                "kospi AS (\n"
                "  SELECT date AS day,\n"
                "    (close / first_value(close) OVER (ORDER BY date) - 1) * 100 AS kospi_pct\n"
                "  FROM index_prices\n"
                "  WHERE code = 'KOSPI' AND date >= (SELECT min(day) FROM closed))\n"
                "SELECT k.day::timestamp AS time,\n"
                "       sum(coalesce(c.total, 0)) OVER w / nullif(sum(coalesce(c.n, 0)) OVER w, 0)"
                ' AS "mean realised return",\n'
                '       k.kospi_pct AS "KOSPI"\n'
                "FROM kospi k LEFT JOIN closed c ON c.day = k.day\n"
                "WINDOW w AS (ORDER BY k.day)\nORDER BY k.day",
                "time_series",
            )
        ],
        unit="percent",
        w=16,
    )
    b.panel(
        "table",
        "Realised performance by strategy",
        [
            sql(
                "SELECT strategy, count(*) AS closed,\n"
                "       round(avg(return_pct)::numeric, 2) AS avg_return_pct,\n"
                "       round((100.0 * avg((return_pct > 0)::int))::numeric, 1) AS win_rate_pct\n"
                "FROM signals\nWHERE status = 'CLOSED'\nGROUP BY strategy\nORDER BY strategy"
            )
        ],
        w=8,
    )
    return b.render()


DASHBOARDS = {"operations": operations, "pipeline": pipeline, "market": market}


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"{name}.json": json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


KIND_COLOURS = {
    "timeseries": "#dbe9f6",
    "stat": "#e2f0d9",
    "table": "#fbe5d6",
    "barchart": "#ede0f5",
}


def draw_layouts(folder: Path) -> None:
    """Each dashboard's layout as Grafana places it: one box per panel at its gridPos (24
    columns; a grid row drawn 30 px high), titled, coloured by panel type. A drawing of the
    grid, not a screenshot: there is no Grafana server here to render the panels' data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    folder.mkdir(parents=True, exist_ok=True)
    for name, build in DASHBOARDS.items():
        board = build()
        bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
        fig, ax = plt.subplots(figsize=(12, bottom * 0.3 + 0.8), dpi=100)
        ax.set_xlim(0, 24)
        ax.set_ylim(bottom, 0)
        ax.axis("off")
        ax.set_title(
            f"{board['title']}  (uid {board['uid']}; layout of the panel grid)", loc="left"
        )
        for panel in board["panels"]:
            pos = panel["gridPos"]
            if panel["type"] == "row":
                ax.text(0.1, pos["y"] + 0.75, panel["title"], fontsize=10, weight="bold")
                continue
            colour = KIND_COLOURS.get(panel["type"], "#eeeeee")
            ax.add_patch(
                Rectangle(
                    (pos["x"] + 0.1, pos["y"] + 0.1),
                    pos["w"] - 0.2,
                    pos["h"] - 0.2,
                    facecolor=colour,
                    edgecolor="#555555",
                )
            )
            ax.text(pos["x"] + 0.3, pos["y"] + 0.9, panel["title"], fontsize=8, va="center")
            ax.text(
                pos["x"] + 0.3,
                pos["y"] + 1.8,
                panel["type"],
                fontsize=7,
                color="#666666",
                va="center",
            )
        fig.tight_layout()
        fig.savefig(folder / f"{name}.png")
        plt.close(fig)
    print(f"drew {len(DASHBOARDS)} layouts in {folder}")


def main(argv: list[str]) -> int:
    if "--png" in argv:
        draw_layouts(Path(__file__).resolve().parents[1] / "docs" / "dashboards")
        return 0
    files = rendered()
    if "--check" in argv:
        stale = [
            n for n, t in files.items() if not (OUT / n).is_file() or (OUT / n).read_text() != t
        ]
        if stale:
            print(
                f"stale dashboards: {', '.join(stale)}; run python scripts/dashboards.py",
                file=sys.stderr,
            )
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
    print(f"wrote {len(files)} dashboards to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
