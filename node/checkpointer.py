"""Takes a checkpoint every so many journal rows, so that a start reads the latest checkpoint and
the rows after it — however long the node has been trading."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from node.component import Component, Envelope
from node.messages import Checkpointed, Message, TakeCheckpoint, TimerFired

_TICK = "checkpoint.tick"


class Checkpointer(Component):
    """Publishes ``TakeCheckpoint`` once ``every`` rows were journaled since the last one.

    ``journal_seq`` reads the journal's last row; the check runs every ``interval_ns`` on a
    background timer (it never keeps a replay going on its own). ``every`` 0 means only the
    node's stop takes one.
    """

    subscriptions = (Checkpointed,)

    def __init__(
        self,
        every: int,
        journal_seq: Callable[[], int],
        interval_ns: int = 1_000_000_000,
        name: str = "checkpointer",
    ) -> None:
        super().__init__(name)
        self.every = every
        self.journal_seq = journal_seq
        self.interval_ns = interval_ns
        self.last = 0  # the row of the last checkpoint asked for (or known complete)

    def restore(self, history: Iterable[Envelope]) -> None:
        for envelope in history:
            if isinstance(envelope.message, Checkpointed):
                self.last = max(self.last, envelope.message.through_seq)

    def on_start(self) -> None:
        self.last = max(self.last, 0)
        if self.every:
            self.ctx.schedule(self.interval_ns, _TICK, background=True)

    def on_message(self, message: Message) -> None:
        if isinstance(message, Checkpointed):
            self.last = max(self.last, message.through_seq)
        elif isinstance(message, TimerFired) and message.name == _TICK:
            if self.journal_seq() - self.last >= self.every:
                self.last = self.journal_seq()
                self.ctx.publish(TakeCheckpoint(reason="periodic", ts=self.ctx.now()))
            self.ctx.schedule(self.interval_ns, _TICK, background=True)
