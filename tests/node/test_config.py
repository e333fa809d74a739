"""``load_config``: a bad file raises ``ConfigError`` with one line per problem, each naming the
file, the key path and what was expected; a good file loads. Secrets come from the environment
and never show in a repr.

The plugins are the installed ones (``load_plugins``); one test registers an extra venue config
struct with a ``*_env`` field, because the simulated venue has none.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from tradenode_sim.config import SimVenueConfig

from node.cli.common import demo_config_path
from node.config import ConfigError, NodeConfig, Secret, _env_fields, load_config, secret
from node.plugins import load_plugins
from node.venue import Venue

D = Decimal

NODE = '[node]\nname = "t"\n'
SIM_VENUE = """
[venues.{name}]
plugin = "sim"
source = "order-graph"
source_venue = "bitstamp"
files = ["sim:order-graph/run1-1.json"]
symbols."BTC/USD" = {{ tick_size = "0.01", lot_size = "0.00000001" }}
"""


@pytest.fixture
def plugins():
    return load_plugins()


def problems(tmp_path: Path, plugins, text: str, name: str = "node.toml") -> tuple[str, list[str]]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, plugins)
    error = caught.value
    assert str(error) == "\n".join(error.problems)
    for line in error.problems:
        assert line.startswith(str(path)), line
        assert "\n" not in line
    return str(path), error.problems


# --------------------------------------------------------------------------------------------
# One problem each


def test_malformed_toml_is_one_problem_with_its_position(tmp_path, plugins):
    file, found = problems(tmp_path, plugins, '[node\nname = "t"\n')
    (line,) = found
    assert line.startswith(f"{file}: not valid TOML: ")
    assert "line 1" in line


def test_unknown_top_level_key(tmp_path, plugins):
    file, found = problems(tmp_path, plugins, "bogus = 1\n" + NODE)
    assert found == [
        f"{file}: bogus: unknown key (expected one of node, orders, rebalance, restart, risk, "
        "router, venues)"
    ]


def test_unknown_key_inside_node(tmp_path, plugins):
    file, found = problems(tmp_path, plugins, NODE + 'colour = "red"\n')
    assert found == [f"{file}: node.colour: unknown key"]


def test_unknown_key_inside_a_venue_is_caught_by_the_plugin_struct(tmp_path, plugins):
    text = NODE + SIM_VENUE.format(name="a") + "typo_fee_bps = 3\n"
    file, found = problems(tmp_path, plugins, text)
    assert found == [f"{file}: venues.a.typo_fee_bps: unknown key"]


def test_unknown_key_nested_in_a_venue_names_the_path_down_to_it(tmp_path, plugins):
    text = NODE + SIM_VENUE.format(name="a").replace('lot_size = "0.00000001"', "colour = 1")
    file, found = problems(tmp_path, plugins, text)
    # msgspec does not say which dict key it was in: the symbol shows as [...]
    assert found == [f"{file}: venues.a.symbols[...].colour: unknown key"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            NODE + '[router]\nmax_reroutes = "many"\n',
            "router.max_reroutes: Expected `int`, got `str`",
        ),
        (
            NODE + "[restart]\nbackoff_ms = [1]\n",
            "restart.backoff_ms: Expected `float`, got `array`",
        ),
        (
            NODE
            + SIM_VENUE.format(name="a").replace(
                'files = ["sim:order-graph/run1-1.json"]', 'files = "run1-1.json"'
            ),
            "venues.a.files: Expected `array`, got `str`",
        ),
        (
            NODE + SIM_VENUE.format(name="a") + 'taker_fee_bps = "abc"\n',
            "venues.a.taker_fee_bps: Invalid decimal string",
        ),
        (
            NODE
            + '[[orders]]\nparent_id = "p"\nsymbol = "BTC/USD"\nside = "buy"\nquantity = true\n',
            "orders[0].quantity: Expected `decimal`, got `bool`",
        ),
    ],
    ids=["router-int", "restart-float", "venue-list", "venue-decimal", "order-decimal"],
)
def test_wrong_type_names_the_key_and_what_was_expected(tmp_path, plugins, text, expected):
    file, found = problems(tmp_path, plugins, text)
    assert found == [f"{file}: {expected}"]


def test_a_bad_choice_names_the_choices(tmp_path, plugins):
    file, found = problems(tmp_path, plugins, NODE + '[router]\nmode = "fastest"\n')
    (line,) = found
    assert line.startswith(f"{file}: router.mode: ")
    assert "split" in line and "best-venue" in line


def test_missing_node_section(tmp_path, plugins):
    file, found = problems(tmp_path, plugins, '[router]\nmode = "split"\n')
    assert found == [f'{file}: node: missing section [node] (needs at least name = "...")']


def test_missing_plugin(tmp_path, plugins):
    text = NODE + SIM_VENUE.format(name="a").replace('plugin = "sim"\n', "")
    file, found = problems(tmp_path, plugins, text)
    assert found == [f"{file}: venues.a.plugin: missing (which venue plugin runs this venue?)"]


def test_unknown_plugin_lists_the_known_ones(tmp_path, plugins):
    text = NODE + SIM_VENUE.format(name="a").replace('plugin = "sim"', 'plugin = "simm"')
    file, found = problems(tmp_path, plugins, text)
    known = "alpaca, ccxt, ib, polygon, sim"
    assert found == [f"{file}: venues.a.plugin: unknown venue plugin 'simm' (known: {known})"]


def test_two_venues_with_one_name(tmp_path, plugins):
    text = NODE + SIM_VENUE.format(name="a") + SIM_VENUE.format(name='"a"')
    file, found = problems(tmp_path, plugins, text)
    # [venues.a] is on line 4, the second header (quoted, same name) on line 11
    assert found == [
        f"{file}:11: venues.a: two venues named 'a' (first at line 4); "
        "each venue needs its own name"
    ]


def test_an_order_naming_an_unknown_venue(tmp_path, plugins):
    text = (
        NODE
        + SIM_VENUE.format(name="a")
        + '[[orders]]\nparent_id = "p"\nsymbol = "BTC/USD"\nside = "buy"\nquantity = "1"\n'
        + 'venues = ["a", "zzz"]\n'
    )
    file, found = problems(tmp_path, plugins, text)
    assert found == [f"{file}: orders[0].venues: no venue named 'zzz'"]


def test_an_unknown_risk_check_lists_the_known_ones(tmp_path, plugins):
    file, found = problems(tmp_path, plugins, NODE + "[risk.checks.nope]\n")
    (line,) = found
    assert line.startswith(f"{file}: risk.checks.nope: unknown risk check (known: ")
    assert "duplicate_id" in line and "free_balance" in line


def test_a_file_that_cannot_be_read(tmp_path, plugins):
    path = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, plugins)
    assert caught.value.problems == [f"{path}: cannot read: No such file or directory"]


# --------------------------------------------------------------------------------------------
# Several problems


def test_several_problems_in_one_file_are_all_reported(tmp_path, plugins):
    text = (
        "bogus = 1\n"
        + NODE
        + 'colour = "red"\n'
        + '[router]\nmax_reroutes = "many"\n'
        + SIM_VENUE.format(name="a")
        + "typo_key = 3\n"
        + '[venues.b]\nsource = "order-graph"\n'
        + '[venues.c]\nplugin = "nope"\n'
        + '[[orders]]\nparent_id = "p"\nsymbol = "BTC/USD"\nside = "buy"\nquantity = "1"\n'
        + 'venues = ["zzz"]\n'
    )
    file, found = problems(tmp_path, plugins, text)
    assert found == [
        f"{file}: bogus: unknown key (expected one of node, orders, rebalance, restart, risk, "
        "router, venues)",
        f"{file}: node.colour: unknown key",
        f"{file}: router.max_reroutes: Expected `int`, got `str`",
        f"{file}: venues.a.typo_key: unknown key",
        f"{file}: venues.b.plugin: missing (which venue plugin runs this venue?)",
        f"{file}: venues.c.plugin: unknown venue plugin 'nope' "
        "(known: alpaca, ccxt, ib, polygon, sim)",
        f"{file}: orders[0].venues: no venue named 'zzz'",
    ]


def test_several_problems_in_one_section_are_all_reported(tmp_path, plugins):
    text = NODE + 'colour = "red"\nruntime = "sideways"\n'
    text += SIM_VENUE.format(name="a") + 'typo_key = 3\ntaker_fee_bps = "abc"\n'
    _, found = problems(tmp_path, plugins, text)
    assert len(found) == 4, found


# --------------------------------------------------------------------------------------------
# Secrets


class KeyedVenueConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A venue config with secrets, like a real exchange adapter's."""

    api_key_env: str
    api_secret_env: str = "TRADENODE_TEST_API_SECRET"
    sub: dict[str, SimVenueConfig] = {}


class KeyedVenue(Venue):
    """A venue whose config holds secrets' names; it never connects in these tests."""


def keyed(plugins):
    plugins.venues.current_plugin = "test"
    plugins.venues.add("keyed", KeyedVenue, KeyedVenueConfig)
    return plugins


KEYED = NODE + '[venues.k]\nplugin = "keyed"\napi_key_env = "TRADENODE_TEST_API_KEY"\n'


def test_a_secret_variable_that_is_not_set_is_a_problem_naming_it(tmp_path, plugins, monkeypatch):
    monkeypatch.delenv("TRADENODE_TEST_API_KEY", raising=False)
    monkeypatch.setenv("TRADENODE_TEST_API_SECRET", "s3cr3t")
    file, found = problems(tmp_path, keyed(plugins), KEYED)
    (line,) = found
    assert line.startswith(f"{file}: venues.k.")
    assert line.endswith("api_key_env: environment variable TRADENODE_TEST_API_KEY is not set")


def test_a_secret_problem_names_the_key_path_as_written_in_the_file(tmp_path, plugins, monkeypatch):
    monkeypatch.delenv("TRADENODE_TEST_API_KEY", raising=False)
    monkeypatch.setenv("TRADENODE_TEST_API_SECRET", "s3cr3t")
    file, found = problems(tmp_path, keyed(plugins), KEYED)
    assert found == [
        f"{file}: venues.k.api_key_env: environment variable TRADENODE_TEST_API_KEY is not set"
    ]


def test_secrets_that_are_set_load_and_the_config_keeps_only_their_names(
    tmp_path, plugins, monkeypatch
):
    monkeypatch.setenv("TRADENODE_TEST_API_KEY", "k3y-value")
    monkeypatch.setenv("TRADENODE_TEST_API_SECRET", "s3cr3t-value")
    path = tmp_path / "node.toml"
    path.write_text(KEYED)
    config = load_config(path, keyed(plugins))
    settings = config.venues["k"].settings
    assert settings.api_key_env == "TRADENODE_TEST_API_KEY"
    assert "k3y-value" not in repr(config) and "s3cr3t-value" not in repr(config)


def test_env_fields_finds_every_env_key_with_its_path():
    value = KeyedVenueConfig(api_key_env="A", api_secret_env="B")
    assert list(_env_fields(value, "venues.k")) == [
        ("venues.k.api_key_env", "A"),
        ("venues.k.api_secret_env", "B"),
    ]
    nested = {"x": KeyedVenueConfig(api_key_env="C")}
    assert ("venues.x.api_key_env", "C") in list(_env_fields(nested, "venues"))


def test_secret_never_shows_its_value(monkeypatch):
    monkeypatch.setenv("TRADENODE_TEST_SECRET", "hunter2")
    s = secret("TRADENODE_TEST_SECRET")
    assert isinstance(s, Secret)
    assert s.reveal() == "hunter2"
    for shown in (repr(s), str(s), f"{s}", repr([s]), repr({"k": s})):
        assert "hunter2" not in shown
        assert "TRADENODE_TEST_SECRET" in shown


def test_an_unset_secret_raises_naming_the_variable(monkeypatch):
    monkeypatch.delenv("TRADENODE_TEST_UNSET", raising=False)
    with pytest.raises(KeyError, match="environment variable TRADENODE_TEST_UNSET is not set"):
        secret("TRADENODE_TEST_UNSET")


# --------------------------------------------------------------------------------------------
# A good config


def test_the_demo_config_loads(plugins):
    path = demo_config_path()
    assert path.name == "demo.toml"
    config = load_config(path, plugins)
    assert isinstance(config, NodeConfig)
    assert config.node.name == "demo" and config.node.runtime == "replay"
    assert config.router.mode == "split" and config.router.max_reroutes == 3
    assert list(config.venues) == ["bitfinex", "bittrex", "bitstamp", "coinbase"]
    for entry in config.venues.values():
        assert entry.plugin == "sim"
        assert isinstance(entry.settings, SimVenueConfig)
        assert set(entry.settings.symbols) == {"BTC/USD", "ETH/USD"}
    assert config.venues["bitfinex"].settings.taker_fee_bps == D("20")
    assert [o.parent_id for o in config.orders] == [
        "demo-btc-buy",
        "demo-eth-sell",
        "demo-btc-twap",
    ]
    assert config.orders[0].quantity == D("30")
    assert config.risk.max_daily_loss == D("20000")
    assert (
        config.journal_path.resolve() == (path.parent.parent / "runs/demo.journal.sqlite").resolve()
    )


def test_a_minimal_config_gets_the_defaults(tmp_path, plugins):
    path = tmp_path / "node.toml"
    path.write_text(NODE)
    config = load_config(path, plugins)
    assert config.venues == {} and config.orders == []
    assert config.router.mode == "split"
    assert config.risk.checks == {}
    assert config.journal_path == tmp_path.resolve() / "journal.sqlite"
