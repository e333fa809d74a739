"""One decoder for the union of every message type: the core's and the plugins'.

msgspec decodes a tagged union only for the types it was built with, so the decoder is built
after plugins have registered theirs (``tradenode_register_messages``). The journal and any
external bus use the node's ``Codec``; a journal row of a type no installed plugin provides is
named as such rather than reported as damage.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, Union

import msgspec

from node import messages
from node.messages import Command, Event, MarketData, Message

_BASES = (Message, Command, Event, MarketData)


def core_message_types() -> tuple[type[Message], ...]:
    """The concrete message classes defined in ``node.messages``, by name."""
    found = [
        obj
        for obj in vars(messages).values()
        if isinstance(obj, type)
        and issubclass(obj, Message)
        and obj.__module__ == messages.__name__
        and obj not in _BASES
        and not obj.__name__.startswith("_")
    ]
    return tuple(sorted(found, key=lambda c: c.__name__))


class UnknownMessageType(ValueError):
    """A payload names a message type this node's codec was not built with."""


class Codec:
    """Encodes any message to msgpack/JSON and decodes the union of ``types``."""

    def __init__(self, types: Iterable[type[Message]]) -> None:
        self.types: dict[str, type[Message]] = {}
        for cls in types:
            tag = _tag(cls)
            other = self.types.get(tag)
            if other is not None and other is not cls:
                raise ValueError(
                    f"two message types use the tag {tag!r}: {_where(other)} and {_where(cls)}"
                )
            self.types[tag] = cls
        union: Any = Union[tuple(self.types.values())]  # noqa: UP007 - a runtime-built union
        self._decoder = msgspec.msgpack.Decoder(union)
        self._json_decoder = msgspec.json.Decoder(union)
        self._tag_only = msgspec.msgpack.Decoder(_Tagged)

    def decode(self, data: bytes) -> Message:
        """msgpack bytes → the message type named by its tag; ``UnknownMessageType`` if the
        tag is not one of ours, ``msgspec.DecodeError`` if the bytes are damaged."""
        try:
            return self._decoder.decode(data)
        except msgspec.ValidationError:
            tag = self._tag_of(data)
            if tag is not None and tag not in self.types:
                raise UnknownMessageType(tag) from None
            raise

    def decode_json(self, data: bytes | str) -> Message:
        return self._json_decoder.decode(data)

    def _tag_of(self, data: bytes) -> str | None:
        try:
            return self._tag_only.decode(data).type
        except msgspec.DecodeError:
            return None


class _Tagged(msgspec.Struct):
    type: str


def _tag(cls: type[Message]) -> str:
    info = msgspec.inspect.type_info(cls)
    tag = getattr(info, "tag", None)
    return str(tag if tag is not None else cls.__name__)


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_encoder = msgspec.msgpack.Encoder(decimal_format="string")


def encode(message: Message) -> bytes:
    """Any message as msgpack (the journal's and the bus's wire form)."""
    return _encoder.encode(message)


def to_json(message: Any) -> bytes:
    return msgspec.json.encode(message)


@functools.cache
def core_codec() -> Codec:
    """A codec of the core's types only (tools that load no plugins)."""
    return Codec(core_message_types())
