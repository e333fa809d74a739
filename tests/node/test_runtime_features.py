"""What executors and venues rely on, on both runtimes: a component spawned at run time restored
from its own parent's journal rows, correlated delivery, stopping one component, observers of
sent messages, ``call_soon`` from another thread, and background timers that do not keep a
replay alive. The components are small fixtures; the runtimes and journal are the real ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

import pytest

from node.component import Component, Envelope
from node.journal import Journal
from node.messages import (
    Message,
    OrderAccepted,
    SliceCompleted,
    SubmitOrder,
    TimerFired,
    VenueStatus,
)
from node.runtime.live import LiveRuntime
from node.runtime.recorder import Recorder
from node.runtime.replay import ReplayRuntime

WAIT = 10.0  # seconds; an upper bound for live waits, never an expectation of speed
START = 1_700_000_000_000_000_000
SECOND = 1_000_000_000


def done(parent: str, slice_id: int) -> SliceCompleted:
    return SliceCompleted(
        parent_id=parent,
        slice_id=slice_id,
        quantity=Decimal(1),
        filled_quantity=Decimal(1),
        status="filled",
        ts=START,
    )


def order(cid: str) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=cid,
        venue="sim",
        symbol="BTC/USDT",
        side="buy",
        quantity=Decimal(1),
        ts=START,
    )


class Worker(Component):
    """Works one parent: keeps what it restored and what reached it, and when it stopped."""

    def __init__(self, parent: str, log: list[str]) -> None:
        super().__init__(f"exec.{parent}")
        self.correlation = parent
        self.log = log
        self.restored: list[Message] = []
        self.heard: list[Message] = []

    def restore(self, history: Iterable[Envelope]) -> None:
        self.restored = [e.message for e in history]

    def on_message(self, message: Message) -> None:
        self.heard.append(message)
        self.log.append(f"{self.name} heard {type(message).__name__}")

    def on_stop(self) -> None:
        self.log.append(f"{self.name} stopped")


class Manager(Component):
    """Spawns a worker for a parent when told (a ``VenueStatus`` whose detail names it), and
    stops it when told again."""

    subscriptions = (VenueStatus,)

    def __init__(self, log: list[str]) -> None:
        super().__init__("manager")
        self.log = log
        self.workers: dict[str, Worker] = {}

    def on_message(self, message: Message) -> None:
        command, parent = message.detail.split()  # type: ignore[attr-defined]
        if command == "spawn":
            self.workers[parent] = Worker(parent, self.log)
            self.ctx.spawn(self.workers[parent])
        else:
            self.ctx.stop(f"exec.{parent}")
        self.log.append(f"{command} {parent}")


def status(detail: str) -> VenueStatus:
    return VenueStatus(venue="test", status="command", detail=detail, ts=START)


class Driver:
    """Both runtimes behind one face: send or publish, then wait until a condition holds."""

    def __init__(self, kind: str, journal: Journal | None = None) -> None:
        self.kind = kind
        self.rt = (
            ReplayRuntime(start_ns=START, journal=journal)
            if kind == "replay"
            else LiveRuntime(journal=journal)
        )

    def until(self, condition: Callable[[], bool], what: str) -> None:
        if self.kind == "replay":
            self.rt.run()  # type: ignore[call-arg]
            assert condition(), what
            return
        event = threading.Event()
        deadline = threading.Timer(WAIT, event.set)
        deadline.start()
        try:
            while not condition():
                assert not event.is_set(), f"timed out waiting for {what}"
                event.wait(0.01)
        finally:
            deadline.cancel()


@pytest.fixture(params=["replay", "live"])
def kind(request) -> str:
    return request.param


def test_a_spawned_worker_restores_its_parents_rows_hears_them_and_stops(tmp_path: Path, kind):
    journal = Journal(tmp_path / "j.sqlite")
    for message in (done("p1", 1), done("p2", 1), done("p1", 2)):
        journal.append(message)  # a previous run's rows of two parents
    log: list[str] = []
    manager = Manager(log)
    drive = Driver(kind, journal)
    drive.rt.add(manager)
    drive.rt.start([])
    try:
        drive.rt.publish(status("spawn p1"))
        drive.until(lambda: "spawn p1" in log, "the spawn")
        worker = manager.workers["p1"]
        assert [(m.parent_id, m.slice_id) for m in worker.restored] == [("p1", 1), ("p1", 2)]
        drive.rt.publish(done("p2", 3))  # another parent's: not for it
        drive.rt.publish(done("p1", 3))  # nobody subscribes by type: correlation alone
        drive.until(lambda: len(worker.heard) == 1, "the correlated message")
        assert [(m.parent_id, m.slice_id) for m in worker.heard] == [("p1", 3)]

        drive.rt.publish(status("stop p1"))
        drive.until(lambda: "exec.p1 stopped" in log, "the worker's on_stop")
        drive.rt.publish(done("p1", 4))  # to a stopped worker: dropped, no error
        drive.rt.publish(status("spawn p3"))
        drive.until(lambda: "spawn p3" in log, "a later spawn")
        assert [(m.parent_id, m.slice_id) for m in worker.heard] == [("p1", 3)]
    finally:
        drive.rt.stop()
        journal.close()


class Observer(Recorder):
    observes = (SubmitOrder,)

    def __init__(self) -> None:
        super().__init__("observer", types=())


def test_an_observer_gets_a_copy_of_what_is_sent_to_another_after_it(kind):
    drive = Driver(kind)
    venue = Recorder("venue.sim", types=())
    observer = Observer()
    for component in (venue, observer):
        drive.rt.add(component)
    drive.rt.start([])
    try:
        drive.rt.send("venue.sim", order("a"), "risk")
        drive.rt.send(
            "venue.sim",
            accepted := OrderAccepted(  # not an observed type
                client_order_id="a", venue="sim", venue_order_id="1", ts=START
            ),
            "risk",
        )
        drive.until(lambda: len(venue.messages) == 2, "both sends")
        drive.until(lambda: len(observer.messages) == 1, "the observed copy")
        assert observer.messages == [order("a")]
        assert venue.messages == [order("a"), accepted]
    finally:
        drive.rt.stop()


class Caller(Component):
    """Hands work to another thread that answers with ``call_soon`` (as a venue's event loop
    does); the callback runs on the component's own turn."""

    subscriptions = (VenueStatus,)

    def __init__(self) -> None:
        super().__init__("caller")
        self.turns: list[str] = []
        self.threads: set[int] = set()

    def on_message(self, message: Message) -> None:
        self.threads.add(threading.get_ident())

        def answer() -> None:
            self.threads.add(threading.get_ident())
            self.turns.append("answered")

        worker = threading.Thread(target=lambda: self.ctx.call_soon(answer))
        worker.start()
        worker.join()
        self.turns.append("asked")


def test_call_soon_from_another_thread_runs_on_the_components_own_turn(kind):
    drive = Driver(kind)
    caller = Caller()
    drive.rt.add(caller)
    drive.rt.start([])
    try:
        drive.rt.publish(status("ask x"))
        drive.until(lambda: caller.turns == ["asked", "answered"], "the callback")
        assert len(caller.threads) == 1  # the same thread as its messages (live: its actor)
    finally:
        drive.rt.stop()


class Ticker(Component):
    """A foreground timer once, and a background check every second for ever."""

    def __init__(self) -> None:
        super().__init__("ticker")
        self.fired: list[tuple[str, int]] = []

    def on_start(self) -> None:
        self.ctx.schedule(int(2.5 * SECOND), "once")
        self.ctx.schedule(SECOND, "check", background=True)

    def on_message(self, message: Message) -> None:
        assert isinstance(message, TimerFired)
        self.fired.append((message.name, (self.ctx.now() - START) // SECOND))
        if message.name == "check":
            self.ctx.schedule(SECOND, "check", background=True)


def test_background_timers_fire_but_do_not_keep_a_replay_running():
    rt = ReplayRuntime(start_ns=START)
    ticker = Ticker()
    rt.add(ticker)
    rt.start([])
    rt.run()  # returns: after "once", only the background check is left
    assert ticker.fired == [("check", 1), ("check", 2), ("once", 2)]
    rt.stop()
