"""The screen's learned weights and calibration on the sample history: point in time, the same as the
walk-forward measures them, and reported with reliability tables (beating the universe; a positive return)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from investai.adapters.local.clock import FakeClock
from investai.adapters.models.offline import OfflineModelProvider
from investai.agents.analysis import AnalysisAgent
from investai.agents.context import RunContext, as_of_moment
from investai.agents.planning import PlanningAgent
from investai.agents.router import ModelRouter, RetryPolicy
from investai.analytics import signal
from investai.analytics.factors import PRICE_FACTORS, factor_weights
from investai.analytics.returns import adjusted_closes
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.idea_parts import TimeHorizon
from investai.domain.idea_request import IdeaRequest
from investai.domain.knowledge import AccessScope
from investai.services.evaluation import WalkForward, write_report

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
READER = AccessScope(user_id="evaluator", organisation_id="default", role="analyst")
AS_OF = date(2015, 6, 30)


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    built = build_container(
        Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("signal") / "var"), clock=FakeClock(NOW)
    )
    built.market.load_sample()
    yield built
    built.close()


def screen_as_of(container: Container, day: date):  # type: ignore[no-untyped-def]
    ctx = RunContext(
        request=IdeaRequest(as_of=day, max_ideas=5, investment_horizon=TimeHorizon.SHORT),
        request_id="req_signal",
        reader=READER,
        as_of=as_of_moment(day),  # as the supervisor turns a request's date into its moment
        router=ModelRouter(
            providers={},
            chains={},
            offline=OfflineModelProvider(),
            prices={},
            retry=RetryPolicy(),
            sleep=lambda s: None,
        ),
        clock=container.clock,  # type: ignore[arg-type]
        code_version="test",
    )
    plan = PlanningAgent(container.market).plan(ctx)
    return AnalysisAgent(container.market).screen(ctx, plan)


def closes_until(container: Container, day: date) -> pd.DataFrame:
    series = {}
    for info in container.market.symbols(asset_class="equity"):
        frame = container.market.bar_frame(info.symbol)
        series[info.symbol] = adjusted_closes(frame)
    return pd.DataFrame(series).sort_index().loc[: pd.Timestamp(day)]


def test_the_screen_ranks_on_weights_learned_from_windows_that_had_ended(container: Container) -> None:
    screen = screen_as_of(container, AS_OF)
    assert screen.signal is not None
    assert screen.calibration is not None
    assert sum(screen.weights.values()) == pytest.approx(1.0)
    assert screen.weights != pytest.approx(factor_weights("short", "moderate", PRICE_FACTORS))  # learned
    assert screen.signal.formation_dates > 100
    assert screen.weights_basis == screen.signal.basis()
    # Every window the weights and the calibration rest on had ended by the as-of day.
    calendar = closes_until(container, AS_OF).index
    ended = calendar[-1 - 63].date()
    assert screen.signal.last == ended
    assert screen.calibration.last == ended
    assert [bucket.observations for bucket in screen.calibration.buckets] == [
        screen.calibration.formation_dates * 4
    ] * 5
    # The walk-forward recomputes exactly what the screen had, from the same closes.
    prices = closes_until(container, AS_OF)
    history = prices.loc[
        pd.Timestamp(AS_OF) - pd.Timedelta(days=signal.history_calendar_days()) :, sorted(screen.composite)
    ]
    base = signal.price_factor_weights(factor_weights("short", "moderate"), PRICE_FACTORS)
    recomputed = signal.point_in_time_signal(history, base, 63)
    assert recomputed.weights == screen.signal
    assert recomputed.calibration == screen.calibration


def test_walk_forward_reports_the_reliability_of_the_calibration(container: Container, tmp_path: Path) -> None:
    report = WalkForward(generator=container.idea_requests.generator, market=container.market).run(
        start=date(2015, 4, 1), end=date(2015, 6, 30), freq="monthly", horizon="3m", max_ideas=5, reader=READER
    )
    assert report.settings["lags"] == 2
    assert len(report.predictions) == 3 * 20
    assert report.predictions["predicted"].between(0.0, 1.0).all()
    assert set(report.predictions["outcome"]) <= {0.0, 1.0}
    screen = screen_as_of(container, AS_OF)
    last = report.periods.iloc[-1]
    assert {name: last[f"w_{name}"] for name in screen.weights} == pytest.approx(screen.weights)
    # The probability of a positive return, per symbol-date, from the calibration the screen had that day.
    predictions = report.predictions
    assert predictions["gain_predicted"].between(0.0, 1.0).all()
    assert set(predictions["gain_outcome"]) <= {0.0, 1.0}
    on_last = predictions[predictions["date"] == pd.Timestamp(AS_OF)]
    assert screen.calibration is not None
    assert on_last["gain_predicted"].tolist() == [screen.calibration.gain_probability(p) for p in on_last["percentile"]]
    assert (on_last["gain_prior"] == screen.calibration.gain_prior_mean).all()
    # The ideas picked: five a date, their outcome the period's hit rate (ideas with a positive return).
    picked = predictions[predictions["picked"]]
    assert picked.groupby("date").size().tolist() == [5, 5, 5]
    assert picked["confidence"].between(0.0, 1.0).all()
    assert predictions.loc[~predictions["picked"], "confidence"].isna().all()
    hit_rate = picked.groupby("date")["gain_outcome"].mean()
    assert hit_rate.to_numpy() == pytest.approx(report.periods["hit_rate"].to_numpy())
    table, brier = report.gain_reliability()
    assert table["count"].sum() == len(predictions)
    expected_brier = ((predictions["gain_predicted"] - predictions["gain_outcome"]) ** 2).mean()
    assert brier == pytest.approx(expected_brier)
    assert report.gain_reliability(picked_only=True)[0]["count"].sum() == 15
    markdown, _ = write_report(report, tmp_path / "out")
    text = markdown.read_text()
    assert "Newey-West (HAC, Bartlett) standard error with 2 lags" in text
    assert "## Calibrated confidence: reliability" in text
    assert "Brier score" in text
    assert "## Confidence shown on ideas: probability of a positive return" in text
    assert f"Brier score {brier:.4f} over 60 symbol-dates; a constant at the realised base rate" in text
    assert (
        f"The ideas picked (15 idea-dates): mean predicted gain probability {picked['gain_predicted'].mean():.1%}, "
        f"realised hit rate {picked['gain_outcome'].mean():.1%}"
    ) in text
    written = pd.read_csv(tmp_path / "out" / "evaluation_predictions.csv")
    assert {"gain_predicted", "gain_prior", "gain_outcome", "picked", "confidence"} <= set(written.columns)
