"""Turn msgspec's validation errors into lines a person fixes a config file with.

msgspec stops at the first error of a value; ``convert_all`` keeps going by setting the
offending key aside and converting again, so a section with three mistakes gets three lines.
Each line names the key path as written in the file and what was expected there.
"""

from __future__ import annotations

import copy
import decimal
import re
from typing import Any

import msgspec

_AT = re.compile(r" - at `\$(.*)`$")
_UNKNOWN = re.compile(r"Object contains unknown field `(.+)`")
_MISSING = re.compile(r"Object missing required field `(.+)`")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_MAX_PROBLEMS = 50
_NAN = re.compile(r"[+-]?s?nan\d*", re.IGNORECASE)


def _segments(path: str) -> list[str | int]:
    out: list[str | int] = []
    for name, index in _SEGMENT.findall(path):
        out.append(name if name else (int(index) if index.isdigit() else index))
    return out


def _choices(cls: Any, segments: list[str | int]) -> list[Any] | None:
    """The allowed values of the Literal field at ``segments`` inside ``cls``, if it is one."""
    info: Any = msgspec.inspect.type_info(cls)
    for segment in segments:
        while isinstance(info, msgspec.inspect.UnionType):
            members = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
            if len(members) != 1:
                return None
            info = members[0]
        if isinstance(info, msgspec.inspect.StructType) and isinstance(segment, str):
            fields = {f.encode_name: f.type for f in info.fields}
            if segment not in fields:
                return None
            info = fields[segment]
        elif isinstance(info, msgspec.inspect.DictType):
            info = info.value_type
        elif isinstance(info, (msgspec.inspect.ListType, msgspec.inspect.TupleType)):
            info = getattr(info, "item_type", None)
        else:
            return None
    while isinstance(info, msgspec.inspect.UnionType):
        literals = [t for t in info.types if isinstance(t, msgspec.inspect.LiteralType)]
        if len(literals) != 1:
            return None
        info = literals[0]
    return list(info.values) if isinstance(info, msgspec.inspect.LiteralType) else None


def describe(exc: msgspec.ValidationError, prefix: str, cls: Any) -> tuple[str, str, list]:
    """``(key path, what is wrong, path segments)`` for one msgspec error under ``prefix``."""
    text = str(exc)
    path = ""
    match = _AT.search(text)
    if match:
        text, path = text[: match.start()], match.group(1)
    segments = _segments(path)
    unknown = _UNKNOWN.match(text)
    if unknown:
        segments.append(unknown.group(1))
        key = f"{prefix}{path}.{unknown.group(1)}".strip(".")
        return key, "unknown key", segments
    if text.startswith("Invalid enum value"):
        choices = _choices(cls, segments)
        if choices:
            text += " (expected one of: " + ", ".join(repr(c) for c in choices) + ")"
    return f"{prefix}{path}".strip(".") or "(top level)", text, segments


def _set_aside(data: Any, segments: list[str | int]) -> bool:
    """Remove the value at ``segments`` from ``data``; False if there is nothing to remove."""
    if not segments:
        return False
    node = data
    for segment in segments[:-1]:
        try:
            node = node[segment]
        except (KeyError, IndexError, TypeError):
            return False
    last = segments[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    return False


def _key(prefix: str, segments: list[str | int]) -> str:
    path = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in segments)
    return f"{prefix}{path}".strip(".") or "(top level)"


def _nan_at(work: Any, path: list[str | int] | None = None) -> list[str | int] | None:
    """The path of the first NaN in ``work`` (a float nan or a string Decimal reads as NaN)."""
    path = path or []
    if isinstance(work, dict):
        items: Any = work.items()
    elif isinstance(work, list):
        items = enumerate(work)
    else:
        if isinstance(work, float) and work != work:
            return path
        if isinstance(work, str) and _NAN.fullmatch(work.strip()):
            return path
        return None
    for name, item in items:
        found = _nan_at(item, [*path, name])
        if found is not None:
            return found
    return None


def convert_all(data: Any, cls: Any, prefix: str) -> tuple[Any, list[str]]:
    """Convert ``data`` to ``cls``; on failure, ``(None, every problem found)``."""
    problems: list[str] = []
    work = copy.deepcopy(data)
    removed: set[str] = set()
    while len(problems) < _MAX_PROBLEMS:
        try:
            value = msgspec.convert(work, cls, strict=False)
        except decimal.InvalidOperation:
            # a NaN compared in a struct's checks: name the key that holds it
            segments = _nan_at(work)
            if segments is None:
                problems.append(f"{prefix or '(top level)'}: not a number (NaN)")
                break
            key = _key(prefix, segments)
            problems.append(f"{key}: must be a finite number, got NaN")
            if not _set_aside(work, segments):
                break
            removed.add(key)
        except msgspec.ValidationError as exc:
            key, what, segments = describe(exc, prefix, cls)
            missing = _MISSING.match(what)
            if missing and f"{key}.{missing.group(1)}".strip(".") in removed:
                break  # we set that key aside ourselves; its problem is already reported
            problems.append(f"{key}: {what}")
            if not _set_aside(work, segments):
                break
            removed.add(key)
        else:
            return (value, []) if not problems else (None, problems)
    return None, problems
