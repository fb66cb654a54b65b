"""Score forecasts: least squares, prediction interval, trend, next level, at-risk."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastery.domain.forecast import (
    FIT_WINDOW_DAYS,
    DailySeries,
    Forecast,
    InsufficientHistory,
    Stale,
    forecast,
    forecast_many,
    t_quantile_95,
)


def reference(scores: list[float], horizon: int) -> tuple[float, float, float, float]:
    """An independent numpy computation: polyfit, and the textbook interval via (XᵀX)⁻¹."""
    y = np.array(scores[-FIT_WINDOW_DAYS:], dtype=float)
    n = len(y)
    x = np.arange(n, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    x_new = n - 1 + horizon
    predicted = intercept + slope * x_new
    residuals = y - (intercept + slope * x)
    s2 = residuals @ residuals / (n - 2)
    design = np.vstack([np.ones(n), x]).T
    row = np.array([1.0, x_new])
    se = math.sqrt(s2 * (1 + row @ np.linalg.inv(design.T @ design) @ row))
    half = t_quantile_95(n - 2) * se
    return predicted, predicted - half, predicted + half, slope


def t_cdf(value: float, dof: int) -> float:
    """Student t CDF by numerical integration of its density (independent of the table)."""
    grid = np.linspace(0.0, value, 200_001)
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    density = np.exp(log_norm - (dof + 1) / 2 * np.log1p(grid**2 / dof))
    return 0.5 + float(((density[1:] + density[:-1]) / 2 * np.diff(grid)).sum())


@pytest.mark.parametrize("dof", [1, 2, 3, 5, 10, 28, 30])
def test_t_table_holds_the_95th_percentile(dof: int) -> None:
    assert t_cdf(t_quantile_95(dof), dof) == pytest.approx(0.95, abs=1e-5)


def test_t_quantile_beyond_the_table_is_the_normal_one() -> None:
    assert t_quantile_95(500) == pytest.approx(1.6448536, abs=1e-6)
    with pytest.raises(ValueError, match="degree"):
        t_quantile_95(0)


@settings(max_examples=200, deadline=None)
def assert_matches_reference(result: Forecast, scores: list[float], horizon: int) -> None:
    """The forecast equals the independent numpy reference (clipped to the 0-100 scale)."""
    predicted, lower, upper, slope = reference(scores, horizon)

    def clip(value: float) -> float:
        return min(100.0, max(0.0, value))

    assert result.predicted == pytest.approx(clip(predicted), abs=1e-6)
    assert result.lower == pytest.approx(clip(lower), abs=1e-6)
    assert result.upper == pytest.approx(clip(upper), abs=1e-6)
    assert result.slope_per_day == pytest.approx(slope, abs=1e-9)


@given(
    scores=st.lists(st.floats(20, 80, allow_nan=False), min_size=3, max_size=40),
    horizon=st.integers(1, 30),
)
def test_forecast_equals_the_numpy_reference(scores: list[float], horizon: int) -> None:
    result = forecast(scores, horizon)
    assert isinstance(result, Forecast)
    assert_matches_reference(result, scores, horizon)
    assert result.lower <= result.predicted <= result.upper
    assert result.days == min(len(scores), FIT_WINDOW_DAYS)


def test_perfect_line_forecasts_its_continuation_with_no_width() -> None:
    result = forecast([10.0, 12.0, 14.0, 16.0], 7)
    assert isinstance(result, Forecast)
    assert result.predicted == pytest.approx(30.0)
    assert result.lower == pytest.approx(30.0)
    assert result.upper == pytest.approx(30.0)
    assert result.trend == "improving"


@pytest.mark.parametrize("scores", [[], [55.0], [55.0, 60.0]])
def test_fewer_than_three_days_give_insufficient_history_with_the_current_score(
    scores: list[float],
) -> None:
    result = forecast(scores, 7)
    assert result == InsufficientHistory(
        current=scores[-1] if scores else 0.0, days=len(scores), idle_days=0
    )


@pytest.mark.parametrize(
    ("slope", "trend"),
    [(0.6, "improving"), (0.49, "stable"), (0.0, "stable"), (-0.49, "stable"), (-0.6, "declining")],
)
def test_trend_uses_half_a_point_per_day(slope: float, trend: str) -> None:
    result = forecast([50 + slope * i for i in range(10)], 1)
    assert isinstance(result, Forecast)
    assert result.trend == trend


def test_days_to_next_level_follow_the_slope_from_the_current_score() -> None:
    result = forecast([60.0, 62.0, 64.0, 66.0], 7)  # 66 today, +2/day, Proficient at 70.5
    assert isinstance(result, Forecast)
    assert (result.next_level, result.days_to_next_level) == ("Proficient", 3)


def test_no_days_to_next_level_when_flat_falling_too_slow_or_mastered() -> None:
    falling = forecast([60.0, 58.0, 56.0], 7)
    crawling = forecast([10.0, 10.05, 10.1], 7)  # 30 points at 0.05/day: beyond a year
    mastered = forecast([95.0, 96.0, 97.0], 7)
    assert isinstance(falling, Forecast)
    assert falling.days_to_next_level is None
    assert isinstance(crawling, Forecast)
    assert crawling.days_to_next_level is None
    assert isinstance(mastered, Forecast)
    assert (mastered.next_level, mastered.days_to_next_level) == (None, None)


@pytest.mark.parametrize(
    ("scores", "at_risk"),
    [
        ([30.0, 31.0, 32.0], True),  # forecast stays Beginner
        ([30.0, 40.0, 50.0], False),  # climbing out of Beginner fast
        ([80.0, 75.0, 70.0], True),  # declining and heading below Proficient
        ([90.0, 89.0, 88.0, 87.0], False),  # declining but still Proficient at the horizon
        ([60.0, 60.0, 60.0], False),  # stable Learning
    ],
)
def test_at_risk_is_a_beginner_forecast_or_a_decline_below_proficient(
    scores: list[float], at_risk: bool
) -> None:
    result = forecast(scores, 7)
    assert isinstance(result, Forecast)
    assert result.at_risk is at_risk


def test_forecast_and_interval_are_clipped_to_the_score_range() -> None:
    result = forecast([80.0, 90.0, 99.0], 30)
    assert isinstance(result, Forecast)
    assert result.predicted == 100.0
    assert result.upper == 100.0
    assert 0.0 <= result.lower <= 100.0


def test_only_the_last_thirty_days_are_fitted() -> None:
    old_then_flat = [0.0] * 20 + [50.0] * FIT_WINDOW_DAYS
    result = forecast(old_then_flat, 7)
    assert isinstance(result, Forecast)
    assert result.predicted == pytest.approx(50.0)


@settings(max_examples=100, deadline=None)
@given(
    series=st.lists(
        st.lists(st.floats(0, 100, allow_nan=False), min_size=0, max_size=40), max_size=8
    ),
    horizon=st.integers(1, 30),
)
def test_fitting_many_series_at_once_equals_fitting_each(
    series: list[list[float]], horizon: int
) -> None:
    results = forecast_many([DailySeries.every_day(s) for s in series], horizon)
    assert len(results) == len(series)
    for scores, result in zip(series, results, strict=True):
        if len(scores) < 3:
            assert result == InsufficientHistory(current=scores[-1] if scores else 0.0,
                                                 days=len(scores), idle_days=0)  # fmt: skip
            continue
        assert isinstance(result, Forecast)
        assert_matches_reference(result, scores, horizon)


def test_only_the_days_with_evidence_are_fitted() -> None:
    # Evidence on days 0, 1, 2 at 50; the idle days between rise with the streak alone.
    scores = [50.0, 50.0, 50.0, 53.0, 56.0, 59.0, 62.0]
    evidence = [True, True, True, False, False, False, False]
    result = forecast_many([DailySeries(scores, evidence, idle_days=4)], 7)[0]
    assert isinstance(result, Forecast)
    assert (result.days, result.slope_per_day, result.trend) == (3, 0.0, "stable")
    assert result.current == 62.0  # today's score, whatever was fitted


@settings(max_examples=100, deadline=None)
@given(
    level=st.floats(0, 100, allow_nan=False),
    evidence=st.lists(st.booleans(), min_size=3, max_size=40).filter(lambda e: sum(e) >= 3),
    horizon=st.integers(1, 30),
)
def test_a_flat_series_is_never_improving_or_declining(
    level: float, evidence: list[bool], horizon: int
) -> None:
    result = forecast_many([DailySeries([level] * len(evidence), evidence)], horizon)[0]
    assert isinstance(result, Forecast | InsufficientHistory)
    if isinstance(result, Forecast):
        assert result.trend == "stable"


def test_a_noisy_flat_series_is_stable_not_improving() -> None:
    # Five days at 52-55: the least-squares slope is 0.7/day, well inside its own noise.
    result = forecast([52.0, 52.0, 55.0, 53.0, 55.0], 7)
    assert isinstance(result, Forecast)
    assert result.slope_per_day > 0.5
    assert result.trend == "stable"


@pytest.mark.parametrize(("idle", "stale"), [(14, False), (15, True)])
def test_newest_evidence_older_than_the_setting_is_stale(idle: int, stale: bool) -> None:
    series = DailySeries([40.0, 45.0, 50.0, *[50.0] * idle], [True] * 3 + [False] * idle, idle)
    result = forecast_many([series], 7)[0]
    assert isinstance(result, Stale) is stale
    if stale:
        assert result == Stale(current=50.0, days=3, idle_days=15)
    assert isinstance(forecast_many([series], 7, stale_after_days=idle - 1)[0], Stale)
