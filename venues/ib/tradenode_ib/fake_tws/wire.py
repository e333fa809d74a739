"""The TWS API text framing: 4-byte big-endian length, then NUL-terminated string fields.

Every value the server sends goes through :func:`field`, so numbers never reach the wire in a
form the client's ``int()``/``float()`` cannot read (no ``1E+2``, no ``True``).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from decimal import Decimal

# TWS itself refuses frames above 16 MB; a bigger length prefix means a corrupt stream.
MAX_FRAME = 0xFFFFFF
API_SIGN = b"API\0"
UNSET_DOUBLE_TEXT = "1.7976931348623157E308"
"""How TWS writes an unset double (e.g. the realized PnL of an opening execution)."""

_VERSION_RANGE = re.compile(rb"v(\d+)\.\.(\d+)")

Field = str | int | Decimal | bool | None


def field(value: Field) -> str:
    """One field as TWS writes it: bools as 1/0, decimals in plain notation, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "") else text
    if isinstance(value, int):
        return str(int(value))  # plain digits for IntEnum members too
    return value


def frame(fields: Iterable[Field]) -> bytes:
    """Length-prefix a message made of ``fields``."""
    payload = "".join(field(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def prefixed(payload: bytes) -> bytes:
    """Length-prefix raw bytes (used for recorded frames and deliberate garbage)."""
    return struct.pack(">I", len(payload)) + payload


def split_fields(payload: bytes) -> list[str]:
    """The fields of one frame's payload (the trailing NUL ends the last field)."""
    fields = payload.decode(errors="backslashreplace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


def parse_version_range(payload: bytes) -> tuple[int, int]:
    """The ``v<min>..<max>`` range a client offers in its hello; ValueError if there is none."""
    match = _VERSION_RANGE.match(payload)
    if not match:
        raise ValueError(f"no version range in client hello {payload[:40]!r}")
    return int(match.group(1)), int(match.group(2))
