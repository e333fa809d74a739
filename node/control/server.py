"""Serves the control API with uvicorn on a thread of its own, on a socket bound up front (so
port 0 gets a free port whose number is known before anyone connects)."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable

import uvicorn

from node.control.api import create_app
from node.control.component import ControlComponent

log = logging.getLogger("tradenode.control")


class ControlServerError(RuntimeError):
    """The control API cannot start (address in use, no permission, an empty token)."""


def serve(
    host: str, port: int, token: str | None
) -> Callable[[ControlComponent], tuple[str, Callable[[], None]]]:
    """A ``serve`` function for ``ControlComponent``: binds, starts uvicorn, returns the URL and
    how to stop it."""

    def start(control: ControlComponent) -> tuple[str, Callable[[], None]]:
        if token is not None and not token.strip():
            raise ControlServerError("the control API's token is empty: set a real one")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ControlServerError(f"control API cannot listen on {host}:{port}: {exc}") from None
        sock.listen(128)
        bound = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(control, token, _loopback_hosts(host, bound)),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="tradenode-control", daemon=True
        )
        thread.start()
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        url = f"http://{shown}:{bound}"

        def stop() -> None:
            server.should_exit = True
            thread.join(timeout=5)
            sock.close()

        return url, stop

    return start


def _loopback_hosts(host: str, port: int) -> list[str] | None:
    """The ``Host`` headers a loopback API answers (a page on another site that rebinds its
    name to 127.0.0.1 is refused); None for any other address, where a token is required."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return None
    return [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
