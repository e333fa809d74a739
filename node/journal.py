"""The journal: every journaled command and event, appended before it takes effect.

It is the node's source of truth. On start the node rebuilds orders, positions and running parent
orders from it. Rows live in an embedded SQLite database in WAL mode; each row carries a CRC32 of
its msgpack payload so that damage is detected and named on read, never skipped.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from node.messages import Message, decode, encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    type TEXT NOT NULL,
    payload BLOB NOT NULL,
    crc INTEGER NOT NULL
)
"""


_PAGE = 10_000


class JournalCorrupt(RuntimeError):
    """The journal cannot be trusted from ``seq`` on; the node must not start on it."""

    def __init__(self, path: str, seq: int | None, problem: str) -> None:
        where = f"{path} at seq {seq}" if seq is not None else path
        super().__init__(f"journal {where}: {problem}")
        self.path = path
        self.seq = seq


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    ts: int
    message: Message


class Journal:
    """Append-only, thread-safe message log in SQLite.

    ``sync="full"`` fsyncs every commit (survives power loss); ``"normal"`` (the default) is
    durable against a crash of the process, which is what WAL guarantees without an fsync per row.
    """

    def __init__(self, path: str | Path, *, sync: Literal["normal", "full"] = "normal") -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={sync.upper()}")
            self._db.execute(_SCHEMA)
            ok = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise JournalCorrupt(self.path, None, f"not a readable journal ({exc})") from None
        if ok != "ok":
            raise JournalCorrupt(self.path, None, f"SQLite integrity check failed: {ok}")
        row = self._db.execute("SELECT max(seq) FROM journal").fetchone()
        self._seq = row[0] or 0

    @property
    def last_seq(self) -> int:
        return self._seq

    def append(self, message: Message) -> int:
        payload = encode(message)
        with self._lock:
            self._seq += 1
            self._db.execute(
                "INSERT INTO journal (seq, ts, type, payload, crc) VALUES (?, ?, ?, ?, ?)",
                (self._seq, message.ts, type(message).__name__, payload, zlib.crc32(payload)),
            )
            return self._seq

    def entries(self, after_seq: int = 0) -> Iterator[JournalEntry]:
        """Every entry after ``after_seq``, in order; ``JournalCorrupt`` at the first bad row.

        Rows are read in pages (a long journal is never all in memory) and as raw bytes, so a
        damaged row is named by its own seq rather than failing the whole read.
        """
        expected = after_seq + 1
        while True:
            try:
                with self._lock:
                    rows = self._db.execute(
                        "SELECT seq, ts, CAST(type AS BLOB), CAST(payload AS BLOB), "
                        "typeof(payload), crc FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                        (expected - 1, _PAGE),
                    ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise JournalCorrupt(self.path, expected, f"unreadable ({exc})") from None
            if not rows:
                return
            for seq, ts, raw_type, payload, storage, crc in rows:
                if seq != expected:
                    raise JournalCorrupt(
                        self.path, expected, f"missing entries {expected}..{seq - 1}"
                    )
                if storage != "blob" or zlib.crc32(payload) != crc:
                    raise JournalCorrupt(self.path, seq, "payload checksum mismatch")
                type_name = raw_type.decode("utf-8", "replace")
                try:
                    message = decode(payload)
                except msgspec.DecodeError as exc:
                    raise JournalCorrupt(
                        self.path, seq, f"undecodable {type_name}: {exc}"
                    ) from None
                if type(message).__name__ != type_name or message.ts != ts:
                    raise JournalCorrupt(self.path, seq, "row header disagrees with its payload")
                yield JournalEntry(seq, ts, message)
                expected += 1

    def messages(self) -> Iterator[Message]:
        return (entry.message for entry in self.entries())

    def close(self) -> None:
        with self._lock:
            self._db.close()
