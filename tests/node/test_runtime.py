"""Both runtimes host the same components: delivery order, simulated time, determinism, supervision.

The components below are small test fixtures that subclass ``Component``; the runtimes, journal
and recorder under test are the real ones. Live tests wait with ``Recorder.wait_for`` and use
timeouts only as an upper bound against hanging, never to assert speed.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from node.component import Component, Envelope
from node.journal import Journal
from node.messages import (
    ComponentFailed,
    ComponentRestarted,
    HaltTrading,
    Message,
    OrderAccepted,
    OrderFilled,
    SubmitOrder,
    TimerFired,
    TradeTick,
)
from node.runtime.base import RestartPolicy
from node.runtime.live import LiveRuntime
from node.runtime.recorder import Recorder
from node.runtime.replay import ReplayRuntime

WAIT = 5.0  # seconds; an upper bound for live waits, never an expectation of speed
MS = 1_000_000
START = 1_700_000_000_000_000_000


def accepted(i: int, ts: int = 0) -> OrderAccepted:
    return OrderAccepted(client_order_id=f"c{i}", venue="sim", venue_order_id=f"v{i}", ts=ts)


def tick(ts: int, price: str, venue: str = "sim") -> TradeTick:
    return TradeTick(
        venue=venue,
        symbol="BTC/USDT",
        price=Decimal(price),
        size=Decimal("0.5"),
        aggressor="buy",
        ts=ts,
    )


def ids(messages: Iterable[Message]) -> list[str]:
    return [m.client_order_id for m in messages if isinstance(m, OrderAccepted)]


def parked_messages(rt: ReplayRuntime, address: str = "worker") -> list[Message]:
    """What waits for a down component (the runtime keeps each with its journal seq)."""
    return [message for message, _seq in rt.hosted[address].parked]


class Hop(Component):
    """Forwards every message to the next address and keeps what it saw."""

    def __init__(self, name: str, next_address: str) -> None:
        super().__init__(name)
        self.next_address = next_address
        self.seen: list[Message] = []

    def on_message(self, message: Message) -> None:
        self.seen.append(message)
        self.ctx.send(self.next_address, message)


def chain(runtime: ReplayRuntime | LiveRuntime) -> tuple[list[Hop], Recorder]:
    hops = [Hop("venue", "algo"), Hop("algo", "router"), Hop("router", "risk")]
    end = Recorder("risk", types=())  # only what is sent to it
    for c in [*hops, end]:
        runtime.add(c)
    return hops, end


# --------------------------------------------------------------------------------------------
# Delivery order


def test_replay_chain_delivers_in_order():
    rt = ReplayRuntime(start_ns=START)
    hops, end = chain(rt)
    rt.start([])
    sent = [accepted(i) for i in range(50)]
    for m in sent:
        rt.send("venue", m)
    assert rt.run() == 4 * len(sent)
    for hop in hops:
        assert hop.seen == sent
    assert end.messages == sent
    assert all(a is b for a, b in zip(end.messages, sent, strict=True))  # no copies in-process
    assert rt.clock == START  # nothing moved the clock
    rt.stop()


def test_replay_publish_reaches_subscribers_of_bases_in_add_order():
    rt = ReplayRuntime()
    everything = Recorder("everything")  # subscribes to Message
    fills_only = Recorder("fills", types=(OrderFilled,))
    late = Recorder("late", types=(OrderAccepted, Message))  # two matching types: delivered once
    for c in (everything, fills_only, late):
        rt.add(c)
    rt.start([])
    rt.publish(accepted(1))
    rt.publish(tick(0, "1"))
    assert rt.run() == 4
    assert everything.messages == [accepted(1), tick(0, "1")]
    assert fills_only.messages == []
    assert late.messages == [accepted(1), tick(0, "1")]


def test_live_chain_delivers_in_order():
    rt = LiveRuntime()
    hops, end = chain(rt)
    rt.start([])
    sent = [accepted(i) for i in range(500)]
    try:
        for m in sent:
            rt.send("venue", m)
        assert end.wait_for(lambda m: m.client_order_id == "c499", WAIT)
    finally:
        rt.stop()
    for hop in hops:
        assert hop.seen == sent
    assert end.messages == sent


def test_send_to_unknown_address_raises():
    rt = ReplayRuntime()
    rt.add(Recorder("a"))
    rt.start([])
    with pytest.raises(KeyError, match="nowhere"):
        rt.send("nowhere", accepted(1))
    with pytest.raises(ValueError, match="two components named 'a'"):
        rt.add(Recorder("a"))


# --------------------------------------------------------------------------------------------
# Simulated time


class Ticker(Component):
    """Schedules timers and notes when each fires, by the clock and by the message."""

    def __init__(self, name: str = "ticker") -> None:
        super().__init__(name)
        self.fired: list[tuple[int, str, int, Any]] = []

    def on_start(self) -> None:
        self.ctx.schedule(5 * MS, "five")
        self.ctx.schedule(2 * MS, "two", payload={"n": 2})
        self.ctx.schedule(5 * MS, "five-again")  # same due time: scheduling order
        doomed = self.ctx.schedule(3 * MS, "canceled")
        self.ctx.cancel_timer(doomed)
        self.ctx.schedule(-7, "negative")  # due now, never in the past

    def on_message(self, message: Message) -> None:
        assert isinstance(message, TimerFired)
        self.fired.append((self.ctx.now(), message.name, message.ts, message.payload))
        if message.name == "two":
            self.ctx.schedule(4 * MS, "two+four")


def test_timers_fire_at_their_simulated_time():
    rt = ReplayRuntime(start_ns=START)
    ticker = Ticker()
    rt.add(ticker)
    rt.start([])
    rt.run()
    assert ticker.fired == [
        (START, "negative", START, None),
        (START + 2 * MS, "two", START + 2 * MS, {"n": 2}),
        (START + 5 * MS, "five", START + 5 * MS, None),
        (START + 5 * MS, "five-again", START + 5 * MS, None),
        (START + 6 * MS, "two+four", START + 6 * MS, None),
    ]
    assert rt.clock == START + 6 * MS


def test_run_until_and_advance_stop_the_clock():
    rt = ReplayRuntime(start_ns=START)
    ticker = Ticker()
    rt.add(ticker)
    rt.start([])
    assert (
        rt.run(until_ns=START + 2 * MS) == 2
    )  # "negative" and "two"; "two" due exactly at the bound
    assert rt.clock == START + 2 * MS
    assert rt.advance(1 * MS) == 0  # nothing due up to +3 ms (the canceled timer is skipped)
    assert rt.clock == START + 3 * MS
    assert rt.advance(2 * MS) == 2
    assert [f[1] for f in ticker.fired][-2:] == ["five", "five-again"]
    assert rt.run() == 1
    assert ticker.fired[-1] == (START + 6 * MS, "two+four", START + 6 * MS, None)


def test_timer_is_delivered_only_to_its_component():
    rt = ReplayRuntime()
    ticker = Ticker()
    watcher = Recorder("watcher")  # subscribes to every published message
    rt.add(ticker)
    rt.add(watcher)
    rt.start([])
    rt.run()
    assert len(ticker.fired) == 5
    assert watcher.messages == []


def test_sources_are_merged_by_ts():
    rt = ReplayRuntime(start_ns=0)
    ticks = Recorder("ticks", types=())
    direct = Recorder("direct", types=())
    rt.add(ticks)
    rt.add(direct)
    a = [tick(10, "1", "a"), tick(30, "3", "a"), tick(30, "3.1", "a"), tick(50, "5", "a")]
    b = [tick(20, "2", "b"), tick(30, "3.2", "b"), tick(40, "4", "b")]
    c = [tick(25, "2.5", "c"), tick(60, "6", "c")]
    rt.feed("ticks", a)
    rt.feed("ticks", iter(b))  # any iterable, consumed lazily
    rt.feed("direct", c)
    rt.feed("ticks", [])  # an empty feed is fine
    rt.start([])
    rt.run()
    assert [(m.ts, m.venue, str(m.price)) for m in ticks.messages] == [
        (10, "a", "1"),
        (20, "b", "2"),
        (30, "a", "3"),  # a tie goes to the feed added first
        (30, "a", "3.1"),
        (30, "b", "3.2"),
        (40, "b", "4"),
        (50, "a", "5"),
    ]
    assert [m.ts for m in direct.messages] == [25, 60]
    assert rt.clock == 60


class ClockWatcher(Component):
    subscriptions = (TradeTick,)

    def __init__(self) -> None:
        super().__init__("watch")
        self.log: list[tuple[int, str]] = []

    def on_start(self) -> None:
        self.ctx.schedule(20, "timer@20")

    def on_message(self, message: Message) -> None:
        label = message.name if isinstance(message, TimerFired) else f"tick@{message.ts}"
        self.log.append((self.ctx.now(), label))


def test_timer_goes_before_source_on_a_tie_and_clock_follows_sources():
    rt = ReplayRuntime(start_ns=0)
    watcher = ClockWatcher()
    rt.add(watcher)
    rt.feed("watch", [tick(20, "1"), tick(35, "2")])
    rt.start([])
    rt.run()
    assert watcher.log == [(20, "timer@20"), (20, "tick@20"), (35, "tick@35")]


def test_source_going_back_in_time_is_refused():
    rt = ReplayRuntime()
    rt.add(Recorder("r", types=(TradeTick,)))
    rt.feed("r", [tick(10, "1"), tick(5, "2")])
    rt.start([])
    with pytest.raises(ValueError, match="back in time"):
        rt.run()


# --------------------------------------------------------------------------------------------
# Determinism: the same scenario twice gives byte-identical journals


class Algo(Component):
    """Every 3 ms asks the venue for a child order until it has sent ``n``."""

    subscriptions = (OrderFilled,)

    def __init__(self, n: int = 6) -> None:
        super().__init__("algo")
        self.n = n
        self.sent = 0
        self.filled = Decimal(0)

    def on_start(self) -> None:
        self.ctx.schedule(3 * MS, "slice")

    def on_message(self, message: Message) -> None:
        if isinstance(message, TimerFired):
            self.sent += 1
            self.ctx.send(
                "venue",
                SubmitOrder(
                    client_order_id=f"child-{self.sent}",
                    venue="sim",
                    symbol="BTC/USDT",
                    side="buy" if self.sent % 2 else "sell",
                    quantity=Decimal("0.1") * self.sent,
                    limit_price=Decimal("65000.05"),
                    ts=self.ctx.now(),
                ),
            )
            if self.sent < self.n:
                self.ctx.schedule(3 * MS, "slice")
        elif isinstance(message, OrderFilled):
            self.filled += message.quantity


class SimVenue(Component):
    """Accepts orders at once and fills them 1 ms later at the last recorded trade price."""

    subscriptions = (TradeTick,)

    def __init__(self) -> None:
        super().__init__("venue")
        self.last: Decimal | None = None
        self.ids = itertools.count(1)

    def on_message(self, message: Message) -> None:
        ctx = self.ctx
        if isinstance(message, TradeTick):
            self.last = message.price
        elif isinstance(message, SubmitOrder):
            vid = f"V{next(self.ids)}"
            ctx.publish(
                OrderAccepted(
                    client_order_id=message.client_order_id,
                    venue="sim",
                    venue_order_id=vid,
                    ts=ctx.now(),
                )
            )
            ctx.schedule(
                1 * MS, "fill", payload=[message.client_order_id, vid, str(message.quantity)]
            )
        elif isinstance(message, TimerFired):
            coid, vid, qty = message.payload
            price = self.last if self.last is not None else Decimal("0.1") + Decimal("0.2")
            quantity = Decimal(qty)
            ctx.publish(
                OrderFilled(
                    client_order_id=coid,
                    venue="sim",
                    venue_order_id=vid,
                    trade_id=f"T-{vid}",
                    symbol="BTC/USDT",
                    side="buy",
                    price=price,
                    quantity=quantity,
                    fee=(price * quantity * Decimal("0.001")).quantize(Decimal("1e-8")),
                    fee_currency="USDT",
                    liquidity="taker",
                    cumulative_quantity=quantity,
                    leaves_quantity=Decimal(0),
                    ts=ctx.now(),
                )
            )


class Brittle(Component):
    """Fails on the first fill its first instance sees; later instances are fine."""

    subscriptions = (OrderFilled,)
    instances = 0

    def __init__(self) -> None:
        super().__init__("brittle")
        type(self).instances += 1
        self.instance = type(self).instances

    def on_message(self, message: Message) -> None:
        if self.instance == 1:
            raise RuntimeError("first instance cannot take fills")


def _scenario(journal_path: Path) -> tuple[list[tuple[int, int, str, bytes]], Decimal]:
    Brittle.instances = 0
    journal = Journal(journal_path)
    rt = ReplayRuntime(
        start_ns=START, journal=journal, restart_policy=RestartPolicy(backoff_ms=2.0)
    )
    algo = Algo()
    rt.add(SimVenue())
    rt.add(algo)
    rt.add(Brittle(), factory=Brittle)
    rt.add(Recorder("log"))
    rt.feed("venue", [tick(START + k * 2 * MS + 7, f"65000.{k}") for k in range(12)])
    rt.start([])
    rt.run()
    rt.stop()
    journal.close()
    db = sqlite3.connect(journal_path)
    rows = db.execute("SELECT seq, ts, type, payload FROM journal ORDER BY seq").fetchall()
    db.close()
    return rows, algo.filled


def test_replay_is_deterministic_to_the_byte(tmp_path: Path):
    first, filled_1 = _scenario(tmp_path / "first.db")
    second, filled_2 = _scenario(tmp_path / "second.db")
    assert first == second
    assert filled_1 == filled_2 == Decimal("2.1")  # 0.1 + 0.2 + ... + 0.6, exactly

    types = [row[2] for row in first]
    assert types.count("SubmitOrder") == 6
    assert types.count("OrderAccepted") == 6
    assert types.count("OrderFilled") == 6
    assert types.count("ComponentFailed") == 1
    assert types.count("ComponentRestarted") == 1
    # Market data and timers are replayable input, never journaled.
    assert "TradeTick" not in types
    assert "TimerFired" not in types
    assert [row[0] for row in first] == list(range(1, len(first) + 1))
    assert all(isinstance(row[3], bytes) for row in first)
    # And the journal reads back whole.
    assert len(list(Journal(tmp_path / "first.db").entries())) == len(first)


# --------------------------------------------------------------------------------------------
# Supervision


class Flaky(Component):
    """Raises on the first message of its first instance; records what every instance saw.

    ``log`` is shared by every instance the factory makes, so the test can see all of them.
    """

    def __init__(
        self, log: list[tuple[int, str, Any]], fail_instances: Iterable[int] = (1,)
    ) -> None:
        super().__init__("worker")
        log.append((0, "init", None))
        self.log = log
        self.instance = sum(1 for entry in log if entry[1] == "init")
        self.fail_instances = set(fail_instances)
        self.history: list[Message] | None = None

    def restore(self, history: Iterable[Envelope]) -> None:
        self.history = [e.message for e in history]
        self.log.append((self.instance, "restore", ids(self.history)))

    def on_message(self, message: Message) -> None:
        if self.instance in self.fail_instances:
            self.log.append((self.instance, "raise", ids([message])))
            raise RuntimeError(f"instance {self.instance} refuses {ids([message])}")
        self.log.append((self.instance, "got", ids([message])))


def test_replay_restarts_failed_component_after_backoff(tmp_path: Path):
    journal = Journal(tmp_path / "j.db")
    policy = RestartPolicy(max_restarts=3, backoff_ms=1.5, backoff_factor=2.0)
    rt = ReplayRuntime(start_ns=START, journal=journal, restart_policy=policy)
    log: list[tuple[int, str, Any]] = []
    rt.add(Flaky(log), factory=lambda: Flaky(log))
    events = Recorder("events", types=(ComponentFailed, ComponentRestarted))
    rt.add(events)
    rt.start([])
    for i in (1, 2, 3):
        rt.send("worker", accepted(i, ts=START))

    rt.run(until_ns=START + 1 * MS)  # before the backoff is over: down, messages parked
    assert [m.__class__ for m in events.messages] == [ComponentFailed]
    assert rt.hosted["worker"].down
    assert ids(parked_messages(rt)) == ["c2", "c3"]

    rt.run()
    failed, restarted = events.messages
    assert isinstance(failed, ComponentFailed)
    assert (failed.component, failed.attempt, failed.restarting, failed.ts) == (
        "worker",
        1,
        True,
        START,
    )
    assert "RuntimeError: instance 1 refuses ['c1']" in failed.error
    assert "test_runtime.py" in failed.error  # names where it failed
    assert isinstance(restarted, ComponentRestarted)
    assert (restarted.component, restarted.attempt) == ("worker", 1)
    assert restarted.ts == START + int(1.5 * MS)  # after the backoff, in simulated time
    assert not rt.hosted["worker"].down
    assert rt.hosted["worker"].parked == []

    new = rt.hosted["worker"].component
    assert isinstance(new, Flaky) and new.instance == 2
    # Instance 2 was restored from the journal (which holds the message that killed instance 1
    # and the failure itself) and then received the parked messages, in order.
    assert new.history is not None
    assert "c1" in ids(new.history)
    assert any(isinstance(m, ComponentFailed) for m in new.history)
    assert [e for e in log if e[0] == 2 and e[1] == "got"] == [
        (2, "got", ["c2"]),
        (2, "got", ["c3"]),
    ]
    assert log.index(next(e for e in log if e[0] == 2 and e[1] == "restore")) < log.index(
        (2, "got", ["c2"])
    )
    # Later messages go straight to the new instance.
    rt.send("worker", accepted(4))
    rt.run()
    assert log[-1] == (2, "got", ["c4"])


def test_replay_restart_applies_each_parked_message_once(tmp_path: Path):
    journal = Journal(tmp_path / "j.db")
    rt = ReplayRuntime(journal=journal, restart_policy=RestartPolicy(backoff_ms=1.0))
    log: list[tuple[int, str, Any]] = []
    rt.add(Flaky(log), factory=lambda: Flaky(log))
    rt.start([])
    for i in (1, 2, 3):
        rt.send("worker", accepted(i))
    rt.run()
    new = rt.hosted["worker"].component
    assert isinstance(new, Flaky) and new.history is not None
    got = [i for e in log if e[0] == 2 and e[1] == "got" for i in e[2]]
    # What instance 2 learned about: from its history, then live. c1 only ever reached the journal
    # (it killed instance 1), c2 and c3 were parked: each should be seen exactly once.
    seen = ids(new.history) + got
    assert sorted(seen) == ["c1", "c2", "c3"]


def test_replay_gives_up_after_max_restarts_and_halts_trading(tmp_path: Path):
    journal = Journal(tmp_path / "j.db")
    policy = RestartPolicy(max_restarts=2, backoff_ms=1.0, backoff_factor=2.0)
    rt = ReplayRuntime(start_ns=0, journal=journal, restart_policy=policy)
    log: list[tuple[int, str, Any]] = []
    rt.add(Flaky(log, fail_instances=range(1, 100)), factory=lambda: Flaky(log, range(1, 100)))
    risk = Recorder("risk", types=(ComponentFailed, ComponentRestarted))
    rt.add(risk)
    rt.feed("worker", [accepted(i, ts=i * 10 * MS) for i in range(5)])
    rt.start([])
    rt.run()

    failed = [m for m in risk.messages if isinstance(m, ComponentFailed)]
    restarted = [m for m in risk.messages if isinstance(m, ComponentRestarted)]
    halts = [m for m in risk.messages if isinstance(m, HaltTrading)]
    assert [(m.attempt, m.restarting, m.ts) for m in failed] == [
        (1, True, 0),
        (2, True, 10 * MS),
        (3, False, 20 * MS),
    ]
    assert [(m.attempt, m.ts) for m in restarted] == [(1, 1 * MS), (2, 10 * MS + 2 * MS)]
    assert len(halts) == 1
    assert halts[0].ts == 20 * MS
    assert "worker" in halts[0].reason and "3 time(s)" in halts[0].reason
    assert "RuntimeError" in halts[0].reason
    assert halts[0].cancel_open_orders
    # The halt was sent to risk, not published, and is in the journal before anything after it.
    assert [m for m in journal.messages() if isinstance(m, HaltTrading)] == halts
    # It stays down; later messages are parked, not delivered, not raised.
    assert rt.hosted["worker"].down
    assert ids(parked_messages(rt)) == ["c3", "c4"]
    assert sum(1 for e in log if e[1] == "init") == 3


def test_replay_component_without_factory_is_not_restarted():
    rt = ReplayRuntime()
    log: list[tuple[int, str, Any]] = []
    rt.add(Flaky(log))
    risk = Recorder("risk", types=(ComponentFailed, ComponentRestarted))
    rt.add(risk)
    rt.start([])
    rt.send("worker", accepted(1))
    rt.send("worker", accepted(2))
    rt.run()
    failed, halt = risk.messages
    assert isinstance(failed, ComponentFailed) and not failed.restarting and failed.attempt == 1
    assert isinstance(halt, HaltTrading)
    assert ids(parked_messages(rt)) == ["c2"]
    rt.stop()  # a down component is not asked to stop


def test_replay_without_risk_component_still_gives_up_quietly():
    rt = ReplayRuntime(restart_policy=RestartPolicy(max_restarts=0))
    log: list[tuple[int, str, Any]] = []
    rt.add(Flaky(log), factory=lambda: Flaky(log))
    events = Recorder("events", types=(ComponentFailed,))
    rt.add(events)
    rt.start([])
    rt.send("worker", accepted(1))
    rt.run()
    assert [(m.attempt, m.restarting) for m in events.messages] == [(1, False)]


class FailsOnRestart(Component):
    """The first instance fails on a message; every rebuilt one fails in ``on_start``."""

    made = 0

    def __init__(self) -> None:
        super().__init__("worker")
        type(self).made += 1
        self.instance = type(self).made

    def on_start(self) -> None:
        if self.instance > 1:
            raise RuntimeError("cannot come back")

    def on_message(self, message: Message) -> None:
        raise RuntimeError("boom")


def test_replay_failure_while_restarting_counts_as_a_failure():
    FailsOnRestart.made = 0
    rt = ReplayRuntime(restart_policy=RestartPolicy(max_restarts=2, backoff_ms=1.0))
    rt.add(FailsOnRestart(), factory=FailsOnRestart)
    risk = Recorder("risk", types=(ComponentFailed,))
    rt.add(risk)
    rt.start([])
    rt.send("worker", accepted(1))
    rt.send("worker", accepted(2))
    rt.run()  # does not raise
    failed = [m for m in risk.messages if isinstance(m, ComponentFailed)]
    assert [(m.attempt, m.restarting) for m in failed] == [(1, True), (2, True), (3, False)]
    assert "RuntimeError: boom" in failed[0].error
    assert "RuntimeError: cannot come back" in failed[1].error
    assert [m.ts for m in failed] == [0, 1 * MS, 3 * MS]  # backoff 1 ms, then 2 ms
    (halt,) = [m for m in risk.messages if isinstance(m, HaltTrading)]
    assert "3 time(s)" in halt.reason
    assert rt.hosted["worker"].down
    assert ids(parked_messages(rt)) == ["c2"]  # kept, neither lost nor delivered


# --------------------------------------------------------------------------------------------
# Supervision on the live runtime


def test_live_restarts_failed_component(tmp_path: Path):
    journal = Journal(tmp_path / "j.db")
    rt = LiveRuntime(journal=journal, restart_policy=RestartPolicy(max_restarts=3, backoff_ms=20))
    log: list[tuple[int, str, Any]] = []
    lock = threading.Lock()

    class Forwarding(Flaky):
        def on_message(self, message: Message) -> None:
            super().on_message(message)
            self.ctx.send("sink", message)

    def factory() -> Flaky:
        with lock:
            return Forwarding(log)

    rt.add(factory(), factory=factory)
    sink = Recorder("sink", types=())
    events = Recorder("events", types=(ComponentFailed, ComponentRestarted))
    rt.add(sink)
    rt.add(events)
    rt.start([])
    try:
        for i in (1, 2, 3):
            rt.send("worker", accepted(i))
        assert events.wait_for(lambda m: isinstance(m, ComponentRestarted), WAIT)
        assert sink.wait_for(lambda m: m.client_order_id == "c3", WAIT)
        rt.send("worker", accepted(4))
        assert sink.wait_for(lambda m: m.client_order_id == "c4", WAIT)
    finally:
        rt.stop()
        journal.close()

    failed, restarted = events.messages
    assert isinstance(failed, ComponentFailed)
    assert (failed.component, failed.attempt, failed.restarting) == ("worker", 1, True)
    assert "instance 1 refuses ['c1']" in failed.error
    assert isinstance(restarted, ComponentRestarted) and restarted.attempt == 1
    assert restarted.ts >= failed.ts
    assert ids(sink.messages) == ["c2", "c3", "c4"]  # c1 died with instance 1; the rest in order
    new = rt.hosted["worker"].component
    assert isinstance(new, Flaky) and new.instance == 2
    assert new.history is not None and "c1" in ids(new.history)
    assert any(isinstance(m, ComponentFailed) for m in new.history)


def test_live_gives_up_after_max_restarts_and_halts_trading(tmp_path: Path):
    journal = Journal(tmp_path / "j.db")
    rt = LiveRuntime(journal=journal, restart_policy=RestartPolicy(max_restarts=1, backoff_ms=1))
    log: list[tuple[int, str, Any]] = []
    rt.add(Flaky(log, range(1, 100)), factory=lambda: Flaky(log, range(1, 100)))
    risk = Recorder("risk", types=(ComponentFailed, ComponentRestarted))
    rt.add(risk)
    rt.start([])
    try:
        rt.send("worker", accepted(1))
        assert risk.wait_for(lambda m: isinstance(m, ComponentRestarted), WAIT)
        rt.send("worker", accepted(2))
        assert risk.wait_for(lambda m: isinstance(m, HaltTrading), WAIT)
    finally:
        rt.stop()
        journal.close()
    failed = risk.of_type(ComponentFailed)
    assert [(m.attempt, m.restarting) for m in failed] == [(1, True), (2, False)]
    (halt,) = risk.of_type(HaltTrading)
    assert "worker" in halt.reason and "2 time(s)" in halt.reason
    assert rt.hosted["worker"].down


# --------------------------------------------------------------------------------------------
# Stopping


class Stopper(Hop):
    def __init__(self, name: str, next_address: str, stops: list[str]) -> None:
        super().__init__(name, next_address)
        self.stops = stops

    def on_stop(self) -> None:
        self.stops.append(self.name)


def test_live_stop_calls_on_stop_in_reverse_start_order():
    stops: list[str] = []
    rt = LiveRuntime()
    names = ["venue", "algo", "router", "risk"]
    for name, nxt in zip(names, [*names[1:], "end"], strict=True):
        rt.add(Stopper(name, nxt, stops))
    end = Recorder("end", types=())
    rt.add(end)
    rt.start([])
    rt.send("venue", accepted(1))
    assert end.wait_for(lambda m: True, WAIT)  # nothing in flight when stop() begins
    rt.stop()
    assert stops == ["risk", "router", "algo", "venue"]


def test_replay_stop_calls_on_stop_in_reverse_start_order():
    stops: list[str] = []
    rt = ReplayRuntime()
    for name in ["venue", "algo", "router", "risk"]:
        rt.add(Stopper(name, "x", stops))
    rt.start([])
    rt.stop()
    assert stops == ["risk", "router", "algo", "venue"]


class Gate(Stopper):
    """Holds its first message until ``gate`` is set (or a short bound passes), then forwards it."""

    def __init__(self, name: str, next_address: str, stops: list[str], gate: threading.Event):
        super().__init__(name, next_address, stops)
        self.gate = gate

    def on_message(self, message: Message) -> None:
        self.gate.wait(1.0)  # a bound only: with the current stop() the gate opens at once
        super().on_message(message)


class SignallingRecorder(Recorder):
    def __init__(self, name: str, stops: list[str], stopped: threading.Event) -> None:
        super().__init__(name, types=())
        self.stops = stops
        self.stopped = stopped

    def on_stop(self) -> None:
        self.stops.append(self.name)
        self.stopped.set()


def test_live_stop_with_a_message_in_flight_stops_every_component(tmp_path: Path):
    """Downstream stops first; what upstream still sends to it is dropped with a warning (it is
    in the journal when journaled), never counted as a failure, and every on_stop runs."""
    stops: list[str] = []
    end_stopped = threading.Event()
    journal = Journal(tmp_path / "j.db")
    rt = LiveRuntime(journal=journal)
    events = Recorder("events", types=(ComponentFailed,))  # started first, stopped last
    rt.add(events)
    rt.add(Gate("venue", "algo", stops, end_stopped))
    rt.add(Stopper("algo", "router", stops))
    rt.add(Stopper("router", "risk", stops))
    rt.add(Stopper("risk", "end", stops))
    end = SignallingRecorder("end", stops, end_stopped)
    rt.add(end)
    rt.start([])
    rt.send("venue", accepted(1))  # held by the gate until stop() has stopped "end"
    rt.stop()
    assert events.messages == []
    assert stops == ["end", "risk", "router", "algo", "venue"]
    assert end.messages == []  # it was stopped before the message could reach it
    assert set(ids(journal.messages())) == {"c1"}  # journaled at each send it made
    journal.close()
