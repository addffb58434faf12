"""``krstock bench vcp``: the VCP detector on real KRX days and on the synthetic market.

Prints, per policy variant: flags per date on ``krx-daily`` (pykrx CSVs), the forward 10/20-day
returns of flagged setups against every trend-template passer on the same dates, and on the
synthetic market the planted recall and the random-walk flag rate. Measured, not tuned: the
variants are printed side by side, and a sample too small to tell is said to be."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # numpy and the engines load when the command runs (the CLI stays light)
    import numpy as np
    import numpy.typing as npt

    from krstock.domain.vcp import VcpPolicy

DEFAULT_FOLDER = Path("../shared/data/krx-daily")
HORIZONS = (10, 20)
# A forward-return comparison with fewer flagged setups than this is reported as too small.
MIN_SAMPLE = 30
# The random-walk markets the reference screen is read on (our detector's: seed 7).
RANDOM_WALK_SEEDS = (7, 8, 9)


@dataclass(frozen=True)
class RealMarket:
    """Real daily bars as (tickers × days) arrays; a missing day is NaN."""

    tickers: npt.NDArray[np.str_]
    dates: npt.NDArray[np.str_]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]


def load_krx_daily(folder: Path) -> RealMarket:
    """Read pykrx ``get_market_ohlcv`` CSVs (날짜,시가,고가,저가,종가,거래량,등락률)."""
    import numpy as np
    import pandas as pd

    files = sorted(folder.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv in {folder}")
    frames = []
    for path in files:
        frame = pd.read_csv(path, encoding="utf-8-sig", usecols=[0, 2, 3, 4, 5])
        frame.columns = ["date", "high", "low", "close", "volume"]
        frame["ticker"] = path.stem
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    rows["date"] = rows["date"].astype(str).str[:10]

    def grid(column: str) -> npt.NDArray[np.float64]:
        table = rows.pivot_table(index="ticker", columns="date", values=column, aggfunc="last")
        return table.to_numpy(dtype=np.float64)

    table = rows.pivot_table(index="ticker", columns="date", values="close", aggfunc="last")
    return RealMarket(
        tickers=table.index.to_numpy(dtype=str),
        dates=table.columns.to_numpy(dtype=str),
        high=grid("high"),
        low=grid("low"),
        close=grid("close"),
        volume=grid("volume"),
    )


def scan_days(market: RealMarket, step: int = 5, lookback: int = 300) -> list[int]:
    """Column indices scanned: every ``step`` trading days with ``lookback`` days of history
    and 20 days of future left (for the forward returns)."""
    last = market.close.shape[1] - 1 - max(HORIZONS)
    return list(range(lookback - 1, last + 1, step))


def forward_returns(market: RealMarket, day: int, rows: Any) -> dict[int, list[float]]:
    """The 10- and 20-day returns from ``day``'s close of the tickers ``rows`` selects."""
    import numpy as np

    out: dict[int, list[float]] = {}
    for horizon in HORIZONS:
        with np.errstate(divide="ignore", invalid="ignore"):
            forward = market.close[:, day + horizon] / market.close[:, day] - 1.0
        out[horizon] = forward[rows & np.isfinite(forward)].tolist()
    return out


def edge(flagged: dict[int, list[float]], passers: dict[int, list[float]]) -> dict[str, Any]:
    """Flagged vs trend-template passers per horizon, with the sample size said honestly."""
    import numpy as np

    out: dict[str, Any] = {}
    for horizon in HORIZONS:
        f, p = np.array(flagged[horizon]), np.array(passers[horizon])
        out[f"{horizon}d"] = {
            "flagged_n": int(f.size),
            "flagged_mean": round(float(f.mean()), 4) if f.size else None,
            "flagged_median": round(float(np.median(f)), 4) if f.size else None,
            "flagged_win_rate": round(float((f > 0).mean()), 3) if f.size else None,
            "passers_n": int(p.size),
            "passers_mean": round(float(p.mean()), 4) if p.size else None,
            "passers_median": round(float(np.median(p)), 4) if p.size else None,
            "passers_win_rate": round(float((p > 0).mean()), 3) if p.size else None,
            "edge_mean": round(float(f.mean() - p.mean()), 4) if f.size and p.size else None,
            "sample": "too small to tell" if f.size < MIN_SAMPLE else "enough for a rough read",
        }
    return out


def real_report(
    market: RealMarket, policy: VcpPolicy, step: int = 5, lookback: int = 300
) -> dict[str, Any]:
    """Flags per date (every ``step`` trading days with 20 days of future left) and the forward
    returns of flagged tickers vs all trend-template passers on the same dates."""
    import numpy as np

    from krstock.domain.trend_template import evaluate_trend_template
    from krstock.domain.vcp import detect_vcp

    per_date: list[dict[str, Any]] = []
    flagged_returns: dict[int, list[float]] = {h: [] for h in HORIZONS}
    passer_returns: dict[int, list[float]] = {h: [] for h in HORIZONS}
    hits: list[tuple[str, str]] = []
    for day in scan_days(market, step, lookback):
        lo_day = day - lookback + 1
        sl = slice(lo_day, day + 1)
        h, lo, c, v = (
            market.high[:, sl],
            market.low[:, sl],
            market.close[:, sl],
            market.volume[:, sl],
        )
        # A missing row (new listing, gap) at the end of history: no pattern read on it.
        trend = evaluate_trend_template(c, h, lo, policy.trend_template)
        result = detect_vcp(h, lo, c, v, policy, trend)
        flagged = result.flagged & np.isfinite(c[:, -1])
        per_date.append(
            {
                "date": str(market.dates[day]),
                "trend_template": int(trend.passes.sum()),
                "flagged": int(flagged.sum()),
            }
        )
        hits += [(str(t), str(market.dates[day])) for t in market.tickers[flagged]]
        for horizon, values in forward_returns(market, day, flagged).items():
            flagged_returns[horizon] += values
        for horizon, values in forward_returns(market, day, trend.passes).items():
            passer_returns[horizon] += values
    counts = [row["flagged"] for row in per_date]
    return {
        "dates": len(per_date),
        "flags_per_date_mean": round(float(np.mean(counts)), 2) if counts else 0.0,
        "flags_per_date": per_date,
        # Consecutive days of one base count once here: the forward returns overlap.
        "distinct_tickers": len({ticker for ticker, _ in hits}),
        "forward_returns": edge(flagged_returns, passer_returns),
        "hits": hits,
    }


def synthetic_report(policy: VcpPolicy, tickers: int, seed: int) -> dict[str, Any]:
    """Planted recall, unplanted share and random-walk flag rate (synthetic, says so)."""
    from krstock.benchmarks.scan import vcp_selectivity

    out = vcp_selectivity(tickers, seed, policy=policy)
    out["data"] = "synthetic (krstock.marketdata.sample)"
    return out


VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "old (fixed 3 %, average dry-up)": {"swing_mode": "fixed", "dryup_mode": "average"},
    "atr, average dry-up": {"dryup_mode": "average"},
    "fixed 3 %, quiet dry-up": {"swing_mode": "fixed"},
    # The public screen's rule set (vcp_reference) on our reading, our dry-up kept: what our
    # extra rules (last depth, higher lows, base length, first-depth cap) cost in count.
    "public-screen rules + our dry-up": {
        "base_days": 120,
        "max_depth_ratio": 0.75,
        "min_first_depth": 0.08,
        "max_first_depth": 0.6,
        "max_last_depth": 0.5,
        "require_higher_lows": False,
        "min_base_days": 5,
        "max_pivot_distance": 0.08,
    },
}


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("vcp")
    def vcp(
        folder: Path = typer.Option(DEFAULT_FOLDER, help="pykrx daily CSV folder (krx-daily)."),
        tickers: int = typer.Option(2500, min=50, help="Synthetic universe size."),
        seed: int = typer.Option(20260101, help="Synthetic market seed."),
        step: int = typer.Option(5, min=1, help="Trading days between scanned real dates."),
        all_variants: bool = typer.Option(
            False, "--variants", help="Also run the old behaviour and single-change variants."
        ),
        reference: bool = typer.Option(
            False,
            "--reference",
            help="Also run a re-implemented public VCP screen on the same data (a second opinion).",
        ),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
        plots: Path | None = typer.Option(
            None, "--plots", help="Write a PNG per flagged real setup (first day of each run)."
        ),
    ) -> None:
        """The VCP detector on real KRX data and on the synthetic market, side by side."""
        import orjson

        from krstock.domain.vcp import VcpPolicy
        from krstock.errors import InputError

        if not folder.is_dir():
            raise InputError(f"krx-daily folder not found: {folder}")
        market = load_krx_daily(folder)
        names = list(VARIANTS) if all_variants else ["default"]
        report: dict[str, Any] = {"real_tickers": int(market.tickers.size), "variants": {}}
        default_hits: list[tuple[str, str]] = []
        for name in names:
            policy = VcpPolicy(**VARIANTS[name])
            real = real_report(market, policy, step)
            hits = real.pop("hits")
            if name == "default":
                default_hits = hits
            if plots is not None and name == "default":
                from krstock.benchmarks.vcp_plot import plot_setup

                first: dict[str, str] = {}
                for ticker, day in hits:
                    first.setdefault(ticker, day)
                real["plots"] = [
                    str(plot_setup(market, t, d, plots)) for t, d in sorted(first.items())
                ]
            report["variants"][name] = {
                "real": real,
                "synthetic": synthetic_report(policy, tickers, seed),
            }
        if reference:
            from krstock.benchmarks.vcp_reference import compare, reference_selectivity

            report["reference"] = {
                "real": compare(market, scan_days(market, step), default_hits),
                "synthetic": reference_selectivity(tickers, seed, RANDOM_WALK_SEEDS),
            }
        if json_out:
            print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
            return
        print(f"real data: {folder} ({report['real_tickers']} tickers)")
        for name, figures in report["variants"].items():
            real, synth = figures["real"], figures["synthetic"]
            flags = " ".join(
                f"{r['date'][5:]}:{r['flagged']}/{r['trend_template']}"
                for r in real["flags_per_date"]
            )
            print(f"[{name}] flags/trend-template per date: {flags}")
            print(
                f"  mean flags per date {real['flags_per_date_mean']}, "
                f"distinct tickers {real['distinct_tickers']}"
            )
            for horizon, e in real["forward_returns"].items():
                print(
                    f"  fwd {horizon}: flagged n={e['flagged_n']} mean={e['flagged_mean']} "
                    f"win={e['flagged_win_rate']} | passers n={e['passers_n']} "
                    f"mean={e['passers_mean']} win={e['passers_win_rate']} | "
                    f"edge={e['edge_mean']} ({e['sample']})"
                )
            print(
                f"  synthetic: recall {synth['found']}/{synth['planted']}, "
                f"unplanted {synth['unplanted_hits']}/{synth['hits']}, random-walk flagged "
                f"{synth['random_walk_flagged']} ({synth['random_walk_rate']:.3%})"
            )
        if reference:
            _print_reference(report["reference"])


def _print_reference(reference: dict[str, Any]) -> None:
    real, synth = reference["real"], reference["synthetic"]
    print("[reference: a public VCP screen re-implemented, krstock.benchmarks.vcp_reference]")
    rows = " ".join(
        f"{r['date'][5:]}:{r['reference_flagged']}/{r['ours_flagged']}"
        for r in real["per_date"]
        if r["reference_flagged"] or r["ours_flagged"]
    )
    print(f"  dates with a flag (reference/ours): {rows or 'none'}")
    print(
        f"  reference {real['reference_flags']} flags ({real['reference_flags_per_date']} a date, "
        f"{real['reference_share_of_passers']:.1%} of its trend-template passes), "
        f"{len(real['reference_tickers'])} tickers; ours {real['ours_flags']} flags, "
        f"{len(real['ours_tickers'])} tickers; both: {', '.join(real['both']) or 'none'}"
    )
    for horizon, e in real["reference_forward_returns"].items():
        print(
            f"  reference fwd {horizon}: flagged n={e['flagged_n']} mean={e['flagged_mean']} | "
            f"passers n={e['passers_n']} mean={e['passers_mean']} ({e['sample']})"
        )
    ended = ", ".join(f"{why} {n}" for why, n in real["reference_passers_ended_at"].items())
    print(f"  reference passers ended at: {ended}")
    walks = ", ".join(
        f"seed {w['seed']}: {w['flagged']} of {w['trend_template']} passes"
        for w in synth["random_walks"]
    )
    print(
        f"  reference synthetic: recall {synth['found']}/{synth['planted']}, unplanted "
        f"{synth['unplanted_hits']}/{synth['hits']}, random walks flagged {walks} "
        f"({synth['random_walk_rate']:.3%} of all)"
    )
