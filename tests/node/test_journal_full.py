"""A journal that stops taking writes while the node trades (a full disk): nothing the journal
does not hold takes effect, the node stops saying why, and the journal it leaves starts the next
run.

The disk fills for real as far as SQLite can tell: ``PRAGMA max_page_count`` caps the file at
the pages it has, so the next row that needs a page fails with SQLITE_FULL ("database or disk
is full"), exactly as a full file system makes it fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.cli.common import demo_config_path
from node.config import load_config
from node.journal import Journal
from node.messages import ComponentFailed, NodeReady, SubmitOrder
from node.node import Node
from node.plugins import load_plugins


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def _venue_orders(journal_path: Path, codec) -> set[str]:
    journal = Journal(journal_path, codec=codec, readonly=True)
    try:
        return {
            e.message.client_order_id
            for e in journal.entries()
            if isinstance(e.message, SubmitOrder) and e.destination.startswith("venue.")
        }
    finally:
        journal.close()


# 0: the first row after the start; 3 and 12: mid-run, with orders at the exchanges; 30: the
# checkpoint the node takes at its stop
@pytest.mark.parametrize("spare_pages", [0, 3, 12, 30])
def test_a_journal_that_fills_mid_run_stops_the_node_and_nothing_unjournaled_is_sent(
    tmp_path, plugins, spare_pages
):
    config = load_config(demo_config_path(), plugins)
    path = tmp_path / "j.sqlite"
    node = Node(config, plugins, journal_path=path)
    node.start()
    db = node.journal._db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + spare_pages}")
    node.run()
    outcome = node.outcome()
    # every order a simulated exchange was handed
    received = {cid for venue in node.venues for cid in venue.seen_ids}
    node.stop()  # its last checkpoint and NodeStopped cannot be written either
    failure = node.runtime.journal_failure

    assert failure is not None and "full" in failure
    journal = Journal(path, codec=node.journal.codec, readonly=True)
    assert not [m for m in journal.messages() if isinstance(m, ComponentFailed)]
    journal.close()
    if outcome.problems:  # the stop's checkpoint is what filled it: the run itself went well
        [problem] = outcome.problems
        assert problem.startswith("journal failed: ") and "nothing was sent after" in problem
    # Every order an exchange received is in the journal: none was sent that a restart could
    # not know about and send again.
    journaled = _venue_orders(path, node.journal.codec)
    assert received <= journaled

    # The journal it left is whole and starts the next run, which finishes the work.
    again = Node(load_config(demo_config_path(), plugins), plugins, journal_path=path)
    again.start()
    again.run()
    ready = [m for m in again.journal.messages() if isinstance(m, NodeReady)]
    outcome = again.outcome()
    again.stop()
    assert ready, "the next run never got ready"
    assert again.runtime.journal_failure is None
    assert not [p for p in outcome.problems if p.startswith("journal failed")]
