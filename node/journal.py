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
    crc INTEGER NOT NULL,
    origin TEXT NOT NULL DEFAULT 'node'
)
"""
#: Rows written by another process (an operator's ``tradenode halt``) rather than the node.
EXTERNAL = "external"


_PAGE = 10_000
# Read as raw bytes, so that a damaged row is named by its own seq rather than failing the read.
_COLUMNS = "seq, ts, CAST(type AS BLOB), CAST(payload AS BLOB), typeof(payload), crc"


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
            # Another process (the operator's CLI) may append while the node runs: wait for it.
            self._db.execute("PRAGMA busy_timeout=10000")
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

    def append(self, message: Message, *, origin: str = "node") -> int:
        """Append ``message``; its seq is the next one in the file, whoever else writes to it."""
        payload = encode(message)
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO journal (ts, type, payload, crc, origin) VALUES (?, ?, ?, ?, ?)",
                (message.ts, type(message).__name__, payload, zlib.crc32(payload), origin),
            )
            self._seq = cursor.lastrowid
            return self._seq

    def external_since(self, after_seq: int) -> list[JournalEntry]:
        """Entries another process appended after ``after_seq`` (operators' commands)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM journal WHERE seq > ? AND origin = ? ORDER BY seq",
                (after_seq, EXTERNAL),
            ).fetchall()
        return [self._checked(*row) for row in rows]

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
                        f"SELECT {_COLUMNS} FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                        (expected - 1, _PAGE),
                    ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise JournalCorrupt(self.path, expected, f"unreadable ({exc})") from None
            if not rows:
                return
            for row in rows:
                if row[0] != expected:
                    raise JournalCorrupt(
                        self.path, expected, f"missing entries {expected}..{row[0] - 1}"
                    )
                yield self._checked(*row)
                expected += 1

    def _checked(
        self, seq: int, ts: int, raw_type: bytes, payload: bytes, storage: str, crc: int
    ) -> JournalEntry:
        """One row as an entry, or ``JournalCorrupt`` naming its seq."""
        if storage != "blob" or zlib.crc32(payload) != crc:
            raise JournalCorrupt(self.path, seq, "payload checksum mismatch")
        type_name = raw_type.decode("utf-8", "replace")
        try:
            message = decode(payload)
        except msgspec.DecodeError as exc:
            raise JournalCorrupt(self.path, seq, f"undecodable {type_name}: {exc}") from None
        if type(message).__name__ != type_name or message.ts != ts:
            raise JournalCorrupt(self.path, seq, "row header disagrees with its payload")
        return JournalEntry(seq, ts, message)

    def messages(self) -> Iterator[Message]:
        return (entry.message for entry in self.entries())

    def close(self) -> None:
        with self._lock:
            self._db.close()
