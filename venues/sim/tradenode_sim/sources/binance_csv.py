"""Binance diff-depth CSV, as in nautilus_trader's test data (``btcusdt-depth-snap.csv``).

Header ``symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu``, one
row per level; ``timestamp`` is exchange milliseconds, ``side`` is ``b``/``a``, ``update_type``
is ``snap`` (rows of one snapshot) or ``set`` (absolute size; 0 removes the level). Consecutive
``set`` rows with the same ``timestamp``, ids and ``pu`` form one update. The ``pu`` column makes
this the USD-M futures diff-depth stream, so updates are sequenced with Binance's futures rule:
updates with ``last_update_id`` below the snapshot's are dropped, the first one kept must bridge
the snapshot (``first_update_id <= snapshot id <= last_update_id``) and each later one's ``pu``
must equal the previous update's ``last_update_id``.

nautilus's two files do not connect: the snapshot (2022-11-01 23:49:39.146 UTC, update id
2098021528332, 100 bid levels and no ask) is 10 minutes and ~20 million update ids before the one
update in the update file (ids 2098041693435..2098041696700, ``pu`` 2098041693400). Reading them
together is a gap error unless ``allow_gap_at_start=True``, which applies the first update after
each snapshot even though it does not bridge it: the book is then an approximation (levels the
missing updates changed keep their stale snapshot sizes). Later updates are always checked.

That update also lists its ask levels twice (rows 2-38, then rows 62-101 again with three more
levels and the same sizes); a price repeated within one update is emitted once, with its last
size, which is what applying the rows in order gives.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from node.messages import BookDeltas, BookLevel, BookSnapshot, MarketData
from tradenode_sim.sources.errors import SourceError

HEADER = (
    "symbol",
    "timestamp",
    "first_update_id",
    "last_update_id",
    "side",
    "update_type",
    "price",
    "qty",
    "pu",
)
HEADER_LINE = ",".join(HEADER)
_MS = 1_000_000


class _Group:
    """Consecutive rows of one snapshot or one update."""

    def __init__(self, key: tuple[str, int, int, int, int], line: int) -> None:
        self.kind, self.ms, self.first_id, self.last_id, self.pu = key
        self.key = key
        self.line = line
        # price -> level: a price listed twice in one update keeps its last size (sizes are
        # absolute, so that is what applying the rows in order would leave)
        self.bids: dict[Decimal, BookLevel] = {}
        self.asks: dict[Decimal, BookLevel] = {}


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise SourceError(path, None, f"cannot open: {exc}") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != HEADER:
                got = ",".join(header) if header else "an empty file"
                raise SourceError(
                    path, 1, f"unknown format: expected header {HEADER_LINE!r}, got {got!r}"
                )
            for row in reader:
                if row:
                    yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SourceError(path, reader.line_num, f"not CSV: {exc}") from None


def _groups(path: Path, symbols: set[str]) -> Iterator[_Group]:
    group: _Group | None = None
    for line, row in _rows(path):
        if len(row) != len(HEADER):
            raise SourceError(path, line, f"expected {len(HEADER)} fields, got {len(row)}")
        sym, ms, first_id, last_id, side, kind, price, qty, pu = row
        if kind not in ("snap", "set"):
            raise SourceError(path, line, f"update_type {kind!r} is neither 'snap' nor 'set'")
        if side not in ("b", "a"):
            raise SourceError(path, line, f"side {side!r} is neither 'b' nor 'a'")
        try:
            key = (kind, int(ms), int(first_id), int(last_id), int(pu))
            level = BookLevel(Decimal(price), Decimal(qty))
        except (ValueError, InvalidOperation):
            raise SourceError(path, line, f"bad number in {','.join(row)!r}") from None
        if not level.price.is_finite() or level.price <= 0 or not level.size >= 0:
            raise SourceError(path, line, f"bad level price={price} qty={qty}")
        if sym not in symbols:
            if symbols:
                raise SourceError(
                    path,
                    line,
                    f"symbol {sym!r} after {next(iter(symbols))!r}: a read covers one symbol",
                )
            symbols.add(sym)
        if group is None or group.key != key:
            if group is not None:
                yield group
            group = _Group(key, line)
        (group.bids if side == "b" else group.asks)[level.price] = level
    if group is not None:
        yield group


def read_binance_depth_csv(
    paths: Sequence[str | Path],
    *,
    venue: str,
    symbol: str,
    allow_gap_at_start: bool = False,
) -> Iterator[MarketData]:
    """A ``BookSnapshot`` for each run of ``snap`` rows, then one ``BookDeltas`` per update.

    Files are read in order as one stream. ``ts`` is the row timestamp in ns; ``sequence`` is
    ``last_update_id``. Snapshot levels are sorted best first and zero sizes left out; update
    levels keep file order. Updates before the first snapshot are dropped. Raises
    ``SourceError`` on a wrong header, a bad row, time going backwards or an update-id gap
    (see the module doc for ``allow_gap_at_start``).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    symbols: set[str] = set()
    snapshot_id: int | None = None
    last_u: int | None = None  # None until the first update after the snapshot is kept
    last_ms = 0
    for p in paths:
        path = Path(p)
        for g in _groups(path, symbols):
            if g.ms < last_ms:
                raise SourceError(path, g.line, f"time goes backwards: {g.ms} ms after {last_ms}")
            last_ms = g.ms
            if g.kind == "snap":
                snapshot_id, last_u = g.last_id, None
                bids, asks = g.bids, g.asks
                yield BookSnapshot(
                    venue=venue,
                    symbol=symbol,
                    bids=[bids[k] for k in sorted(bids, reverse=True) if bids[k].size],
                    asks=[asks[k] for k in sorted(asks) if asks[k].size],
                    sequence=g.last_id,
                    ts=g.ms * _MS,
                )
                continue
            if snapshot_id is None:
                continue
            if last_u is None:
                if g.last_id < snapshot_id:
                    continue
                if not (g.first_id <= snapshot_id <= g.last_id) and not allow_gap_at_start:
                    raise SourceError(
                        path,
                        g.line,
                        f"update id gap: the first update after the snapshot (id {snapshot_id}) "
                        f"covers {g.first_id}..{g.last_id} (pu {g.pu}), which does not bridge "
                        "it; pass allow_gap_at_start=True to apply it anyway",
                    )
            elif g.pu != last_u:
                if g.last_id <= last_u:  # a repeat of an update already applied
                    continue
                raise SourceError(
                    path,
                    g.line,
                    f"update id gap: update pu={g.pu} but the previous update's "
                    f"last_update_id={last_u}",
                )
            last_u = g.last_id
            yield BookDeltas(
                venue=venue,
                symbol=symbol,
                bids=list(g.bids.values()),
                asks=list(g.asks.values()),
                sequence=g.last_id,
                ts=g.ms * _MS,
            )
