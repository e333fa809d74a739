"""What a crash left unfinished in a SQLite write-ahead log.

SQLite itself never applies a torn write: at open it keeps the WAL's frames up to the last commit
frame whose salts and running checksum are valid, and ignores the rest. It says nothing about it,
though, and an operator whose node was killed (or whose machine lost power) mid-write should hear
that the journal's last, unfinished write was dropped and that everything before it is intact.
``torn_tail`` finds that unfinished part by the WAL format's own rules
(https://www.sqlite.org/fileformat.html#the_write_ahead_log): frames of the current generation
(the header's salts) after the last valid commit, and a trailing partial frame.
"""

from __future__ import annotations

import struct
from pathlib import Path

_HEADER = 32
_FRAME_HEADER = 24
_MAGIC = (0x377F0682, 0x377F0683)  # checksums in little-endian / big-endian words
_MASK = 0xFFFFFFFF


def _checksum(data: bytes, big_endian: bool, s1: int, s2: int) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s1 = (s1 + words[i] + s2) & _MASK
        s2 = (s2 + words[i + 1] + s1) & _MASK
    return s1, s2


def torn_tail(database: str | Path) -> int:
    """Bytes of the WAL beside ``database`` that SQLite will drop as an unfinished write (0 when
    there is no WAL, or it ends on a commit)."""
    wal = Path(f"{database}-wal")
    try:
        data = wal.read_bytes()
    except OSError:
        return 0
    if len(data) < _HEADER:
        return len(data)
    magic, _version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:_HEADER])
    if magic not in _MAGIC:
        return 0  # not a WAL SQLite would read: SQLite's own error says so
    big_endian = magic & 1 == 1
    s1, s2 = _checksum(data[:24], big_endian, 0, 0)
    if (s1, s2) != (c1, c2):
        return 0  # a header SQLite ignores: the whole log is from before a reset
    frame = _FRAME_HEADER + page_size
    committed = offset = _HEADER
    while offset + frame <= len(data):
        _page, commit_size, f_salt1, f_salt2, f_c1, f_c2 = struct.unpack(
            ">6I", data[offset : offset + _FRAME_HEADER]
        )
        if (f_salt1, f_salt2) != (salt1, salt2):
            break  # an older generation's frame: not part of this log
        s1, s2 = _checksum(data[offset : offset + 8], big_endian, s1, s2)
        s1, s2 = _checksum(data[offset + _FRAME_HEADER : offset + frame], big_endian, s1, s2)
        if (s1, s2) != (f_c1, f_c2):
            return len(data) - committed  # torn: this frame was never wholly written
        offset += frame
        if commit_size:
            committed = offset
    if offset + frame > len(data) > offset:
        return len(data) - committed  # a partial frame at the end
    return offset - committed  # frames of this generation after the last commit
