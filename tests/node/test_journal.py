"""The journal: append and read back exactly, continue after reopening, and name any damage."""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from node.codec import encode
from node.component import Component, Envelope
from node.journal import (
    Journal,
    JournalCorrupt,
    JournalEntry,
    JournalLock,
    JournalLocked,
    JournalUnavailable,
    JournalUnwritable,
    running_node,
)
from node.messages import (
    HaltTrading,
    Message,
    OrderAccepted,
    OrderFilled,
    SubmitOrder,
)
from node.runtime.live import LiveRuntime
from node.runtime.replay import ReplayRuntime


def accepted(i: int) -> OrderAccepted:
    return OrderAccepted(client_order_id=f"c{i}", venue="sim", venue_order_id=f"v{i}", ts=1000 + i)


def some_messages() -> list[Message]:
    return [
        SubmitOrder(
            client_order_id="c1",
            venue="sim",
            symbol="BTC/USDT",
            side="buy",
            quantity=Decimal("0.1") + Decimal("0.2"),
            limit_price=Decimal("65000.10"),
            ts=10,
        ),
        accepted(1),
        OrderFilled(
            client_order_id="c1",
            venue="sim",
            venue_order_id="v1",
            trade_id="t1",
            symbol="BTC/USDT",
            side="buy",
            price=Decimal("65000.10"),
            quantity=Decimal("0.3"),
            fee=Decimal("0.0003"),
            fee_currency="BTC",
            liquidity="taker",
            cumulative_quantity=Decimal("0.3"),
            leaves_quantity=Decimal(0),
            ts=30,
        ),
        HaltTrading(reason="test", ts=40),
        *[accepted(i) for i in range(2, 8)],
    ]


def filled(path: Path, messages: Iterable[Message]) -> Path:
    journal = Journal(path)
    for message in messages:
        journal.append(message)
    journal.close()  # checkpoints the WAL into the main file
    return path


def read_until_corrupt(journal: Journal) -> tuple[list[JournalEntry], JournalCorrupt]:
    got: list[JournalEntry] = []
    with pytest.raises(JournalCorrupt) as info:
        for entry in journal.entries():
            got.append(entry)
    return got, info.value


def tamper(path: Path, sql: str, *params: object) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(sql, params)
    db.close()


# --------------------------------------------------------------------------------------------
# Round trip and sequence


def test_append_and_read_back(tmp_path: Path):
    journal = Journal(tmp_path / "j.db")
    messages = some_messages()
    seqs = [journal.append(m) for m in messages]
    assert seqs == list(range(1, len(messages) + 1))
    assert journal.last_seq == len(messages)

    entries = list(journal.entries())
    assert [e.seq for e in entries] == seqs
    assert [e.ts for e in entries] == [m.ts for m in messages]
    assert [e.message for e in entries] == messages
    assert [type(e.message) for e in entries] == [type(m) for m in messages]
    assert str(entries[0].message.quantity) == "0.3"
    assert list(journal.messages()) == messages
    assert [e.seq for e in journal.entries(after_seq=8)] == [9, 10]
    assert list(journal.entries(after_seq=len(messages))) == []
    journal.close()

    # The rows as stored: the class name, the message's ts, msgpack bytes and their CRC32.
    db = sqlite3.connect(tmp_path / "j.db")
    rows = db.execute("SELECT seq, ts, type, payload, crc FROM journal ORDER BY seq").fetchall()
    db.close()
    for (seq, ts, type_name, payload, crc), m in zip(rows, messages, strict=True):
        assert (ts, type_name, payload, crc) == (
            m.ts,
            type(m).__name__,
            encode(m),
            zlib.crc32(encode(m)),
        )
        assert seq >= 1


def test_empty_and_in_memory_journals(tmp_path: Path):
    journal = Journal(tmp_path / "new.db")
    assert journal.last_seq == 0
    assert list(journal.entries()) == []
    journal.close()
    memory = Journal(":memory:", sync="full")
    assert memory.append(accepted(1)) == 1
    assert list(memory.messages()) == [accepted(1)]


def test_reopening_continues_the_sequence(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    n = len(some_messages())
    journal = Journal(path, sync="full")
    assert journal.last_seq == n
    assert journal.append(accepted(100)) == n + 1
    assert journal.append(accepted(101)) == n + 2
    journal.close()
    again = Journal(path)
    entries = list(again.entries())
    assert [e.seq for e in entries] == list(range(1, n + 3))
    assert entries[-2].message == accepted(100)
    assert entries[-1].message == accepted(101)


def test_concurrent_appends_get_distinct_contiguous_seqs(tmp_path: Path):
    journal = Journal(tmp_path / "j.db")

    def writer(k: int) -> None:
        for i in range(200):
            journal.append(
                OrderAccepted(client_order_id=f"w{k}", venue="sim", venue_order_id=str(i))
            )

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = list(journal.entries())
    assert [e.seq for e in entries] == list(range(1, 801))
    for k in range(4):  # each writer's own messages stay in its order
        mine = [e.message.venue_order_id for e in entries if e.message.client_order_id == f"w{k}"]
        assert mine == [str(i) for i in range(200)]
    journal.close()


# --------------------------------------------------------------------------------------------
# Damage to rows is named by seq


def test_altered_payload_is_named_by_seq(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    forged = encode(msgspec.structs.replace(accepted(4), venue_order_id="FORGED"))
    tamper(path, "UPDATE journal SET payload = ? WHERE seq = 7", forged)  # crc left as it was

    journal = Journal(path)  # SQLite itself sees nothing wrong
    got, exc = read_until_corrupt(journal)
    assert [e.seq for e in got] == [1, 2, 3, 4, 5, 6]  # what came before is good
    assert exc.seq == 7
    assert exc.path == str(path)
    assert "at seq 7" in str(exc) and str(path) in str(exc)
    assert "checksum" in str(exc)
    with pytest.raises(JournalCorrupt, match="at seq 7"):
        list(journal.messages())


def test_single_flipped_bit_is_detected(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    db = sqlite3.connect(path)
    payload = db.execute("SELECT payload FROM journal WHERE seq = 3").fetchone()[0]
    db.close()
    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 0x01
    tamper(path, "UPDATE journal SET payload = ? WHERE seq = 3", bytes(flipped))
    _, exc = read_until_corrupt(Journal(path))
    assert exc.seq == 3


def test_row_header_disagreeing_with_payload_is_named(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    tamper(path, "UPDATE journal SET type = 'OrderRejected' WHERE seq = 2")
    _, exc = read_until_corrupt(Journal(path))
    assert exc.seq == 2 and "disagrees" in str(exc)

    path = filled(tmp_path / "k.db", some_messages())
    tamper(path, "UPDATE journal SET ts = ts + 1 WHERE seq = 5")
    _, exc = read_until_corrupt(Journal(path))
    assert exc.seq == 5 and "disagrees" in str(exc)


def test_undecodable_payload_with_matching_crc_is_named(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    junk = b"\x81\xa4type\xa9NoSuchMsg"
    tamper(path, "UPDATE journal SET payload = ?, crc = ? WHERE seq = 4", junk, zlib.crc32(junk))
    _, exc = read_until_corrupt(Journal(path))
    assert exc.seq == 4
    assert "undecodable HaltTrading" in str(exc)


def test_payload_of_the_wrong_storage_class_is_named(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    tamper(path, "UPDATE journal SET payload = 'plain text' WHERE seq = 6")
    _, exc = read_until_corrupt(Journal(path))
    assert exc.seq == 6


def test_payload_turned_into_invalid_text_is_named_by_its_seq(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    tamper(path, "UPDATE journal SET payload = CAST(payload AS TEXT) WHERE seq = 5")
    _, exc = read_until_corrupt(Journal(path))
    assert exc.seq == 5


def test_deleted_middle_row_is_reported_as_a_gap(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    tamper(path, "DELETE FROM journal WHERE seq = 5")
    journal = Journal(path)
    got, exc = read_until_corrupt(journal)
    assert [e.seq for e in got] == [1, 2, 3, 4]
    assert exc.seq == 5
    assert "missing entries 5..5" in str(exc)

    tamper(path, "DELETE FROM journal WHERE seq IN (6, 7)")
    _, exc = read_until_corrupt(Journal(path))
    assert exc.seq == 5 and "missing entries 5..7" in str(exc)


def test_gap_at_the_start_and_after_a_position(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    tamper(path, "DELETE FROM journal WHERE seq = 1")
    _, exc = read_until_corrupt(Journal(path))
    assert exc.seq == 1
    # Reading on from a later position checks from there.
    assert [e.seq for e in Journal(path).entries(after_seq=1)][:2] == [2, 3]
    tamper(path, "DELETE FROM journal WHERE seq = 9")
    with pytest.raises(JournalCorrupt, match=r"at seq 9: missing entries 9\.\.9"):
        list(Journal(path).entries(after_seq=5))


# --------------------------------------------------------------------------------------------
# Damage to the file is named by path, wrapping SQLite's own error


def sqlite_error(path: Path) -> sqlite3.DatabaseError:
    """What SQLite itself says about the file (on a copy, so the original stays untouched)."""
    copy = path.with_name(path.name + ".probe")
    copy.write_bytes(path.read_bytes())
    db = sqlite3.connect(copy)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA quick_check").fetchall()
        db.execute("SELECT count(*) FROM journal").fetchall()
    except sqlite3.DatabaseError as exc:
        return exc
    finally:
        db.close()
    raise AssertionError(f"SQLite found nothing wrong with {path}")


def damaged(tmp_path: Path, how: str) -> Path:
    path = filled(tmp_path / f"{how}.db", [accepted(i) for i in range(3000)])
    assert not Path(f"{path}-wal").exists()  # everything is in the main file
    data = path.read_bytes()
    assert len(data) > 16 * 4096
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "garbage":
        data = bytes((i * 151 + 7) % 256 for i in range(len(data)))
    elif how == "garbage-middle":
        middle = len(data) // 2 - len(data) // 2 % 4096
        data = data[:middle] + b"\xa5" * (4 * 4096) + data[middle + 4 * 4096 :]
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("how", ["truncated", "garbage", "garbage-middle"])
def test_damaged_file_is_named_by_path(tmp_path: Path, how: str):
    path = damaged(tmp_path, how)
    raw = sqlite_error(path)
    assert type(raw) is sqlite3.DatabaseError
    assert str(raw) in {"database disk image is malformed", "file is not a database"}
    before = path.read_bytes()

    # Damage is found on opening or, deep in the file, when the rows are read (a start reads the
    # latest checkpoint and the rows after it; `tradenode journal verify` checks the whole file).
    with pytest.raises(JournalCorrupt) as info:
        list(Journal(path).entries())
    exc = info.value
    assert exc.path == str(path)
    assert str(path) in str(exc)
    assert str(raw) in str(exc)  # SQLite's own words
    assert isinstance(exc.__context__, sqlite3.DatabaseError)  # and the error itself, kept
    assert str(exc.__context__) == str(raw)
    # Never "repaired" by starting a fresh journal over it.
    assert path.read_bytes() == before


def test_short_garbage_file_is_not_taken_for_an_empty_journal(tmp_path: Path):
    path = tmp_path / "j.db"
    path.write_bytes(b"this is not a journal\n" * 10)
    with pytest.raises(JournalCorrupt, match="not a readable journal"):
        Journal(path)
    assert path.read_bytes() == b"this is not a journal\n" * 10


def test_zero_length_file_is_an_empty_journal(tmp_path: Path):
    # What SQLite does with an empty file: a valid, empty database (nothing was lost).
    path = tmp_path / "j.db"
    path.touch()
    journal = Journal(path)
    assert list(journal.entries()) == []
    assert journal.append(accepted(1)) == 1


# --------------------------------------------------------------------------------------------
# A damaged journal is never silently skipped by a runtime


class Restoring(Component):
    def __init__(self, name: str = "positions") -> None:
        super().__init__(name)
        self.history: list[Message] = []

    def restore(self, history: Iterable[Envelope]) -> None:
        self.history = [e.message for e in history]

    def on_message(self, message: Message) -> None:
        pass


def test_reading_the_history_refuses_a_damaged_journal(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    tamper(path, "DELETE FROM journal WHERE seq = 3")
    with pytest.raises(JournalCorrupt, match="at seq 3"):
        list(Journal(path).envelopes())


@pytest.mark.parametrize("runtime", [ReplayRuntime, LiveRuntime])
def test_runtimes_restore_components_from_the_history(tmp_path: Path, runtime):
    path = filled(tmp_path / "j.db", some_messages())
    journal = Journal(path)
    rt = runtime(journal=journal)
    component = Restoring()
    rt.add(component)
    rt.start(list(journal.envelopes()))
    rt.stop()  # the live runtime returns once the actor has run on_start and stopped
    assert component.history == some_messages()


def test_missing_directory_is_an_error_not_a_new_journal(tmp_path: Path):
    path = tmp_path / "no-such-dir" / "j.db"
    with pytest.raises(JournalUnavailable, match="no-such-dir"):
        Journal(path)
    assert not os.path.exists(path.parent)


def test_a_journal_under_a_regular_file_is_named_as_such(tmp_path: Path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(JournalUnavailable, match="is a file, not a folder"):
        Journal(tmp_path / "plain" / "j.db")


# --------------------------------------------------------------------------------------------
# Who sent what to whom, and one parent's rows


def test_rows_record_sender_destination_and_parent(tmp_path: Path):
    journal = Journal(tmp_path / "j.db")
    order = some_messages()[0]
    child = SubmitOrder(
        client_order_id="p1.1.1.1",
        venue="sim",
        symbol="BTC/USDT",
        side="buy",
        quantity=Decimal(1),
        limit_price=Decimal(1),
        parent_id="p1",
        ts=5,
    )
    journal.append(order, sender="router", destination="risk")
    journal.append(child, sender="risk", destination="venue.sim")
    journal.append(accepted(1), sender="venue.sim")
    rows = [(e.sender, e.destination, e.message) for e in journal.entries()]
    assert rows == [
        ("router", "risk", order),
        ("risk", "venue.sim", child),
        ("venue.sim", "*", accepted(1)),
    ]
    assert [e.message for e in journal.entries(correlation="p1")] == [child]
    assert [e.message for e in journal.entries(upto_seq=2)] == [order, child]
    envelopes = list(journal.envelopes(correlation="p1"))
    assert envelopes == [Envelope(2, "risk", "venue.sim", child)]


def test_a_journal_from_before_the_routing_columns_is_migrated(tmp_path: Path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE journal (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, type TEXT NOT NULL,"
        " payload BLOB NOT NULL, crc INTEGER NOT NULL, origin TEXT NOT NULL DEFAULT 'node')"
    )
    payload = encode(accepted(1))
    db.execute(
        "INSERT INTO journal (ts, type, payload, crc) VALUES (?, ?, ?, ?)",
        (accepted(1).ts, "OrderAccepted", payload, zlib.crc32(payload)),
    )
    db.commit()
    db.close()
    journal = Journal(path)
    assert [(e.sender, e.destination, e.message) for e in journal.entries()] == [
        ("", "*", accepted(1))
    ]
    journal.append(accepted(2), sender="venue.sim")
    assert [e.sender for e in journal.entries()] == ["", "venue.sim"]


# --------------------------------------------------------------------------------------------
# One writer, a main file that keeps up, a backup, and writes that fail


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path):
    path = tmp_path / "j.db"
    first = JournalLock(path)
    first.acquire()
    try:
        holder = running_node(path)
        assert holder is not None and holder.pid == os.getpid()
        with pytest.raises(JournalLocked, match=f"pid {os.getpid()} on "):
            JournalLock(path).acquire()
    finally:
        first.release()
    assert running_node(path) is None
    second = JournalLock(path)
    second.acquire()  # a released (or dead holder's) lock is taken over
    second.release()


def test_a_killed_holders_lock_is_taken_over(tmp_path: Path):
    import subprocess
    import sys

    path = tmp_path / "j.db"
    code = (
        "import sys, time; from node.journal import JournalLock; "
        f"JournalLock({str(path)!r}).acquire(); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert running_node(path).pid == proc.pid
        with pytest.raises(JournalLocked):
            JournalLock(path).acquire()
    finally:
        proc.kill()
        proc.wait(10)
    assert running_node(path) is None  # the kernel released it with the process
    lock = JournalLock(path)
    lock.acquire()
    lock.release()


def test_the_main_file_holds_every_row_after_close_and_a_backup_is_consistent(tmp_path: Path):
    path = tmp_path / "j.db"
    journal = Journal(path)
    for m in some_messages():
        journal.append(m)
    copies = journal.backup(tmp_path / "copy.db")  # while it is open, WAL and all
    assert copies == len(some_messages())
    journal.close()
    assert not (tmp_path / "j.db-wal").exists() or (tmp_path / "j.db-wal").stat().st_size == 0
    only_main = tmp_path / "only-main.db"
    only_main.write_bytes(path.read_bytes())  # the .sqlite file alone, as a naive backup
    assert list(Journal(only_main, readonly=True).messages()) == some_messages()
    assert list(Journal(tmp_path / "copy.db", readonly=True).messages()) == some_messages()


def test_an_append_that_cannot_be_written_says_so(tmp_path: Path):
    path = tmp_path / "j.db"
    journal = Journal(path)
    journal.append(accepted(1))
    journal._db.execute("PRAGMA query_only=ON")  # what a read-only file does to a writer
    with pytest.raises(JournalUnwritable):
        journal.append(accepted(2))


@pytest.mark.parametrize(
    ("runtime", "configured", "expected"),
    [("live", None, 2), ("replay", None, 1), ("live", "normal", 1), ("replay", "full", 2)],
)
def test_a_live_journal_is_durable_through_a_power_cut_unless_configured_otherwise(
    tmp_path, runtime, configured, expected
):
    """A row a power cut loses may be an order the exchange has: a live node's journal syncs
    every commit (SQLite ``synchronous`` FULL = 2); a replay's journal can be made again
    (NORMAL = 1). ``[node] journal_sync`` overrides either."""
    from node.cli.common import demo_config_path
    from node.config import load_config
    from node.node import Node
    from node.plugins import load_plugins

    plugins = load_plugins()
    config = load_config(demo_config_path(), plugins)
    config = msgspec.structs.replace(
        config, node=msgspec.structs.replace(config.node, journal_sync=configured)
    )
    node = Node(config, plugins, journal_path=tmp_path / "j.sqlite", runtime_kind=runtime)
    try:
        assert node.journal._db.execute("PRAGMA synchronous").fetchone()[0] == expected
    finally:
        node._close_journal()
