"""Fixtures for the control tests: live nodes on loopback (see ``control_node``) and a browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from control_node import CONFIG, TOKEN, TOKEN_ENV, LiveNode

from node.config import load_config
from node.node import Node
from node.plugins import load_plugins
from node.runtime.recorder import Recorder


@pytest.fixture(scope="session")
def plugins():
    return load_plugins()


@pytest.fixture
def start_node(tmp_path: Path, plugins, monkeypatch) -> Iterator[Callable[..., LiveNode]]:
    """Starts live nodes on ``tmp_path``; every one is stopped after the test."""
    started: list[LiveNode] = []

    def start(token: bool = False) -> LiveNode:
        control = ""
        if token:
            monkeypatch.setenv(TOKEN_ENV, TOKEN)
            control = f'[node.control]\ntoken_env = "{TOKEN_ENV}"'
        config_path = tmp_path / "node.toml"
        config_path.write_text(CONFIG.format(control=control))
        recorder = Recorder()
        node = Node(load_config(config_path, plugins), plugins, extra=[recorder])
        node.start()
        live = LiveNode(node, config_path, recorder, TOKEN if token else None)
        started.append(live)
        live.until_ready()
        return live

    yield start
    for live in started:
        live.stop()


def chromium_path() -> str:
    """Debian's chromium (Playwright cannot download its own browser here); the test fails,
    saying what to install, when it is missing."""
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "headless Chromium is missing: install it with `apt-get update && apt-get install -y "
        "--no-install-recommends chromium fonts-dejavu-core` (the dashboard tests drive it)"
    )


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium; Playwright gives each launch a new, empty profile."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory) -> Path:
    """Where the dashboard tests save screenshots: ``$TRADENODE_TEST_ARTEFACTS/dashboard`` when
    set (for CI to keep), else pytest's temporary folder; the tests print the paths."""
    root = os.environ.get("TRADENODE_TEST_ARTEFACTS")
    if not root:
        return tmp_path_factory.mktemp("dashboard")
    path = Path(root).resolve() / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path
