"""``tradenode demo``: the embedded default runs offline and prints what a trader checks.

The demo runs once, as a real process, with an audit hook (installed through a
``sitecustomize`` on its ``PYTHONPATH``) that refuses every network call and logs every file it
opens. The printed numbers are checked against the fills in the demo's own journal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import tradenode_sim

from node.cli.common import demo_config_path
from node.journal import Journal
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    ParentOrderAccepted,
    ParentOrderCompleted,
    RouteSlice,
    SubmitOrder,
)
from node.report import when

D = Decimal
DATA_DIR = Path(tradenode_sim.__file__).resolve().parent / "data"
VENUES = ("bitfinex", "bittrex", "bitstamp", "coinbase")

SITECUSTOMIZE = """\
import os
import sys

_log = os.open(os.environ["TRADENODE_AUDIT_LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
_NETWORK = {
    "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
    "socket.bind", "socket.sendto", "socket.sendmsg", "urllib.Request", "http.client.connect",
}


def _hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        os.write(_log, ("open\\t" + os.fsdecode(args[0]) + "\\n").encode())
    elif event in _NETWORK:
        os.write(_log, ("network\\t" + event + "\\n").encode())
        raise OSError("no network in this test: " + event)


sys.addaudithook(_hook)
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    hook = work / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    audit_log = work / "audit.log"
    journal = work / "run" / "demo.journal.sqlite"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    env["TRADENODE_AUDIT_LOG"] = str(audit_log)
    env["HOME"] = str(work)
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[proxy] = "http://127.0.0.1:9"  # nowhere: a network attempt fails rather than leaks
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "demo", "--journal", str(journal)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, audit_log.read_text().splitlines(), journal, work


def test_demo_exits_0_and_needs_no_network(demo):
    done, audit, _, _ = demo
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "warning: plugin" not in done.stderr
    assert audit, "the audit hook did not run"
    assert [line for line in audit if line.startswith("network\t")] == []


def test_demo_only_reads_packaged_files(demo):
    _, audit, _, work = demo
    system = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        "/usr/share/zoneinfo",
        "/proc",
        "/dev",
        "/sys",
        "/etc",
    ]
    opened = set()
    for line in audit:
        kind, _, path = line.partition("\t")
        if kind != "open" or path.endswith((".py", ".pyc", ".so", ".pth")):
            continue
        resolved = str(Path(path).resolve())
        if not any(resolved.startswith(str(Path(s).resolve())) for s in system):
            opened.add(Path(resolved))
    # The test's own scratch directory (journal, audit log, hook) is not the demo's data. The
    # project itself may live under the temp dir (CI clones there), so only this one is skipped.
    opened = {p for p in opened if not p.is_relative_to(work.resolve())}
    assert opened, "no data file was opened at all"
    for path in opened:
        assert path.is_relative_to(DATA_DIR) or path == demo_config_path().resolve(), path
    assert DATA_DIR / "order-graph" / "run1-1.json" in opened


def _number(text: str) -> Decimal:
    return D(text.replace(",", ""))


def test_demo_prints_the_trader_s_numbers(demo):
    done, _, journal_path, _ = demo
    out = done.stdout
    assert out.startswith("tradenode demo — node 'demo': 4 simulated venues")
    assert "no keys, no network" in out.splitlines()[0]
    for heading in (
        "starting balances",
        "route demo-btc-buy",
        "route demo-eth-sell",
        "route demo-btc-twap slice 1",
        "final balances",
    ):
        assert heading in out

    journal = Journal(journal_path)
    try:
        messages = list(journal.messages())
    finally:
        journal.close()
    completed = {m.parent_id: m for m in messages if isinstance(m, ParentOrderCompleted)}
    fills = [m for m in messages if isinstance(m, FILL_TYPES)]
    assert set(completed) == {"demo-btc-buy", "demo-eth-sell", "demo-btc-twap"}

    for parent_id, done_msg in completed.items():
        report = done_msg.report
        mine = [f for f in fills if f.parent_id == parent_id]
        # "<id> (route): filled 30.00000000/30 BTC/USD (buy) in 2 child order(s)"
        header = re.search(
            rf"^{parent_id} \((\w+)\): (\w+) (\S+)/(\S+) (\S+) \((buy|sell)\) in (\d+) child",
            out,
            re.MULTILINE,
        )
        assert header, parent_id
        assert header.group(1) == report.algo
        assert header.group(2) == done_msg.status == "filled"
        assert D(header.group(3)) == report.filled_quantity == sum(f.quantity for f in mine)
        block = out[header.end() :].split("\n\n", 1)[0]
        # fills per venue: venue, filled, avg price, fees
        rows = re.findall(
            r"^\s+(\w+)\s+([\d,.]+)\s+([\d,.]+)\s+([\d,.]+) USD$", block, re.MULTILINE
        )
        assert {r[0] for r in rows} == {f.venue for f in mine}
        for venue, quantity, avg, fee in rows:
            on_venue = [f for f in mine if f.venue == venue]
            q = sum(f.quantity for f in on_venue)
            assert _number(quantity) == q
            places = _number(avg).as_tuple().exponent  # shown at the tick's precision + 2
            assert _number(avg) == (sum(f.price * f.quantity for f in on_venue) / q).quantize(
                D(1).scaleb(places)
            )
            assert _number(fee) == sum(f.fee for f in on_venue).quantize(D("0.01"))
        # average price, arrival mid, shortfall, fees
        summary = re.search(
            r"average price ([\d,.]+), arrival mid ([\d,.]+), shortfall (-?[\d.]+) bps, "
            r"fees ([\d,.]+) USD",
            block,
        )
        assert summary, block
        places = _number(summary.group(1)).as_tuple().exponent
        assert _number(summary.group(1)) == report.average_price.quantize(D(1).scaleb(places))
        assert _number(summary.group(3)) == report.shortfall_bps
        assert _number(summary.group(4)) == report.fees.quantize(D("0.01"))
        assert f"started {when(report.started_ts)}, ended {when(report.finished_ts)}" in block
        if report.algo != "route":
            assert "vs the whole order on the best single venue" not in block
            continue
        # the saving against the whole order on the best single venue
        saving = re.search(
            r"vs the whole order on the best single venue \((\w+) at ([\d,.]+) net\): saved "
            r"(-?[\d.]+) bps",
            block,
        )
        assert saving, block
        assert saving.group(1) == report.best_venue
        assert _number(saving.group(3)) == report.saving_bps_vs_best_venue

    # the TWAP: four slices rest at the mid (these books never trade), each is taken at 80 % of
    # its 15 s interval, through the router, and nothing is left working
    twap = completed["demo-btc-twap"]
    twap_rows = [m for m in messages if getattr(m, "parent_id", None) == "demo-btc-twap"]
    slices = [m for m in twap_rows if isinstance(m, RouteSlice)]
    (accepted,) = [m for m in twap_rows if isinstance(m, ParentOrderAccepted)]
    offsets = [(m.urgency, (m.ts - accepted.ts) // 10**9) for m in slices]
    assert offsets == [
        ("post", 0),
        ("take", 12),
        ("post", 15),
        ("take", 27),
        ("post", 30),
        ("take", 42),
        ("post", 45),
        ("take", 57),
    ]
    twap_fills = [f for f in fills if f.parent_id == "demo-btc-twap"]
    assert sum(f.quantity for f in twap_fills) == D(12) == twap.report.filled_quantity
    assert all(f.liquidity == "taker" for f in twap_fills)
    assert len({f.venue for f in twap_fills}) >= 2
    sent = {m.client_order_id for m in twap_rows if isinstance(m, SubmitOrder)}
    final = {m.client_order_id for m in twap_rows if isinstance(m, FINAL_ORDER_EVENTS)}
    assert sent and sent == final
    assert (
        "8 slice(s): 4 passive, 4 aggressive; 0.00000000 filled as maker, 12.00000000 as taker"
        in (out)
    )

    # the BTC buy is split and saves against the best single venue
    btc = completed["demo-btc-buy"].report
    assert len(btc.venues) >= 2
    assert btc.saving_bps_vs_best_venue > 0

    # final balances: the last table, start plus what the fills moved, exactly
    final = out.split("final balances", 1)[1]
    shown = {
        (venue, currency): _number(total)
        for venue, currency, total, _free in re.findall(
            r"^\s+(\w+)\s+([A-Z]+)\s+([\d,.]+) [A-Z]+\s+([\d,.]+) [A-Z]+$", final, re.MULTILINE
        )
    }
    assert {v for v, _ in shown} == set(VENUES)
    start = {"USD": D("250000"), "BTC": D("5"), "ETH": D("150")}
    for venue in VENUES:
        for currency, amount in start.items():
            expected = amount
            for f in (f for f in fills if f.venue == venue):
                base, quote = f.symbol.split("/")
                sign = 1 if f.side == "buy" else -1
                if currency == base:
                    expected += sign * f.quantity
                if currency == quote:
                    expected -= sign * f.price * f.quantity + f.fee
            places = D("0.01") if currency == "USD" else D("0.00000001")  # money as shown
            assert shown[(venue, currency)] == expected.quantize(places), (venue, currency)
    assert f"journal: {journal_path}" in out


def test_a_second_demo_on_the_same_journal_carries_the_account_on_and_submits_nothing_again(demo):
    done, _, journal_path, work = demo
    assert done.returncode == 0, done.stderr
    again = subprocess.run(
        [sys.executable, "-m", "node.cli", "demo", "--journal", str(journal_path)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    out = again.stdout
    for parent in ("demo-btc-buy", "demo-eth-sell", "demo-btc-twap"):
        assert f"{parent}: submitted by an earlier run on this journal, not again" in out
    assert "rejected" not in out and "route demo-" not in out  # nothing routed this time
    # what persists is the account: this run starts with the first run's final balances
    first_final = done.stdout.split("final balances")[1].split("\njournal:")[0]
    second_start = out.split("starting balances")[1].split("\npositions")[0]
    assert second_start.strip() == first_final.strip()
    assert "1970" not in done.stdout + out  # books without wall-clock times: t+ seconds
