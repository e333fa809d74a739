"""``tradenode quotes`` driven through its own argument parser, as the CLI will mount it."""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from tradenode_algos.glft import QuoteModel, asymptotic_quotes, optimal_quotes
from tradenode_algos.quotes_command import add_arguments, run

PARAMS = {
    "sigma": 0.3,
    "A": 0.1,
    "k": 0.3,
    "gamma": 0.05,
    "b": 3.0,
    "horizon": 300.0,
    "inventory": 10,
}
ARGV = [
    "--sigma=0.3",
    "--A=0.1",
    "--k=0.3",
    "--gamma=0.05",
    "--b=3",
    "--horizon=300",
    "--inventory=10",
]


def parse(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tradenode quotes")
    add_arguments(parser)
    return parser.parse_args([*ARGV, *extra])


def test_json_is_the_whole_grid(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("--steps=40", "--json")) == 0
    out = json.loads(capsys.readouterr().out)
    grid = optimal_quotes(QuoteModel(**PARAMS), 40)
    assert out["params"] == {**PARAMS, "steps": 40}
    assert out["times"] == grid.times.tolist()
    assert out["inventory"] == list(range(1, 11))
    np.testing.assert_array_equal(np.array(out["delta"]), grid.delta)
    np.testing.assert_array_equal(out["asymptotic"], asymptotic_quotes(grid.model))


def test_table_shows_a_readable_subset(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse()) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["t"])
    assert header.split() == ["t", "q=1", "q=3", "q=5", "q=6", "q=8", "q=10"]
    rows = lines[lines.index(header) + 1 :]
    assert len(rows) == 12  # 11 times from 0 to T, then the T-t → ∞ limit
    grid = optimal_quotes(QuoteModel(**PARAMS), 100)
    first, last = rows[0].split(), rows[10].split()
    assert float(first[0]) == 0 and float(last[0]) == 300
    assert [float(x) for x in first[1:]] == pytest.approx(
        grid.delta[0, [0, 2, 4, 5, 7, 9]], abs=5e-5
    )
    assert [float(x) for x in last[1:]] == pytest.approx(
        grid.delta[-1, [0, 2, 4, 5, 7, 9]], abs=5e-5
    )
    limit = asymptotic_quotes(grid.model)[[0, 2, 4, 5, 7, 9]]
    assert [float(x) for x in rows[11].split()[-6:]] == pytest.approx(limit, abs=5e-5)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "quotes.png"
    assert run(parse("--plot", str(target))) == 0
    assert capsys.readouterr().out.strip() == f"wrote {target}"
    width, height = png_size(target)
    assert (width, height) == (900, 550)
    assert target.stat().st_size > 20_000  # eight curves, labels and a legend, not a blank canvas


def test_plot_with_json_keeps_stdout_parseable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "quotes.png"
    assert run(parse("--json", "--plot", str(target))) == 0
    assert json.loads(capsys.readouterr().out)["params"]["inventory"] == 10
    assert png_size(target) == (900, 550)


def test_unwritable_plot_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(parse("--plot", str(tmp_path / "missing" / "q.png"))) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tradenode quotes: cannot write ")
    assert captured.err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sigma=0"], "sigma must be finite and > 0, got 0.0"),
        (["--A=-1"], "A must be finite and > 0, got -1.0"),
        (["--k=nan"], "k must be finite and > 0, got nan"),
        (["--gamma=inf"], "gamma must be finite and > 0, got inf"),
        (["--b=-0.5"], "b must be finite and >= 0, got -0.5"),
        (["--horizon=0"], "horizon must be finite and > 0, got 0.0"),
        (["--inventory=0"], "inventory must be a positive integer, got 0"),
        (["--steps=0"], "steps must be a positive integer, got 0"),
    ],
)
def test_invalid_parameters_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(parse(*argv)) == 2  # a later option overrides the default ARGV one
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"tradenode quotes: {message}\n"
