"""``tradenode quotes``: print or plot the optimal liquidation quotes of ``glft``.

The node's CLI mounts this as a subcommand: it calls ``add_arguments`` on the subparser and
``run`` with the parsed arguments. Exit codes follow the CLI's: 0 success, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported when the command runs: ``tradenode --help`` stays fast
    import numpy as np

    from tradenode_algos.glft import QuoteGrid

#: At most this many inventory levels (columns, lines) and times (rows) are shown.
_TABLE_LEVELS = 6
_TABLE_TIMES = 11
_PLOT_LEVELS = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The model's parameters as options; units only need to be consistent with each other."""
    model = parser.add_argument_group("model (consistent units, e.g. ticks and seconds)")
    model.add_argument("--sigma", type=float, required=True, help="mid volatility, price/√time")
    model.add_argument(
        "--A", dest="A", type=float, required=True, help="fill intensity at the mid, 1/time"
    )
    model.add_argument("--k", type=float, required=True, help="intensity decay A·e^(-k·δ), 1/price")
    model.add_argument("--gamma", type=float, required=True, help="risk aversion, 1/price")
    model.add_argument("--b", type=float, required=True, help="penalty per lot left at T, price")
    model.add_argument("--horizon", type=float, required=True, help="time to liquidate, T")
    model.add_argument("--inventory", type=int, required=True, help="lots to sell, Q")
    parser.add_argument(
        "--steps", type=int, default=100, help="time intervals of the grid (default 100)"
    )
    parser.add_argument("--json", action="store_true", help="print the whole grid as one object")
    parser.add_argument("--plot", metavar="FILE.png", help="write a PNG of the quotes over time")


def run(args: argparse.Namespace) -> int:
    from tradenode_algos.glft import QuoteModel, asymptotic_quotes, optimal_quotes

    try:
        model = QuoteModel(
            sigma=args.sigma,
            A=args.A,
            k=args.k,
            gamma=args.gamma,
            b=args.b,
            horizon=args.horizon,
            inventory=args.inventory,
        )
        grid = optimal_quotes(model, args.steps)
    except ValueError as exc:
        print(f"tradenode quotes: {exc}", file=sys.stderr)
        return 2
    asymptotic = asymptotic_quotes(model)
    if args.json:
        print(json.dumps(_as_json(grid, asymptotic)))
    elif not args.plot:
        print(_table(grid, asymptotic))
    if args.plot:
        try:
            _plot(grid, asymptotic, Path(args.plot))
        except OSError as exc:
            print(
                f"tradenode quotes: cannot write {args.plot}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
        if not args.json:
            print(f"wrote {args.plot}")
    return 0


def _params(grid: QuoteGrid) -> dict[str, float | int]:
    m = grid.model
    return {
        "sigma": m.sigma,
        "A": m.A,
        "k": m.k,
        "gamma": m.gamma,
        "b": m.b,
        "horizon": m.horizon,
        "inventory": m.inventory,
        "steps": len(grid.times) - 1,
    }


def _as_json(grid: QuoteGrid, asymptotic: np.ndarray) -> dict[str, object]:
    return {
        "times": grid.times.tolist(),
        "inventory": grid.inventory.tolist(),
        "delta": grid.delta.tolist(),
        "params": _params(grid),
        "asymptotic": asymptotic.tolist(),
    }


def _spread(count: int, most: int) -> list[int]:
    """Up to ``most`` indices spread evenly over ``0..count-1``, both ends included."""
    import numpy as np

    return sorted({round(i) for i in np.linspace(0, count - 1, min(count, most))})


def _title(grid: QuoteGrid) -> str:
    m = grid.model
    return (
        f"σ={m.sigma:g}  A={m.A:g}  k={m.k:g}  γ={m.gamma:g}  b={m.b:g}  "
        f"T={m.horizon:g}  Q={m.inventory}"
    )


def _table(grid: QuoteGrid, asymptotic: np.ndarray) -> str:
    columns = _spread(len(grid.inventory), _TABLE_LEVELS)
    rows = _spread(len(grid.times), _TABLE_TIMES)
    width = 11
    lines = [
        "Optimal ask distance from the mid, δ*(t, q) (Guéant-Lehalle-Fernandez-Tapia 2012)",
        _title(grid),
        "",
        f"{'t':>{width}}" + "".join(f"{f'q={grid.inventory[c]}':>{width}}" for c in columns),
    ]
    for r in rows:
        cells = "".join(f"{grid.delta[r, c]:>{width}.4f}" for c in columns)
        lines.append(f"{grid.times[r]:>{width}.6g}{cells}")
    lines.append(f"{'T-t → ∞':>{width}}" + "".join(f"{asymptotic[c]:>{width}.4f}" for c in columns))
    return "\n".join(lines)


def _plot(grid: QuoteGrid, asymptotic: np.ndarray, path: Path) -> None:
    # Imported here: matplotlib costs a noticeable start-up time the other outputs don't need.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    levels = _spread(len(grid.inventory), _PLOT_LEVELS)
    palette = _palette(len(levels))
    for color, c in zip(palette, levels, strict=True):
        axes.plot(grid.times, grid.delta[:, c], color=color, label=f"q = {grid.inventory[c]}")
        axes.axhline(asymptotic[c], color=color, linestyle=":", linewidth=0.8)
    axes.set_xlabel("time t")
    axes.set_ylabel("ask distance from the mid δ*(t, q)")
    axes.set_title(f"Optimal liquidation quotes (GLFT 2012)\n{_title(grid)}")
    axes.grid(alpha=0.3)
    figure.legend(title="inventory q", fontsize="small", loc="outside right upper")
    figure.text(0.99, 0.01, "dotted: limit as T − t → ∞", ha="right", fontsize="small")
    figure.savefig(path, format="png")


def _palette(count: int) -> list[tuple[float, float, float, float]]:
    import numpy as np
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.9, count)]
