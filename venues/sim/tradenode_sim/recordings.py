"""Reading a venue's recording, once per process when asked to.

A backtest run many times over the same data (a parameter sweep, a benchmark) need not parse the
capture each time: with ``preload = true`` the parsed messages — frozen, never mutated — are kept
for the life of the process and every later node replays the same ones. Without it the recording
is read lazily, line by line, as the replay reaches it (flat memory for a capture of any size).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from node.messages import MarketData
from tradenode_sim.sources.binance_csv import read_binance_depth_csv
from tradenode_sim.sources.binance_stream import read_binance_stream

#: parsed recordings kept at most (a sweep rarely needs more than a few captures at once)
_KEEP = 4
_parsed: OrderedDict[tuple, tuple[MarketData, ...]] = OrderedDict()


def read_recording(
    source: str, paths: list[Path], *, venue: str, symbol: str, preload: bool
) -> Iterable[MarketData]:
    """The messages of a ``binance-stream`` or ``binance-depth-csv`` recording, in time order."""
    reader = read_binance_stream if source == "binance-stream" else read_binance_depth_csv
    if not preload:
        return reader(paths, venue=venue, symbol=symbol)
    key = (source, tuple(str(p.resolve()) for p in paths), venue, symbol)
    parsed = _parsed.get(key)
    if parsed is None:
        parsed = tuple(reader(paths, venue=venue, symbol=symbol))
        _parsed[key] = parsed
        while len(_parsed) > _KEEP:
            _parsed.popitem(last=False)
    else:
        _parsed.move_to_end(key)
    return parsed
