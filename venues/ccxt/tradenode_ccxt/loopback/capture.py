"""The recorded Binance capture this server replays (hftbacktest's raw WebSocket recording).

Each line is ``<local_receive_ns> <json>``; the JSON is a combined-stream message
(``{"stream": "btcusdt@depth@100ms" | "btcusdt@trade" | "btcusdt@bookTicker", "data": {...}}``)
or the REST depth snapshot ``{"lastUpdateId", "bids", "asks"}`` on a line of its own. Files are
read lazily, line by line, so a test that steps a few updates reads a few lines.

The diffs are sequenced with Binance's rule for a local book: diffs before the snapshot are held;
those with ``u <= lastUpdateId`` are dropped; the first one kept must bridge the snapshot
(``U <= lastUpdateId + 1 <= u``); every later one must continue the previous (``U == u + 1``).
``bookTicker`` lines are skipped: the server derives its own from its book.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO

Level = tuple[Decimal, Decimal]

# venues/ccxt/tradenode_ccxt/loopback/capture.py -> the repository root is four levels up.
_REPO = Path(__file__).resolve().parents[4]
DEFAULT_CAPTURE: tuple[Path, ...] = tuple(
    _REPO / "venues/sim/tradenode_sim/data/binance-stream/spot" / f"btcusdt_2024080{day}.gz"
    for day in (8, 9)
)


class CaptureError(ValueError):
    """The capture cannot be replayed as Binance's rule demands (names file and line)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    ts: int
    last_update_id: int
    bids: list[Level]
    asks: list[Level]


@dataclass(frozen=True, slots=True)
class DepthDiff:
    ts: int
    first_id: int  # Binance's U
    last_id: int  # Binance's u
    bids: list[Level]
    asks: list[Level]


@dataclass(frozen=True, slots=True)
class MarketTrade:
    ts: int
    trade_id: int
    price: Decimal
    qty: Decimal
    buyer_is_maker: bool  # Binance's m: true when the aggressor sold


CaptureEvent = Snapshot | DepthDiff | MarketTrade


def _levels(raw: list[list[str]]) -> list[Level]:
    return [(Decimal(p), Decimal(q)) for p, q in raw]


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def _numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The lines of one capture file (gzip or plain), numbered from 1 for error messages."""
    try:
        f = _open(path)
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open: {exc}") from None
    with f:
        yield from enumerate(f, 1)


def _raw_events(paths: Sequence[Path]) -> Iterator[tuple[Path, int, CaptureEvent]]:
    symbol: str | None = None
    for path in paths:
        for line_no, line in _numbered_lines(path):
            ts_text, sep, payload = line.partition(b" ")
            if not sep:
                if line.strip():
                    raise CaptureError(f"{path}:{line_no}: not '<local_receive_ns> <json>'")
                continue
            try:
                ts = int(ts_text)
                msg = json.loads(payload)
            except ValueError as exc:
                raise CaptureError(f"{path}:{line_no}: {exc}") from None
            if "lastUpdateId" in msg:
                snap = Snapshot(ts, msg["lastUpdateId"], _levels(msg["bids"]), _levels(msg["asks"]))
                yield path, line_no, snap
                continue
            stream = msg.get("stream", "")
            name, _, channel = stream.partition("@")
            if symbol is None:
                symbol = name
            elif name != symbol:
                raise CaptureError(f"{path}:{line_no}: a second symbol {name!r} in the capture")
            data = msg["data"]
            if channel.startswith("depth"):
                diff = DepthDiff(ts, data["U"], data["u"], _levels(data["b"]), _levels(data["a"]))
                yield path, line_no, diff
            elif channel == "trade":
                trade = MarketTrade(
                    ts, data["t"], Decimal(data["p"]), Decimal(data["q"]), data["m"]
                )
                yield path, line_no, trade
            elif channel != "bookTicker":
                raise CaptureError(f"{path}:{line_no}: unknown stream {stream!r}")


def read_capture(paths: Sequence[str | Path] = DEFAULT_CAPTURE) -> Iterator[CaptureEvent]:
    """The capture as a book can consume it: the snapshot, then kept diffs and trades in order.

    Trades before the snapshot are dropped (there is no book to trade against yet). Raises
    ``CaptureError`` on an unreadable line, a second symbol, or an update-id gap.
    """
    held: list[DepthDiff] = []
    last_u: int | None = None  # None until a snapshot is in force
    snapshot_id = 0
    bridged = False
    for path, line_no, ev in _raw_events([Path(p) for p in paths]):
        if isinstance(ev, Snapshot):
            yield ev
            last_u, snapshot_id, bridged = ev.last_update_id, ev.last_update_id, False
            pending, held = held, []
            for diff in pending:
                if _keep(diff, last_u, snapshot_id, bridged, path, line_no):
                    bridged, last_u = True, diff.last_id
                    yield DepthDiff(ev.ts, diff.first_id, diff.last_id, diff.bids, diff.asks)
        elif last_u is None:
            if isinstance(ev, DepthDiff):
                held.append(ev)
        elif isinstance(ev, DepthDiff):
            if _keep(ev, last_u, snapshot_id, bridged, path, line_no):
                bridged, last_u = True, ev.last_id
                yield ev
        else:
            yield ev


def _keep(
    diff: DepthDiff, last_u: int, snapshot_id: int, bridged: bool, path: Path, line_no: int
) -> bool:
    """Binance's rule: whether to apply ``diff``; raises on a gap."""
    if diff.last_id <= last_u:
        return False  # already in the book
    if not bridged:
        if diff.first_id <= snapshot_id + 1 <= diff.last_id:
            return True
        raise CaptureError(
            f"{path}:{line_no}: the first diff after snapshot {snapshot_id} covers "
            f"{diff.first_id}..{diff.last_id} and does not bridge it"
        )
    if diff.first_id > last_u + 1:
        raise CaptureError(f"{path}:{line_no}: update id gap: U={diff.first_id} after u={last_u}")
    return True


@dataclass(frozen=True, slots=True)
class RecordedTrade:
    """A recorded public trade with Binance's own trade time (``T``, ms): what klines are made
    of."""

    time_ms: int
    price: Decimal
    qty: Decimal
    buyer_is_maker: bool


def read_trades(paths: Sequence[str | Path] = DEFAULT_CAPTURE) -> Iterator[RecordedTrade]:
    """Only the capture's ``@trade`` lines, in file order (the depth lines are not parsed)."""
    for path in (Path(p) for p in paths):
        for line_no, line in _numbered_lines(path):
            if b'@trade"' not in line:
                continue
            try:
                data = json.loads(line.partition(b" ")[2])["data"]
                yield RecordedTrade(
                    int(data["T"]), Decimal(data["p"]), Decimal(data["q"]), bool(data["m"])
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise CaptureError(f"{path}:{line_no}: {exc!r}") from None
