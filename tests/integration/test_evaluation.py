"""Walk-forward evaluation on the sample history: dates, point-in-time requests, baselines, the report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.cli import app
from investai.config import Settings
from investai.domain.idea_request import IdeaRequest
from investai.domain.knowledge import AccessScope
from investai.ports.ideas import GenerationResult
from investai.services.evaluation import WalkForward, write_report

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
READER = AccessScope(user_id="evaluator", organisation_id="default", role="analyst")


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    built = build_container(
        Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("evaluation") / "var"), clock=FakeClock(NOW)
    )
    built.market.load_sample()
    yield built
    built.close()


class Recording:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.requests: list[IdeaRequest] = []

    def generate(self, request: IdeaRequest, **kwargs: Any) -> GenerationResult:
        self.requests.append(request)
        result: GenerationResult = self.inner.generate(request, **kwargs)
        return result


def test_walk_forward_on_the_sample_history(container: Container, tmp_path: Path) -> None:
    generator = Recording(container.idea_requests.generator)
    report = WalkForward(generator=generator, market=container.market).run(
        start=date(2020, 1, 1), end=date(2020, 6, 30), freq="monthly", horizon="1m", max_ideas=4, reader=READER
    )
    dates = [moment.date() for moment in report.periods.index]
    assert [d.month for d in dates] == [1, 2, 3, 4, 5, 6]
    assert [request.as_of for request in generator.requests] == dates  # each run is as of its own date
    assert all(len(report.picks[d.isoformat()]) == 4 for d in dates)
    # The equal-weight baseline of the first date, by hand from the stored closes.
    first = report.periods.index[0]
    closes = {}
    for info in container.market.symbols(asset_class="equity"):
        frame = container.market.bar_frame(info.symbol, start=date(2019, 12, 1), end=date(2020, 3, 31))
        closes[info.symbol] = pd.Series(frame["adj_close"].to_numpy(), index=pd.to_datetime(frame["date"]))
    prices = pd.DataFrame(closes)
    spx = container.market.bar_frame("SPX", start=date(2019, 12, 1), end=date(2020, 3, 31))
    calendar = pd.DatetimeIndex(pd.to_datetime(spx["date"]))
    exit_day = calendar[calendar.get_loc(first) + 21]
    expected = (prices.loc[exit_day] / prices.loc[first] - 1).mean()
    assert report.periods.loc[first, "baseline_equal_weight"] == pytest.approx(expected)
    ideas = report.picks[first.date().isoformat()]
    assert report.periods.loc[first, "ideas"] == pytest.approx(
        (prices.loc[exit_day, ideas] / prices.loc[first, ideas] - 1).mean()
    )
    assert set(report.summary) >= {
        "hit_rate",
        "ic",
        "ic_t_stat",
        "excess_vs_equal_weight",
        "excess_vs_momentum",
        "excess_vs_random",
    }
    markdown, chart = write_report(report, tmp_path / "out")
    text = markdown.read_text()
    assert "| hit rate (ideas with a positive return) |" in text
    assert "excess return vs 12-1 momentum" in text
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "out" / "evaluation_periods.csv").exists()


def test_evaluate_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("INVESTAI_LOAD_SAMPLE_DOCUMENTS", "false")
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["evaluate", "--start", "2021-01-01", "--end", "2021-03-31", "--horizon", "1m", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "3 rebalance dates from 2021-01-29 to 2021-03-31" in result.output
    assert (out / "evaluation.md").exists()
    assert (out / "evaluation.png").exists()
    bad = CliRunner().invoke(app, ["evaluate", "--horizon", "5y", "--out", str(out)])
    assert bad.exit_code == 2
