"""The example configs pass ``tradenode check`` when their keys' variables are set (and name the
variable when one is not), and what a trader runs before trading — ``tradenode markets`` and
``tradenode balances`` — answers from the exchange through the ccxt venue: instruments with
tick, lot, minimums and the account's fees; each venue's balances; a refused key with the
exchange's reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ccxt_node_support import KEY_ENV, SECRET_ENV, node_config, static_market
from tradenode_ccxt.loopback import DEFAULT_API_KEY, DEFAULT_API_SECRET

from node.cli import main
from node.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
EXAMPLES = {
    "binance.toml": ["BINANCE_API_KEY", "BINANCE_API_SECRET"],
    "okx.toml": ["OKX_API_KEY", "OKX_API_SECRET", "OKX_API_PASSPHRASE"],
    "kraken.toml": ["KRAKEN_API_KEY", "KRAKEN_API_SECRET"],
    "coinbase.toml": ["COINBASE_API_KEY_NAME", "COINBASE_API_PRIVATE_KEY"],
    "alpaca-crypto.toml": ["APCA_API_KEY_ID", "APCA_API_SECRET_KEY"],
    "loopback-binance.toml": ["LOOPBACK_API_KEY", "LOOPBACK_API_SECRET"],
}
BOOK = static_market(bids=[("60000", "1")], asks=[("60010", "0.5")])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_configs_check_with_their_variables_set(name, plugins, monkeypatch):
    path = CONFIGS / name
    for env in EXAMPLES[name]:
        monkeypatch.setenv(env, "dummy-value")
    config = load_config(path, plugins)
    [venue] = config.venues.values()
    assert venue.plugin == "ccxt"
    assert set(venue.settings.credentials.values()) == set(EXAMPLES[name])
    monkeypatch.delenv(EXAMPLES[name][0])
    with pytest.raises(ConfigError) as refused:
        load_config(path, plugins)
    assert f"environment variable {EXAMPLES[name][0]} is not set" in str(refused.value)
    assert "dummy-value" not in str(refused.value)


def test_check_refuses_what_connecting_would_trip_on(tmp_path, plugins, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "k")
    monkeypatch.setenv(SECRET_ENV, "s")
    path = node_config(
        tmp_path,
        {"x": "http://127.0.0.1:1", "y": "http://127.0.0.1:1"},
        venue_settings={
            "x": {"exchange": "nosuchexchange"},
            "y": {"symbols": ["BTCUSDT"]},
        },
    )
    with pytest.raises(ConfigError) as refused:
        load_config(path, plugins)
    text = str(refused.value)
    assert "venues.x.exchange: ccxt has no exchange 'nosuchexchange'" in text
    assert "not ccxt's unified BASE/QUOTE form" in text


def test_markets_command_against_the_loopback(tmp_path, exchanges):
    """The command as a trader runs it: its own process (ccxt's import alone takes seconds)."""
    exchange = exchanges(BOOK, maker_fee_bps=2, taker_fee_bps=7)
    config = node_config(tmp_path, {"lb": exchange.url})
    env = dict(os.environ, **{KEY_ENV: DEFAULT_API_KEY, SECRET_ENV: DEFAULT_API_SECRET})
    markets = subprocess.run(
        [sys.executable, "-m", "node.cli", "markets", str(config), "lb", "--symbol", "BTC/USDT"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert markets.returncode == 0, markets.stderr
    [row] = [line for line in markets.stdout.splitlines() if "BTCUSDT" in line]
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells == [
        "BTC/USDT", "BTCUSDT", "spot", "0.01", "0.00001", "0.00001", "5 USDT", "2", "7", "1",
    ]  # fmt: skip


def test_balances_command_shows_each_venue_and_says_why_a_key_is_refused(
    tmp_path, exchanges, keys, monkeypatch, capsys
):
    good = exchanges(BOOK, balances={"USDT": "1234.5", "BTC": "0.25"})
    bad = exchanges(BOOK)
    monkeypatch.setenv("TN_TEST_CCXT_BAD_SECRET", "not-the-secret")
    config = node_config(
        tmp_path,
        {"good": good.url, "bad": bad.url},
        venue_settings={"bad": {"secret_env": "TN_TEST_CCXT_BAD_SECRET"}},
    )
    assert main(["balances", str(config)]) == 1
    out = capsys.readouterr().out
    assert "1,234.50 USDT" in out and "0.25000000 BTC" in out
    assert "bad: cannot connect: authentication failed" in out
    assert "-1022" in out and "not-the-secret" not in out
    assert main(["balances", str(config), "--venue", "good"]) == 0
