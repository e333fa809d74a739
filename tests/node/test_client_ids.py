"""Child client order ids fitted to venues' rules (``node.client_ids``).

The router names each child ``<parent>.<slice>.<attempt>.<leg>`` (``child_order_id``) and fits
it to the venue's ``client_id_max_length`` / ``client_id_chars``. The ids must be the same for
the same child in any process (a resend after a crash is recognised by the venue), stay within
the venue's rules, and never collide between different children.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from itertools import product

import pytest

from node.client_ids import child_order_id, fit_client_id, readable_child_id
from node.messages import VenueCapabilities

# The exchanges' rules as the ccxt adapter declares them (tradenode_ccxt.client_ids.RULES).
KRAKEN = VenueCapabilities(client_id_max_length=18, client_id_chars="A-Za-z0-9-")
OKX = VenueCapabilities(client_id_max_length=32, client_id_chars="A-Za-z0-9")
BINANCE = VenueCapabilities(client_id_max_length=36, client_id_chars="A-Za-z0-9._:-")
RULES = {"kraken": KRAKEN, "okx": OKX, "binance": BINANCE}

#: parent ids as they reach the node: the CLI's default, operators' names, API clients' UUIDs,
#: ids sharing long prefixes, and characters no venue here allows
PARENTS = [
    *(f"cli-20250314-0930{s:02d}-{pid}" for s in range(4) for pid in (4121, 4122, 41213)),
    *(f"twap-eth-{n}" for n in range(1, 12)),
    *(f"p{n}" for n in range(10)),
    "3f2b9c1e-8a4d-4f6b-9e2a-7c5d1b0a9e84",
    "3f2b9c1e-8a4d-4f6b-9e2a-7c5d1b0a9e85",
    "desk/alice#42",
    "desk/alice#43",
    "rebalance 2025-03-14 BTC",
    "rebalance_2025-03-14_BTC",
    "ordre-été-1",
    "x" * 80,
    "x" * 81,
]
SLICES = range(1, 25)  # a TWAP's slices
ATTEMPTS = range(1, 5)  # the first routing and up to three re-routes
LEGS = range(1, 5)  # children of one attempt (venues × price bands)


def every_child() -> list[tuple[str, int, int, int]]:
    return list(product(PARENTS, SLICES, ATTEMPTS, LEGS))


def allowed(capabilities: VenueCapabilities) -> re.Pattern[str]:
    return re.compile(f"[{capabilities.client_id_chars}]+")


@pytest.mark.parametrize("venue", RULES)
def test_ids_fit_the_venue_and_never_collide(venue):
    caps = RULES[venue]
    children = every_child()
    assert len(children) > 10_000
    ids: dict[str, tuple[str, int, int, int]] = {}
    for child in children:
        cid = child_order_id(*child, caps)
        assert 0 < len(cid) <= caps.client_id_max_length, (child, cid)
        assert allowed(caps).fullmatch(cid), (child, cid)
        other = ids.setdefault(cid, child)
        assert other == child, f"{other} and {child} both became {cid!r} at {venue}"
    assert len(ids) == len(children)


@pytest.mark.parametrize("venue", RULES)
def test_the_same_child_always_gets_the_same_id(venue):
    caps = RULES[venue]
    for child in every_child()[::97]:
        first = child_order_id(*child, caps)
        assert child_order_id(*child, caps) == first
        assert fit_client_id(readable_child_id(*child), caps) == first


def test_the_ids_are_the_same_in_another_process():
    """A restarted node (another interpreter, another hash seed) names its children alike."""
    children = every_child()[::211]
    here = [[child_order_id(*c, caps) for caps in RULES.values()] for c in children]
    script = (
        "import json, sys\n"
        "from node.client_ids import child_order_id\n"
        "from node.messages import VenueCapabilities as C\n"
        "rules = [C(client_id_max_length=n, client_id_chars=c)\n"
        "         for n, c in json.loads(sys.argv[1])]\n"
        "children = json.loads(sys.argv[2])\n"
        "print(json.dumps([[child_order_id(*c, r) for r in rules] for c in children]))\n"
    )
    rules = [[c.client_id_max_length, c.client_id_chars] for c in RULES.values()]
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(rules), json.dumps(children)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert json.loads(out.stdout) == here


def test_an_id_the_venue_accepts_is_kept_as_it_is():
    readable = readable_child_id("p-cut", 3, 2, 1)
    assert readable == "p-cut.3.2.1"
    assert fit_client_id(readable, BINANCE) == readable
    assert child_order_id("twap-eth-7", 12, 4, 3, BINANCE) == "twap-eth-7.12.4.3"
    longest = readable_child_id("a" * 30, 1, 1, 1)
    assert len(longest) == 36 and fit_client_id(longest, BINANCE) == longest
    # one character over: shortened, to exactly the limit
    over = readable_child_id("a" * 31, 1, 1, 1)
    assert fit_client_id(over, BINANCE) != over and len(fit_client_id(over, BINANCE)) == 36


@pytest.mark.parametrize("venue", RULES)
def test_a_fitted_id_is_a_fixed_point(venue):
    """Fitting is idempotent: a fitted id already fits, so fitting it again keeps it."""
    caps = RULES[venue]
    for child in every_child()[::53]:
        cid = child_order_id(*child, caps)
        assert fit_client_id(cid, caps) == cid


def test_a_shortened_id_keeps_what_fits_of_the_parent_and_ends_in_a_hash():
    kraken = child_order_id("cli-20250314-093001-4121", 1, 1, 1, KRAKEN)
    assert re.fullmatch(r"cli-2-[0-9a-f]{12}", kraken), kraken
    okx = child_order_id("cli-20250314-093001-4121", 1, 1, 1, OKX)
    assert re.fullmatch(r"cli2025031409300141[0-9a-f]{12}", okx), okx
    binance = child_order_id("3f2b9c1e-8a4d-4f6b-9e2a-7c5d1b0a9e84", 2, 1, 1, BINANCE)
    assert re.fullmatch(r"3f2b9c1e-8a4d-4f6b-9e2a-[0-9a-f]{12}", binance), binance


def test_attempts_of_one_slice_differ_where_the_readable_form_is_cut():
    """Parents whose names fill the venue's length differ only in the hash: re-routes of one
    slice (the same parent, slice and leg) must still get ids of their own."""
    parent = "y" * 40
    for caps in RULES.values():
        ids = {child_order_id(parent, 1, attempt, 1, caps) for attempt in range(1, 200)}
        assert len(ids) == 199
