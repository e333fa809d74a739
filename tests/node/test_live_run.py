"""``tradenode run`` on the live runtime: real threads, a recorded Binance stream paced in wall
time, an order from the config, then SIGINT: the node stops cleanly with its journal flushed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from node.journal import Journal
from node.messages import FILL_TYPES, NodeStarted, NodeStopped, ParentOrderCompleted

CONFIG = """
[node]
name = "live-test"
journal = "journal.sqlite"
valuation_currency = "USDT"
runtime = "live"

[router]
max_book_age_ms = 60000

[risk.checks.instrument]
[risk.checks.free_balance]

[venues.binance]
plugin = "sim"
replay_speed = 20.0
source = "binance-stream"
files = ["sim:binance-stream/spot/btcusdt_20240808.gz"]
taker_fee_bps = "10"
balances = { USDT = "100000", BTC = "1" }
symbols."BTC/USDT" = { tick_size = "0.01", lot_size = "0.00001", min_notional = "5" }

[[orders]]
parent_id = "live-buy"
symbol = "BTC/USDT"
side = "buy"
quantity = "0.05"
after_ms = 500
"""


def test_run_live_until_sigint(tmp_path: Path):
    config = tmp_path / "node.toml"
    config.write_text(CONFIG)
    journal_path = tmp_path / "journal.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "run", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60  # a bound, not a speed claim
        done = False
        while not done and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if journal_path.exists():
                journal = Journal(journal_path)
                done = any(isinstance(m, ParentOrderCompleted) for m in journal.messages())
                journal.close()
        assert done, "the order did not complete on the live node"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "live-buy (route): filled" in out and "final balances" in out
    messages = list(Journal(journal_path).messages())
    assert any(isinstance(m, NodeStarted) for m in messages)
    assert isinstance(messages[-1], NodeStopped) and messages[-1].reason == "signal"
    fills = [m for m in messages if isinstance(m, FILL_TYPES)]
    assert sum(f.quantity for f in fills) == sum(
        m.report.filled_quantity for m in messages if isinstance(m, ParentOrderCompleted)
    )
