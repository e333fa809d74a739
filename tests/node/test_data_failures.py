"""Recorded data that breaks: a node says which file and line, and trades nothing on it.

A capture with a gap in Binance update ids (one depth line cut out of the real file) fails in
the middle of a replay; a missing file fails before anything starts.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import tradenode_sim

from node.cli import main

SPOT = Path(tradenode_sim.__file__).parent / "data" / "binance-stream" / "spot"

CONFIG = """
[node]
name = "broken-data"
runtime = "replay"
valuation_currency = "USDT"

[venues.binance]
plugin = "sim"
source = "binance-stream"
files = ["{file}"]
balances = {{ USDT = "1000" }}
symbols."BTC/USDT" = {{ tick_size = "0.01", lot_size = "0.00001" }}
"""


def _capture_with_a_gap(path: Path) -> int:
    """The real capture with its 20th depth diff after the snapshot removed; returns its line."""
    lines = gzip.decompress((SPOT / "btcusdt_20240808.gz").read_bytes()).splitlines(keepends=True)
    snapshot = next(i for i, line in enumerate(lines) if b'"lastUpdateId"' in line)
    depth = [i for i, line in enumerate(lines) if i > snapshot and b"@depth" in line]
    cut = depth[20]
    path.write_bytes(b"".join(lines[:cut] + lines[cut + 1 :]))
    return depth[21]  # the diff that no longer follows: 1-based line in the cut file


def test_a_gap_mid_replay_disconnects_the_venue_and_exits_1(tmp_path, capsys):
    capture = tmp_path / "gap.txt"
    _capture_with_a_gap(capture)
    config = tmp_path / "node.toml"
    config.write_text(CONFIG.format(file=capture))
    assert main(["run", str(config)]) == 1
    out, err = capsys.readouterr()
    assert "venue binance disconnected: data source failed:" in out
    assert f"data for venue.binance failed: {capture}:" in err
    assert "gap" in err


def test_a_missing_data_file_stops_before_anything_starts(tmp_path, capsys):
    config = tmp_path / "node.toml"
    config.write_text(CONFIG.format(file="nowhere.gz"))
    assert main(["run", str(config)]) == 2
    _, err = capsys.readouterr()
    assert err.startswith(f"{config}: venues.binance.files[0]: no such file ")
    assert "nowhere.gz" in err
    assert not (tmp_path / "journal.sqlite").exists()  # caught before a journal was made
