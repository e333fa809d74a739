"""The journal: every journaled command and event, appended before it takes effect.

It is the node's source of truth. On start the node rebuilds orders, positions and running parent
orders from it. Rows live in an embedded SQLite database in WAL mode; each row carries a CRC32 of
its msgpack payload so that damage is detected and named on read, never skipped, and says who sent
the message, to whom (``*`` for a publish) and which parent order it belongs to.

One journal has one writer: a running node holds ``<journal>.lock`` (an OS file lock, released by
the kernel when the process dies, so a killed node's lock is taken over safely). The WAL is
checkpointed into the main file periodically and on close, so the ``.sqlite`` file alone is never
far behind; ``backup`` copies a consistent journal while the node runs.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from node.codec import Codec, UnknownMessageType, core_codec, encode
from node.component import Envelope
from node.messages import Message
from node.wal import torn_tail

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
_COLUMNS_ADDED = (
    ("sender", "TEXT NOT NULL DEFAULT ''"),
    ("destination", "TEXT NOT NULL DEFAULT '*'"),
    ("correlation", "TEXT"),
)
_INDEX = "CREATE INDEX IF NOT EXISTS journal_correlation ON journal (correlation, seq)"
_TYPE_INDEX = "CREATE INDEX IF NOT EXISTS journal_type ON journal (type, seq)"
_CHECKPOINT_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY,
    through_seq INTEGER NOT NULL,
    expected INTEGER NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS checkpoint_part (
    id INTEGER NOT NULL,
    component TEXT NOT NULL,
    payload BLOB NOT NULL,
    crc INTEGER NOT NULL,
    PRIMARY KEY (id, component)
)
"""
#: Rows written by another process (an operator's ``tradenode halt`` while no node runs).
EXTERNAL = "external"

log = logging.getLogger("tradenode.journal")

_PAGE = 10_000
#: Checkpoint the WAL into the main file after this many appends (and on close).
_CHECKPOINT_EVERY = 5_000
# Read as raw bytes, so that a damaged row is named by its own seq rather than failing the read.
_COLUMNS = (
    "seq, ts, CAST(type AS BLOB), CAST(payload AS BLOB), typeof(payload), crc, sender, destination"
)


class JournalCorrupt(RuntimeError):
    """The journal cannot be trusted from ``seq`` on; the node must not start on it."""

    def __init__(self, path: str, seq: int | None, problem: str) -> None:
        where = f"{path} at seq {seq}" if seq is not None else path
        super().__init__(f"journal {where}: {problem}")
        self.path = path
        self.seq = seq


class JournalUnavailable(RuntimeError):
    """The journal cannot be opened for this use (permissions, a file where a folder should be,
    held by another node); the message says which and what to do."""


class JournalUnwritable(RuntimeError):
    """An append failed (disk full, file made read-only): nothing more may take effect."""


@dataclass(frozen=True)
class Checkpoint:
    """Components' states as of ``through_seq``: a start loads them and reads only the rows
    after it."""

    id: int
    through_seq: int
    states: dict[str, bytes]


class History:
    """The journal rows a start restores from (those after ``after_seq``), read page by page
    each time it is iterated: every component reads them in turn, and none is held in memory."""

    def __init__(self, journal: Journal, after_seq: int = 0) -> None:
        self.journal = journal
        self.after_seq = after_seq

    def __iter__(self) -> Iterator[Envelope]:
        return self.journal.envelopes(after_seq=self.after_seq)


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    ts: int
    message: Message
    sender: str = ""
    destination: str = "*"


def _problem(path: str, exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in text:
        return f"journal {path} is read-only: the node cannot record anything there"
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
        parent = Path(path).parent
        if parent.exists() and not parent.is_dir():
            return f"journal {path}: {parent} is a file, not a folder"
        if not os.access(parent, os.W_OK):
            return f"journal {path}: no permission to write in {parent}"
        return f"journal {path} cannot be opened ({text})"
    if isinstance(exc, sqlite3.OperationalError) and "disk" in text:
        return f"journal {path}: the disk is full ({text})"
    return f"journal {path}: {text}"


class Journal:
    """Append-only, thread-safe message log in SQLite.

    ``sync="full"`` fsyncs every commit (survives power loss); ``"normal"`` (the default) is
    durable against a crash of the process, which is what WAL guarantees without an fsync per
    row. ``readonly`` opens an existing journal for reading only (reports, exports).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        sync: Literal["normal", "full"] = "normal",
        codec: Codec | None = None,
        readonly: bool = False,
    ) -> None:
        self.path = str(path)
        self.codec = codec or core_codec()
        self.readonly = readonly
        self._lock = threading.Lock()
        self._appended = 0
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if parent.exists() and not parent.is_dir():
                raise JournalUnavailable(f"journal {self.path}: {parent} is a file, not a folder")
            if readonly and not Path(self.path).exists():
                raise JournalUnavailable(f"journal {self.path} does not exist")
        #: bytes of an unfinished last write that SQLite drops at this open (a crash mid-write)
        self.torn_bytes = 0
        if self.path != ":memory:" and not readonly:
            self.torn_bytes = torn_tail(self.path)
            if self.torn_bytes:
                log.warning(
                    "journal %s: its last write was cut short by a crash (%d bytes of an "
                    "unfinished transaction); dropped, everything before it is intact",
                    self.path,
                    self.torn_bytes,
                )
        try:
            if readonly:
                uri = Path(self.path).resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                if self.path != ":memory:":
                    self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={sync.upper()}")
            self._db.execute("PRAGMA busy_timeout=10000")
            if not readonly:
                self._db.execute(_SCHEMA)
                self._migrate()
            row = self._db.execute("SELECT max(seq) FROM journal").fetchone()
        except sqlite3.OperationalError as exc:
            raise JournalUnavailable(_problem(self.path, exc)) from None
        except sqlite3.DatabaseError as exc:
            raise JournalCorrupt(self.path, None, f"not a readable journal ({exc})") from None
        self._seq = row[0] or 0
        self._has_routing = self._columns() >= {"sender", "destination", "correlation"}

    def _columns(self) -> set[str]:
        return {row[1] for row in self._db.execute("PRAGMA table_info(journal)")}

    def _migrate(self) -> None:
        """Journals written before rows named sender, destination and parent get the columns
        (empty for the old rows)."""
        have = self._columns()
        for name, spec in _COLUMNS_ADDED:
            if name not in have:
                self._db.execute(f"ALTER TABLE journal ADD COLUMN {name} {spec}")
        self._db.execute(_INDEX)
        self._db.execute(_TYPE_INDEX)
        self._db.executescript(_CHECKPOINT_SCHEMA)

    @property
    def last_seq(self) -> int:
        return self._seq

    def append(
        self,
        message: Message,
        *,
        sender: str = "node",
        destination: str = "*",
        origin: str = "node",
    ) -> int:
        """Append ``message``; its seq is the next one in the file.

        ``JournalUnwritable`` when the write fails (disk full, read-only): the caller must not
        let the message take effect.
        """
        payload = encode(message)
        correlation = getattr(message, "parent_id", None) if message.correlated else None
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT INTO journal (ts, type, payload, crc, origin, sender, destination,"
                    " correlation) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        message.ts,
                        type(message).__name__,
                        payload,
                        zlib.crc32(payload),
                        origin,
                        sender,
                        destination,
                        correlation,
                    ),
                )
            except sqlite3.Error as exc:
                raise JournalUnwritable(_problem(self.path, exc)) from None
            self._seq = cursor.lastrowid or self._seq
            self._appended += 1
            if self._appended % _CHECKPOINT_EVERY == 0:
                self._checkpoint("PASSIVE")
            return self._seq

    def _checkpoint(self, mode: str) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute(f"PRAGMA wal_checkpoint({mode})")

    def verify(self) -> str:
        """SQLite's own structural check of the whole file (``ok`` when sound). Slow on a long
        journal, so not done at every start: each row's checksum is checked as it is read."""
        with self._lock:
            return str(self._db.execute("PRAGMA quick_check").fetchone()[0])

    def entries(
        self,
        after_seq: int = 0,
        *,
        correlation: str | None = None,
        upto_seq: int | None = None,
        types: tuple[str, ...] = (),
    ) -> Iterator[JournalEntry]:
        """Entries after ``after_seq`` (of one parent order when ``correlation`` is given), in
        order; ``JournalCorrupt`` at the first bad row.

        Rows are read in pages (a long journal is never all in memory) and as raw bytes, so a
        damaged row is named by its own seq rather than failing the whole read. A gap in the
        sequence is damage when reading everything; one parent's rows are naturally sparse.
        """
        where = "seq > ?"
        params: list[Any] = []
        if correlation is not None:
            where += " AND correlation = ?"
            params.append(correlation)
        if upto_seq is not None:
            where += " AND seq <= ?"
            params.append(upto_seq)
        if types:
            # One parent's rows are few: with a correlation, "+type" keeps SQLite from picking
            # the type index instead (every row of that type in the journal, however old).
            column = "+type" if correlation is not None else "type"
            where += f" AND {column} IN ({', '.join('?' for _ in types)})"
            params.extend(types)
        sparse = correlation is not None or bool(types)
        last = after_seq
        while True:
            try:
                with self._lock:
                    rows = self._db.execute(
                        f"SELECT {self._select()} FROM journal WHERE {where} ORDER BY seq LIMIT ?",
                        (last, *params, _PAGE),
                    ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise JournalCorrupt(self.path, last + 1, f"unreadable ({exc})") from None
            if not rows:
                return
            for row in rows:
                if not sparse and row[0] != last + 1:
                    raise JournalCorrupt(
                        self.path, last + 1, f"missing entries {last + 1}..{row[0] - 1}"
                    )
                yield self._checked(*row)
                last = row[0]

    def _select(self) -> str:
        return (
            _COLUMNS
            if self._has_routing
            else _COLUMNS.replace(", sender, destination", ", '', '*'")
        )

    def envelopes(
        self, *, correlation: str | None = None, upto_seq: int | None = None, after_seq: int = 0
    ) -> Iterator[Envelope]:
        for e in self.entries(after_seq, correlation=correlation, upto_seq=upto_seq):
            yield Envelope(e.seq, e.sender, e.destination, e.message)

    def external_since(self, after_seq: int) -> list[JournalEntry]:
        """Entries another process appended after ``after_seq`` (operators' commands)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._select()} FROM journal WHERE seq > ? AND origin = ? ORDER BY seq",
                (after_seq, EXTERNAL),
            ).fetchall()
        return [self._checked(*row) for row in rows]

    def _checked(
        self,
        seq: int,
        ts: int,
        raw_type: bytes,
        payload: bytes,
        storage: str,
        crc: int,
        sender: str,
        destination: str,
    ) -> JournalEntry:
        """One row as an entry, or ``JournalCorrupt`` naming its seq."""
        if storage != "blob" or zlib.crc32(payload) != crc:
            raise JournalCorrupt(self.path, seq, "payload checksum mismatch")
        type_name = raw_type.decode("utf-8", "replace")
        try:
            message = self.codec.decode(payload)
        except UnknownMessageType as exc:
            if type_name in self.codec.types or str(exc) != type_name:
                raise JournalCorrupt(
                    self.path, seq, f"undecodable {type_name}: its payload names type {exc}"
                ) from None
            raise JournalCorrupt(
                self.path,
                seq,
                f"a {type_name} message, a type no installed plugin provides "
                "(was the plugin that wrote it uninstalled?)",
            ) from None
        except msgspec.DecodeError as exc:
            raise JournalCorrupt(self.path, seq, f"undecodable {type_name}: {exc}") from None
        if type(message).__name__ != type_name or message.ts != ts:
            raise JournalCorrupt(self.path, seq, "row header disagrees with its payload")
        return JournalEntry(seq, ts, message, sender, destination)

    def messages(self) -> Iterator[Message]:
        return (entry.message for entry in self.entries())

    # -- checkpoints ------------------------------------------------------------------------------

    def begin_checkpoint(self, through_seq: int, expected: int) -> None:
        """Open the checkpoint of ``expected`` components' states as of row ``through_seq``
        (the row of its marker); it is complete when every one has written its part."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO checkpoint (id, through_seq, expected) VALUES (?, ?, ?)",
                    (through_seq, through_seq, expected),
                )
            except sqlite3.Error as exc:
                raise JournalUnwritable(_problem(self.path, exc)) from None

    def write_checkpoint_part(self, checkpoint_id: int, component: str, payload: bytes) -> bool:
        """Store one component's state; True when that made the checkpoint complete."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT OR REPLACE INTO checkpoint_part VALUES (?, ?, ?, ?)",
                    (checkpoint_id, component, payload, zlib.crc32(payload)),
                )
                done = self._db.execute(
                    "SELECT count(*) >= (SELECT expected FROM checkpoint WHERE id = ?) "
                    "FROM checkpoint_part WHERE id = ?",
                    (checkpoint_id, checkpoint_id),
                ).fetchone()[0]
                if done:
                    self._db.execute(
                        "UPDATE checkpoint SET complete = 1 WHERE id = ?", (checkpoint_id,)
                    )
                    # Older checkpoints are no longer needed to start: keep the journal small.
                    self._db.execute("DELETE FROM checkpoint_part WHERE id < ?", (checkpoint_id,))
                    self._db.execute("DELETE FROM checkpoint WHERE id < ?", (checkpoint_id,))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise JournalUnwritable(_problem(self.path, exc)) from None
            return bool(done)

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest complete checkpoint, each part's checksum verified."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, through_seq FROM checkpoint WHERE complete = 1 ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            parts = self._db.execute(
                "SELECT component, CAST(payload AS BLOB), crc FROM checkpoint_part WHERE id = ?",
                (row[0],),
            ).fetchall()
        states = {}
        for component, payload, crc in parts:
            if zlib.crc32(payload) != crc:
                raise JournalCorrupt(
                    self.path, None, f"checkpoint {row[0]}: {component}'s state fails its checksum"
                )
            states[component] = payload
        return Checkpoint(row[0], row[1], states)

    def backup(self, destination: str | Path) -> int:
        """Copy the journal, consistent as of now, with SQLite's online backup; the rows copied."""
        target = sqlite3.connect(str(destination))
        try:
            with self._lock:
                self._db.backup(target)
            return target.execute("SELECT count(*) FROM journal").fetchone()[0]
        finally:
            target.close()

    def close(self) -> None:
        with self._lock:
            if not self.readonly:
                self._checkpoint("TRUNCATE")
            self._db.close()


# --------------------------------------------------------------------------------------------
# One writer per journal


def make_folder(journal_path: str | Path) -> None:
    """The journal's folder, made if missing; ``JournalUnavailable`` saying why it cannot be."""
    folder = Path(journal_path).parent
    for part in (folder, *folder.parents):
        if part.exists() and not part.is_dir():
            raise JournalUnavailable(f"journal {journal_path}: {part} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalUnavailable(
            f"journal {journal_path}: cannot make its folder {folder}: {exc.strerror or exc}"
        ) from None


class JournalLocked(JournalUnavailable):
    """Another live process holds the journal."""


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    started: str
    control_url: str | None = None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}"


class JournalLock:
    """The one-writer lock of a journal: ``<journal>.lock``, held with ``flock`` for as long
    as the node runs. The file also says who holds it and where its control API listens."""

    def __init__(self, journal_path: str | Path) -> None:
        self.path = Path(f"{journal_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``JournalLocked`` naming the holder."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            why = "read-only file system" if exc.errno == errno.EROFS else exc.strerror or exc
            raise JournalUnavailable(
                f"journal {str(self.path)[:-5]} cannot be written: its lock {self.path.name}: {why}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_lock_holder(self.path)
            who = holder.describe() if holder else "another process"
            raise JournalLocked(
                f"journal {str(self.path)[:-5]} is in use by a running node ({who}); "
                "one journal has one writer: stop that node or give this one its own journal"
            ) from None
        self._fd = fd
        self.update(control_url=None)

    def update(self, control_url: str | None) -> None:
        """Record who holds the lock (and, once it listens, the node's control API)."""
        if self._fd is None:
            return
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "control_url": control_url,
        }
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(info).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def read_lock_holder(lock_path: str | Path) -> LockHolder | None:
    try:
        info = json.loads(Path(lock_path).read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or "pid" not in info:
        return None
    return LockHolder(
        int(info["pid"]),
        str(info.get("host", "?")),
        str(info.get("started", "?")),
        info.get("control_url"),
    )


def running_node(journal_path: str | Path) -> LockHolder | None:
    """The node holding this journal right now, or None (the lock is free or stale)."""
    lock = Path(f"{journal_path}.lock")
    if not lock.exists():
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_lock_holder(lock) or LockHolder(0, "?", "?")
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
