"""``tradenode report`` on the journal of a real TWAP run, and the plugin's commands as the CLI
mounts them (``quotes``, ``rebalance`` via ``check``)."""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from algos_support import BINANCE, AlgoNode, D, node_config

from node.cli import main
from node.component import decode_state, encode_state
from node.execution_report import ParentFills, build_report, saving_bps
from node.messages import (
    Instrument,
    InstrumentsLoaded,
    OrderFilled,
    ParentOrderCompleted,
    RouteLeg,
    SliceRouted,
    SubmitParentOrder,
)
from node.plugins import load_plugins
from node.report import Formats, print_executions


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    """A finished TWAP and a finished iceberg, and the config their journal belongs to."""
    folder = tmp_path_factory.mktemp("report")
    node = AlgoNode(folder, load_plugins(), node_config(BINANCE.format(usdt="1000000", btc="20")))
    try:
        node.submit("tw", "buy", "1.5", "twap", params={"duration_s": 60, "slices": 4})
        node.submit(
            "ice", "sell", "0.4", "iceberg", params={"display_quantity": "0.1", "peg": "mid"}
        )
        node.run_until_done("tw", limit_s=80)
        node.run_until_done("ice", limit_s=300)
        views = {p: node.view(p) for p in ("tw", "ice")}
    finally:
        node.close()
    return node.config_path, views


def test_the_table_lists_every_parent_with_its_numbers(journal, capsys):
    config, views = journal
    assert main(["report", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["parent", "algo", "side", "symbol", "status"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    for parent_id, view in views.items():
        report = view.completed.report
        row = rows[parent_id]
        assert row[1] == report.algo and row[4] == view.completed.status == "filled"
        assert D(row[5]) == report.filled_quantity
        assert row[9] == f"{report.shortfall_bps:.2f}"


def test_one_parent_as_json_carries_the_report_recomputable_from_its_fills(journal, capsys):
    config, views = journal
    assert main(["report", str(config), "tw", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    view = views["tw"]
    assert data["parent_id"] == "tw" and data["status"] == "filled"
    report = data["report"]
    fills = view.fills
    filled = sum(f.quantity for f in fills)
    assert D(report["filled_quantity"]) == filled == D("1.5")
    assert D(report["average_price"]) == sum(f.price * f.quantity for f in fills) / filled
    assert D(report["fees"]) == sum(f.fee for f in fills)
    assert D(report["arrival_mid"]) == view.accepted.arrival_mid
    assert report["started_ts"] == view.accepted.ts and report["finished_ts"] == view.completed.ts
    assert len(data["fills"]) == len(fills)


def test_one_parent_in_text_shows_times_slices_and_the_maker_taker_split(journal, capsys):
    config, views = journal
    assert main(["report", str(config), "tw"]) == 0
    out = capsys.readouterr().out
    view = views["tw"]
    maker = sum(f.quantity for f in view.fills if f.liquidity == "maker")
    posts = sum(1 for s in view.slices if s.urgency == "post")
    assert "tw (twap): filled 1.50000/1.50000 BTC/USDT (buy)" in out
    assert f"{len(view.slices)} slice(s): {posts} passive" in out
    assert f"{maker:.5f} filled as maker" in out
    assert "started 2024-08-08 23:54:" in out


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_plot_draws_a_png_of_one_parent(journal, tmp_path, capsys):
    config, _ = journal
    out = tmp_path / "tw.png"
    assert main(["report", str(config), "tw", "--plot", str(out)]) == 0
    assert _png_size(out) == (1100, 900)
    assert out.stat().st_size > 30_000  # three panels with data, not an empty canvas
    assert f"wrote {out}" in capsys.readouterr().out
    assert main(["report", str(config), "--plot", str(tmp_path / "all.png")]) == 2
    assert "--plot draws one parent order: name one (2 in the journal)" in capsys.readouterr().err


def test_an_unknown_parent_is_an_error_naming_it(journal, capsys):
    config, _ = journal
    assert main(["report", str(config), "nope"]) == 2
    assert "no parent order 'nope' in the journal" in capsys.readouterr().err


def test_quotes_is_a_tradenode_command(capsys):
    args = [
        "quotes",
        "--sigma",
        "3",
        "--A",
        "1",
        "--k",
        "0.5",
        "--gamma",
        "0.05",
        "--b",
        "10",
        "--horizon",
        "120",
        "--inventory",
        "10",
        "--steps",
        "10",
    ]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("Optimal ask distance from the mid")
    assert main([*args[:-2], "--steps", "0"]) == 2


def test_check_accepts_a_rebalance_section_and_names_a_bad_key(tmp_path, capsys):
    good = tmp_path / "good.toml"
    good.write_text(
        node_config(BINANCE.format(usdt="1", btc="1"))
        + '[rebalance]\n[[rebalance.strategies]]\npath = "m:f"\n'
    )
    assert main(["check", str(good)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text() + "execution_time = 5\n")
    assert main(["check", str(bad)]) == 2
    assert "rebalance.strategies[0].execution_time: unknown key" in capsys.readouterr().err


def _fill(venue: str, trade: str, price: str, qty: str, fee: str, currency: str) -> OrderFilled:
    return OrderFilled(
        client_order_id=f"c-{trade}",
        venue=venue,
        parent_id="mixed",
        venue_order_id=f"v-{trade}",
        trade_id=trade,
        symbol="BTC/USDT",
        side="buy",
        price=D(price),
        quantity=D(qty),
        fee=D(fee),
        fee_currency=currency,
        liquidity="taker",
        cumulative_quantity=D(qty),
        leaves_quantity=D(0),
    )


#: a buy charged in the base on binance (as Binance charges a buy), in BNB there too, and in
#: the quote on kraken: only the first two are a price apart from each other
MIXED_FILLS = [
    _fill("binance", "t1", "60000", "0.5", "0.001", "BTC"),
    _fill("binance", "t2", "60020", "0.2", "0.002", "BNB"),
    _fill("kraken", "t3", "60010", "0.3", "5", "USDT"),
]
BTC_USDT = Instrument(
    symbol="BTC/USDT",
    venue="binance",
    venue_symbol="BTCUSDT",
    base="BTC",
    quote="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.00001"),
)


def _mixed_report(symbol="BTC/USDT", instruments=(BTC_USDT,)):
    order = SubmitParentOrder(parent_id="mixed", symbol=symbol, side="buy", quantity=D(1))
    fills = ParentFills()
    fills.add_plan(
        SliceRouted(
            parent_id="mixed",
            slice_id=0,
            attempt=0,
            mode="split",
            symbol=symbol,
            side="buy",
            quantity=D(1),
            legs=[
                RouteLeg(
                    venue="binance",
                    client_order_id="c-t1",
                    quantity=D(1),
                    limit_price=D(60100),
                    expected_average_price=D(60050),
                    expected_fee=D(60),
                )
            ],
            expected_average_price=D(60050),
            expected_fees=D(60),
            unroutable_quantity=D(0),
            best_venue="kraken",
            best_venue_average_price=D(60200),
        )
    )
    for fill in MIXED_FILLS:
        assert fills.add_fill(fill)
    return build_report(order, fills, D(60000), 0, 10**9, instruments), fills


def test_fees_in_the_base_are_converted_at_the_fill_price_and_others_kept_apart():
    report, _ = _mixed_report()
    notional = D("0.5") * 60000 + D("0.2") * 60020 + D("0.3") * 60010
    assert report.fee_currency == "USDT"
    assert report.fees == D("0.001") * 60000 + 5 == D(65)
    assert report.other_fees == {"BNB": D("0.002")}
    assert report.average_price == notional
    net_average = (notional + 65) / 1
    assert report.saving_bps_vs_best_venue == saving_bps("buy", net_average, D(60200))
    venues = {v.venue: v for v in report.venues}
    assert venues["binance"].fees == D(60) and venues["binance"].fee_currency == "USDT"
    assert venues["binance"].other_fees == {"BNB": D("0.002")}
    assert venues["kraken"].fees == D(5) and venues["kraken"].fee_currency == "USDT"
    assert venues["kraken"].other_fees == {}
    # the symbol names its currencies when no instrument does; a bare ticker names none, and
    # then no fee is taken to be in the quote
    assert _mixed_report(instruments=())[0] == report
    bare, _ = _mixed_report(symbol="XBTUSDT", instruments=())
    assert bare.fees == 0 and bare.fee_currency == ""
    assert bare.other_fees == {"BTC": D("0.001"), "BNB": D("0.002"), "USDT": D(5)}

    out = io.StringIO()
    done = ParentOrderCompleted(parent_id="mixed", status="filled", report=report)
    print_executions(
        [done], out, Formats([InstrumentsLoaded(venue="binance", instruments=[BTC_USDT])])
    )
    text = out.getvalue()
    assert "fees 65.00 USDT + 0.00200000 BNB" in text
    assert "60.00 USDT + 0.00200000 BNB" in text


def test_fees_a_checkpoint_kept_without_their_currency_still_report():
    """A checkpoint of an older node: one sum of fees in the first fill's currency."""

    @dataclass
    class OldParentFills:  # the shape ParentFills had before it kept fees per currency
        filled: Decimal
        notional: Decimal
        fees: Decimal
        fee_currency: str
        per_venue: dict[str, list[Decimal]]
        children: set[str] = field(default_factory=set)
        seen: set[tuple[str, str]] = field(default_factory=set)

    old = OldParentFills(
        D("0.5"), D(30000), D("0.001"), "BTC", {"binance": [D("0.5"), D(30000), D("0.001")]}
    )
    fills = decode_state(encode_state(old), ParentFills)
    fills.add_fill(MIXED_FILLS[2])
    order = SubmitParentOrder(parent_id="mixed", symbol="BTC/USDT", side="buy", quantity=D(1))
    report = build_report(order, fills, None, 0, 1, [BTC_USDT])
    assert report.fees == D(65) and report.fee_currency == "USDT" and not report.other_fees
