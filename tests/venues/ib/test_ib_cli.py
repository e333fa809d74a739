"""``tradenode markets`` and ``tradenode balances`` for an IB venue, against the fake TWS started
as the script a user runs to try the node without an IB account."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ib_node import write_config

#: the bound of each command (it answers in well under a second)
TIMEOUT = 60


@pytest.fixture
def fake_tws_script() -> Iterator[int]:
    """``python -m tradenode_ib.fake_tws`` on a free port; yields the port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tradenode_ib.fake_tws", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # "fake TWS on 127.0.0.1:PORT  server version …"
        yield int(banner.split()[3].rpartition(":")[2])
    finally:
        process.terminate()
        process.wait(TIMEOUT)


def tradenode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args, "--timeout", "20"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_markets_lists_the_contracts_with_ibs_ticks_and_multipliers(
    tmp_path: Path, fake_tws_script: int
):
    config = write_config(tmp_path, fake_tws_script)
    result = tradenode("markets", str(config), "ib")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert rows.keys() >= {"AAPL", "ES", "EUR/USD"}
    cells = {symbol: [c.strip() for c in rows[symbol].split("│")[1:-1]] for symbol in rows}
    assert cells["AAPL"][:5] == ["AAPL", "AAPL", "stock", "0.01", "1"]
    assert cells["ES"][:4] == ["ES", "ESH7", "future", "0.25"] and cells["ES"][-1] == "50"
    assert cells["EUR/USD"][:4] == ["EUR/USD", "EUR.USD", "fx", "0.00005"]


def test_balances_shows_the_accounts_cash(tmp_path: Path, fake_tws_script: int):
    config = write_config(tmp_path, fake_tws_script)
    result = tradenode("balances", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    (usd,) = [line for line in result.stdout.splitlines() if "│ USD" in line]
    assert "1,000,000.00" in usd


def test_the_paper_config_passes_check():
    config = Path(__file__).resolve().parents[3] / "configs" / "ib-paper.toml"
    result = subprocess.run(
        [sys.executable, "-m", "node.cli", "check", str(config)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 venue(s): ib (ib)" in result.stdout
