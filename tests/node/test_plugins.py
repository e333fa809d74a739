"""Plugin discovery: separately installed distributions found by entry point, each loaded guarded.

The third-party plugins live in ``tests/fixtures/plugins/site`` as modules with their
``.dist-info`` (no pip involved). A subprocess gets that folder on ``PYTHONPATH`` and calls the
real ``load_plugins()``, so ``importlib.metadata`` finds them exactly as it would installed ones.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from node import hookimpl
from node.plugins import REGISTRATION_HOOKS, PluginStatus, load_plugins
from node.registry import RegistrationError, Registry

SITE = Path(__file__).resolve().parents[1] / "fixtures" / "plugins" / "site"

PROBE = textwrap.dedent(
    """
    import json
    import msgspec
    from node.plugins import load_plugins

    plugins = load_plugins()
    out = {
        "statuses": [
            {
                "name": s.name, "distribution": s.distribution, "version": s.version,
                "module": s.module, "kinds": s.kinds, "error": s.error, "ok": s.ok,
            }
            for s in plugins.statuses
        ],
        "registries": {
            kind: {
                r.name: {
                    "plugin": r.plugin,
                    "target": getattr(r.target, "__module__", "?") + ":"
                    + getattr(r.target, "__qualname__", type(r.target).__qualname__),
                    "config": None if r.config_type is None
                    else r.config_type.__module__ + ":" + r.config_type.__qualname__,
                }
                for r in registry
            }
            for kind, registry in plugins.registries.items()
        },
        "hello_config": None,
        "managed": sorted(name for name, _ in plugins.manager.list_name_plugin()),
    }
    if "hello" in plugins.venues:
        config_type = plugins.venues.get("hello").config_type
        config = msgspec.convert({"greeting": "hi", "latency_ms": 3}, config_type)
        out["hello_config"] = msgspec.to_builtins(config)
        try:
            msgspec.convert({"greting": "typo"}, config_type)
        except msgspec.ValidationError as exc:
            out["hello_config_error"] = str(exc)
    errors = []
    plugins.call_lifecycle("tradenode_started", lambda p, e: errors.append([p, e]), node=None)
    out["lifecycle_errors"] = errors
    print(json.dumps(out))
    """
)


def probe(extra_path: Path | None) -> dict[str, Any]:
    """Runs ``load_plugins()`` in a fresh interpreter, ``extra_path`` first on its path."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the fixture folder as it is
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if extra_path is not None:
        paths.insert(0, str(extra_path))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr  # a broken plugin is never fatal
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def with_fixtures() -> dict[str, Any]:
    return probe(SITE)


def status(result: dict[str, Any], name: str) -> SimpleNamespace:
    found = [s for s in result["statuses"] if s["name"] == name]
    assert len(found) == 1, f"{name!r} among {[s['name'] for s in result['statuses']]}"
    return SimpleNamespace(**found[0])


def test_fixture_site_is_a_valid_distribution_folder():
    dist_infos = sorted(p.name for p in SITE.glob("*.dist-info"))
    assert "tradenode_hello-0.1.0.dist-info" in dist_infos
    for d in SITE.glob("*.dist-info"):
        metadata = (d / "METADATA").read_text()
        assert metadata.startswith("Metadata-Version: 2.1\n")
        assert (d / "entry_points.txt").read_text().startswith("[tradenode]\n")


def test_installed_plugin_is_discovered_and_loaded(with_fixtures: dict[str, Any]):
    hello = status(with_fixtures, "hello")
    assert hello.ok and hello.error is None
    assert hello.distribution == "tradenode-hello"
    assert hello.version == "0.1.0"
    assert hello.module == "tradenode_hello"
    assert hello.kinds == ["venue", "risk-check"]

    venue = with_fixtures["registries"]["venue"]["hello"]
    assert venue == {
        "plugin": "hello",
        "target": "tradenode_hello:HelloVenue",
        "config": "tradenode_hello:HelloConfig",
    }
    check = with_fixtures["registries"]["risk-check"]["hello-max-quantity"]
    assert check["plugin"] == "hello"
    assert check["target"] == "tradenode_hello:max_quantity"
    assert check["config"] == "tradenode_hello:MaxQuantity"
    # The registered msgspec config struct works as a config section's type.
    assert with_fixtures["hello_config"] == {"greeting": "hi", "latency_ms": 3}
    assert "greting" in with_fixtures["hello_config_error"]
    assert "hello" in with_fixtures["managed"]


def test_plugin_failing_at_import_is_reported_not_fatal(with_fixtures: dict[str, Any]):
    broken = status(with_fixtures, "broken")
    assert not broken.ok
    assert broken.distribution == "tradenode-broken" and broken.version == "0.1.0"
    assert broken.error.startswith("failed to load: ImportError: ")
    assert "tradenode_broken needs libquantum, which is not installed" in broken.error
    assert "tradenode_broken" in broken.error and "__init__.py:3" in broken.error  # where
    assert broken.kinds == []
    assert "broken" not in with_fixtures["managed"]


def test_plugin_whose_hook_raises_is_reported_and_left_out(with_fixtures: dict[str, Any]):
    bad = status(with_fixtures, "badhook")
    assert not bad.ok
    assert bad.distribution == "tradenode-badhook" and bad.version == "0.2.0"
    assert bad.error.startswith("failed to register risk-checks: RuntimeError: ")
    assert "badhook cannot read its limits table" in bad.error
    # Nothing it registered stays: neither the check from the failing hook nor its venue.
    assert "badhook-check" not in with_fixtures["registries"]["risk-check"]
    assert "badhook-venue" not in with_fixtures["registries"]["venue"]
    assert bad.kinds == []  # it registers nothing, so it lists no kind either
    # And it is out of the plugin manager: its lifecycle hook is not called.
    assert "badhook" not in with_fixtures["managed"]
    assert with_fixtures["lifecycle_errors"] == []


def test_duplicate_name_across_plugins_names_both(with_fixtures: dict[str, Any]):
    again = status(with_fixtures, "hello-again")
    assert not again.ok
    assert again.distribution == "tradenode-hello-again"
    assert "RegistrationError" in again.error
    assert "venue 'hello' registered by both 'hello' and 'hello-again'" in again.error
    # The first registration is untouched.
    assert with_fixtures["registries"]["venue"]["hello"]["plugin"] == "hello"
    assert "hello-again" not in with_fixtures["managed"]


def test_builtin_plugins_still_load_beside_broken_ones(with_fixtures: dict[str, Any]):
    sim = status(with_fixtures, "sim")
    assert sim.ok, sim.error
    assert sim.distribution == "tradenode-sim"
    assert sim.module == "tradenode_sim.plugin"
    assert "venue" in sim.kinds
    assert with_fixtures["registries"]["venue"]["sim"]["plugin"] == "sim"

    risk = status(with_fixtures, "risk-checks")
    assert risk.ok, risk.error
    assert risk.distribution == "tradenode"
    assert risk.module == "node.risk_checks"
    assert risk.kinds == ["risk-check"]
    builtin = {
        name: check
        for name, check in with_fixtures["registries"]["risk-check"].items()
        if check["plugin"] != "hello"
    }
    assert builtin and {c["plugin"] for c in builtin.values()} == {"risk-checks"}
    assert {"sim", "risk-checks"} <= set(with_fixtures["managed"])


def test_fixture_plugins_are_only_there_when_on_the_path(with_fixtures: dict[str, Any]):
    fixture_names = {"hello", "broken", "badhook", "hello-again"}
    assert fixture_names <= {s["name"] for s in with_fixtures["statuses"]}
    # This process does not have the fixture folder on its path: nothing of it is visible here.
    here = {ep.name for ep in importlib.metadata.entry_points(group="tradenode")}
    assert {"sim", "risk-checks"} <= here
    assert not fixture_names & here
    # Statuses come sorted by entry-point name, every one of them reported.
    names = [s["name"] for s in with_fixtures["statuses"]]
    assert names == sorted(names)
    assert set(names) == fixture_names | here


# --------------------------------------------------------------------------------------------
# In-process: the registry and the guarded lifecycle calls


def test_registry_duplicate_names_both_plugins():
    registry: Registry[Any] = Registry("venue")
    registry.current_plugin = "first-plugin"
    registry.add("binance", object)
    registry.current_plugin = "second-plugin"
    with pytest.raises(
        RegistrationError,
        match="venue 'binance' registered by both 'first-plugin' and 'second-plugin'",
    ):
        registry.add("binance", dict)
    assert registry.get("binance").target is object
    assert registry.get("binance").plugin == "first-plugin"
    assert registry.names_from("first-plugin") == ["binance"]
    assert registry.names_from("second-plugin") == []


def test_registry_duplicate_within_one_plugin_names_it_twice():
    registry: Registry[Any] = Registry("risk-check")
    registry.current_plugin = "mine"
    registry.add("max-notional", len)
    with pytest.raises(
        RegistrationError, match="'max-notional' registered by both 'mine' and 'mine'"
    ):
        registry.add("max-notional", len)


def test_registry_lookup_and_bad_names():
    registry: Registry[Any] = Registry("algo")
    registry.current_plugin = "algos"
    registry.add("twap", object, dict)
    registry.add("vwap", object)
    assert "twap" in registry and "pov" not in registry
    assert [r.name for r in registry] == ["twap", "vwap"]
    assert registry.get("twap").config_type is dict
    with pytest.raises(KeyError, match=r"unknown algo 'pov' \(known: twap, vwap\)"):
        registry.get("pov")
    with pytest.raises(KeyError, match=r"known: none"):
        Registry("venue").get("x")
    for bad in ("", None, 3):
        with pytest.raises(RegistrationError, match="non-empty string"):
            registry.add(bad, object)  # type: ignore[arg-type]


def test_load_plugins_of_an_empty_group():
    plugins = load_plugins(group="tradenode-tests-no-such-group")
    assert plugins.statuses == []
    assert set(plugins.registries) == set(REGISTRATION_HOOKS)
    assert all(not list(r) for r in plugins.registries.values())
    assert plugins.venues.kind == "venue" and plugins.algos.kind == "algo"
    assert plugins.risk_checks.kind == "risk-check" and plugins.book_sources.kind == "book-source"


class _Crashes:
    @hookimpl
    def tradenode_started(self, node: Any) -> None:
        raise RuntimeError(f"cannot start with {node}")


class _Works:
    def __init__(self) -> None:
        self.started: list[Any] = []

    @hookimpl
    def tradenode_started(self, node: Any) -> None:
        self.started.append(node)


def test_lifecycle_hooks_are_guarded_per_plugin():
    plugins = load_plugins(group="tradenode-tests-no-such-group")
    works = _Works()
    plugins.manager.register(_Crashes(), name="crashes")
    plugins.manager.register(works, name="works")
    errors: list[tuple[str, str]] = []
    plugins.call_lifecycle("tradenode_started", lambda p, e: errors.append((p, e)), node="N1")
    assert works.started == ["N1"]
    assert errors == [("crashes", "tradenode_started: RuntimeError: cannot start with N1")]


def test_plugin_status_ok():
    assert PluginStatus("a", "d", "1", "m").ok
    assert not PluginStatus("a", "d", "1", "m", error="x").ok


def test_a_target_registered_by_name_is_imported_when_first_used():
    """Venue classes are registered as "module:Class": loading the plugins (every command
    does) imports none of them; a config that uses one imports that one only (the demo's
    simulated venues)."""
    probe = textwrap.dedent(
        """
        import sys
        from node.cli.common import demo_config_path
        from node.config import load_config
        from node.plugins import load_plugins
        venues = ("tradenode_sim.venue", "tradenode_ccxt.venue", "tradenode_alpaca.venue",
                  "tradenode_ib.venue", "tradenode_polygon.venue")
        plugins = load_plugins()
        print(sorted(m for m in venues if m in sys.modules))
        load_config(demo_config_path(), plugins)
        print(sorted(m for m in venues if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    assert out == ["[]", "['tradenode_sim.venue']"]


def test_a_target_named_that_cannot_be_imported_says_which_and_why():
    registry: Registry[Any] = Registry("venue")
    registry.current_plugin = "broken"
    registry.add("gone", "no_such_package.venue:GoneVenue")
    with pytest.raises(RegistrationError) as caught:
        registry.get("gone").target  # noqa: B018
    assert str(caught.value) == (
        "venue 'gone' of plugin 'broken' cannot be loaded from no_such_package.venue:GoneVenue: "
        "ModuleNotFoundError: No module named 'no_such_package'"
    )
    with pytest.raises(RegistrationError, match="is 'module:attribute', got 'NoColon'"):
        registry.add("bad", "NoColon")
