"""The replay runtime: the same components, one thread, simulated time.

Ordering rule (what makes a run deterministic): messages sent or published "now" are delivered
first-in first-out before the clock moves; then the clock jumps to the earliest of the next timer
and the next fed message (timers first on a tie, then feeds in the order they were added). A run
ends when nothing is pending but background timers. Nothing here reads the wall clock.

Progress: an optional callback gets a ``ReplayProgress`` every ``every`` deliveries (checked
when the clock is about to move, so a report always describes a settled instant) and once when
``run`` returns. The reports depend on the simulated run only, never on the wall clock: pacing a
display is the caller's business.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from node.component import Component, ComponentFactory, Envelope
from node.journal import Journal, JournalUnwritable
from node.messages import DataSourceFailed, Message, TakeCheckpoint, TimerFired
from node.runtime.base import (
    PUBLISHED,
    Hosted,
    JournalGate,
    RestartPolicy,
    Subscriptions,
    checkpoint_recipients,
    decide_on_failure,
    describe_error,
    history_for,
    rebuild,
    restore_component,
    store_checkpoint_part,
)

log = logging.getLogger("tradenode.replay")

_RESTART = "__restart__"


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    """Where a replay is: simulated time against the time range of its fed data."""

    start_ns: int  # the first fed timestamp (the clock the runtime started at if nothing is fed)
    now_ns: int  # simulated time now
    #: the last fed timestamp, when every stream fed so far was a sequence (its end known up front);
    #: None when one is a lazy iterator (a recording read as it goes): then no percentage
    end_ns: int | None
    delivered: int  # deliveries so far (all of this runtime's runs)
    finished: bool  # the replay is over: nothing is pending but background timers

    @property
    def fraction(self) -> float | None:
        """Done so far, 0..1 (1 once finished); None while the end is unknown."""
        if self.finished:
            return 1.0
        if self.end_ns is None:
            return None
        span = self.end_ns - self.start_ns
        if span <= 0:
            return 1.0 if self.now_ns >= self.end_ns else 0.0
        return min(1.0, max(0.0, (self.now_ns - self.start_ns) / span))


ProgressCallback = Callable[[ReplayProgress], None]

#: deliveries between two progress reports by default (~100 a second at 1 M deliveries/s)
PROGRESS_EVERY = 10_000


class _Call:
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn


#: what ``_deliver`` does not pass to ``on_message``
_SPECIAL = frozenset((_Call, TakeCheckpoint))


class _ReplayContext:
    __slots__ = ("_name", "_rt", "publish", "send")

    def __init__(self, runtime: ReplayRuntime, name: str) -> None:
        self._rt = runtime
        self._name = name
        # Bound once, in C, positionally (a keyword partial builds a dict on every call): a
        # component's send or publish is one call to the runtime (the hot path).
        self.send: Callable[[str, Message], None] = partial(runtime.send_from, name)
        self.publish: Callable[[Message], None] = partial(runtime.publish_from, name)

    @property
    def name(self) -> str:
        return self._name

    def now(self) -> int:
        return self._rt.clock

    def schedule(
        self, delay_ns: int, name: str, payload: Any = None, *, background: bool = False
    ) -> int:
        return self._rt.schedule(self._name, delay_ns, name, payload, background)

    def cancel_timer(self, timer_id: int) -> None:
        self._rt.cancel_timer(timer_id)

    def address_exists(self, address: str) -> bool:
        return address in self._rt.hosted

    def spawn(self, component: Component, factory: ComponentFactory | None = None) -> None:
        self._rt.spawn(component, factory)

    def stop(self, address: str) -> None:
        self._rt.stop_component(address)

    def call_soon(self, callback: Callable[[], None]) -> None:
        self._rt.call_soon(self._name, callback)

    def feed(self, messages: Iterable[Message], *, speed: float = 1.0) -> None:
        self._rt.feed(self._name, messages, speed=speed, sender=self._name)


class ReplayRuntime:
    """Drives components in simulated time from an ordered event queue."""

    def __init__(
        self,
        *,
        start_ns: int = 0,
        journal: Journal | None = None,
        restart_policy: RestartPolicy | None = None,
        progress: ProgressCallback | None = None,
        progress_every: int = PROGRESS_EVERY,
    ) -> None:
        self.clock = start_ns
        self.journal = journal
        self.gate = JournalGate(journal, self._journal_failed)
        self.policy = restart_policy or RestartPolicy()
        self.hosted: dict[str, Hosted] = {}
        self.order: list[str] = []
        self.subscriptions = Subscriptions()
        self._ready: deque[tuple[str, Any, int]] = deque()
        # (due, timer id, address, fired message; None = restart), foreground ids pending
        self._timers: list[tuple[int, int, str, Message | None]] = []
        self._foreground: set[int] = set()
        self._canceled: set[int] = set()
        self._timer_ids = itertools.count(1)
        # (due, feed id, next message, address, the rest of the stream, sender)
        self._feeds: list[tuple[int, int, Message, str, Iterator[Message], str]] = []
        self._feed_ids = itertools.count()
        self._running = 0  # feeds taken off the heap by ``run`` while they deliver
        self.delivered = 0
        self.started = False
        # The fed data's time range, for progress: first fed ts, last (while known up front).
        self._data_start: int | None = None
        self._data_end: int | None = None
        self._end_unknown = False
        self._start_clock = start_ns
        self._progress: ProgressCallback | None = None
        self._progress_every = PROGRESS_EVERY
        self.set_progress(progress, every=progress_every)

    # -- the protocol ---------------------------------------------------------------------------

    @property
    def journal_failure(self) -> str | None:
        return self.gate.failure

    def now(self) -> int:
        return self.clock

    def set_progress(
        self, callback: ProgressCallback | None, *, every: int = PROGRESS_EVERY
    ) -> None:
        """Report progress to ``callback`` (None: stop reporting) every ``every`` deliveries and
        when ``run`` returns. Takes effect at the next ``run``."""
        if every < 1:
            raise ValueError(f"progress every {every} deliveries: must be >= 1")
        self._progress = callback
        self._progress_every = every

    def progress(self) -> ReplayProgress:
        """Where the replay is now."""
        start = self._data_start if self._data_start is not None else self._start_clock
        end = None if self._end_unknown else self._data_end
        return ReplayProgress(
            start_ns=start,
            now_ns=self.clock,
            end_ns=end,
            delivered=self.delivered,
            finished=not (self._feeds or self._running or self._foreground or self._ready),
        )

    def _report(self, callback: ProgressCallback) -> None:
        try:
            callback(self.progress())
        except Exception as exc:  # a broken display must not stop the replay
            log.warning("progress callback failed, no more progress: %s", describe_error(exc))
            self._progress = None

    def add(self, component: Component, factory: ComponentFactory | None = None) -> None:
        if component.name in self.hosted:
            raise ValueError(f"two components named {component.name!r}")
        self.hosted[component.name] = Hosted(component, factory)
        self.order.append(component.name)
        self.subscriptions.add(component)

    def start(self, history: Iterable[Envelope], states: dict[str, bytes] | None = None) -> None:
        """Restore every component (its checkpointed state from ``states``, then ``history``:
        the journal rows after the checkpoint), then start each."""
        self.started = True
        for name in self.order:
            component = self.hosted[name].component
            component.bind(_ReplayContext(self, name))
            restore_component(component, history, states)
        for name in list(self.order):
            self._start_one(self.hosted[name])

    def _start_one(self, hosted: Hosted) -> None:
        try:
            hosted.component.on_start()
        except Exception as exc:
            self._on_failure(hosted, exc)

    def spawn(self, component: Component, factory: ComponentFactory | None = None) -> None:
        """Host ``component`` now: restored from its journal rows and started at once."""
        self.add(component, factory)
        component.bind(_ReplayContext(self, component.name))
        component.restore(history_for(component, self.journal))
        self._start_one(self.hosted[component.name])

    def stop_component(self, address: str) -> None:
        hosted = self.hosted.pop(address, None)
        if hosted is None:
            return
        self.order.remove(address)
        self.subscriptions.remove(hosted.component)
        hosted.stopped = True
        if not hosted.down:
            try:
                hosted.component.on_stop()
            except Exception as exc:
                log.error("component %s: on_stop failed: %s", address, describe_error(exc))

    def stop(self) -> None:
        for name in reversed(list(self.order)):
            self.stop_component(name)
        self.started = False

    # -- messaging ------------------------------------------------------------------------------

    def send(self, address: str, message: Message, sender: str = "node") -> None:
        self.send_from(sender, address, message)

    def send_from(self, sender: str, address: str, message: Message) -> None:
        """``send`` with the sender first, for a positional ``partial``."""
        if address not in self.hosted:
            raise KeyError(f"no component at address {address!r}")
        seq = self.gate.write(message, sender, address)
        if seq is not None:
            self._ready.append((address, message, seq))
            observers = self.subscriptions.observers
            if observers:
                for observer in observers.get(message.__class__, ()):
                    if observer != address and observer != sender:
                        self._ready.append((observer, message, seq))

    def publish(self, message: Message, sender: str = "node") -> None:
        self.publish_from(sender, message)

    def publish_from(self, sender: str, message: Message) -> None:
        """``publish`` with the sender first, for a positional ``partial``."""
        if message.journaled:
            seq = self.gate.write(message, sender, PUBLISHED)
            if seq is None:
                return
        else:  # market data, most of a replay: nothing to write
            seq = 0
        ready = self._ready
        if message.broadcast:
            addresses = checkpoint_recipients(self.hosted)
            if message.__class__ is TakeCheckpoint and self.journal is not None and seq:
                try:
                    self.journal.begin_checkpoint(seq, len(addresses))
                except JournalUnwritable as exc:
                    self.gate.fail(str(exc))
                    return
        else:
            addresses = self.subscriptions.recipients(message, sender)
        for address in addresses:
            ready.append((address, message, seq))

    def schedule(
        self,
        address: str,
        delay_ns: int,
        name: str,
        payload: Any = None,
        background: bool = False,
    ) -> int:
        timer_id = next(self._timer_ids)
        due = self.clock + max(0, int(delay_ns))
        heapq.heappush(
            self._timers, (due, timer_id, address, TimerFired(name=name, payload=payload, ts=due))
        )
        if not background:
            self._foreground.add(timer_id)
        return timer_id

    def cancel_timer(self, timer_id: int) -> None:
        self._canceled.add(timer_id)
        self._foreground.discard(timer_id)

    def call_soon(self, address: str, callback: Callable[[], None]) -> None:
        self._ready.append((address, _Call(callback), 0))

    def feed(
        self,
        address: str,
        messages: Iterable[Message],
        *,
        speed: float = 1.0,
        origin_ns: int | None = None,
        sender: str = "node",
    ) -> None:
        """Merge a time-ordered stream in; each message goes to ``address`` at its ``ts``.

        Simulated time has no pace, so ``speed`` and ``origin_ns`` do not apply here."""
        iterator = iter(messages)
        try:
            first = next(iterator, None)
        except Exception as exc:
            self._feed_failed(address, exc)
            return
        if first is not None:
            if self._data_start is None or first.ts < self._data_start:
                self._data_start = first.ts
            if isinstance(messages, Sequence):
                last = messages[-1].ts
                if self._data_end is None or last > self._data_end:
                    self._data_end = last
            else:  # read as it goes: its end is known only once it is over
                self._end_unknown = True
            entry = (first.ts, next(self._feed_ids), first, address, iterator, sender)
            heapq.heappush(self._feeds, entry)

    def next_event_ns(self) -> int | None:
        """When the next fed message or timer is due (None: nothing pending)."""
        times = [t[0] for t in (self._timers[:1] + self._feeds[:1])]
        return min(times) if times else None

    # -- running --------------------------------------------------------------------------------

    def _deliver(self, address: str, message: Any, seq: int = 0) -> None:
        hosted = self.hosted.get(address)
        if hosted is None:
            return  # stopped meanwhile; a journaled message is on record all the same
        if hosted.down:
            hosted.parked.append((message, seq))
            return
        self.delivered += 1
        try:
            cls = message.__class__
            if cls is _Call:
                message.fn()
            elif cls is TakeCheckpoint:
                done = store_checkpoint_part(self.gate, hosted.component, seq, self.clock)
                if done is not None:
                    self.publish(done)
            else:
                hosted.component.on_message(message)
        except Exception as exc:
            self._on_failure(hosted, exc)

    def _on_failure(self, hosted: Hosted, exc: Exception) -> None:
        decision = decide_on_failure(hosted, exc, self.policy, self.clock)
        for event in decision.events:
            self.publish(event)
        hosted.failed_at_seq = self.journal.last_seq if self.journal is not None else 0
        if decision.restart_after_ns is not None:
            due = self.clock + decision.restart_after_ns
            timer_id = next(self._timer_ids)
            self._foreground.add(timer_id)
            heapq.heappush(self._timers, (due, timer_id, hosted.component.name, None))
        elif decision.halt is not None and "risk" in self.hosted:
            self.send("risk", decision.halt)

    def _restart(self, address: str) -> None:
        hosted = self.hosted.get(address)
        if hosted is None:
            return
        try:
            restarted = rebuild(hosted, self.journal, self.clock)
            hosted.component.bind(_ReplayContext(self, address))
            hosted.component.on_start()
        except Exception as exc:  # a rebuild that fails is one more failure, not a crash
            self._on_failure(hosted, exc)
            return
        self.publish(restarted)
        parked, hosted.parked = hosted.parked, []
        for message, seq in parked:
            self._deliver(address, message, seq)

    def run(self, stop: threading.Event | None = None, until_ns: int | None = None) -> int:
        """Process events until only background timers are left (or the clock would pass
        ``until_ns``, or ``stop`` is set). Returns the number of deliveries in this call."""
        before = self.delivered
        ready, timers, feeds = self._ready, self._timers, self._feeds
        foreground = self._foreground
        deliver = self._deliver
        heappop = heapq.heappop
        progress, every = self._progress, self._progress_every
        report_at = before + every
        while True:
            while ready:
                deliver(*ready.popleft())
            if progress is not None and self.delivered >= report_at:  # the only per-step cost
                report_at = self.delivered + every
                self._report(progress)
                progress = self._progress
            if (stop is not None and stop.is_set()) or self.gate.failure is not None:
                break
            t_timer = timers[0][0] if timers else None
            t_feed = feeds[0][0] if feeds else None
            if t_feed is None and not foreground and (until_ns is None or t_timer is None):
                break  # nothing but background timers: the replay is over
            if t_timer is not None and (t_feed is None or t_timer <= t_feed):
                if until_ns is not None and t_timer > until_ns:
                    break
                due, timer_id, address, fired = heappop(timers)
                if due > self.clock:
                    self.clock = due
                if timer_id in self._canceled:
                    self._canceled.discard(timer_id)
                    continue
                foreground.discard(timer_id)
                if fired is None:
                    self._restart(address)
                else:
                    deliver(address, fired)
            else:
                if until_ns is not None and t_feed > until_ns:
                    break
                report = report_at if progress is not None else None
                self._run_feed(heappop(feeds), stop, until_ns, report)
        if until_ns is not None and until_ns > self.clock:
            self.clock = until_ns
        if progress is not None:
            self._report(progress)
        return self.delivered - before

    def _run_feed(
        self,
        entry: tuple[int, int, Message, str, Iterator[Message], str],
        stop: threading.Event | None,
        until_ns: int | None,
        report_at: int | None,
    ) -> None:
        """Deliver the earliest feed's messages while it stays the earliest event: the hot path
        of a replay, with no heap work per message and ``_deliver``'s common case inlined. The
        feed is off the heap meanwhile (``_running`` says it is pending) and goes back on it
        when another event is due first, ``run`` must stop, or a progress report is due."""
        ready, timers, feeds = self._ready, self._timers, self._feeds
        popleft, hosted_at, deliver = ready.popleft, self.hosted.get, self._deliver
        ts, fid, message, address, iterator, sender = entry
        self._running += 1
        try:
            while True:
                if ts > self.clock:
                    self.clock = ts
                try:
                    following = next(iterator, None)
                except Exception as exc:  # the data broke off: say so where it was going
                    following = None
                    self._feed_failed(address, exc)
                if message.journaled:
                    self.send_from(sender, address, message)
                else:  # nothing is queued now: it is delivered first, in order
                    ready.append((address, message, 0))
                while ready:
                    to, queued, seq = popleft()
                    hosted = hosted_at(to)
                    if hosted is None or hosted.down or queued.__class__ in _SPECIAL:
                        deliver(to, queued, seq)
                        continue
                    self.delivered += 1
                    try:
                        hosted.component.on_message(queued)
                    except Exception as exc:
                        self._on_failure(hosted, exc)
                if following is None:
                    return
                if following.ts < ts:
                    raise ValueError(f"fed stream goes back in time: {following.ts} after {ts}")
                ts, message = following.ts, following
                if (
                    (timers and timers[0][0] <= ts)
                    or (feeds and feeds[0][0] <= ts)
                    or (until_ns is not None and ts > until_ns)
                    or (stop is not None and stop.is_set())
                    or self.gate.failure is not None
                    or (report_at is not None and self.delivered >= report_at)
                ):
                    heapq.heappush(feeds, (ts, fid, message, address, iterator, sender))
                    return
        finally:
            self._running -= 1

    def _feed_failed(self, address: str, exc: Exception) -> None:
        self.publish(DataSourceFailed(address=address, error=str(exc), ts=self.clock))

    def _journal_failed(self, reason: str) -> None:
        """``run`` notices ``gate.failure`` and returns; nothing journaled moves meanwhile."""

    def advance(self, delta_ns: int) -> int:
        """Run everything due within the next ``delta_ns`` and move the clock by that much."""
        return self.run(until_ns=self.clock + delta_ns)
