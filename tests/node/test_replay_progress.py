"""Progress of a replay: ``ReplayRuntime`` reports simulated time against its data's time range
through an optional callback, and ``tradenode run`` shows it as a bar on a terminal's stderr.

The reports must not change the run: the journal and the printed report are the same with and
without a callback."""

from __future__ import annotations

import io
import itertools
import sqlite3
from decimal import Decimal
from pathlib import Path

from node.cli.common import demo_config_path, load, this_run
from node.cli.run import replay_progress
from node.messages import TradeTick
from node.node import Node
from node.report import print_run_report
from node.runtime.recorder import Recorder
from node.runtime.replay import ReplayProgress, ReplayRuntime

START = 1_700_000_000_000_000_000
SECOND = 1_000_000_000


def tick(ts: int) -> TradeTick:
    return TradeTick(
        venue="sim",
        symbol="BTC/USDT",
        price=Decimal("100"),
        size=Decimal("1"),
        aggressor="buy",
        ts=ts,
    )


def run_demo(
    journal: Path, reports: list[ReplayProgress] | None
) -> tuple[list, str, Node, tuple[int, int]]:
    """The demo config replayed to its end on ``journal``: its journal rows, its run report."""
    config, plugins = load(str(demo_config_path()))
    node = Node(config, plugins, journal_path=journal, runtime_kind="replay")
    assert isinstance(node.runtime, ReplayRuntime)
    if reports is not None:
        node.runtime.set_progress(reports.append, every=1)
    before = node.journal.last_seq
    node.start()
    node.run()
    end = (node.runtime.now(), node.runtime.delivered)  # where the replay ended
    node.runtime.set_progress(None)  # as `tradenode run` does: the stop is not the replay
    node.stop("replay finished")
    out = io.StringIO()
    print_run_report(this_run(journal, before, node.journal.codec), out)
    db = sqlite3.connect(journal)
    try:
        rows = db.execute("SELECT seq, ts, type, payload FROM journal ORDER BY seq").fetchall()
    finally:
        db.close()
    return rows, out.getvalue(), node, end


def assert_monotonic(reports: list[ReplayProgress]) -> None:
    for earlier, later in itertools.pairwise(reports):
        assert later.now_ns >= earlier.now_ns
        assert later.delivered >= earlier.delivered
        assert later.start_ns == earlier.start_ns
    fractions = [r.fraction for r in reports if r.fraction is not None]
    assert fractions == sorted(fractions)


def test_a_demo_replay_reports_progress_to_its_end_and_runs_exactly_as_without(tmp_path):
    reports: list[ReplayProgress] = []
    with_rows, with_report, node, (end, delivered) = run_demo(tmp_path / "with.sqlite", reports)
    without_rows, without_report, _, _ = run_demo(tmp_path / "without.sqlite", None)

    assert with_rows == without_rows  # the journal, row for row, byte for byte
    assert with_report == without_report
    assert "final balances" in with_report

    assert len(reports) > 10  # reported along the way, not only at the end
    assert_monotonic(reports)
    first, last = reports[0], reports[-1]
    assert first.start_ns == min(v.earliest_data_ns() for v in node.venues)
    assert first.now_ns < last.now_ns
    # The end: the clock where the replay stopped, every message delivered, 100 %.
    assert last.finished and last.fraction == 1.0
    assert last.now_ns == end
    assert last.delivered == delivered
    assert all(r.now_ns == end for r in reports if r.finished)
    # The sim venues read their recordings as they go: no end up front, so no percentage
    # before the end.
    assert all(r.end_ns is None and r.fraction is None for r in reports if not r.finished)


def test_data_with_a_known_end_reports_a_percentage_from_its_first_to_its_last_timestamp():
    rt = ReplayRuntime(start_ns=START)
    recorder = Recorder("ticks", types=())
    rt.add(recorder)
    rt.feed("ticks", [tick(START + i * SECOND) for i in range(101)])
    rt.feed("ticks", [tick(START + 50 * SECOND), tick(START + 200 * SECOND)])
    reports: list[ReplayProgress] = []
    rt.set_progress(reports.append, every=10)
    rt.start([])
    rt.run()

    assert len(recorder.messages) == 103
    assert_monotonic(reports)
    assert all(r.start_ns == START and r.end_ns == START + 200 * SECOND for r in reports)
    # every 10 deliveries, then once at the end
    assert [r.delivered for r in reports] == [*range(10, 101, 10), 103]
    assert reports[0].fraction == 9 / 200  # ten ticks delivered: the clock at the tenth
    # 100 deliveries: the first stream's 0..98 s and the second's 50 s
    assert reports[-2].now_ns == START + 98 * SECOND and reports[-2].fraction == 0.49
    assert reports[-1].finished and reports[-1].now_ns == START + 200 * SECOND
    assert reports[-1].fraction == 1.0


def test_a_progress_callback_that_fails_does_not_stop_the_replay():
    rt = ReplayRuntime(start_ns=START)
    recorder = Recorder("ticks", types=())
    rt.add(recorder)
    rt.feed("ticks", [tick(START + i) for i in range(50)])
    calls = []

    def broken(progress: ReplayProgress) -> None:
        calls.append(progress)
        raise RuntimeError("terminal gone")

    rt.set_progress(broken, every=5)
    rt.start([])
    rt.run()
    assert len(recorder.messages) == 50
    assert len(calls) == 1  # dropped after its first failure


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_run_draws_a_bar_on_a_terminal_and_nothing_elsewhere():
    def replay(stream: io.StringIO) -> str:
        rt = ReplayRuntime(start_ns=START)
        rt.add(Recorder("ticks", types=()))
        rt.feed("ticks", [tick(START + i * SECOND) for i in range(20_001)])
        rt.start([])
        with replay_progress(rt, stream):
            rt.run()
        return stream.getvalue()

    assert replay(io.StringIO()) == ""
    drawn = replay(Terminal())
    assert "100%" in drawn
    assert "sim 2023-11-15 03:46:40 UTC (+5:33:20)" in drawn  # where the replay ended
    assert "msg/s" in drawn
