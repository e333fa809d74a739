"""What a newcomer and an adversary tried, each pinned: ``check`` catches every value ``run`` would
trip on (one line naming the file and key, exit 2, no journal made), no traceback reaches a
user, one journal has one writer, an order journaled before a crash is worked after it, and a run
that ends badly says so with a non-zero exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from node.config import load_config
from node.journal import Journal, running_node
from node.messages import ParentOrderCompleted, SubmitParentOrder
from node.node import Node
from node.plugins import load_plugins

D = Decimal
NODE = """
[node]
name = "hardening"
runtime = "{runtime}"
valuation_currency = "USD"
"""
VENUE = """
[venues.bitstamp]
plugin = "sim"
source = "order-graph"
files = ["{file}"]
taker_fee_bps = "{fee}"
balances = {{ USD = "{usd}", BTC = "5" }}
symbols."BTC/USD" = {{ tick_size = "{tick}", lot_size = "0.00000001" }}
"""
ORDER = """
[[orders]]
parent_id = "{pid}"
symbol = "{symbol}"
side = "buy"
quantity = "{quantity}"
after_ms = {after}
{limit}
"""


def config(
    tmp: Path,
    *,
    runtime: str = "replay",
    fee: str = "25",
    usd: str = "100000",
    tick: str = "0.01",
    file: str = "sim:order-graph/run1-1.json",
    orders: list[dict] | None = None,
    extra: str = "",
) -> Path:
    text = NODE.format(runtime=runtime) + extra
    text += VENUE.format(file=file, fee=fee, usd=usd, tick=tick)
    for order in orders or []:
        spec = {"pid": "o1", "symbol": "BTC/USD", "quantity": "1", "after": 0, "limit": ""}
        spec.update(order)
        text += ORDER.format(**spec)
    path = tmp / "node.toml"
    path.write_text(text)
    return path


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("warning: plugin")]
    assert len(lines) == 1, done.stderr
    return lines[0]


# --------------------------------------------------------------------------------------------
# check catches what run would trip on


BAD = {
    "negative fee": (dict(fee="-5"), "venues.bitstamp", "taker_fee_bps must be in [0, 10000)"),
    "fee of 100%": (dict(fee="10000"), "venues.bitstamp", "taker_fee_bps must be in [0, 10000)"),
    "1e400": (dict(usd="1e400"), "venues.bitstamp", "balances.USD must be a finite number below"),
    "tick 0": (dict(tick="0"), "venues.bitstamp.symbols", "tick_size must be > 0, got 0"),
    "negative balance": (dict(usd="-1"), "venues.bitstamp", "balances.USD must be >= 0"),
    "no such data file": (
        dict(file="nowhere.json"),
        "venues.bitstamp.files[0]",
        "no such file",
    ),
    "zero quantity": (dict(orders=[dict(quantity="0")]), "orders[0]", "must be a finite number"),
    "negative quantity": (
        dict(orders=[dict(quantity="-1")]),
        "orders[0]",
        "must be a finite number > 0",
    ),
    "NaN quantity": (dict(orders=[dict(quantity="NaN")]), "orders[0]", "finite number > 0"),
    "infinite quantity": (
        dict(orders=[dict(quantity="Infinity")]),
        "orders[0]",
        "finite number > 0",
    ),
    "quantity finer than the lot": (
        dict(orders=[dict(quantity="0.000000001")]),
        "orders[0].quantity",
        "smaller than the finest lot size",
    ),
    "negative limit": (
        dict(orders=[dict(limit='limit_price = "-5"')]),
        "orders[0]",
        "limit_price must be a finite number > 0",
    ),
    "symbol no venue lists": (
        dict(orders=[dict(symbol="DOGE/USD")]),
        "orders[0].symbol",
        "no venue lists DOGE/USD",
    ),
    "no event kept for a stream to resume": (
        dict(extra="\n[node.control]\nevents_kept = 0\n"),
        "node.control",
        "events_kept must be in [1, 1000000], got 0",
    ),
    "two orders with one parent id": (
        dict(orders=[dict(), dict()]),
        "orders[1].parent_id",
        "is also orders[0]",
    ),
    "negative after_ms": (dict(orders=[dict(after=-5)]), "orders[0]", "after_ms must be"),
    "order sent a lifetime after start": (
        dict(orders=[dict(after="1e30")]),
        "orders[0]",
        "after_ms must be a finite number in [0, 86400000]",
    ),
    "a venue the recording has no books of": (
        dict(fee='25"\nsource_venue = "kraken"\nmaker_fee_bps = "0'),
        "venues.bitstamp.source_venue",
        "no 'kraken' books in the recording (it has binance, bitfinex",
    ),
    "sim execution delay of years": (
        dict(extra="", fee='25"\nexecution_delay_ms = 1e12\nmaker_fee_bps = "0'),
        "venues.bitstamp",
        "execution_delay_ms must be a number of ms in [0, 60000]",
    ),
    "balance finer than any ledger": (
        dict(usd="1e-400"),
        "venues.bitstamp",
        "balances.USD must have at most 18 decimal places",
    ),
    "tick finer than prices divide by": (
        dict(tick="1e-30"),
        "venues.bitstamp.symbols",
        "tick_size must have at most 12 decimal places",
    ),
    "NaN daily loss": (
        dict(extra='[risk]\nmax_daily_loss = "NaN"\n'),
        "risk.max_daily_loss",
        "must be a finite number, got NaN",
    ),
    "NaN risk check limit": (
        dict(extra="[risk.checks.max_order_notional]\nmax_notional = nan\n"),
        "risk.checks.max_order_notional.max_notional",
        "must be a finite number, got NaN",
    ),
    "risk check that is not a table": (
        dict(extra="[risk.checks]\ninstrument = 5\n"),
        "risk.checks",
        "Expected `object`, got `int`",
    ),
    "balance that is not a number": (
        dict(usd="abc"),
        "venues.bitstamp.balances",
        "Invalid decimal string",
    ),
    "data file name too long": (
        dict(file="x" * 300),
        "venues.bitstamp",
        "files[0]: file name too long",
    ),
    "vwap bars file name too long": (
        dict(
            orders=[
                dict(
                    limit='algo = "vwap"\nparams = { duration_s = 60, slices = 4, bars = "%s" }'
                    % ("x" * 300)
                )
            ]
        ),
        "orders[0].params",
        "bars: no such file",
    ),
    "ccxt exchange id too long": (
        dict(
            extra='[venues.x]\nplugin = "ccxt"\nexchange = "%s"\nsymbols = ["BTC/USD"]\n'
            % ("x" * 300)
        ),
        "venues.x",
        "exchange must be a ccxt exchange id",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_and_run_refuse_what_run_would_trip_on(tmp_path, case):
    settings, key, expected = BAD[case]
    path = config(tmp_path, **settings)
    for command in ("check", "run"):
        done = cli(command, str(path))
        line = one_line(done)
        assert done.returncode == 2, (command, done.stderr)
        assert line.startswith(f"{path}: {key}") or line.startswith(f"{path}:"), line
        assert key in line and expected in line, line
    assert not list(tmp_path.glob("journal.sqlite*")), "a journal was made for a bad config"


def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "node.toml"
    path.write_bytes(NODE.format(runtime="replay").encode() + b'# caf\xe9\n[router]\nmode = "x"\n')
    done = cli("check", str(path))
    assert done.returncode == 2
    assert one_line(done) == f"{path}:6: not UTF-8 text (byte 78); save the file as UTF-8"


def test_a_secret_pasted_into_an_env_key_is_never_echoed(tmp_path):
    path = config(tmp_path)
    text = path.read_text().replace("[venues.bitstamp]", "[venues.bitstamp]", 1)
    text += '\n[node.control]\ntoken_env = "sk-live-51H7abc/DEF+ghi"\n'
    path.write_text(text.replace('[node]\nname = "hardening"', '[node]\nname = "hardening"'))
    done = cli("check", str(path))
    assert done.returncode == 2
    assert "sk-live" not in done.stderr and "51H7abc" not in done.stderr
    assert "node.control.token_env: must name an environment variable" in done.stderr


# --------------------------------------------------------------------------------------------
# No tracebacks


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--quantity", "NaN"], "--quantity NaN: must be a finite number > 0"),
        (["--quantity", "1e400"], "--quantity 1e400: must be a finite number > 0 and below"),
        (["--quantity", "0.000000001"], "smaller than the lot size 0.00000001"),
        (["--quantity", "1", "--fee", "bitstamp=-50"], "must be a finite number >= 0"),
        (["--quantity", "abc"], "--quantity 'abc': not a number"),
    ],
)
def test_route_refuses_bad_numbers_in_one_line(args, expected):
    from node.cli.common import PACKAGE_DIR

    book = PACKAGE_DIR.parent / "venues/sim/tradenode_sim/data/order-graph/run1-1.json"
    done = cli("route", str(book), "--symbol", "BTC/USD", "--side", "buy", *args)
    assert done.returncode == 2
    assert expected in one_line(done)


def test_route_on_a_missing_file_says_no_such_file(tmp_path):
    done = cli("route", str(tmp_path / "nope.json"), "--side", "buy", "--quantity", "1")
    assert done.returncode == 2
    assert one_line(done) == f"tradenode: route: {tmp_path / 'nope.json'}: no such file"


def test_route_says_which_side_of_a_book_is_empty_and_collars_a_stub_quote(tmp_path):
    book = tmp_path / "book.json"
    level = (
        '{{"price": {{"numerator": {p}, "denominator": 1}}, '
        '"qty": {{"numerator": {q}, "denominator": 1}}}}'
    )
    asks = ", ".join(level.format(p=p, q=q) for p, q in ((5000, 1), (5001, 1), (10**9, 50)))
    bids = level.format(p=4999, q=3)
    book.write_text(
        f'[{{"venue": "x", "base": "BTC", "quote": "USD", "bids": [{bids}], "asks": [{asks}]}},'
        f' {{"venue": "y", "base": "BTC", "quote": "USD", "bids": [{bids}], "asks": []}}]'
    )
    done = cli("route", str(book), "--side", "buy", "--quantity", "5")
    assert done.returncode == 2
    assert "y BTC/USD: the book has no asks: a buy takes from the asks" in one_line(done)
    only_x = tmp_path / "x.json"
    only_x.write_text(book.read_text().rsplit(", {", 1)[0] + "]")
    done = cli("route", str(only_x), "--side", "buy", "--quantity", "5")
    assert done.returncode == 0, done.stderr
    # the stub ask a million times the market is left out, and the answer says so
    assert "price collar" in done.stdout
    assert "unfilled 3" in done.stdout


def test_journal_output_into_a_missing_folder_is_one_line(tmp_path):
    path = config(tmp_path)
    assert cli("run", str(path)).returncode == 0
    done = cli("journal", str(path), "-o", "/nonexistent/dir/x")
    assert done.returncode == 2
    assert one_line(done) == "tradenode: -o /nonexistent/dir/x: No such file or directory"


def test_a_journal_path_under_a_regular_file_is_one_line(tmp_path):
    (tmp_path / "plain").write_text("x")
    path = config(tmp_path, extra='journal = "plain/journal.sqlite"\n')
    done = cli("run", str(path))
    assert done.returncode == 2
    assert "is a file, not a folder" in one_line(done)


def _read_only_mount(where: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a read-only file system (CI runs as root)")
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)], check=True)


def test_a_read_only_journal_is_one_line_for_run_halt_and_resume_and_never_hangs(tmp_path):
    mount = tmp_path / "ro"
    _read_only_mount(mount)
    try:
        path = config(tmp_path, extra=f'journal = "{mount}/journal.sqlite"\n')
        assert cli("run", str(path)).returncode == 0  # a journal to make read-only
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        for args in (
            ["run", str(path)],
            ["run", str(path), "--runtime", "live"],
            ["halt", str(path), "--reason", "x"],
            ["resume", str(path), "--reason", "x"],
        ):
            done = cli(*args, timeout=60)
            assert done.returncode == 2, (args, done.stderr)
            assert "read-only" in one_line(done), done.stderr
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


# --------------------------------------------------------------------------------------------
# One writer; orders journaled before a crash; how a run ends


def test_a_second_node_on_the_same_journal_refuses_to_start_naming_the_first(tmp_path):
    path = config(tmp_path, runtime="live")
    first = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            holder = running_node(tmp_path / "journal.sqlite")
            if holder is not None and holder.control_url:
                break
            time.sleep(0.1)
        done = cli("run", str(path))
        assert done.returncode == 2
        line = one_line(done)
        assert "is in use by a running node" in line and f"pid {first.pid}" in line
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 0


def test_an_order_journaled_just_before_a_crash_is_worked_after_it(tmp_path):
    plugins = load_plugins()
    path = config(tmp_path)
    node = Node(load_config(path, plugins), plugins)
    node.start()
    node.submit(SubmitParentOrder(parent_id="cut", symbol="BTC/USD", side="buy", quantity=D(2)))
    # The process dies here: the order is in the journal, nothing was done with it.
    node.runtime.stop()
    node._close_journal()
    done = cli("run", str(path))
    assert done.returncode == 0, done.stderr
    completed = [
        m
        for m in Journal(tmp_path / "journal.sqlite").messages()
        if isinstance(m, ParentOrderCompleted)
    ]
    assert [(m.parent_id, m.status) for m in completed] == [("cut", "filled")]
    assert "cut (route): filled" in done.stdout


def test_a_run_that_ends_halted_exits_1_and_says_why(tmp_path):
    path = config(
        tmp_path,
        orders=[dict(quantity="5")],
        extra='[risk]\nmax_daily_loss = "1"\n',
    )
    done = cli("run", str(path))
    assert done.returncode == 1, done.stderr
    assert "tradenode: trading ended halted: daily loss" in done.stderr
    assert "Traceback" not in done.stderr
