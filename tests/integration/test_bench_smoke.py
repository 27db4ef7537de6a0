"""Every benchmark of bench/ still runs (at a tiny size, so the figures mean nothing here): the
benchmarks are not part of `make test`, and this keeps them from rotting. DynamoDB Local is the
session's engine (BENCH_DYNAMODB_ENDPOINT), so no benchmark starts its own."""

from __future__ import annotations

import math

import pytest

from bench import SMALL, load
from bench.__main__ import NAMES


@pytest.fixture(autouse=True)
def _shared_engine(monkeypatch: pytest.MonkeyPatch, dynamodb_endpoint: str) -> None:
    monkeypatch.setenv("BENCH_DYNAMODB_ENDPOINT", dynamodb_endpoint)


# The throughput benchmark also runs without the pacer, to show the 429s it would get: those cross.
# `kinds` (every kind on every product, about 9 s even at its smallest) is left to `make bench`, so
# `make test` takes no longer than before it; so is `coldstart_shipped`, which needs `sam build`'s
# artefact and builds the layer for this machine (a pip download) the first time.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.limit_refusals_expected) if n == "throughput"
                                  else n for n in NAMES if n not in ("kinds", "coldstart_shipped")])
def test_benchmark_runs_and_reports_figures(name: str) -> None:
    figures = load(name).run(**SMALL[name])
    assert figures
    for figure in figures:
        line = figure.line()
        assert figure.goal in line and ("ok" in line or "MISS" in line)
        if name != "intacct":  # intacct reports nan while the sandbox cannot serve the SDK
            assert math.isfinite(figure.value), line


@pytest.mark.parametrize("argv, code", [(["--help"], 0), (["-h"], 0), (["--smal"], 2), (["cpu", "--stritc"], 2)])
def test_help_or_an_unknown_flag_prints_usage_and_runs_no_benchmark(
        argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.__main__ import main
    assert main(argv) == code
    out, err = capsys.readouterr()
    assert out == ""  # no "# <name>" header: nothing ran
    assert "--small" in err and "coldstart_shipped" in err
