"""``tradenode report`` on the journal of a real TWAP run, and the plugin's commands as the CLI
mounts them (``quotes``, ``rebalance`` via ``check``)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from algos_support import BINANCE, AlgoNode, D, node_config

from node.cli import main
from node.plugins import load_plugins


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
