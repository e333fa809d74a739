"""Recorded market data readers: each turns one file format into timed market-data messages.

A reader never guesses: a gap in update ids, an unknown format or a truncated file raises
``SourceError`` naming the file and line.
"""

from tradenode_sim.sources.errors import SourceError

__all__ = ["SourceError"]
