"""The ``tradenode`` command line, run as a real process (``python -m node.cli``).

Starting a process costs about three seconds here (importing nautilus_trader), so the processes
are started together when this module's tests begin, two at a time, and each test reads its own
result. A few more cases call ``node.cli.main`` in this process: same parser, same commands, same
exit codes, without the import cost.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import tradenode_sim

from node.cli import main
from node.cli.common import demo_config_path
from node.config import ConfigError, load_config
from node.plugins import load_plugins

D = Decimal
ORDER_GRAPH_FILE = Path(tradenode_sim.__file__).parent / "data" / "order-graph" / "run1-1.json"
FEES = ["bitfinex=20", "bittrex=25", "bitstamp=25", "coinbase=30"]
ROUTE_25 = [
    "route",
    str(ORDER_GRAPH_FILE),
    "--symbol",
    "BTC/USD",
    "--side",
    "buy",
    "--quantity",
    "25",
    *(arg for fee in FEES for arg in ("--fee", fee)),
]
COMMANDS = ["run", "check", "plugins", "journal", "demo", "route"]

BAD_CONFIG = """\
bogus = 1
[node]
name = "bad"
journal = "bad.journal.sqlite"
runtime = "replay"
[router]
max_reroutes = "many"
[venues.a]
plugin = "nope"
"""


class Started:
    """A ``tradenode`` process started now and read when a test needs it.

    Processes are started from the test's own thread: spawning them from worker threads failed
    here once with ``OSError: [Errno 14] Bad address``.
    """

    def __init__(self, *args: str, cwd: Path) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "node.cli", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._done: subprocess.CompletedProcess | None = None

    def result(self) -> subprocess.CompletedProcess:
        if self._done is None:
            out, err = self._proc.communicate(timeout=300)
            self._done = subprocess.CompletedProcess(
                self._proc.args, self._proc.returncode, out, err
            )
        return self._done


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def runs(work: Path) -> dict[str, Started]:
    """Every process this module needs, started at once."""
    bad_dir = work / "bad"
    bad_dir.mkdir()
    (bad_dir / "bad.toml").write_text(BAD_CONFIG)
    demo_journal = work / "demo" / "demo.journal.sqlite"
    demo_journal.parent.mkdir()
    started = {
        "demo": Started("demo", "--journal", str(demo_journal), cwd=work),
        "help": Started("--help", cwd=work),
        "check-bad": Started("check", "bad.toml", cwd=bad_dir),
        "plugins": Started("plugins", cwd=work),
        "route-json": Started(*ROUTE_25, "--json", cwd=work),
    }
    yield started
    for process in started.values():
        process.result()


# --------------------------------------------------------------------------------------------
# As processes


def test_help_lists_every_command(runs):
    done = runs["help"].result()
    assert done.returncode == 0
    for command in COMMANDS:
        assert command in done.stdout
    assert "usage: tradenode" in done.stdout


def test_check_on_the_demo_config_exits_0(capsys):
    assert main(["check", str(demo_config_path())]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "ok" in captured.out and "'demo'" in captured.out
    for venue in ("bitfinex", "bittrex", "bitstamp", "coinbase"):
        assert f"{venue} (sim)" in captured.out


def test_check_on_a_bad_file_exits_2_with_every_problem_and_starts_nothing(runs, work, monkeypatch):
    done = runs["check-bad"].result()
    assert done.returncode == 2
    assert done.stdout == ""
    monkeypatch.chdir(work / "bad")
    with pytest.raises(ConfigError) as expected:
        load_config("bad.toml", load_plugins())
    assert done.stderr.splitlines() == expected.value.problems
    assert len(expected.value.problems) == 3
    assert "bad.toml: bogus: unknown key" in done.stderr
    assert "bad.toml: router.max_reroutes: Expected `int`, got `str`" in done.stderr
    assert "bad.toml: venues.a.plugin: unknown venue plugin 'nope'" in done.stderr
    assert sorted(p.name for p in (work / "bad").iterdir()) == ["bad.toml"]  # no journal


def test_plugins_lists_each_plugin_with_distribution_version_and_status(runs):
    done = runs["plugins"].result()
    assert done.returncode == 0, done.stderr
    header, *rows = [line.split() for line in done.stdout.splitlines()]
    assert header == ["NAME", "KIND", "DISTRIBUTION", "VERSION", "STATUS"]
    found = {row[0]: row[1:] for row in rows}
    assert found["sim"] == ["venue,book-source", "tradenode-sim", md.version("tradenode-sim"), "ok"]
    assert found["risk-checks"] == ["risk-check", "tradenode", md.version("tradenode"), "ok"]


def test_route_json_is_one_object_with_the_plan(runs):
    done = runs["route-json"].result()
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    answer = json.loads(line)
    for key in ("allocations", "total_cost", "average_price", "saving_bps_vs_best_venue"):
        assert key in answer
    assert (answer["symbol"], answer["side"], answer["mode"]) == ("BTC/USD", "buy", "split")
    allocations = answer["allocations"]
    assert len(allocations) >= 2
    assert sum(D(a["quantity"]) for a in allocations) == D(25) == D(answer["filled_quantity"])
    assert D(answer["unfilled_quantity"]) == 0
    for a in allocations:
        assert set(a) == {"venue", "quantity", "worst_price", "average_price", "fees"}
        assert D(a["average_price"]) <= D(a["worst_price"])
    notional = sum(D(a["quantity"]) * D(a["average_price"]) for a in allocations)
    fees = sum(D(a["fees"]) for a in allocations)
    assert D(answer["fees"]) == fees
    assert D(answer["total_cost"]) == (notional + fees).quantize(D("0.01"))
    # the average is net of fees, per unit
    assert abs(D(answer["average_price"]) - D(answer["total_cost"]) / 25) < D("0.01")
    assert D(answer["saving_bps_vs_best_venue"]) >= 0
    assert answer["best_venue"] in {"bitfinex", "bittrex", "bitstamp", "coinbase"}


@pytest.fixture
def demo_journal_lines(runs, work, capsysbinary) -> list[str]:
    """``tradenode journal CONFIG --journal PATH`` on what ``tradenode demo --journal PATH`` wrote
    (the demo as a process, the journal command in this process)."""
    demo = runs["demo"].result()
    assert demo.returncode == 0, demo.stderr
    assert "journal: " in demo.stdout
    path = work / "demo" / "demo.journal.sqlite"
    assert main(["journal", str(demo_config_path()), "--journal", str(path)]) == 0
    captured = capsysbinary.readouterr()
    assert captured.err == b""
    return captured.out.decode().splitlines()


def test_journal_prints_json_lines_after_a_demo_run(demo_journal_lines, work):
    lines = demo_journal_lines
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    with sqlite3.connect(work / "demo" / "demo.journal.sqlite") as db:
        (rows,) = db.execute("SELECT count(*) FROM journal").fetchone()
    assert len(entries) == rows > 0
    types = [e["message"]["type"] for e in entries]
    for kind in ("InstrumentsLoaded", "SliceRouted", "SubmitOrder", "OrderFilled"):
        assert kind in types
    completed = [e["message"] for e in entries if e["message"]["type"] == "ParentOrderCompleted"]
    assert {c["parent_id"]: c["status"] for c in completed} == {
        "demo-btc-buy": "filled",
        "demo-eth-sell": "filled",
        "demo-btc-twap": "filled",
    }


def test_the_demo_parent_orders_are_in_its_journal(demo_journal_lines):
    parents = [
        json.loads(line)["message"] for line in demo_journal_lines if '"SubmitParentOrder"' in line
    ]
    assert [p["parent_id"] for p in parents] == ["demo-btc-buy", "demo-eth-sell", "demo-btc-twap"]


# --------------------------------------------------------------------------------------------
# In this process: the same entry point, for the cases that need no separate process


def test_route_prints_an_allocation(capsys):
    assert main(ROUTE_25) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "buy 25 BTC/USD (split):"
    assert lines[1].split() == ["venue", "quantity", "worst", "price", "avg", "price", "fees"]
    rows = []
    for line in lines[2:]:
        cells = line.split()
        if cells and cells[0] in {"bitfinex", "bittrex", "bitstamp", "coinbase"}:
            rows.append(cells)
    assert len(rows) >= 2
    assert sum(D(r[1]) for r in rows) == D(25)
    assert any(line.startswith("total cost net of fees ") for line in lines)
    assert any(line.startswith("best single venue: ") and "bps" in line for line in lines)


def test_route_without_symbol_on_a_multi_pair_file_exits_2_saying_to_pick_one(capsys):
    args = ["route", str(ORDER_GRAPH_FILE), "--side", "buy", "--quantity", "25"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "several pairs" in captured.err and "BTC/USD" in captured.err
    assert "pick one with --symbol" in captured.err


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--fee", "bitstamp"], "expected VENUE=NUMBER"),
        (["--fee", "kraken=10"], "no book for venue 'kraken'"),
        (["--balance", "bitstamp=lots"], "expected VENUE=NUMBER"),
    ],
)
def test_route_with_bad_arguments_exits_2(capsys, extra, words):
    args = ["route", str(ORDER_GRAPH_FILE), "--symbol", "BTC/USD", "--side", "buy"]
    assert main([*args, "--quantity", "1", *extra]) == 2
    assert words in capsys.readouterr().err


def test_route_on_a_file_that_is_not_a_book_exits_2(capsys, tmp_path):
    not_a_book = tmp_path / "notes.txt"
    not_a_book.write_text("hello\n")
    args = ["route", str(not_a_book), "--side", "buy", "--quantity", "1"]
    assert main(args) == 2
    assert "not a book file" in capsys.readouterr().err


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["route", str(ORDER_GRAPH_FILE), "--quantity", "1"])  # --side is required
    assert exited.value.code == 2
    assert "--side" in capsys.readouterr().err


def test_run_on_a_bad_file_exits_2_and_starts_nothing(capsys, tmp_path):
    (tmp_path / "bad.toml").write_text(BAD_CONFIG)
    assert main(["run", str(tmp_path / "bad.toml")]) == 2
    assert "bogus: unknown key" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_journal_before_any_run_exits_2(capsys, tmp_path):
    config = tmp_path / "node.toml"
    config.write_text('[node]\nname = "fresh"\n')
    assert main(["journal", str(config)]) == 2
    assert "no journal yet" in capsys.readouterr().err


def test_run_replays_a_small_config_to_the_end(capsys, tmp_path):
    config = tmp_path / "node.toml"
    config.write_text(
        """\
[node]
name = "small"
runtime = "replay"
journal = "small.journal.sqlite"

[venues.bitstamp]
plugin = "sim"
source = "order-graph"
files = ["sim:order-graph/run1-1.json"]
taker_fee_bps = "25"
balances = { USD = "100000", BTC = "1" }
symbols."BTC/USD" = { tick_size = "0.01", lot_size = "0.00000001" }

[[orders]]
parent_id = "small-buy"
symbol = "BTC/USD"
side = "buy"
quantity = "2"
"""
    )
    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out
    assert "small-buy (route): filled 2" in out
    assert "final balances" in out
    assert (tmp_path / "small.journal.sqlite").exists()
    assert main(["journal", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any('"ParentOrderCompleted"' in line for line in lines)
