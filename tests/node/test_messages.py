"""Every message survives both wire forms (msgpack for journal and bus, JSON for tools) exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from node.codec import Codec, UnknownMessageType, core_codec, core_message_types, encode, to_json
from node.messages import (
    AccountValued,
    Bar,
    BarsFetched,
    BookDeltas,
    BookLevel,
    BookSnapshot,
    Command,
    ComponentFailed,
    Event,
    FetchBars,
    HaltTrading,
    MarketData,
    Message,
    OrderAccepted,
    OrderFilled,
    OrderPartiallyFilled,
    QuoteTick,
    SubmitOrder,
    TimerFired,
    TradeTick,
    ValueAccount,
)

MESSAGE_TYPES = core_message_types()
decode = core_codec().decode
decode_json = core_codec().decode_json

# --------------------------------------------------------------------------------------------
# A sample of every message type, every field filled (optional ones too), built from the types'
# own field declarations, so a message type added later is covered without touching this file.


def _sample(t: msgspec.inspect.Type, path: str, default: Any = msgspec.NODEFAULT) -> Any:
    """A value of type ``t`` that differs from ``default``, so every field is really encoded."""
    i = msgspec.inspect
    if isinstance(t, i.IntType):
        return 1_700_000_000_123_456_789
    if isinstance(t, i.StrType):
        return f"{path}-é✓"  # non-ASCII on purpose
    if isinstance(t, i.BoolType):
        return default is not True
    if isinstance(t, i.DecimalType):
        # Not representable as a binary float; trailing zero kept as written.
        return Decimal("12345.678901234567890120")
    if isinstance(t, i.LiteralType):
        return next(v for v in reversed(t.values) if v != default)
    if isinstance(t, i.UnionType):
        return _sample(next(x for x in t.types if not isinstance(x, i.NoneType)), path)
    if isinstance(t, i.ListType):
        return [_sample(t.item_type, f"{path}[0]"), _sample(t.item_type, f"{path}[1]")]
    if isinstance(t, i.VarTupleType):
        return (_sample(t.item_type, f"{path}[0]"),)
    if isinstance(t, i.DictType):
        return {"BTC": _sample(t.value_type, f"{path}.BTC")}
    if isinstance(t, i.AnyType):
        return {"k": [1, "two", None, True]}  # round-trips as itself through msgpack and JSON
    if isinstance(t, i.StructType):
        return t.cls(**{f.name: _sample(f.type, f"{path}.{f.name}", f.default) for f in t.fields})
    raise AssertionError(f"no sample for {t!r} at {path}")  # pragma: no cover


def sample(cls: type[Message]) -> Message:
    return _sample(msgspec.inspect.type_info(cls), cls.__name__)


def minimal(cls: type[Message]) -> Message:
    """Only the required fields filled; defaults everywhere else."""
    info = msgspec.inspect.type_info(cls)
    return cls(**{f.name: _sample(f.type, f.name) for f in info.fields if f.required})


ALL = pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.__name__)


def test_message_types_are_found():
    names = {c.__name__ for c in MESSAGE_TYPES}
    assert {
        "SubmitOrder",
        "OrderFilled",
        "OrderPartiallyFilled",
        "TimerFired",
        "BookSnapshot",
    } <= names
    # Abstract bases and the private fill base are not messages of their own.
    assert not names & {"Message", "Command", "Event", "MarketData", "_Fill"}
    assert len(names) == len(MESSAGE_TYPES)


@ALL
def test_msgpack_round_trip(cls: type[Message]):
    for message in (sample(cls), minimal(cls)):
        data = encode(message)
        back = decode(data)
        assert type(back) is cls
        assert back == message
        assert encode(back) == data  # stable bytes: what the journal's CRC relies on


@ALL
def test_json_round_trip(cls: type[Message]):
    for message in (sample(cls), minimal(cls)):
        back = decode_json(to_json(message))
        assert type(back) is cls
        assert back == message
        assert decode_json(to_json(message).decode()) == message  # str input too


@ALL
def test_tag_is_the_class_name(cls: type[Message]):
    # The journal stores ``type(message).__name__`` beside the payload and checks they agree.
    assert msgspec.msgpack.decode(encode(minimal(cls)))["type"] == cls.__name__
    assert msgspec.json.decode(to_json(minimal(cls)))["type"] == cls.__name__


@ALL
def test_messages_are_frozen(cls: type[Message]):
    message = sample(cls)
    with pytest.raises(AttributeError):
        message.ts = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        cls(0)  # keyword-only


def _fill(**kw: Any) -> OrderFilled:
    base: dict[str, Any] = dict(
        client_order_id="c1",
        venue="sim",
        venue_order_id="v1",
        trade_id="t1",
        symbol="BTC/USDT",
        side="buy",
        price=Decimal("65000.1"),
        quantity=Decimal("0.001"),
        fee=Decimal("0.0000001"),
        fee_currency="BTC",
        liquidity="taker",
        cumulative_quantity=Decimal("0.001"),
        leaves_quantity=Decimal(0),
        ts=1,
    )
    base.update(kw)
    return OrderFilled(**base)


def test_decimal_exactness():
    three_tenths = Decimal("0.1") + Decimal("0.2")
    assert three_tenths == Decimal("0.3")
    assert 0.1 + 0.2 != 0.3  # what a float on the wire would have done
    fill = _fill(price=three_tenths, quantity=Decimal("1.10"), fee=Decimal("-0.000000000000000001"))

    raw = msgspec.msgpack.decode(encode(fill))
    assert raw["price"] == "0.3"  # decimals travel as strings, never as floats
    assert raw["quantity"] == "1.10"
    for back in (decode(encode(fill)), decode_json(to_json(fill))):
        assert isinstance(back.price, Decimal)
        assert str(back.price) == "0.3"
        assert str(back.quantity) == "1.10"  # the exponent survives, not only the value
        assert back.fee == Decimal("-1E-18")
        assert back.price + Decimal("0.7") == Decimal("1.0")
    assert b'"price":"0.3"' in to_json(fill)

    big = Decimal("123456789012345678901234567890.123456789012345678901234567890")
    assert decode(encode(_fill(price=big))).price == big


def test_nested_decimals_exact():
    book = BookSnapshot(
        venue="sim",
        symbol="BTC/USDT",
        bids=[BookLevel(Decimal("0.1") + Decimal("0.2"), Decimal("0.30"))],
        asks=[BookLevel(Decimal("0.4"), Decimal("1e-8"))],
        ts=3,
    )
    back = decode(encode(book))
    assert back == book
    assert str(back.bids[0].price) == "0.3"
    assert str(back.bids[0].size) == "0.30"
    assert str(back.asks[0].size) == "1E-8"
    # BookLevel is array_like: a level is two strings on the wire.
    assert msgspec.msgpack.decode(encode(book))["bids"] == [["0.3", "0.30"]]


def test_similar_types_decode_to_their_own_class():
    fields = {f.name: getattr(_fill(), f.name) for f in msgspec.structs.fields(OrderFilled)}
    partial = OrderPartiallyFilled(**fields)
    assert type(decode(encode(partial))) is OrderPartiallyFilled
    assert type(decode(encode(_fill()))) is OrderFilled
    assert decode(encode(partial)) != decode(encode(_fill()))


def test_unknown_tag_fails_to_decode():
    payload = msgspec.msgpack.encode({"type": "OrderTeleported", "ts": 1, "venue": "sim"})
    with pytest.raises(UnknownMessageType, match="OrderTeleported"):
        decode(payload)
    with pytest.raises(msgspec.ValidationError, match="OrderTeleported"):
        decode_json(b'{"type": "OrderTeleported", "ts": 1}')


def test_untagged_or_damaged_payloads_fail_to_decode():
    with pytest.raises(msgspec.ValidationError, match="type"):
        decode(msgspec.msgpack.encode({"ts": 1, "reason": "x"}))
    with pytest.raises(msgspec.ValidationError):
        decode(msgspec.msgpack.encode({"type": "HaltTrading", "ts": 1}))  # required field missing
    with pytest.raises(msgspec.ValidationError, match="side"):
        decode(msgspec.msgpack.encode(msgspec.to_builtins(_fill()) | {"side": "long"}))
    with pytest.raises(msgspec.DecodeError):
        decode(encode(_fill())[:-3])  # truncated


def test_journaled_flags():
    market_data = [c for c in MESSAGE_TYPES if issubclass(c, MarketData)]
    assert set(market_data) == {BookSnapshot, BookDeltas, TradeTick, QuoteTick, Bar}
    for cls in MESSAGE_TYPES:
        # what decides nothing and is asked for again after a restart is not journaled
        unjournaled = (TimerFired, ValueAccount, AccountValued, FetchBars, BarsFetched)
        expected = not (issubclass(cls, MarketData) or cls in unjournaled)
        assert cls.journaled is expected, cls.__name__
    # A ClassVar, not a field: it is never on the wire.
    assert "journaled" not in msgspec.msgpack.decode(encode(minimal(HaltTrading)))
    assert isinstance(minimal(SubmitOrder), Command)
    assert isinstance(minimal(OrderAccepted), Event)
    assert isinstance(minimal(ComponentFailed), Event)


def test_every_field_is_exercised_by_the_samples():
    # Guard for the generic sampler: a default left in place would not test the field's encoding.
    for cls in MESSAGE_TYPES:
        message = sample(cls)
        for f in msgspec.structs.fields(cls):
            if f.default is not msgspec.NODEFAULT and f.name != "ts":
                assert getattr(message, f.name) != f.default, f"{cls.__name__}.{f.name}"


class PluginNoted(Event, frozen=True, kw_only=True):
    """A plugin's own event type, as a plugin would define it."""

    note: str
    amount: Decimal


def test_a_codec_built_with_plugin_types_reads_them_back():
    message = PluginNoted(note="hi", amount=Decimal("1.50"), ts=7)
    with pytest.raises(UnknownMessageType, match="PluginNoted"):
        core_codec().decode(encode(message))
    codec = Codec([*MESSAGE_TYPES, PluginNoted])
    assert codec.decode(encode(message)) == message
    assert codec.decode_json(to_json(message)) == message
    assert codec.decode(encode(_fill())) == _fill()  # the core's types still decode


def test_two_types_with_one_tag_are_refused():
    class OrderFilled(Event, frozen=True, kw_only=True):
        x: int

    with pytest.raises(ValueError, match="tag 'OrderFilled'"):
        Codec([*MESSAGE_TYPES, OrderFilled])
