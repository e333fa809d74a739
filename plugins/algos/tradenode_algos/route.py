"""``route``: the immediate split. The whole parent is one slice the router takes at once.

The router splits it across venues at least cost and re-routes what did not fill; when the
slice completes there is nothing more to do, and the parent closes with what it got.
"""

from __future__ import annotations

from node.algo import Executor
from node.messages import SliceCompleted


class RouteExecutor(Executor):
    """Sends everything available as one ``take`` slice; finishes when it completes."""

    def on_begin(self) -> None:
        if self.route(self.available) is None and not self.open_slices():
            self.finish("nothing left to route")

    def on_resume(self) -> None:
        """After a restart: a slice still working carries on; otherwise route what is left."""
        if not self.open_slices():
            self.on_begin()

    def on_slice_completed(self, done: SliceCompleted) -> None:
        if not self.open_slices():
            self.finish("" if done.status == "filled" else done.reason)
