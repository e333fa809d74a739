"""The kill scenario shared by ``test_kill_proof.py`` and ``benchmarks/kill_soak.py``.

Two loopback Binance exchanges run as their own processes (different prices, fees and balances,
so the router uses both), and the node runs as a third process on a config with both as ccxt
venues and one TWAP buy. The node is killed with SIGKILL at seeded random moments and started
again on the same journal; the last run is left to finish the parent and is stopped with
SIGTERM. ``audit`` then compares the journal with the exchanges' own records.

Kill moments are anchored to what the node is doing, read from its journal: a moment while it
reconciles (after this run's first ``ReconcileVenue``), one within tens of milliseconds of a TWAP
slice's start or take (predicted from the parent's journaled start, as its executor derives it:
orders on the wire), or one anywhere in trading (after ``NodeReady``). Every wait is bounded: a
node that does not get there fails the run, it never hangs.

Nothing here is mocked: the node is ``python -m node.cli run``, the exchanges are
``python -m tradenode_ccxt.loopback``, and the records compared are the journal (read-only) and
the exchanges' admin API.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradenode_algos.schedule import build_schedule

from node.codec import Codec
from node.journal import Journal, JournalCorrupt, JournalEntry, JournalUnavailable
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    ComponentFailed,
    InstrumentHalted,
    NodeReady,
    NodeStarted,
    NodeStopped,
    OrderAdopted,
    ParentOrderAccepted,
    ParentOrderCompleted,
    ReconcileVenue,
    SubmitOrder,
    SubmitParentOrder,
    TradingStateChanged,
    VenueReconciled,
    VenueStatus,
)
from node.portfolio import Ledger

D = Decimal
SYMBOL = "BTC/USDT"
PARENT = "kill-twap"
KEY_ENV = "TN_KILL_KEY"
SECRET_ENV = "TN_KILL_SECRET"
API_KEY = "loopback-api-key"
API_SECRET = "loopback-api-secret"  # the loopback's public test value, not a secret
DEFAULT_SEED = 20240808
LISTENING = "Loopback Binance spot listening on "
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
#: ccxt options for the loopback: spot only; a 1.5 s receive window (an order of unknown fate
#: is looked up after it)
OPTIONS = (
    '{ fetchCurrencies = false, fetchMargins = false, fetchMarkets = { types = ["spot"] }, '
    "recvWindow = 1500 }"
)
#: bounds, not speed claims: ``import ccxt.pro`` alone takes 5–14 s on a loaded 2-core machine
START_TIMEOUT_S = 150.0
STOP_TIMEOUT_S = 60.0
POLL_S = 0.05
#: The child processes' bytecode cache. This machine sets PYTHONDONTWRITEBYTECODE, so every
#: process would compile what it imports from source: ccxt's 40 MB alone take ~10 s of each
#: restart, where a deployed node loads compiled bytecode (~1.5 s). The cache is kept outside
#: the tree and shared by runs; Python checks each entry against its source.
PYCACHE = Path(tempfile.gettempdir()) / "tradenode-kill-pycache"
#: each TWAP slice rests for this part of its interval, then takes what it still owes
PASSIVE_FRACTION = 0.8


@dataclass(frozen=True)
class ExchangeSpec:
    """One loopback exchange: its price shift against the recording, fees and balances."""

    name: str
    price_shift: str
    maker_fee_bps: str
    taker_fee_bps: str
    balances: dict[str, str]

    def args(self) -> list[str]:
        out = [
            "--price-shift",
            self.price_shift,
            "--maker-fee-bps",
            self.maker_fee_bps,
            "--taker-fee-bps",
            self.taker_fee_bps,
        ]
        for asset, amount in self.balances.items():
            out += ["--balance", f"{asset}={amount}"]
        return out


#: ``alpha`` is the cheaper venue (lower fees, its asks a dollar lower) but holds too little
#: USDT for the whole parent: the router fills it first, splits the slice that exhausts it, and
#: carries on at ``beta``.
EXCHANGES = (
    ExchangeSpec("alpha", "-1", "2", "5", {"USDT": "6000", "BTC": "1"}),
    ExchangeSpec("beta", "0", "8", "10", {"USDT": "40000", "BTC": "1"}),
)


@dataclass(frozen=True)
class Plan:
    """What the scenario does; ``kills`` SIGKILLs, then a last run that finishes the parent."""

    seed: int = DEFAULT_SEED
    kills: int = 10
    quantity: str = "0.24"
    duration_s: float = 75.0
    slices: int = 15
    #: a checkpoint every this many journal rows, so kills also land between, and inside,
    #: checkpoints (a start then reads the latest one and the rows after it)
    checkpoint_every: int = 150
    #: how long after ``NodeReady`` a "trading" kill may come
    trading_span_s: float = 3.0
    #: relative weights of the kill anchors
    weights: tuple[tuple[str, float], ...] = (
        ("trading", 0.4),
        ("slice", 0.4),
        ("reconciling", 0.2),
    )


def seed_from_env(default: int = DEFAULT_SEED) -> int:
    text = os.environ.get("TRADENODE_KILL_SEED", "").strip()
    return int(text) if text else default


# --------------------------------------------------------------------------------------------
# Processes


def child_env(pycache: Path | None, **extra: str) -> dict[str, str]:
    """The environment of a child process: ours, plus ``extra``, with the bytecode cache."""
    env = {**os.environ, **extra}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _kill_group(proc: subprocess.Popen[Any], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _stop(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT_S) -> int | None:
    """SIGTERM the process group, then SIGKILL it if it has not gone within ``timeout``."""
    if proc.poll() is None:
        _kill_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGKILL)
            proc.wait(10)
    else:
        _kill_group(proc, signal.SIGKILL)  # anything it left in its group
    return proc.returncode


class ExchangeProcess:
    """``python -m tradenode_ccxt.loopback`` in its own process group; ``admin`` reads its
    records over HTTP."""

    def __init__(self, spec: ExchangeSpec, directory: Path, pycache: Path | None) -> None:
        self.spec = spec
        self.out = directory / f"{spec.name}.out"
        self.err = directory / f"{spec.name}.err"
        self.state = directory / f"{spec.name}.state.json"
        cmd = [
            sys.executable,
            "-m",
            "tradenode_ccxt.loopback",
            "--port",
            "0",
            "--state",
            str(self.state),
            *spec.args(),
        ]
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=err, env=child_env(pycache), start_new_session=True
            )
        self.url = ""

    def wait_listening(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            first = self.out.read_text().partition("\n")
            if first[1] and first[0].startswith(LISTENING):
                self.url = first[0].removeprefix(LISTENING).strip()
                return self.url
            if self.proc.poll() is not None:
                break
            time.sleep(POLL_S)
        raise AssertionError(
            f"exchange {self.spec.name} did not start listening: {self.err.read_text()[-2000:]}"
        )

    def admin(self, call: str, **query: Any) -> Any:
        url = f"{self.url}/_admin/{call}"
        if query:
            url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        with urllib.request.urlopen(url, timeout=30) as reply:
            return json.loads(reply.read())["result"]

    def totals(self) -> dict[str, Decimal]:
        """Each asset's free + locked, as the exchange keeps it."""
        return {a: D(r["free"]) + D(r["locked"]) for a, r in self.admin("balances").items()}

    def stop(self) -> None:
        _stop(self.proc, 20)


@dataclass
class Run:
    """One node process: how it started, how it ended, what it journaled."""

    index: int
    started_ns: int
    proc: subprocess.Popen[Any]
    stderr: Path
    first_seq: int
    anchor: str = ""
    delay_s: float = 0.0
    killed_ns: int | None = None
    ready_ts: int | None = None
    ready_missing: dict[str, str] = field(default_factory=dict)
    last_seq: int = 0
    returncode: int | None = None

    @property
    def restart_to_ready_s(self) -> float | None:
        return None if self.ready_ts is None else (self.ready_ts - self.started_ns) / 1e9


# --------------------------------------------------------------------------------------------
# The journal, read while the node writes it


class JournalTail:
    """The journal's rows as they are written, read with a read-only connection each poll (a
    node being killed and started again never shares a connection with the reader)."""

    def __init__(self, path: Path, codec: Codec) -> None:
        self.path = path
        self.codec = codec
        self.entries: list[JournalEntry] = []
        self.problem = ""

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq if self.entries else 0

    def poll(self) -> None:
        """Read what was appended since the last poll. A journal not there yet, or being
        created, is read next time (the final audit reads it all again, strictly)."""
        if not self.path.exists():
            return
        try:
            journal = Journal(self.path, codec=self.codec, readonly=True)
        except (JournalUnavailable, JournalCorrupt, sqlite3.Error) as exc:
            self.problem = str(exc)
            return
        try:
            self.entries.extend(journal.entries(after_seq=self.last_seq))
            self.problem = ""
        except (JournalCorrupt, sqlite3.Error) as exc:
            self.problem = str(exc)
        finally:
            journal.close()

    def since(self, seq: int) -> Iterator[JournalEntry]:
        return (e for e in self.entries if e.seq > seq)

    def find(self, after_seq: int, test: Callable[[Any], bool]) -> JournalEntry | None:
        return next((e for e in self.since(after_seq) if test(e.message)), None)


def read_all(path: Path, codec: Codec) -> list[JournalEntry]:
    """Every row, checked (a bad row raises ``JournalCorrupt``)."""
    journal = Journal(path, codec=codec, readonly=True)
    try:
        return list(journal.entries())
    finally:
        journal.close()


# --------------------------------------------------------------------------------------------
# The scenario


def node_config(directory: Path, urls: dict[str, str], plan: Plan) -> Path:
    parts = [
        "[node]",
        'name = "kill-proof"',
        'journal = "journal.sqlite"',
        'valuation_currency = "USDT"',
        'runtime = "live"',
        f"checkpoint_every = {plan.checkpoint_every}",
        "[node.control]",
        "enabled = false",
        "[node.ready]",
        f"timeout_s = {START_TIMEOUT_S:g}",
        "[router]",
        "max_book_age_ms = 5000",
        "[risk.checks.duplicate_id]",
        "[risk.checks.instrument]",
        "[risk.checks.increments]",
        "[risk.checks.min_notional]",
        "[risk.checks.free_balance]",
    ]
    for name, url in urls.items():
        parts += [
            f"[venues.{name}]",
            'plugin = "ccxt"',
            'exchange = "binance"',
            f'symbols = ["{SYMBOL}"]',
            f'api_key_env = "{KEY_ENV}"',
            f'secret_env = "{SECRET_ENV}"',
            f'base_url = "{url}"',
            'market_data = "websocket"',
            f"options = {OPTIONS}",
        ]
    parts += [
        "[[orders]]",
        f'parent_id = "{PARENT}"',
        f'symbol = "{SYMBOL}"',
        'side = "buy"',
        f'quantity = "{plan.quantity}"',
        'algo = "twap"',
        f"params = {{ duration_s = {plan.duration_s:g}, slices = {plan.slices}, "
        f"passive_fraction = {PASSIVE_FRACTION} }}",
    ]
    path = directory / "node.toml"
    path.write_text("\n".join(parts) + "\n")
    return path


class KillScenario:
    """The exchanges, the node's runs and the journal; ``close`` ends every process it started
    (use it as a context manager)."""

    def __init__(
        self,
        directory: Path,
        plan: Plan,
        codec: Codec,
        log: Callable[[str], None] = print,
        pycache: Path | None = PYCACHE,
    ) -> None:
        self.directory = directory
        self.pycache = pycache
        self.plan = plan
        self.codec = codec
        self.log = log
        self.rng = random.Random(plan.seed)
        self.exchanges: dict[str, ExchangeProcess] = {}
        self.runs: list[Run] = []
        self.journal_path = directory / "journal.sqlite"
        self.tail = JournalTail(self.journal_path, codec)
        self.config: Path | None = None
        self.final_returncode: int | None = None

    def __enter__(self) -> KillScenario:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for run in self.runs:
            if run.proc.poll() is None:
                _kill_group(run.proc, signal.SIGKILL)
                run.proc.wait(10)
        for exchange in self.exchanges.values():
            exchange.stop()

    # -- processes ------------------------------------------------------------------------------

    def start_exchanges(self) -> None:
        for spec in EXCHANGES:
            self.exchanges[spec.name] = ExchangeProcess(spec, self.directory, self.pycache)
        urls = {name: ex.wait_listening() for name, ex in self.exchanges.items()}
        self.config = node_config(self.directory, urls, self.plan)

    def start_node(self) -> Run:
        assert self.config is not None
        env = child_env(
            self.pycache, **{KEY_ENV: API_KEY, SECRET_ENV: API_SECRET, "PYTHONUNBUFFERED": "1"}
        )
        index = len(self.runs) + 1
        stderr = self.directory / f"node-run{index:03d}.err"
        self.tail.poll()
        first_seq = self.tail.last_seq
        with (
            stderr.open("w") as err,
            (self.directory / f"node-run{index:03d}.out").open("w") as out,
        ):
            started = time.time_ns()
            proc = subprocess.Popen(
                [sys.executable, "-m", "node.cli", "run", str(self.config)],
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        run = Run(index, started, proc, stderr, first_seq)
        self.runs.append(run)
        return run

    def wait_for(
        self,
        run: Run,
        test: Callable[[Any], bool],
        what: str,
        timeout: float,
        after_seq: int | None = None,
    ) -> JournalEntry:
        """The first row of this run (or after ``after_seq``) that passes ``test``; fails if
        the node exits or the time is up first."""
        after = run.first_seq if after_seq is None else after_seq
        deadline = time.monotonic() + timeout
        while True:
            self.tail.poll()
            entry = self.tail.find(after, test)
            if entry is not None:
                return entry
            if run.proc.poll() is not None:
                self.tail.poll()
                entry = self.tail.find(after, test)
                if entry is not None:
                    return entry
                raise AssertionError(
                    f"run {run.index}: the node exited ({run.proc.returncode}) before {what}:\n"
                    + tail_text(run.stderr)
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"run {run.index}: no {what} within {timeout:g} s "
                    f"(journal: {self.tail.problem or 'readable'}):\n" + tail_text(run.stderr)
                )
            time.sleep(POLL_S)

    def wait_ready(self, run: Run) -> None:
        entry = self.wait_for(run, _is(NodeReady), "NodeReady", START_TIMEOUT_S)
        run.ready_ts = entry.message.ts
        run.ready_missing = dict(entry.message.missing)

    def kill(self, run: Run) -> None:
        """Pick this kill's anchor and delay from the seeded generator, wait for the anchor,
        then SIGKILL the node at the chosen moment."""
        names = [n for n, _ in self.plan.weights]
        anchor = self.rng.choices(names, [w for _, w in self.plan.weights])[0]
        jitter = self.rng.uniform(-0.01, 0.04)  # drawn for every kill: one seed, one sequence
        delay = self.rng.uniform(0.0, self.plan.trading_span_s)
        if anchor == "reconciling":
            delay = delay / self.plan.trading_span_s * 0.5
            self.wait_for(run, _is(ReconcileVenue), "a ReconcileVenue", START_TIMEOUT_S)
            time.sleep(delay)
        elif anchor == "slice":
            self.wait_ready(run)
            moment = self.next_slice_moment()
            if moment is None:
                anchor = "trading (the schedule is over)"
                time.sleep(delay)
            else:
                at_ns, what = moment
                anchor, delay = what, jitter
                time.sleep(max(0.0, (at_ns - time.time_ns()) / 1e9 + jitter))
        else:
            self.wait_ready(run)
            time.sleep(delay)
        if run.proc.poll() is not None:
            raise AssertionError(
                f"run {run.index}: the node exited ({run.proc.returncode}) before its kill:\n"
                + tail_text(run.stderr)
            )
        _kill_group(run.proc, signal.SIGKILL)
        run.killed_ns = time.time_ns()
        run.returncode = run.proc.wait(STOP_TIMEOUT_S)
        run.anchor, run.delay_s = anchor, delay
        self.tail.poll()
        if run.ready_ts is None:
            ready = self.tail.find(run.first_seq, _is(NodeReady))
            if ready is not None:
                run.ready_ts = ready.message.ts
                run.ready_missing = dict(ready.message.missing)
        run.last_seq = self.tail.last_seq
        alive = (run.killed_ns - run.started_ns) / 1e9
        self.log(
            f"kill {len(self.runs)}: {delay:+.3f} s from {anchor} (run {run.index}, "
            f"{alive:.1f} s after its start, journal seq {run.last_seq})"
        )

    def next_slice_moment(self) -> tuple[int, str] | None:
        """The TWAP's next timer at least 0.3 s away (a slice's start, when it rests, or its
        take), derived from the parent's journaled start as its executor derives it; None once
        the parent is done or its schedule is over."""
        accepted = self.tail.find(0, _is(ParentOrderAccepted))
        if accepted is None or self.tail.find(0, _is(ParentOrderCompleted)) is not None:
            return None
        plan = self.plan
        start = accepted.message.ts
        duration = int(plan.duration_s * 1e9)
        edges = build_schedule(start, duration, D(plan.quantity), [1.0] * plan.slices).edges
        soon = time.time_ns() + 300_000_000
        for i in range(plan.slices):
            a, b = edges[i], edges[i + 1]
            for at, what in ((a, "start"), (a + int((b - a) * PASSIVE_FRACTION), "take")):
                if at >= soon:
                    return at, f"the {what} of slice {i + 1}"
        return None

    def finish(self) -> Run:
        """The last run: ready, the parent completed, the balances settled; then SIGTERM."""
        run = self.start_node()
        self.wait_ready(run)
        self.log(f"last run {run.index}: ready after {run.restart_to_ready_s:.1f} s")
        budget = self.plan.duration_s + START_TIMEOUT_S
        done = self.wait_for(
            run,
            lambda m: isinstance(m, ParentOrderCompleted) and m.parent_id == PARENT,
            f"ParentOrderCompleted of {PARENT}",
            budget,
            after_seq=0,  # an earlier run may have completed it
        )
        self.log(f"parent {PARENT} completed: {done.message.status} {done.message.reason}".rstrip())
        # Balances follow the last fill by up to a second or two (the venue reads them after
        # it); the node is stopped once its ledger agrees with every exchange, or after the
        # bound, and the audit then names what differs.
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and run.proc.poll() is None:
            self.tail.poll()
            if not balance_differences(self.ledger(), self.exchanges):
                break
            time.sleep(0.2)
        run.returncode = _stop(run.proc)
        self.final_returncode = run.returncode
        self.tail.poll()
        run.last_seq = self.tail.last_seq
        return run

    def run_all(self) -> None:
        self.log(
            f"kill seed {self.plan.seed} (set TRADENODE_KILL_SEED to repeat it); "
            f"{self.plan.kills} kills; TWAP {self.plan.quantity} over {self.plan.duration_s:g} s"
        )
        self.start_exchanges()
        for _ in range(self.plan.kills):
            self.kill(self.start_node())
        self.finish()

    def ledger(self) -> Ledger:
        ledger = Ledger("USDT")
        for entry in self.tail.entries:
            ledger.apply(entry.message)
        return ledger


def _is(cls: type) -> Callable[[Any], bool]:
    return lambda m: isinstance(m, cls)


def tail_text(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text()[-chars:]
    except OSError:
        return ""


def balance_differences(ledger: Ledger, exchanges: dict[str, ExchangeProcess]) -> list[str]:
    out = []
    for name, exchange in exchanges.items():
        for asset, total in exchange.totals().items():
            ours = ledger.balance(name, asset)
            if ours != total:
                out.append(f"{name} {asset}: journal {ours}, exchange {total}")
    return out


# --------------------------------------------------------------------------------------------
# The audit


@dataclass
class Audit:
    """What the journal and the exchanges say, and every disagreement between them."""

    problems: list[str] = field(default_factory=list)
    fills: int = 0
    filled: Decimal = field(default_factory=Decimal)
    by_venue: dict[str, Decimal] = field(default_factory=dict)
    orders_sent: int = 0
    duplicates: int = 0
    lost_fills: int = 0
    unknown_fills: int = 0
    recovered: Counter[str] = field(default_factory=Counter)
    completions: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def audit(scenario: KillScenario, target: Decimal) -> Audit:
    """Compare the whole journal (read strictly, every row checked) with the exchanges."""
    result = Audit()
    entries = read_all(scenario.journal_path, scenario.codec)
    messages = [e.message for e in entries]

    # The parent: submitted once, completed once, filled exactly.
    parents = [m for m in messages if isinstance(m, SubmitParentOrder) and m.parent_id == PARENT]
    result.check(len(parents) == 1, f"{PARENT} submitted {len(parents)} times")
    done = [m for m in messages if isinstance(m, ParentOrderCompleted) and m.parent_id == PARENT]
    result.completions = [f"{m.status}: {m.reason}" for m in done]
    result.check(len(done) == 1, f"{PARENT} completed {len(done)} times: {result.completions}")
    if done:
        result.check(done[0].status == "filled", f"{PARENT} ended {result.completions[0]}")
        result.check(
            done[0].report.filled_quantity == target,
            f"report says {done[0].report.filled_quantity} filled, target {target}",
        )
    fills = [m for m in messages if isinstance(m, FILL_TYPES)]
    keys = Counter((f.venue, f.client_order_id, f.trade_id) for f in fills)
    twice = sorted(k for k, n in keys.items() if n > 1)
    result.check(not twice, f"fills journaled twice: {twice}")
    result.duplicates += len(twice)
    ours = [f for f in fills if f.parent_id == PARENT]
    result.fills = len(ours)
    result.filled = sum((f.quantity for f in ours), D(0))
    result.check(result.filled == target, f"journal fills of {PARENT}: {result.filled} != {target}")
    for f in ours:
        result.by_venue[f.venue] = result.by_venue.get(f.venue, D(0)) + f.quantity

    # What was sent: each child id once, and every order an exchange has was sent by the node.
    sent: dict[str, set[str]] = {}
    for e in entries:
        m = e.message
        if isinstance(m, SubmitOrder) and e.destination.startswith("venue."):
            sent.setdefault(m.venue, set()).add(m.client_order_id)
    journal_fills = {(f.venue, f.client_order_id, f.trade_id): f for f in fills}
    for name, exchange in scenario.exchanges.items():
        orders = exchange.admin("orders")
        rejections = exchange.admin("rejections")
        ids = Counter(o["clientOrderId"] for o in orders) + Counter(
            r["clientOrderId"] for r in rejections
        )
        result.orders_sent += len(ids)
        for cid, count in sorted(ids.items()):
            submissions = exchange.admin("submissions", client_order_id=cid)
            if count > 1 or submissions > 1:
                result.duplicates += 1
                result.problems.append(
                    f"{name}: client order id {cid} submitted {submissions} times ({count} records)"
                )
        working = sorted(o["clientOrderId"] for o in orders if o["status"] in OPEN_STATUSES)
        result.check(not working, f"{name} still works orders after the parent ended: {working}")
        strangers = sorted(set(ids) - sent.get(name, set()))
        result.check(not strangers, f"{name} has orders the journal never sent: {strangers}")
        # Every fill at the exchange is in the journal, at its quantity and price; and back.
        trades = {(name, t["clientOrderId"], str(t["id"])): t for t in exchange.admin("trades")}
        for key, trade in sorted(trades.items()):
            mine = journal_fills.get(key)
            if mine is None:
                result.lost_fills += 1
                result.problems.append(f"fill at {name} not in the journal: {trade}")
            elif (mine.quantity, mine.price) != (D(trade["qty"]), D(trade["price"])):
                result.problems.append(f"fill {key}: journal {mine}, exchange {trade}")
        for key in sorted(k for k in journal_fills if k[0] == name and k not in trades):
            result.unknown_fills += 1
            result.problems.append(f"journal fill {key} is not at {name}")

    # The node's accounts, rebuilt from the journal as a start would, against the exchanges.
    ledger = Ledger("USDT")
    for m in messages:
        ledger.apply(m)
    result.problems += balance_differences(ledger, scenario.exchanges)
    for name, exchange in scenario.exchanges.items():
        position = sum(
            (D(t["qty"]) * (1 if t["side"] == "BUY" else -1) for t in exchange.admin("trades")),
            D(0),
        )
        result.check(
            ledger.quantity(SYMBOL, name) == position,
            f"{name}: journal position {ledger.quantity(SYMBOL, name)}, exchange {position}",
        )

    # Every run started, and every run given the time reached trading with both venues.
    starts = [e for e in entries if isinstance(e.message, NodeStarted)]
    result.check(
        len(starts) == len(scenario.runs),
        f"{len(starts)} NodeStarted rows for {len(scenario.runs)} runs",
    )
    for run in scenario.runs:
        if run.anchor != "reconciling" or run is scenario.runs[-1]:
            result.check(run.ready_ts is not None, f"run {run.index} never reached NodeReady")
        result.check(not run.ready_missing, f"run {run.index} ready without {run.ready_missing}")
        text = tail_text(run.stderr, 10**7)
        result.check("Traceback" not in text, f"run {run.index} stderr has a traceback:\n{text}")
    # Nothing the kills did was beyond explaining: no halt, no failed component.
    for m in messages:
        if isinstance(m, InstrumentHalted) or (
            isinstance(m, TradingStateChanged) and m.state != "active"
        ):
            result.problems.append(f"trading stopped: {m}")
        elif isinstance(m, ComponentFailed):
            result.problems.append(f"a component failed: {m}")
    stops = [m for m in messages if isinstance(m, NodeStopped)]
    result.check(len(stops) == 1, f"{len(stops)} NodeStopped rows (expected the last run's)")
    result.check(
        scenario.final_returncode == 0,
        f"the last run exited {scenario.final_returncode}:\n{tail_text(scenario.runs[-1].stderr)}",
    )
    result.recovered = recovered(entries)
    return result


def recovered(entries: list[JournalEntry]) -> Counter[str]:
    """What the restarts' reconciliations found, from their journal rows."""
    counts: Counter[str] = Counter()
    for e in entries:
        m = e.message
        if isinstance(m, ReconcileVenue):
            counts["unresolved orders asked about"] += len(m.client_order_ids)
        elif isinstance(m, VenueReconciled):
            counts["open at the exchange"] += len(m.open_orders)
            counts["never reached the exchange"] += len(m.unknown)
            counts["finished while down"] += sum(1 for r in m.queried if r.status != "open")
        elif isinstance(m, OrderAdopted):
            counts["adopted"] += 1
        elif e.sender == "reconcile" and isinstance(m, FILL_TYPES):
            counts["fills applied at restart"] += 1
        elif e.sender == "reconcile" and isinstance(m, FINAL_ORDER_EVENTS):
            counts["orders closed at restart"] += 1
        elif isinstance(m, VenueStatus) and m.status == "reconciled":
            counts["reconciliations that found something"] += 1
    return counts
