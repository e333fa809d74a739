"""Child client order ids: deterministic from parent, slice, attempt and leg, and fitted to each
venue's length and character rules.

The same child always gets the same id, so an order resent after a crash is recognisable at the
venue (which refuses a duplicate id) and found again by it. Where the readable form
``<parent>.<slice>.<attempt>.<leg>`` breaks a venue's rules, the id keeps what fits of the
parent's name and ends in a hash of the readable form: still deterministic, still unique.
"""

from __future__ import annotations

import hashlib
import re

from node.messages import VenueCapabilities

_HASH_CHARS = 12  # 48 bits of blake2b, base 16: collisions need ~16 million ids of one parent


def readable_child_id(parent_id: str, slice_id: int, attempt: int, leg: int) -> str:
    return f"{parent_id}.{slice_id}.{attempt}.{leg}"


def fit_client_id(readable: str, capabilities: VenueCapabilities) -> str:
    """``readable`` itself when the venue accepts it, else a deterministic short form."""
    allowed = re.compile(f"[{capabilities.client_id_chars}]")
    if len(readable) <= capabilities.client_id_max_length and all(
        allowed.fullmatch(c) for c in readable
    ):
        return readable
    digest = hashlib.blake2b(readable.encode(), digest_size=16).hexdigest()[:_HASH_CHARS]
    if not all(allowed.fullmatch(c) for c in digest):
        digest = "".join(c for c in digest if allowed.fullmatch(c)) or digest
    keep = max(0, capabilities.client_id_max_length - len(digest) - 1)
    prefix = "".join(c for c in readable if allowed.fullmatch(c))[:keep]
    separator = "-" if prefix and allowed.fullmatch("-") else ""
    if len(prefix) + len(separator) + len(digest) > capabilities.client_id_max_length:
        prefix, separator = "", ""
    return f"{prefix}{separator}{digest}"[: capabilities.client_id_max_length]


def child_order_id(
    parent_id: str, slice_id: int, attempt: int, leg: int, capabilities: VenueCapabilities
) -> str:
    return fit_client_id(readable_child_id(parent_id, slice_id, attempt, leg), capabilities)
