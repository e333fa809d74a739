"""A third-party execution algorithm, installed as its own distribution, works a parent order on
both runtimes and journals its own message type, which the node reads back.

The plugin lives in ``tests/fixtures/executor_plugin/site`` (a module and its ``.dist-info``);
``tradenode`` runs in a subprocess with that folder on its ``PYTHONPATH``, so the entry point is
found exactly as an installed one would be.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[1] / "fixtures" / "executor_plugin" / "site"

CONFIG = """
[node]
name = "halves"
runtime = "{runtime}"
valuation_currency = "USD"

[venues.bitstamp]
plugin = "sim"
source = "order-graph"
files = ["sim:order-graph/run1-1.json"]
taker_fee_bps = "25"
balances = {{ USD = "100000", BTC = "5" }}
symbols."BTC/USD" = {{ tick_size = "0.01", lot_size = "0.00000001" }}

[[orders]]
parent_id = "h1"
symbol = "BTC/USD"
side = "buy"
quantity = "3"
algo = "halves"
params = {{ first_share = "0.25" }}
"""


def env(with_plugin: bool) -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONDONTWRITEBYTECODE"] = "1"
    paths = [p for p in out.get("PYTHONPATH", "").split(os.pathsep) if p]
    if with_plugin:
        paths.insert(0, str(SITE))
    out["PYTHONPATH"] = os.pathsep.join(paths)
    return out


def tradenode(*args: str, with_plugin: bool = True, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        env=env(with_plugin),
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def journal_rows(config: Path) -> list[dict]:
    done = tradenode("journal", str(config))
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["message"] for line in done.stdout.splitlines()]


def check_the_run(config: Path) -> None:
    rows = journal_rows(config)
    halves = [r for r in rows if r["type"] == "HalfRouted"]
    assert [(r["half"], D(r["quantity"])) for r in halves] == [(1, D("0.75")), (2, D("2.25"))]
    (done,) = [r for r in rows if r["type"] == "ParentOrderCompleted"]
    assert done["status"] == "filled" and done["report"]["algo"] == "halves"
    slices = [r for r in rows if r["type"] == "RouteSlice"]
    assert [D(r["quantity"]) for r in slices] == [D("0.75"), D("2.25")]
    # what the plugin journaled reads back in a new node process, the plugin installed
    again = tradenode("run", str(config), "--runtime", "replay")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("runtime", ["replay", "live"])
def test_a_third_party_executor_works_an_order_and_journals_its_own_messages(tmp_path, runtime):
    config = tmp_path / "node.toml"
    config.write_text(CONFIG.format(runtime=runtime))
    assert tradenode("check", str(config)).returncode == 0
    if runtime == "replay":
        done = tradenode("run", str(config))
        assert done.returncode == 0, done.stderr
        assert "h1 (halves): filled" in done.stdout
    else:
        proc = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", str(config)],
            env=env(True),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if (tmp_path / "journal.sqlite").exists() and any(
                    r["type"] == "ParentOrderCompleted" for r in journal_rows(config)
                ):
                    break
                time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "h1 (halves): filled" in out
    check_the_run(config)


def test_without_the_plugin_its_journal_rows_are_named_not_called_damage(tmp_path):
    config = tmp_path / "node.toml"
    config.write_text(CONFIG.format(runtime="replay"))
    assert tradenode("run", str(config)).returncode == 0
    plain = tmp_path / "plain.toml"  # the same node without the order only the plugin can run
    plain.write_text(CONFIG.format(runtime="replay").split("[[orders]]")[0])
    done = tradenode("journal", str(plain), with_plugin=False)
    assert done.returncode == 2
    assert "a HalfRouted message, a type no installed plugin provides" in done.stderr
    assert "Traceback" not in done.stderr
