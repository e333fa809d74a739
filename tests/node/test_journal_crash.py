"""A journal whose writer died mid-write: the unfinished write is named and dropped, every row
before it is intact, and the journal goes on from there.

The writer is a real process that appends rows and dies without closing (``os._exit``, or
SIGKILL at a seeded random moment while it writes multi-page rows); its write-ahead log is what
a crash leaves. Tearing the log's last frame by hand stands for the power cut a kill cannot
produce (a killed process's completed ``write`` calls survive in the page cache).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.journal import Journal, JournalEntry
from node.messages import VenueStatus
from node.wal import torn_tail

#: a writer that appends ``count`` rows of ``size`` bytes then dies without closing the journal
WRITER = """
import os, sys
from node.journal import Journal, JournalEntry
from node.messages import VenueStatus
journal = Journal(sys.argv[1])
count, size = int(sys.argv[2]), int(sys.argv[3])
print("open", flush=True)
for i in range(count):
    journal.append(VenueStatus(venue="v", status=str(i), detail="x" * size, ts=i))
os._exit(0)
"""


def write_and_die(path: Path, count: int, size: int) -> None:
    subprocess.run(
        [sys.executable, "-c", WRITER, str(path), str(count), str(size)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def statuses(path: Path) -> list[str]:
    journal = Journal(path, readonly=True)
    try:
        return [m.status for m in journal.messages()]  # type: ignore[attr-defined]
    finally:
        journal.close()


def test_a_writer_that_died_without_closing_leaves_every_row(tmp_path: Path, caplog):
    path = tmp_path / "j.sqlite"
    write_and_die(path, 20, 100)
    assert Path(f"{path}-wal").stat().st_size > 0  # the rows are in the log, not yet in the file
    assert torn_tail(path) == 0
    with caplog.at_level(logging.WARNING, "tradenode.journal"):
        journal = Journal(path)
    assert journal.torn_bytes == 0 and not caplog.records
    assert journal.last_seq == 20
    journal.close()
    assert statuses(path) == [str(i) for i in range(20)]


@pytest.mark.parametrize("cut", ["partial frame appended", "last frame cut short"])
def test_a_torn_last_write_is_named_and_dropped_and_the_rest_is_intact(
    tmp_path: Path, caplog, cut: str
):
    path = tmp_path / "j.sqlite"
    write_and_die(path, 12, 100)
    wal = Path(f"{path}-wal")
    data = wal.read_bytes()
    if cut == "partial frame appended":
        wal.write_bytes(data + os.urandom(1000))  # a frame that was being written
        kept = [str(i) for i in range(12)]
    else:
        wal.write_bytes(data[:-1000])  # the last row's commit frame never fully reached disk
        kept = [str(i) for i in range(11)]
    with caplog.at_level(logging.WARNING, "tradenode.journal"):
        journal = Journal(path)
    assert journal.torn_bytes > 0
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "last write was cut short by a crash" in warning and str(path) in warning
    assert "everything before it is intact" in warning
    assert journal.verify() == "ok"
    assert journal.last_seq == len(kept)
    journal.append(VenueStatus(venue="v", status="after", ts=99))  # and it goes on from there
    journal.close()
    assert statuses(path) == [*kept, "after"]


def test_kills_during_multi_page_writes_never_leave_a_damaged_journal(tmp_path: Path):
    seed = int(os.environ.get("TRADENODE_KILL_SEED", "20261201"))
    rng = random.Random(seed)
    path = tmp_path / "j.sqlite"
    torn_seen = 0
    for kill in range(6):
        # rows of 60 kB span ~15 pages: a kill can land between the frames of one row
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), "400", "60000"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None and writer.stdout.readline() == "open\n"
        delay = rng.uniform(0.01, 0.3)
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        torn = torn_tail(path)
        torn_seen += torn > 0
        print(f"seed {seed} kill {kill} after {delay:.3f}s: {torn} torn bytes")
        journal = Journal(path)  # opens: nothing a kill leaves is damage
        assert journal.torn_bytes == torn
        assert journal.verify() == "ok"
        journal.close()
        entries = _all(path)  # every row's checksum checked, and no gap in the sequence
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert all(len(e.message.detail) == 60000 for e in entries)  # none is half there
    print(f"seed {seed}: {torn_seen} of 6 kills left a torn write")


def _all(path: Path) -> list[JournalEntry]:
    journal = Journal(path, readonly=True)
    try:
        return list(journal.entries())
    finally:
        journal.close()
