"""Raw Binance WebSocket captures as recorded by hftbacktest (``btcusdt_20240808.gz``).

Each line is ``<local_receive_ns> <json>``; the JSON is either a combined-stream message
``{"stream": "btcusdt@depth@100ms" | "btcusdt@bookTicker" | "btcusdt@trade", "data": {...}}``
or the REST depth snapshot ``{"lastUpdateId", "bids", "asks"}`` on a line of its own. Files may
be gzip-compressed (detected by content, not name) or plain text.

Every message's ``ts`` is the local receive time (the first field), so the output is ordered by
``ts``; a line whose time goes backwards is an error. Depth diffs are sequenced with Binance's
documented rule for a local book:

* diffs that arrive before the snapshot are held back; when the snapshot comes, those with
  ``u <= lastUpdateId`` are dropped. The first diff kept must bridge the snapshot
  (``U <= lastUpdateId + 1 <= u``). In hftbacktest's captures that bridging diff usually arrives
  *before* the REST snapshot (line 6 of the 2024-08-08 spot file bridges the snapshot on
  line 8), so it is emitted right after the ``BookSnapshot`` with the snapshot's ``ts``;
* after that every diff must continue the last one: ``U == last u + 1``. A diff entirely at or
  below the book's update id (``u <= last u``) is a stale duplicate and is ignored; ``U`` beyond
  ``last u + 1`` is a gap and raises ``SourceError`` naming file and line.

Futures diffs (USD-M / COIN-M, which carry ``pu``) follow the futures rule instead: the first
kept diff has ``U <= lastUpdateId <= u`` and each later one has ``pu == last u``.

Several paths are read as one continuing stream (the 2024-08-09 file continues 2024-08-08 with no
new snapshot). A later snapshot re-synchronises the book exactly like the first.
"""

from __future__ import annotations

import gzip
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO

import msgspec

from node.messages import BookDeltas, BookLevel, BookSnapshot, MarketData, QuoteTick, TradeTick
from tradenode_sim.sources.errors import SourceError

# How many diffs that come before the snapshot are kept to find the one that bridges it.
_MAX_HELD_DIFFS = 10_000


class _Depth(msgspec.Struct):
    U: int
    u: int
    b: list[BookLevel]
    a: list[BookLevel]
    pu: int | None = None


class _DepthMsg(msgspec.Struct):
    stream: str
    data: _Depth


class _Trade(msgspec.Struct):
    t: int
    p: Decimal
    q: Decimal
    m: bool


class _TradeMsg(msgspec.Struct):
    stream: str
    data: _Trade


class _Ticker(msgspec.Struct):
    b: Decimal
    B: Decimal
    a: Decimal
    A: Decimal


class _TickerMsg(msgspec.Struct):
    stream: str
    data: _Ticker


class _Snapshot(msgspec.Struct):
    lastUpdateId: int  # Binance's field name
    bids: list[BookLevel]
    asks: list[BookLevel]


class _Probe(msgspec.Struct):
    """Only for JSON whose keys are not in the usual order: which kind of line is it."""

    stream: str | None = None
    lastUpdateId: int | None = None  # Binance's field name


_DEPTH, _TRADE, _TICKER = 0, 1, 2
_DECODERS: dict[int, msgspec.json.Decoder] = {
    _DEPTH: msgspec.json.Decoder(_DepthMsg),
    _TRADE: msgspec.json.Decoder(_TradeMsg),
    _TICKER: msgspec.json.Decoder(_TickerMsg),
}
_SNAPSHOT_DECODER = msgspec.json.Decoder(_Snapshot)
_PROBE_DECODER = msgspec.json.Decoder(_Probe)
_STREAM_PREFIX = b'{"stream":"'
_SNAPSHOT_PREFIX = b'{"lastUpdateId"'
_GZIP_MAGIC = b"\x1f\x8b"
_BLOCK = 1 << 18


def _stream_kind(name: str) -> tuple[str, int] | None:
    """``btcusdt@depth@100ms`` -> (``btcusdt``, depth); None for a stream this reader can't use."""
    sym, _, channel = name.partition("@")
    if channel in (
        "depth",
        "depth@100ms",
        "depth@1000ms",
        "depth@0ms",
        "depth@250ms",
        "depth@500ms",
    ):
        return sym, _DEPTH
    if channel == "trade":
        return sym, _TRADE
    if channel == "bookTicker":
        return sym, _TICKER
    return None


def open_capture(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when it starts with the gzip magic."""
    with path.open("rb") as f:
        magic = f.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")
    return path.open("rb")


def stream_symbol(path: str | Path) -> str | None:
    """The venue symbol a capture is about (``BTCUSDT``), from its first stream name; None if
    the first lines name no stream."""
    path = Path(path)
    try:
        with open_capture(path) as f:
            for _, line in zip(range(100), f, strict=False):
                start = line.find(_STREAM_PREFIX)
                if start < 0:
                    continue
                end = line.find(b'"', start + len(_STREAM_PREFIX))
                name = line[start + len(_STREAM_PREFIX) : end].decode("utf-8", "replace")
                return name.partition("@")[0].upper() or None
    except (OSError, EOFError, zlib.error):
        return None
    return None


def _lines(f: IO[bytes], path: Path) -> Iterator[bytes]:
    """The file's lines without their newline; a truncated gzip raises, naming the last line read.

    Reads in blocks and splits them itself: ``GzipFile``'s own line iteration is slow.
    """
    rest = b""
    done = 0
    read = getattr(f, "read1", f.read)
    while True:
        try:
            block = read(_BLOCK)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise SourceError(
                path, done or None, f"truncated or corrupt gzip after line {done}: {exc}"
            ) from None
        if not block:
            break
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        done += len(lines)
        yield from lines
    if rest:
        yield rest


class _Sequencer:
    """Binance's local-book rule across all files of one stream."""

    def __init__(self) -> None:
        self.snapshot_id: int | None = None  # lastUpdateId of the snapshot in force
        self.last_u: int | None = None  # None until the first diff after the snapshot is kept
        self.held: deque[tuple[Path, int, _Depth]] = deque(maxlen=_MAX_HELD_DIFFS)

    def snapshot(self, last_update_id: int) -> None:
        self.snapshot_id = last_update_id
        self.last_u = None

    def accept(self, d: _Depth, path: Path, line_no: int) -> bool:
        """Whether to apply diff ``d``; raises on a gap. Call only once a snapshot is in force."""
        first, end, last = d.U, d.u, self.last_u
        if last is not None:
            if d.pu is not None:  # futures: each diff names the previous one's u
                if d.pu == last:
                    self.last_u = end
                    return True
                if end <= last:
                    return False
                raise SourceError(
                    path, line_no, f"update id gap: diff pu={d.pu} but the previous diff's u={last}"
                )
            if first == last + 1:
                self.last_u = end
                return True
            if end <= last:  # stale duplicate: already in the book
                return False
            if first > last + 1:
                raise SourceError(
                    path,
                    line_no,
                    f"update id gap: diff U={first} but the previous diff's u={last} "
                    f"({first - last - 1} updates missing)",
                )
            self.last_u = end  # overlaps the book: sizes are absolute, so applying is right
            return True
        snap = self.snapshot_id
        assert snap is not None
        if d.pu is not None:
            if end < snap:
                return False
            if first <= snap <= end:
                self.last_u = end
                return True
        else:
            if end <= snap:
                return False
            if first <= snap + 1 <= end:
                self.last_u = end
                return True
        raise SourceError(
            path,
            line_no,
            f"update id gap: the first diff after the snapshot (lastUpdateId={snap}) covers "
            f"U={first}..u={end}, which does not bridge it",
        )


def read_binance_stream(
    paths: Sequence[str | Path], *, venue: str, symbol: str
) -> Iterator[MarketData]:
    """Every book, trade and quote message in the captures, in file order.

    Yields one ``BookSnapshot`` (``sequence`` = ``lastUpdateId``) when the snapshot line comes,
    then ``BookDeltas`` (``sequence`` = ``u``) for each diff kept, ``TradeTick`` for trades
    (``m`` true: the buyer was the maker, so the aggressor sold) and ``QuoteTick`` for
    ``bookTicker``. Diffs before the first snapshot that do not bridge it are dropped.
    Raises ``SourceError(path, line, problem)`` on a malformed line, invalid JSON, a truncated
    gzip, an unknown stream, a second symbol, time going backwards or an update-id gap.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    seq = _Sequencer()
    kinds: dict[bytes, int] = {}  # stream name (raw bytes) -> kind
    stream_sym: list[str] = []  # the one symbol these captures are about, once seen
    last_ts = 0
    depth_decoder = _DECODERS[_DEPTH]
    trade_decoder = _DECODERS[_TRADE]
    ticker_decoder = _DECODERS[_TICKER]
    prefix_len = len(_STREAM_PREFIX)
    for p in paths:
        path = Path(p)
        line_no = 0
        try:
            f = open_capture(path)
        except OSError as exc:
            raise SourceError(path, None, f"cannot open: {exc}") from None
        with f:
            for line in _lines(f, path):
                line_no += 1
                sp = line.find(b" ")
                if sp <= 0:
                    if not line.strip():
                        continue
                    raise SourceError(
                        path, line_no, "not '<local_receive_ns> <json>': no space after the time"
                    )
                try:
                    ts = int(line[:sp])
                except ValueError:
                    raise SourceError(
                        path, line_no, f"not '<local_receive_ns> <json>': bad time {line[:sp]!r}"
                    ) from None
                if ts < last_ts:
                    raise SourceError(path, line_no, f"time goes backwards: {ts} after {last_ts}")
                last_ts = ts
                payload = line[sp + 1 :]
                try:
                    if payload.startswith(_STREAM_PREFIX):
                        end = payload.find(b'"', prefix_len)
                        name = payload[prefix_len:end]
                        kind = kinds.get(name)
                    elif payload.startswith(_SNAPSHOT_PREFIX):
                        name, kind = b"", -1
                    else:  # valid JSON with keys in another order, or not JSON at all
                        probe = _PROBE_DECODER.decode(payload)
                        if probe.stream is not None:
                            name = probe.stream.encode()
                            kind = kinds.get(name)
                        elif probe.lastUpdateId is not None:
                            name, kind = b"", -1
                        else:
                            raise SourceError(
                                path, line_no, "JSON is neither a stream message nor a snapshot"
                            )
                    if kind is None:
                        found = _stream_kind(name.decode("utf-8", "replace"))
                        if found is None:
                            raise SourceError(
                                path,
                                line_no,
                                f"unknown stream type {name.decode(errors='replace')!r}",
                            )
                        sym, kind = found
                        if not stream_sym:
                            stream_sym.append(sym)
                        elif sym != stream_sym[0]:
                            raise SourceError(
                                path,
                                line_no,
                                f"stream {name.decode()!r} is for another symbol than "
                                f"{stream_sym[0]!r}; one reader reads one symbol",
                            )
                        kinds[name] = kind
                    if kind == _DEPTH:
                        d = depth_decoder.decode(payload).data
                        if seq.snapshot_id is None:
                            seq.held.append((path, line_no, d))
                        elif seq.accept(d, path, line_no):
                            yield BookDeltas(
                                venue=venue, symbol=symbol, bids=d.b, asks=d.a, sequence=d.u, ts=ts
                            )
                    elif kind == _TICKER:
                        q = ticker_decoder.decode(payload).data
                        yield QuoteTick(
                            venue=venue,
                            symbol=symbol,
                            bid=q.b,
                            bid_size=q.B,
                            ask=q.a,
                            ask_size=q.A,
                            ts=ts,
                        )
                    elif kind == _TRADE:
                        t = trade_decoder.decode(payload).data
                        yield TradeTick(
                            venue=venue,
                            symbol=symbol,
                            price=t.p,
                            size=t.q,
                            aggressor="sell" if t.m else "buy",
                            trade_id=str(t.t),
                            ts=ts,
                        )
                    else:
                        s = _SNAPSHOT_DECODER.decode(payload)
                        seq.snapshot(s.lastUpdateId)
                        yield BookSnapshot(
                            venue=venue,
                            symbol=symbol,
                            bids=s.bids,
                            asks=s.asks,
                            sequence=s.lastUpdateId,
                            ts=ts,
                        )
                        held = list(seq.held)
                        seq.held.clear()
                        for h_path, h_line, d in held:
                            if seq.accept(d, h_path, h_line):
                                yield BookDeltas(
                                    venue=venue,
                                    symbol=symbol,
                                    bids=d.b,
                                    asks=d.a,
                                    sequence=d.u,
                                    ts=ts,
                                )
                except msgspec.ValidationError as exc:
                    raise SourceError(path, line_no, f"unexpected message: {exc}") from None
                except msgspec.DecodeError as exc:
                    raise SourceError(path, line_no, f"invalid JSON: {exc}") from None
