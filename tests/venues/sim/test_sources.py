"""Recorded-data readers of the simulated venue, on the real data copied into the project."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import tradenode_sim
from tradenode_sim.sources import SourceError
from tradenode_sim.sources.binance_csv import read_binance_depth_csv
from tradenode_sim.sources.binance_stream import read_binance_stream, stream_symbol
from tradenode_sim.sources.detect import (
    BINANCE_DEPTH_CSV,
    BINANCE_STREAM,
    ORDER_GRAPH,
    READERS,
    detect,
    final_book,
    load_books,
    unified_symbol,
)

from node.messages import BookDeltas, BookSnapshot, QuoteTick, TradeTick

DATA = Path(tradenode_sim.__file__).parent / "data"
SPOT_0808 = DATA / "binance-stream" / "spot" / "btcusdt_20240808.gz"
SPOT_0809 = DATA / "binance-stream" / "spot" / "btcusdt_20240809.gz"
DEPTH_SNAP = DATA / "nautilus-binance" / "btcusdt-depth-snap.csv"
DEPTH_UPDATE = DATA / "nautilus-binance" / "btcusdt-depth-update.csv"
ORDER_GRAPH_FILE = DATA / "order-graph" / "run1-1.json"
D = Decimal


def _read(*paths: Path) -> list:
    return list(read_binance_stream(list(paths), venue="binance", symbol="BTC/USDT"))


@pytest.fixture(scope="module")
def day1() -> list:
    return _read(SPOT_0808)


@pytest.fixture(scope="module")
def both_days() -> list:
    return _read(SPOT_0808, SPOT_0809)


@pytest.fixture(scope="module")
def day1_lines() -> list[bytes]:
    return gzip.decompress(SPOT_0808.read_bytes()).split(b"\n")


def _payload(line: bytes) -> dict:
    return json.loads(line.split(b" ", 1)[1])


# --------------------------------------------------------------------------------------------
# Binance stream capture


def test_data_is_copied_with_licences() -> None:
    for path in (SPOT_0808, SPOT_0809, DEPTH_SNAP, DEPTH_UPDATE, ORDER_GRAPH_FILE):
        assert path.is_file(), path
    for folder in ("binance-stream", "nautilus-binance", "order-graph"):
        assert (DATA / folder / "LICENSE").is_file()
    readme = (DATA / "README.md").read_text()
    for folder in ("order-graph/", "binance-stream/", "nautilus-binance/"):
        assert folder in readme


def test_snapshot_line_then_the_diff_that_bridges_it(day1, day1_lines) -> None:
    # Lines 1, 2 and 6 are diffs that arrive before the REST snapshot on line 8 (lastUpdateId
    # 50093239218). Lines 1 and 2 end at or below it and are dropped; line 6 (U..u =
    # 50093239208..50093239224) bridges it and is applied right after the snapshot.
    snap_line = _payload(day1_lines[7])
    assert snap_line["lastUpdateId"] == 50093239218
    bridging = _payload(day1_lines[5])["data"]
    assert (bridging["U"], bridging["u"]) == (50093239208, 50093239224)

    books = [m for m in day1[:8] if isinstance(m, (BookSnapshot, BookDeltas))]
    snap, first = books[0], books[1]
    assert isinstance(snap, BookSnapshot) and isinstance(first, BookDeltas)
    assert snap.sequence == 50093239218 and first.sequence == 50093239224
    assert snap.ts == int(day1_lines[7].split(b" ", 1)[0]) == first.ts
    assert len(snap.bids) == len(snap.asks) == 1000
    # Messages before the snapshot: the two quotes and the trade on lines 3-5 and the quote on 7.
    assert [type(m).__name__ for m in day1[:4]] == [
        "QuoteTick",
        "TradeTick",
        "QuoteTick",
        "QuoteTick",
    ]

    before = final_book([snap], venue="binance", symbol="BTC/USDT")
    after = final_book([snap, first], venue="binance", symbol="BTC/USDT")
    bids_before = {lv.price: lv.size for lv in before.bids}
    asks_before = {lv.price: lv.size for lv in before.asks}
    bids = {lv.price: lv.size for lv in after.bids}
    asks = {lv.price: lv.size for lv in after.asks}
    # Checked by hand against lines 6 and 8 of the file:
    assert bids_before[D("61820.99")] == D("0.05009") and D("61820.99") not in bids  # removed
    assert asks_before[D("61837.64")] == D("1.54698") and asks[D("61837.64")] == D("1.60520")
    assert D("61860.34") not in asks_before and asks[D("61860.34")] == D("0.05017")  # added
    assert asks_before[D("61862.50")] == D("0.05019") and D("61862.50") not in asks  # removed
    assert bids[D("61837.63")] == D("3.78826")  # set to the size it already had


def test_trade_aggressor_and_quote_fields(day1, day1_lines) -> None:
    trade = next(m for m in day1 if isinstance(m, TradeTick))
    raw = _payload(day1_lines[3])["data"]  # line 4: the first trade, m=true
    assert raw["m"] is True
    assert trade.aggressor == "sell"  # the buyer was the maker, so the seller hit the bid
    assert (trade.price, trade.size, trade.trade_id) == (D("61837.63"), D("0.02"), "3735683259")
    assert trade.ts == 1723161254087896568
    buys = [m for m in day1 if isinstance(m, TradeTick) and m.aggressor == "buy"]
    assert buys and all(isinstance(m.price, Decimal) for m in buys)
    quote = day1[0]
    assert isinstance(quote, QuoteTick)
    assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (
        D("61837.63"),
        D("3.78826"),
        D("61837.64"),
        D("1.54698"),
    )
    assert quote.ts == 1723161254087891268


def test_final_book_of_day1_agrees_with_book_ticker(day1, day1_lines) -> None:
    book = final_book(day1, venue="binance", symbol="BTC/USDT")
    last_u = book.sequence
    assert last_u == 50093421584
    # The bookTicker that describes the book at update id last_u: the last one with u <= last_u.
    tickers = [_payload(line)["data"] for line in day1_lines if b"@bookTicker" in line[:60]]
    ticker = max((t for t in tickers if t["u"] <= last_u), key=lambda t: t["u"])
    assert (book.bids[0].price, book.bids[0].size) == (D(ticker["b"]), D(ticker["B"]))
    assert (book.asks[0].price, book.asks[0].size) == (D(ticker["a"]), D(ticker["A"]))
    assert (book.bids[0].price, book.asks[0].price) == (D("61685.99"), D("61686.00"))
    assert all(a.price > b.price for a, b in zip(book.bids, book.bids[1:], strict=False))
    assert all(a.price < b.price for a, b in zip(book.asks, book.asks[1:], strict=False))


def test_two_spot_files_are_one_stream(both_days, day1) -> None:
    counts = Counter(type(m).__name__ for m in both_days)
    assert counts == {"QuoteTick": 73174, "TradeTick": 19904, "BookSnapshot": 1, "BookDeltas": 6493}
    # 41249 + 58325 lines; only the two stale diffs before the snapshot are dropped.
    assert sum(counts.values()) == 41249 + 58325 - 2
    assert both_days[: len(day1)] == day1
    ts = [m.ts for m in both_days]
    assert ts == sorted(ts)
    seqs = [m.sequence for m in both_days if isinstance(m, BookDeltas)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    book = final_book(both_days, venue="binance", symbol="BTC/USDT")
    assert book.sequence == 50093696318
    assert (book.bids[0].price, book.asks[0].price) == (D("61602.01"), D("61602.02"))


def test_a_missing_diff_is_a_gap_naming_file_and_line(tmp_path, day1_lines) -> None:
    depth = [i for i, line in enumerate(day1_lines) if b"@depth" in line[:60]]
    removed = depth[5]  # well after the snapshot on line 8
    assert removed > 8
    lines = day1_lines[:removed] + day1_lines[removed + 1 :]
    path = tmp_path / "gap.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines[:5000]), compresslevel=1))
    expected_line = depth[6]  # the next diff, one line earlier now, counted from 1
    with pytest.raises(SourceError, match="update id gap") as info:
        _read(path)
    assert info.value.path == str(path) and info.value.line == expected_line
    assert f"gap.gz:{expected_line}:" in str(info.value)


def test_files_out_of_order_are_a_gap(tmp_path, day1_lines) -> None:
    path = tmp_path / "head.txt"
    path.write_bytes(b"\n".join(day1_lines[:3000]) + b"\n")
    with pytest.raises(SourceError, match="update id gap") as info:
        _read(path, SPOT_0809)
    assert info.value.path == str(SPOT_0809) and info.value.line == 1


def test_truncated_gzip_names_the_file(tmp_path) -> None:
    raw = SPOT_0808.read_bytes()
    path = tmp_path / "cut.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(SourceError, match="truncated") as info:
        _read(path)
    assert info.value.path == str(path) and info.value.line and info.value.line > 1000
    assert "cut.gz" in str(info.value)


def test_truncated_last_line_is_invalid_json(tmp_path, day1_lines) -> None:
    path = tmp_path / "cut.txt"
    path.write_bytes(b"\n".join(day1_lines[:20])[:-25])
    with pytest.raises(SourceError, match="invalid JSON") as info:
        _read(path)
    assert info.value.line == 20


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"hello world\n", "bad time"),
        (b"1723161254087891268\n", "no space"),
        (b'1723161254087891268 {"stream":"btcusdt@aggTrade","data":{}}\n', "unknown stream"),
        (b'1723161254087891268 {"foo": 1}\n', "neither"),
        (
            b'1723161254087891268 {"stream":"btcusdt@trade","data":{"p":"1"}}\n',
            "unexpected message",
        ),
        (b'1723161254087891268 {"stream":"btcusdt@trade","data":{"p":"1"\n', "invalid JSON"),
    ],
)
def test_malformed_lines(tmp_path, text, problem) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\n" + text)
    with pytest.raises(SourceError, match=problem) as info:
        _read(path)
    assert info.value.line == 2 and str(path) in str(info.value)


def test_time_going_backwards_is_an_error(tmp_path, day1_lines) -> None:
    path = tmp_path / "back.txt"
    path.write_bytes(b"\n".join([day1_lines[3], day1_lines[2]]))
    with pytest.raises(SourceError, match="backwards") as info:
        _read(path)
    assert info.value.line == 2


# --------------------------------------------------------------------------------------------
# Binance depth CSV


def _csv(path: Path, rows: list[str]) -> Path:
    header = "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_nautilus_snapshot_csv() -> None:
    (snap,) = read_binance_depth_csv([DEPTH_SNAP], venue="binance", symbol="BTC/USDT")
    assert isinstance(snap, BookSnapshot)
    assert snap.ts == 1667346579146 * 1_000_000 and snap.sequence == 2098021528332
    assert len(snap.bids) == 100 and snap.asks == []  # the file holds bids only
    assert (snap.bids[0].price, snap.bids[0].size) == (D("20377.00"), D("1.770"))
    assert snap.bids[-1].price == D("20365.90")
    prices = [lv.price for lv in snap.bids]
    assert prices == sorted(prices, reverse=True)


def test_nautilus_update_does_not_connect_to_its_snapshot() -> None:
    with pytest.raises(SourceError, match="does not bridge") as info:
        list(read_binance_depth_csv([DEPTH_SNAP, DEPTH_UPDATE], venue="b", symbol="BTC/USDT"))
    assert info.value.path == str(DEPTH_UPDATE) and info.value.line == 2

    msgs = list(
        read_binance_depth_csv(
            [DEPTH_SNAP, DEPTH_UPDATE], venue="b", symbol="BTC/USDT", allow_gap_at_start=True
        )
    )
    assert [type(m) for m in msgs] == [BookSnapshot, BookDeltas]
    update = msgs[1]
    assert update.ts == 1667347199939 * 1_000_000 and update.sequence == 2098041696700
    # 23 bid rows; the 37 ask rows on lines 2-38 come again on lines 62-101 with 3 more levels
    assert (len(update.bids), len(update.asks)) == (23, 40)
    assert len({lv.price for lv in update.asks}) == 40
    book = final_book(msgs, venue="b", symbol="BTC/USDT")
    # The update's own top of book, one 0.1 tick apart; the snapshot's stale bids sit below it.
    assert (book.bids[0].price, book.bids[0].size) == (D("20472.10"), D("22.276"))
    assert (book.asks[0].price, book.asks[0].size) == (D("20472.20"), D("4.211"))
    assert book.bids[1].price == D("20469.20")


def test_csv_update_continuity(tmp_path) -> None:
    snap = "BTCUSDT,1000,100,100,b,snap,10.0,1,-1"
    ok = [
        snap,
        "BTCUSDT,1000,100,100,a,snap,11.0,2,-1",
        "BTCUSDT,1100,90,99,b,set,10.0,5,89",  # entirely before the snapshot: dropped
        "BTCUSDT,1200,95,105,b,set,10.0,3,94",  # bridges the snapshot (95 <= 100 <= 105)
        "BTCUSDT,1200,95,105,a,set,11.0,0,94",
        "BTCUSDT,1300,106,110,a,set,11.5,4,105",
    ]
    msgs = list(
        read_binance_depth_csv([_csv(tmp_path / "ok.csv", ok)], venue="b", symbol="BTC/USDT")
    )
    assert [type(m).__name__ for m in msgs] == ["BookSnapshot", "BookDeltas", "BookDeltas"]
    assert [m.sequence for m in msgs] == [100, 105, 110]
    book = final_book(msgs, venue="b", symbol="BTC/USDT")
    assert [(lv.price, lv.size) for lv in book.bids] == [(D("10.0"), D("3"))]
    assert [(lv.price, lv.size) for lv in book.asks] == [(D("11.5"), D("4"))]

    gap = [*ok[:-1], "BTCUSDT,1300,107,110,a,set,11.5,4,106"]
    with pytest.raises(SourceError, match="pu=106") as info:
        list(read_binance_depth_csv([_csv(tmp_path / "gap.csv", gap)], venue="b", symbol="X"))
    assert info.value.line == 7


def test_csv_wrong_header_and_bad_row(tmp_path) -> None:
    bad_header = tmp_path / "other.csv"
    bad_header.write_text("time,price,qty\n1,2,3\n")
    with pytest.raises(SourceError, match="unknown format: expected header") as info:
        list(read_binance_depth_csv([bad_header], venue="b", symbol="X"))
    assert info.value.line == 1
    rows = ["BTCUSDT,1000,100,100,b,snap,10.0,1,-1", "BTCUSDT,1000,100,100,b,snap,ten,1,-1"]
    with pytest.raises(SourceError, match="bad number") as info:
        list(read_binance_depth_csv([_csv(tmp_path / "bad.csv", rows)], venue="b", symbol="X"))
    assert info.value.line == 3
    rows = ["BTCUSDT,1000,100,100,x,snap,10.0,1,-1"]
    with pytest.raises(SourceError, match="side") as info:
        list(read_binance_depth_csv([_csv(tmp_path / "side.csv", rows)], venue="b", symbol="X"))
    assert info.value.line == 2


# --------------------------------------------------------------------------------------------
# Format detection


def test_each_file_matches_exactly_one_reader() -> None:
    expected = {
        ORDER_GRAPH_FILE: ORDER_GRAPH,
        SPOT_0808: BINANCE_STREAM,
        SPOT_0809: BINANCE_STREAM,
        DEPTH_SNAP: BINANCE_DEPTH_CSV,
        DEPTH_UPDATE: BINANCE_DEPTH_CSV,
    }
    for path, reader in expected.items():
        assert [r for r in READERS if r.matches(path)] == [reader], path
        assert detect(path) is reader


def test_load_books_order_graph() -> None:
    books = load_books(ORDER_GRAPH_FILE)
    assert {(b.venue, b.symbol) for b in books} >= {
        ("bitfinex", "BTC/USD"),
        ("coinbase", "BTC/USD"),
    }
    assert all(b.bids[0].price < b.asks[0].price for b in books if b.bids and b.asks)


def test_load_books_binance_stream(day1) -> None:
    (book,) = load_books(SPOT_0808)
    assert (book.venue, book.symbol) == ("binance", "BTC/USDT")
    assert book == final_book(day1, venue="binance", symbol="BTC/USDT")
    assert stream_symbol(SPOT_0808) == "BTCUSDT"
    with pytest.raises(SourceError, match="no depth snapshot"):
        load_books(SPOT_0809)  # it continues 08-08 and has no snapshot of its own


def test_load_books_binance_depth_csv() -> None:
    (book,) = load_books(DEPTH_SNAP)
    assert (book.venue, book.symbol, len(book.bids), len(book.asks)) == (
        "binance",
        "BTC/USDT",
        100,
        0,
    )
    assert load_books(DEPTH_SNAP, venue="binance-usdm")[0].venue == "binance-usdm"
    with pytest.raises(SourceError, match="no 'snap' rows"):
        load_books(DEPTH_UPDATE)


def test_unknown_format_names_the_file(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(SourceError, match="unknown format") as info:
        load_books(path)
    assert str(path) in str(info.value)
    with pytest.raises(SourceError, match="no such file"):
        load_books(tmp_path / "missing.gz")


@pytest.mark.parametrize(
    ("venue_symbol", "symbol"),
    [
        ("BTCUSDT", "BTC/USDT"),
        ("btcusdc", "BTC/USDC"),
        ("ETHBTC", "ETH/BTC"),
        ("BNBBUSD", "BNB/BUSD"),
        ("LINKETH", "LINK/ETH"),
        ("BTCUSD_PERP", "BTCUSD_PERP"),
    ],
)
def test_unified_symbol(venue_symbol, symbol) -> None:
    assert unified_symbol(venue_symbol) == symbol
