"""Commands an operator gives a node: ``halt``, ``reduce-only``, ``resume``, ``submit``,
``cancel``, ``status`` and ``watch``.

A running node is reached through its control API (its URL is in the journal's lock file). A
stopped node's kill switch is set through its journal: the command is appended (holding the
journal's one-writer lock for the moment it takes), marked as an operator's, and obeyed when the
node next starts — before its first start too, so ``halt`` arms the kill switch of a node that
has never run.
"""

from __future__ import annotations

import argparse
import os
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from node.cli.common import load
from node.cli.errors import UserError


def _client(config: Any, plugins: Any) -> Any | None:
    """The running node's client, or None when no node runs on this config."""
    from node.client import NodeClient
    from node.journal import running_node

    holder = running_node(config.journal_path)
    if holder is None:
        return None
    if not holder.control_url:
        raise UserError(
            f"a node runs on {config.path} ({holder.describe()}) without a control API: "
            "it cannot take commands until it stops (enable [node.control])",
            exit_code=1,
        )
    env = config.node.control.token_env
    return NodeClient(
        holder.control_url, os.environ.get(env) if env else None, codec=plugins.codec()
    )


def _refused(exc: Exception) -> UserError:
    return UserError(str(exc), exit_code=1)


def cmd_operator(args: argparse.Namespace) -> int:
    from node.client import NodeClientError
    from node.messages import HaltTrading, ReduceOnly, ResumeTrading

    config, plugins = load(args.config)
    now = time.time_ns()
    source = f"cli pid {os.getpid()}"
    if args.command == "halt":
        command: Any = HaltTrading(
            reason=args.reason, cancel_open_orders=not args.keep_orders, ts=now, source=source
        )
    elif args.command == "reduce-only":
        command = ReduceOnly(reason=args.reason, ts=now, source=source)
    else:
        command = ResumeTrading(reason=args.reason, ts=now, source=source)
    client = _client(config, plugins)
    if client is not None:
        try:
            answer = client.command(command)
        except NodeClientError as exc:
            raise _refused(exc) from None
        print(f"node {config.node.name!r} (running): {answer.detail}")
        return 0
    return _journal_command(config, plugins, command)


def _journal_command(config: Any, plugins: Any, command: Any) -> int:
    from node.journal import EXTERNAL, Journal, JournalLock, make_folder
    from node.messages import ReduceOnly, TradingStateChanged

    path = config.journal_path
    lock = JournalLock(path)
    make_folder(path)
    lock.acquire()  # a node starting now waits for nothing: it finds the lock and says so
    try:
        journal = Journal(path, codec=plugins.codec())
        try:
            state = None
            for entry in journal.entries():
                if isinstance(entry.message, TradingStateChanged):
                    state = entry.message
            if isinstance(command, ReduceOnly) and state is not None and state.state == "halted":
                raise UserError(
                    f"trading is halted ({state.reason}): reduce-only would not apply; resume "
                    "first, then set reduce-only",
                    exit_code=1,
                )
            seq = journal.append(command, sender="operator", destination="risk", origin=EXTERNAL)
        finally:
            journal.close()
    finally:
        lock.release()
    first = " (the node has not run yet: it starts that way)" if seq == 1 else ""
    print(
        f"{type(command).__name__} journaled for node {config.node.name!r} (seq {seq}); no node "
        f"is running: it is obeyed when the node next starts{first}"
    )
    return 0


def _params(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON when they parse as JSON (numbers, true, lists),
    text otherwise."""
    import msgspec

    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--param {item!r}: expected KEY=VALUE")
        try:
            params[key] = msgspec.json.decode(value)
        except msgspec.DecodeError:
            params[key] = value
    return params


def _decimal(text: str | None, what: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserError(f"{what} {text!r}: not a number") from None
    if not value.is_finite() or value <= 0:
        raise UserError(f"{what} {text}: must be a finite number > 0")
    return value


def _running(config: Any, plugins: Any) -> Any:
    client = _client(config, plugins)
    if client is None:
        raise UserError(f"no node is running on {config.path}", exit_code=1)
    return client


def cmd_submit(args: argparse.Namespace) -> int:
    from node.client import NodeClientError
    from node.messages import SubmitParentOrder

    config, plugins = load(args.config)
    quantity = _decimal(args.quantity, "--quantity")
    order = SubmitParentOrder(
        parent_id=args.parent_id or f"cli-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
        symbol=args.symbol,
        side=args.side,
        quantity=quantity,  # type: ignore[arg-type]
        algo=args.algo,
        limit_price=_decimal(args.limit, "--limit"),
        venues=args.venue or None,
        params=_params(args.param),
    )
    client = _running(config, plugins)
    try:
        answer = client.submit(order)
    except NodeClientError as exc:
        if exc.status is None and not args.parent_id:
            # No answer (a timeout, a dropped connection): the order may have reached the node.
            # Its id was made here, so only that id makes a second try safe.
            raise UserError(
                f"{exc}; order {order.parent_id} may have reached it: to try again, submit "
                f"with --parent-id {order.parent_id} (the node works an id once)",
                exit_code=1,
            ) from None
        raise _refused(exc) from None
    print(f"{answer.parent_id}: {answer.detail}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from node.client import NodeClientError

    config, plugins = load(args.config)
    client = _running(config, plugins)
    try:
        answer = client.cancel(args.parent_id, args.reason or "")
    except NodeClientError as exc:
        raise _refused(exc) from None
    print(f"{answer.parent_id}: {answer.detail}")
    return 0


def cmd_complete(args: argparse.Namespace) -> int:
    from node.client import NodeClientError

    config, plugins = load(args.config)
    bps = _decimal(args.max_slippage_bps, "--max-slippage-bps")
    client = _running(config, plugins)
    try:
        answer = client.complete(args.parent_id, bps, args.reason or "")  # type: ignore[arg-type]
    except NodeClientError as exc:
        raise _refused(exc) from None
    print(f"{answer.parent_id}: {answer.detail}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from node.cli.status import print_status
    from node.client import NodeClientError

    config, plugins = load(args.config)
    client = _running(config, plugins)
    try:
        state = client.state()
    except NodeClientError as exc:
        raise _refused(exc) from None
    print_status(state)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from node.cli.status import watch
    from node.client import NodeClientError

    config, plugins = load(args.config)
    try:
        return watch(_running(config, plugins), args.seconds)
    except NodeClientError as exc:
        raise _refused(exc) from None


def add_commands(sub: Any) -> None:
    for name, text in (
        ("halt", "stop trading: refuse new orders and cancel open ones (the kill switch)"),
        ("reduce-only", "accept only orders that reduce a position"),
        ("resume", "trade again after a halt or reduce-only (once you have reconciled)"),
    ):
        description = (
            f"{text}. A running node obeys at once through its control API; for a stopped "
            "node the command is journaled and obeyed when it next starts."
        )
        p = sub.add_parser(name, help=text, description=description)
        p.add_argument("config")
        p.add_argument("--reason", required=True, help="why (journaled with the command)")
        if name == "halt":
            p.add_argument("--keep-orders", action="store_true", help="do not cancel open orders")
        p.set_defaults(func=cmd_operator)

    text = "submit a parent order to a running node (idempotent by --parent-id)"
    p = sub.add_parser("submit", help=text, description=text)
    p.add_argument("config")
    p.add_argument("--symbol", required=True)
    p.add_argument("--side", choices=["buy", "sell"], required=True)
    p.add_argument("--quantity", required=True)
    p.add_argument("--algo", default="route", help="execution algorithm (default: route)")
    p.add_argument("--limit", help="limit price: never crossed")
    p.add_argument("--venue", action="append", default=[], help="only these venues (repeat)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an algorithm parameter, e.g. duration_s=300 (repeat)",
    )
    p.add_argument("--parent-id", help="the order's id (default: made from time and pid)")
    p.set_defaults(func=cmd_submit)

    text = "cancel a parent order on a running node: no child order is left open"
    p = sub.add_parser("cancel", help=text, description=text)
    p.add_argument("config")
    p.add_argument("parent_id")
    p.add_argument("--reason")
    p.set_defaults(func=cmd_cancel)

    text = (
        "finish a working parent order now: cancel what rests, take what is left within "
        "--max-slippage-bps of its arrival mid"
    )
    p = sub.add_parser("complete", help=text, description=text)
    p.add_argument("config")
    p.add_argument("parent_id")
    p.add_argument("--max-slippage-bps", required=True, help="the guard, in bps of the mid")
    p.add_argument("--reason")
    p.set_defaults(func=cmd_complete)

    text = "a running node at a glance: venues, positions, NAV, open parent orders"
    p = sub.add_parser("status", help=text, description=text)
    p.add_argument("config")
    p.set_defaults(func=cmd_status)

    text = "watch a running node: progress bars per parent order and fills as they happen"
    p = sub.add_parser("watch", help=text, description=text)
    p.add_argument("config")
    p.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    p.set_defaults(func=cmd_watch)
