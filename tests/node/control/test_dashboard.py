"""The dashboard in a real browser (Debian's headless Chromium driven by Playwright).

The main test runs ``tradenode demo --serve`` as a user would and drives its page: the demo's
venues and positions show, the kill switch (with its confirmation) halts the node, an order
submitted while halted waits at 0 and its progress bar moves to complete once trading resumes.
Screenshots are saved (their folder is printed) and every command the page sent is found in the
journal with where it came from. Every wait is bounded; nothing asserts on how long it took.
"""

from __future__ import annotations

import functools
import queue
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

from control_node import TOKEN, WAIT_S

from node.client import NodeClient
from node.journal import Journal
from node.messages import HaltTrading, ResumeTrading, SubmitParentOrder
from node.plugins import load_plugins

D = Decimal
WAIT_MS = WAIT_S * 1000
DASH_1_STATE = "() => document.querySelector('#orders tr[data-parent=\"dash-1\"]')?.dataset.state"


def _serve_demo(journal: Path) -> tuple[subprocess.Popen[str], str, queue.Queue[str]]:
    """``tradenode demo --serve`` in a process of its own; its URL from the line it prints."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node.cli",
            "demo",
            "--serve",
            "--port",
            "0",
            "--no-open",
            "--duration",
            "20",
            "--journal",
            str(journal),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=_pump, args=(stdout, lines), daemon=True).start()
    try:
        first = lines.get(timeout=60)  # a bound for a loaded machine, not a speed claim
    except queue.Empty:
        proc.kill()
        raise AssertionError(f"demo --serve printed nothing: {proc.stderr.read()}") from None  # type: ignore[union-attr]
    assert first.startswith("tradenode demo: dashboard at http://127.0.0.1:"), first
    assert "its orders worked as TWAPs over 20 s" in first
    return proc, first.split(" at ", 1)[1].split("/ ", 1)[0], lines


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    """Each line the demo prints, as it prints it, until its stdout closes."""
    try:
        for line in stream:
            lines.put(line)
    except ValueError:  # the test closed the pipe on its side: nothing more to read
        pass


def _drain(lines: queue.Queue[str]) -> list[str]:
    out = []
    while not lines.empty():
        out.append(lines.get_nowait())
    return out


def _confirm(page, button: str, title: str) -> None:
    page.click(button)
    dialog = page.locator("#confirm")
    dialog.wait_for(state="visible", timeout=WAIT_MS)
    assert page.text_content("#confirm-title") == title
    page.click("#confirm-yes")
    dialog.wait_for(state="hidden", timeout=WAIT_MS)


def _until(page, script: str, what: str) -> None:
    """Polls ``script`` in the page until it is true (the page's content policy forbids the
    eval behind ``wait_for_function``), failing after a bound."""
    deadline = time.monotonic() + WAIT_S
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"the page never showed {what}"
        page.wait_for_timeout(100)


def _shot(page, artefacts: Path, name: str) -> Path:
    path = artefacts / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def test_the_demo_served_live_on_the_dashboard(browser, artefacts, tmp_path):
    journal = tmp_path / "demo.journal.sqlite"
    proc, url, lines = _serve_demo(journal)
    problems: list[str] = []
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on(
            "console",
            lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
        )
        page.goto(url + "/")

        # the demo's four venues, connected, with their balances
        venues = page.locator("#venues tbody tr")
        venues.nth(3).wait_for(timeout=WAIT_MS)
        assert venues.count() == 4
        for name in ("bitfinex", "bittrex", "bitstamp", "coinbase"):
            row = page.locator(f'#venues tr[data-venue="{name}"]')
            assert "connected" in row.inner_text()
            assert "USD" in row.inner_text()
        # its TWAPs working and their positions building up, valued on a NAV line
        page.locator('#orders tr[data-parent="demo-btc-buy"]').wait_for(timeout=WAIT_MS)
        page.locator('#positions tr[data-position^="BTC/USD@"]').first.wait_for(timeout=WAIT_MS)
        page.locator('#positions tr[data-position^="ETH/USD@"]').first.wait_for(timeout=WAIT_MS)
        _until(page, "() => model.nav.length >= 3", "three NAV points")
        assert page.text_content("#nav-value").endswith(" USD")
        drawn = page.evaluate(
            """() => {
                const c = document.getElementById('nav-chart');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let blue = 0;
                for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 200 && d[i] < 120) blue++;
                return blue;
            }"""
        )
        assert drawn > 50, "the NAV line is not drawn"
        assert page.text_content("#trading") == "active"
        _shot(page, artefacts, "1-demo-running.png")

        # the kill switch, confirmed, halts the node
        _confirm(page, "#halt", "Halt trading?")
        _until(
            page, "() => document.getElementById('trading').dataset.state === 'halted'", "halted"
        )
        client = NodeClient(url)
        assert client.state().trading_state == "halted"

        # an order submitted now waits at 0 …
        order = SubmitParentOrder(
            parent_id="dash-1",
            symbol="BTC/USD",
            side="buy",
            quantity=D("0.6"),
            algo="twap",
            params={"duration_s": 6, "slices": 3},
            source="dashboard test",
        )
        assert client.submit(order).state == "waiting"
        row = page.locator('#orders tr[data-parent="dash-1"]')
        row.wait_for(timeout=WAIT_MS)
        _until(page, DASH_1_STATE + " === 'waiting'", "dash-1 waiting")
        assert row.get_attribute("data-fraction") == "0.0000"
        page.evaluate(
            """() => {
                window.seenFractions = [];
                new MutationObserver(() => {
                    const row = document.querySelector('#orders tr[data-parent="dash-1"]');
                    if (row) window.seenFractions.push(Number(row.dataset.fraction));
                }).observe(document.querySelector('#orders tbody'), {childList: true});
            }"""
        )
        _shot(page, artefacts, "2-halted-order-waiting.png")

        # … and once trading resumes its progress bar moves to complete
        _confirm(page, "#resume", "Resume trading?")
        _until(page, DASH_1_STATE + " === 'completed'", "dash-1 completed")
        assert row.get_attribute("data-fraction") == "1.0000"
        assert "filled" in row.locator("td.state").inner_text()
        width = row.locator(".bar .fill").evaluate("e => e.style.width")
        assert width == "100%"
        seen = page.evaluate("window.seenFractions")
        assert seen and seen == sorted(seen) and seen[-1] == 1.0
        page.locator('#fills tr:has-text("dash-1")').first.wait_for(timeout=WAIT_MS)
        assert page.text_content("#trading") == "active"
        _shot(page, artefacts, "3-resumed-order-filled.png")
        assert problems == []
        client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    rest = "".join(_drain(lines)) + out
    assert proc.returncode == 0, err
    assert "tradenode demo — node 'demo': 4 simulated venues" in rest
    assert "live runtime" in rest and "positions, each marked" in rest

    codec = load_plugins().codec()
    journal_rows = Journal(journal, codec=codec, readonly=True)
    try:
        rows = list(journal_rows.entries())
    finally:
        journal_rows.close()
    commands = [e for e in rows if isinstance(e.message, (HaltTrading, ResumeTrading))]
    assert [type(e.message) for e in commands] == [HaltTrading, ResumeTrading]
    for e in commands:
        assert e.sender == "control"
        assert e.message.source.startswith("api 127.0.0.1:")
        assert e.message.source.endswith("(dashboard)")
    assert commands[0].message.reason == "halted from the dashboard"
    (submitted,) = [
        e
        for e in rows
        if isinstance(e.message, SubmitParentOrder) and e.message.parent_id == "dash-1"
    ]
    assert submitted.message.source.endswith("(dashboard test)")


def test_the_page_asks_for_the_token_once_and_keeps_it_for_the_tab(browser, start_node, artefacts):
    live = start_node(token=True)
    context = browser.new_context()
    page = context.new_page()
    page.goto(live.url + "/")
    dialog = page.locator("#token-dialog")
    dialog.wait_for(state="visible", timeout=WAIT_MS)
    page.fill("#token-input", "not-the-token")
    page.click("#token-ok")
    _until(
        page,
        "() => document.querySelector('#token-dialog p').textContent === 'That token was refused.'",
        "the token refused",
    )
    dialog.wait_for(state="visible", timeout=WAIT_MS)
    _shot(page, artefacts, "4-token-asked.png")
    page.fill("#token-input", TOKEN)
    page.click("#token-ok")
    page.locator('#venues tr[data-venue="binance"]').wait_for(timeout=WAIT_MS)
    assert page.evaluate("sessionStorage.getItem('tradenode.token')") == TOKEN
    page.reload()
    page.locator('#venues tr[data-venue="binance"]').wait_for(timeout=WAIT_MS)
    assert not dialog.is_visible()
    assert TOKEN not in page.content()
    context.close()


def test_a_page_on_another_site_cannot_halt_the_node(browser, start_node, tmp_path):
    live = start_node()
    (tmp_path / "index.html").write_text("<!doctype html><title>elsewhere</title>")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{elsewhere.server_address[1]}/")
        outcome = page.evaluate(
            """async (target) => {
                const body = JSON.stringify({reason: "forged"});
                // a "simple" request: sent without asking, its answer unreadable
                const simple = await fetch(target, {method: "POST", mode: "no-cors", body,
                                                    headers: {"Content-Type": "text/plain"}});
                let cors;
                try {  // a JSON body needs the API's consent first, which it never gives
                    await fetch(target, {method: "POST", body,
                                         headers: {"Content-Type": "application/json"}});
                    cors = "sent";
                } catch (error) {
                    cors = "blocked";
                }
                return {simple: simple.type, cors};
            }""",
            f"{live.url}/api/halt",
        )
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
    assert outcome == {"simple": "opaque", "cors": "blocked"}
    with live.http() as http:
        assert http.get("/api/state").json()["trading_state"] == "active"
        # commands reach risk in the order the API took them: a forged halt would come first
        http.post("/api/halt", json={"reason": "genuine"})
    live.wait_for(lambda m: getattr(m, "state", None) == "halted")
    assert [e.message.reason for e in live.journaled(HaltTrading)] == ["genuine"]
