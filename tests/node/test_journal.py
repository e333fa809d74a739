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

from node.component import Component
from node.journal import Journal, JournalCorrupt, JournalEntry
from node.messages import (
    HaltTrading,
    Message,
    OrderAccepted,
    OrderFilled,
    SubmitOrder,
    encode,
)
from node.runtime.live import LiveRuntime
from node.runtime.recorder import Recorder
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

    with pytest.raises(JournalCorrupt) as info:
        Journal(path)
    exc = info.value
    assert exc.path == str(path)
    assert exc.seq is None
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

    def restore(self, history: Iterable[Message]) -> None:
        self.history = list(history)

    def on_message(self, message: Message) -> None:
        pass


def test_replay_start_refuses_a_damaged_journal(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    tamper(path, "DELETE FROM journal WHERE seq = 3")
    rt = ReplayRuntime(journal=Journal(path))
    rt.add(Restoring())
    with pytest.raises(JournalCorrupt, match="at seq 3"):
        rt.start()


def test_replay_start_restores_an_intact_journal(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    rt = ReplayRuntime(journal=Journal(path))
    component = Restoring()
    rt.add(component)
    rt.start()
    assert component.history == some_messages()


def test_replay_start_refuses_a_damaged_journal_nobody_reads(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    tamper(path, "DELETE FROM journal WHERE seq = 3")
    rt = ReplayRuntime(journal=Journal(path))
    rt.add(Recorder("recorder"))  # keeps no history: the default restore() reads nothing
    with pytest.raises(JournalCorrupt, match="at seq 3"):
        rt.start()
    assert not rt.started


def test_live_start_refuses_a_damaged_journal(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    tamper(path, "DELETE FROM journal WHERE seq = 3")
    rt = LiveRuntime(journal=Journal(path))
    component = Restoring()
    rt.add(component)
    try:
        with pytest.raises(JournalCorrupt, match="at seq 3"):
            rt.start()  # raised here, in the caller's thread, not lost in an actor
        assert rt.refs == {}  # no actor was started on it
        assert component.history == []
    finally:
        rt.stop(timeout=5)


def test_live_start_restores_an_intact_journal(tmp_path: Path):
    path = filled(tmp_path / "j.db", some_messages())
    rt = LiveRuntime(journal=Journal(path))
    component = Restoring()
    rt.add(component)
    rt.start()
    rt.stop(timeout=5)  # returns once the actor has run on_start and stopped
    assert component.history == some_messages()


def test_missing_directory_is_an_error_not_a_new_journal(tmp_path: Path):
    path = tmp_path / "no-such-dir" / "j.db"
    with pytest.raises(JournalCorrupt, match="no-such-dir"):
        Journal(path)
    assert not os.path.exists(path.parent)
