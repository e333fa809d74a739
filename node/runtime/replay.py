"""The replay runtime: the same components, one thread, simulated time.

Ordering rule (what makes a run deterministic): messages sent or published "now" are delivered
first-in first-out before the clock moves; then the clock jumps to the earliest of the next timer
and the next recorded event (timers first on a tie, then sources in the order they were added).
Nothing here reads the wall clock.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from node.component import Component
from node.journal import Journal
from node.messages import DataSourceFailed, Message, TimerFired
from node.runtime.base import (
    ComponentFactory,
    Hosted,
    RestartPolicy,
    Subscriptions,
    decide_on_failure,
    rebuild,
)

_RESTART = "__restart__"


class _ReplayContext:
    __slots__ = ("_name", "_rt", "publish", "send")

    def __init__(self, runtime: ReplayRuntime, name: str) -> None:
        self._rt = runtime
        self._name = name
        # The runtime's own bound methods: a component's send is one call, not two (hot path).
        self.send = runtime.send
        self.publish = runtime.publish

    @property
    def name(self) -> str:
        return self._name

    def now(self) -> int:
        return self._rt.now

    def schedule(self, delay_ns: int, name: str, payload: Any = None) -> int:
        return self._rt.schedule(self._name, delay_ns, name, payload)

    def cancel_timer(self, timer_id: int) -> None:
        self._rt.cancel_timer(timer_id)

    def address_exists(self, address: str) -> bool:
        return address in self._rt.hosted


class ReplayRuntime:
    """Drives components in simulated time from an ordered event queue."""

    def __init__(
        self,
        *,
        start_ns: int = 0,
        journal: Journal | None = None,
        restart_policy: RestartPolicy | None = None,
    ) -> None:
        self.now = start_ns
        self.journal = journal
        self.policy = restart_policy or RestartPolicy()
        self.hosted: dict[str, Hosted] = {}
        self.order: list[str] = []
        self.subscriptions = Subscriptions()
        self._ready: deque[tuple[str, Message, int]] = deque()
        self._timers: list[tuple[int, int, str, Message | None]] = []
        self._canceled: set[int] = set()
        self._timer_ids = itertools.count(1)
        self._sources: list[tuple[int, int, Message, str | None, Iterator[Message]]] = []
        self._source_ids = itertools.count()
        self.delivered = 0
        self.started = False
        self.history: list[Message] = []

    # -- building -----------------------------------------------------------------------------

    def add(self, component: Component, factory: ComponentFactory | None = None) -> None:
        if component.name in self.hosted:
            raise ValueError(f"two components named {component.name!r}")
        self.hosted[component.name] = Hosted(component, factory)
        self.order.append(component.name)
        self.subscriptions.add(component.name, component.subscriptions)
        if self.started:
            self._start_one(component)

    def add_source(self, messages: Iterable[Message], to: str | None = None) -> None:
        """Merge a time-ordered stream of recorded messages in; ``to`` None means publish."""
        iterator = iter(messages)
        first = next(iterator, None)
        if first is not None:
            heapq.heappush(self._sources, (first.ts, next(self._source_ids), first, to, iterator))

    def start(self) -> None:
        """Start every component, after the whole journal has been read and verified once:
        a damaged journal stops the start here, whether or not a component keeps history."""
        self.history = list(self.journal.messages()) if self.journal is not None else []
        self.started = True
        for name in list(self.order):
            self._start_one(self.hosted[name].component)

    def _start_one(self, component: Component) -> None:
        component.bind(_ReplayContext(self, component.name))
        component.restore(self.history)
        component.on_start()

    def stop(self) -> None:
        for name in reversed(self.order):
            hosted = self.hosted[name]
            if not hosted.down:
                hosted.component.on_stop()
        self.started = False

    # -- messaging ----------------------------------------------------------------------------

    def send(self, address: str, message: Message) -> None:
        if address not in self.hosted:
            raise KeyError(f"no component at address {address!r}")
        seq = self.journal.append(message) if self.journal is not None and message.journaled else 0
        self._ready.append((address, message, seq))

    def publish(self, message: Message) -> None:
        seq = self.journal.append(message) if self.journal is not None and message.journaled else 0
        ready = self._ready
        for address in self.subscriptions.of(type(message)):
            ready.append((address, message, seq))

    def schedule(self, address: str, delay_ns: int, name: str, payload: Any = None) -> int:
        timer_id = next(self._timer_ids)
        due = self.now + max(0, int(delay_ns))
        heapq.heappush(
            self._timers, (due, timer_id, address, TimerFired(name=name, payload=payload, ts=due))
        )
        return timer_id

    def cancel_timer(self, timer_id: int) -> None:
        self._canceled.add(timer_id)

    # -- running ------------------------------------------------------------------------------

    def _deliver(self, address: str, message: Message, seq: int = 0) -> None:
        hosted = self.hosted[address]
        if hosted.down:
            hosted.parked.append((message, seq))
            return
        self.delivered += 1
        try:
            hosted.component.on_message(message)
        except Exception as exc:
            self._on_failure(hosted, exc)

    def _on_failure(self, hosted: Hosted, exc: Exception) -> None:
        decision = decide_on_failure(hosted, exc, self.policy, self.now)
        for event in decision.events:
            self.publish(event)
        hosted.failed_at_seq = self.journal.last_seq if self.journal is not None else 0
        if decision.restart_after_ns is not None:
            due = self.now + decision.restart_after_ns
            heapq.heappush(self._timers, (due, next(self._timer_ids), hosted.component.name, None))
        elif decision.halt is not None and "risk" in self.hosted:
            self.send("risk", decision.halt)

    def _restart(self, address: str) -> None:
        hosted = self.hosted[address]
        try:
            restarted = rebuild(hosted, self.journal, self.now)
            hosted.component.bind(_ReplayContext(self, address))
            hosted.component.on_start()
        except Exception as exc:  # a rebuild that fails is one more failure, not a crash
            self._on_failure(hosted, exc)
            return
        self.publish(restarted)
        parked, hosted.parked = hosted.parked, []
        for message, seq in parked:
            self._deliver(address, message, seq)

    def run(self, until_ns: int | None = None) -> int:
        """Process events until none is left (or the clock would pass ``until_ns``).

        Returns the number of messages delivered during this call.
        """
        before = self.delivered
        ready, timers, sources = self._ready, self._timers, self._sources
        deliver = self._deliver
        while True:
            while ready:
                deliver(*ready.popleft())
            t_timer = timers[0][0] if timers else None
            t_source = sources[0][0] if sources else None
            if t_timer is None and t_source is None:
                break
            if t_source is None or (t_timer is not None and t_timer <= t_source):
                if until_ns is not None and t_timer > until_ns:
                    break
                due, timer_id, address, fired = heapq.heappop(timers)
                self.now = max(self.now, due)
                if timer_id in self._canceled:
                    self._canceled.discard(timer_id)
                elif fired is None:
                    self._restart(address)
                else:
                    deliver(address, fired)
            else:
                if until_ns is not None and t_source > until_ns:
                    break
                ts, sid, message, to, iterator = sources[0]
                self.now = max(self.now, ts)
                try:
                    following = next(iterator, None)
                except Exception as exc:  # the data broke off: say so where it was going
                    following = None
                    self._source_failed(to, exc)
                if following is None:
                    heapq.heappop(sources)
                else:
                    if following.ts < ts:
                        raise ValueError(
                            f"recorded source goes back in time: {following.ts} after {ts}"
                        )
                    heapq.heapreplace(sources, (following.ts, sid, following, to, iterator))
                if to is None:
                    self.publish(message)
                else:
                    self.send(to, message)
        if until_ns is not None:
            self.now = max(self.now, until_ns)
        return self.delivered - before

    def _source_failed(self, to: str | None, exc: Exception) -> None:
        self.publish(DataSourceFailed(address=to or "*", error=str(exc), ts=self.now))

    def advance(self, delta_ns: int) -> int:
        """Run everything due within the next ``delta_ns`` and move the clock by that much."""
        return self.run(until_ns=self.now + delta_ns)
