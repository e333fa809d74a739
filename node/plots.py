"""Pictures of what a parent order did, for a trader to read at a glance.

``execution_figure`` draws three panels from an ``ExecutionSeries`` (built from the journal by
``tradenode report``): fills over time against the mid (marker per venue, filled for maker,
hollow for taker, size by quantity; the arrival mid, the average price and any limit as lines),
the schedule against the filled quantity, and what each venue filled. matplotlib is imported
when a figure is drawn, never at import, and only its Agg canvas is used (no display needed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

_NS = 1e9


@dataclass(frozen=True)
class FillPoint:
    ts: int
    price: Decimal
    quantity: Decimal
    venue: str
    liquidity: str


@dataclass(frozen=True)
class ProgressPoint:
    ts: int
    filled: Decimal
    scheduled: Decimal | None
    mid: Decimal | None


@dataclass
class ExecutionSeries:
    """What a parent order did over time, as the journal recorded it."""

    parent_id: str
    algo: str
    symbol: str
    side: str
    quantity: Decimal
    status: str
    start_ts: int
    end_ts: int
    arrival_mid: Decimal | None = None
    average_price: Decimal | None = None
    limit_price: Decimal | None = None
    shortfall_bps: Decimal | None = None
    fills: list[FillPoint] = field(default_factory=list)
    progress: list[ProgressPoint] = field(default_factory=list)


def _utc(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts / _NS)) + "Z"


def execution_figure(series: ExecutionSeries, path: str | Path) -> None:
    """Write the PNG of ``series`` to ``path`` (``OSError`` if it cannot be written)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 9), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 2, height_ratios=[3, 2, 2], width_ratios=[3, 1])
    prices = figure.add_subplot(grid[0, :])
    quantity = figure.add_subplot(grid[1, :], sharex=prices)
    venues = figure.add_subplot(grid[2, 0])
    summary = figure.add_subplot(grid[2, 1])
    start = series.start_ts

    def seconds(ts: int) -> float:
        return (ts - start) / _NS

    _prices(prices, series, seconds)
    _quantities(quantity, series, seconds)
    _venues(venues, series)
    _summary(summary, series)
    shortfall = "-" if series.shortfall_bps is None else f"{series.shortfall_bps} bps"
    figure.suptitle(
        f"{series.parent_id} ({series.algo}): {series.side} {series.quantity} {series.symbol} — "
        f"{series.status}, implementation shortfall {shortfall}\n"
        f"from {_utc(series.start_ts)} for {(series.end_ts - series.start_ts) / _NS:,.1f} s",
        fontsize="medium",
    )
    figure.savefig(path, format="png")


def _venue_colors(series: ExecutionSeries) -> dict[str, tuple]:
    from matplotlib import colormaps

    names = sorted({f.venue for f in series.fills})
    cmap = colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def _prices(axes, series: ExecutionSeries, seconds) -> None:
    mids = [(seconds(p.ts), float(p.mid)) for p in series.progress if p.mid is not None]
    if mids:
        xs, ys = zip(*mids, strict=True)
        axes.step(xs, ys, where="post", color="0.45", linewidth=1, label="mid")
    colors = _venue_colors(series)
    largest = max((float(f.quantity) for f in series.fills), default=1.0) or 1.0
    for venue, color in colors.items():
        for liquidity, filled in (("maker", True), ("taker", False)):
            points = [f for f in series.fills if f.venue == venue and f.liquidity == liquidity]
            if not points:
                continue
            axes.scatter(
                [seconds(f.ts) for f in points],
                [float(f.price) for f in points],
                s=[20 + 180 * float(f.quantity) / largest for f in points],
                facecolors=color if filled else "none",
                edgecolors=color,
                linewidths=1.2,
                label=f"{venue} ({liquidity})",
                zorder=3,
            )
    for value, style, label in (
        (series.arrival_mid, "--", "arrival mid"),
        (series.average_price, "-", "average fill"),
        (series.limit_price, ":", "limit"),
    ):
        if value is not None:
            axes.axhline(float(value), linestyle=style, linewidth=1, color="black", label=label)
    axes.set_ylabel("price")
    axes.set_title("fills against the mid (marker size: quantity)", fontsize="small")
    axes.grid(alpha=0.3)
    axes.ticklabel_format(axis="y", useOffset=False, style="plain")
    axes.legend(fontsize="x-small", loc="best", ncols=2)


def _quantities(axes, series: ExecutionSeries, seconds) -> None:
    filled_x, filled_y = [0.0], [0.0]
    total = Decimal(0)
    for fill in sorted(series.fills, key=lambda f: f.ts):
        total += fill.quantity
        filled_x.append(seconds(fill.ts))
        filled_y.append(float(total))
    filled_x.append(seconds(series.end_ts))
    filled_y.append(float(total))
    axes.step(filled_x, filled_y, where="post", color="tab:blue", label="filled")
    scheduled = [(seconds(p.ts), float(p.scheduled)) for p in series.progress if p.scheduled]
    if scheduled:
        xs, ys = zip(*scheduled, strict=True)
        axes.plot(xs, ys, color="tab:orange", linestyle="--", label="schedule")
    axes.axhline(float(series.quantity), color="black", linewidth=0.8, label="parent quantity")
    axes.set_xlabel("seconds since the parent was accepted")
    axes.set_ylabel("quantity")
    axes.set_title("schedule against actual", fontsize="small")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="x-small", loc="upper left")


def _venues(axes, series: ExecutionSeries) -> None:
    axes.set_title("fills per venue", fontsize="small")
    colors = _venue_colors(series)
    names = sorted(colors)
    if not names:
        axes.axis("off")
        axes.text(0.5, 0.5, "no fills", ha="center", va="center", transform=axes.transAxes)
        return
    maker = [
        float(sum(f.quantity for f in series.fills if f.venue == v and f.liquidity == "maker"))
        for v in names
    ]
    taker = [
        float(sum(f.quantity for f in series.fills if f.venue == v and f.liquidity != "maker"))
        for v in names
    ]
    edge = [colors[v] for v in names]
    axes.barh(names, maker, height=0.5, color=edge, label="maker")
    axes.barh(
        names,
        taker,
        height=0.5,
        left=maker,
        color="none",
        edgecolor=edge,
        hatch="//",
        label="taker",
    )
    axes.set_xlabel("quantity filled")
    axes.grid(alpha=0.3, axis="x")
    axes.legend(fontsize="x-small", loc="lower right")


def _summary(axes, series: ExecutionSeries) -> None:
    axes.axis("off")
    filled = sum((f.quantity for f in series.fills), Decimal(0))
    lines = [
        f"filled {filled} / {series.quantity}",
        f"fills {len(series.fills)} "
        f"({sum(1 for f in series.fills if f.liquidity == 'maker')} maker)",
        f"arrival mid {series.arrival_mid if series.arrival_mid is not None else '-'}",
        f"average {series.average_price:.12g}" if series.average_price is not None else "average -",
        "shortfall -" if series.shortfall_bps is None else f"shortfall {series.shortfall_bps} bps",
    ]
    axes.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize="small", family="monospace")
