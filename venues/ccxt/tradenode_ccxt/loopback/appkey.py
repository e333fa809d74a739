"""The aiohttp application key under which every handler finds its exchange."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from tradenode_ccxt.loopback.server import LoopbackExchange

EXCHANGE: web.AppKey[LoopbackExchange] = web.AppKey("exchange")
