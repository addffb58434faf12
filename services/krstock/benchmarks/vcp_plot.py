"""One PNG per flagged real VCP: the base, its contractions and the pivot, as the default (ATR)
reading and the old fixed 3 % zigzag read the same bars (``krstock bench vcp --plots DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from krstock.domain.vcp import VcpPolicy, detect_vcp

if TYPE_CHECKING:
    from krstock.benchmarks.vcp_real import RealMarket

SHOWN_DAYS = 120


def plot_setup(
    market: RealMarket, ticker: str, day: str, folder: Path, lookback: int = 300
) -> Path:
    """Draw ``ticker`` on ``day``: two panels (atr, fixed) with the base shaded, each
    contraction's high → low marked with its depth, and the pivot as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    i = int(np.flatnonzero(market.tickers == ticker)[0])
    j = int(np.flatnonzero(market.dates == day)[0])
    sl = slice(max(j - lookback + 1, 0), j + 1)
    high, low = market.high[i : i + 1, sl], market.low[i : i + 1, sl]
    close, volume = market.close[i : i + 1, sl], market.volume[i : i + 1, sl]
    shown = min(SHOWN_DAYS, close.shape[1])
    x = np.arange(shown)
    fig, axes = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for ax, mode in zip(axes, ("atr", "fixed"), strict=True):
        policy = VcpPolicy(swing_mode=mode, require_trend_template=False)
        result = detect_vcp(high, low, close, volume, policy)
        width = min(policy.base_days, close.shape[1])
        offset = shown - width  # base-window day d sits at x = offset + d
        ax.vlines(x, low[0, -shown:], high[0, -shown:], color="0.6", linewidth=1)
        ax.plot(x, close[0, -shown:], color="black", linewidth=1)
        n = int(result.n_contractions[0])
        c = result.contractions
        if n:
            ax.axvspan(offset + c.base_start[0], shown - 1, color="tab:blue", alpha=0.08)
        for k in range(n):
            p_day, t_day = offset + c.peak_day[0, k], offset + c.trough_day[0, k]
            ax.plot([p_day, t_day], [c.peak[0, k], c.trough[0, k]], color="tab:red", marker="o")
            ax.annotate(
                f"{c.depth[0, k]:.1%}",
                (t_day, c.trough[0, k]),
                fontsize=8,
                textcoords="offset points",
                xytext=(0, -12),
                ha="center",
            )
        if n and np.isfinite(result.pivot[0]):
            ax.axhline(result.pivot[0], color="tab:green", linestyle="--", linewidth=1)
        status = result.status[0] or "not flagged"
        ax.set_title(
            f"{mode}: {n} contractions, pivot {result.pivot[0]:,.0f}, {status}", fontsize=10
        )
    axes[0].figure.suptitle(f"{ticker} on {day} (real KRX daily bars; last {shown} days)")
    axes[1].set_xlabel("trading days")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"vcp-{ticker}-{day}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
