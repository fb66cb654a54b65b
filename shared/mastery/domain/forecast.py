"""Score forecasts: a least-squares line through a daily score series (pure numpy).

The series is one score per local calendar day, oldest first, ending today (x = 0 … n-1). The
line y = a + b·x is fitted by ordinary least squares and evaluated at x = n-1+h. The interval is
the classical 90% prediction interval of a new observation at that x:

    ŷ ± t(0.95, n-2) · s · sqrt(1 + 1/n + (x - x̄)² / Σ(xᵢ - x̄)²),   s² = Σ residuals² / (n-2)

with the Student t quantile (exact table for n-2 ≤ 30, the normal quantile beyond). Scores
live in [0, 100], so the forecast and the interval are clipped to it. Every threshold that
turns the line into words (trend, at-risk, days to the next level) is a constant below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mastery.domain.mastery import Level, at_least, level_for

__all__ = [
    "FIT_WINDOW_DAYS",
    "INTERVAL_LEVEL",
    "MAX_DAYS_TO_LEVEL",
    "MIN_HISTORY_DAYS",
    "TREND_THRESHOLD",
    "Forecast",
    "InsufficientHistory",
    "Trend",
    "forecast",
    "forecast_many",
    "t_quantile_95",
]

Trend = Literal["improving", "stable", "declining"]

FIT_WINDOW_DAYS = 30
"""The line is fitted over at most the last 30 days (older behaviour says little about next week)."""
MIN_HISTORY_DAYS = 3
"""Fewer days than this: no forecast (two points always fit a line exactly, with no residual)."""
INTERVAL_LEVEL = 0.90
TREND_THRESHOLD = 0.5
"""Points per day: a slope above +0.5 is improving, below -0.5 declining, else stable."""
MAX_DAYS_TO_LEVEL = 365
"""Beyond a year the line says nothing useful: `days_to_next_level` is None."""

# The lowest unrounded score of the next level band (levels use the score rounded half up).
_NEXT_LEVEL: dict[Level, tuple[Level, float]] = {
    "Beginner": ("Learning", 40.5),
    "Learning": ("Proficient", 70.5),
    "Proficient": ("Mastered", 90.5),
}
# Student t 0.95 quantiles for 1…30 degrees of freedom (a 90% two-sided interval).
_T95 = (
    6.313752, 2.919986, 2.353363, 2.131847, 2.015048, 1.943180, 1.894579, 1.859548, 1.833113,
    1.812461, 1.795885, 1.782288, 1.770933, 1.761310, 1.753050, 1.745884, 1.739607, 1.734064,
    1.729133, 1.724718, 1.720743, 1.717144, 1.713872, 1.710882, 1.708141, 1.705618, 1.703288,
    1.701131, 1.699127, 1.697261,
)  # fmt: skip
_Z95 = 1.6448536269514722


@dataclass(frozen=True)
class InsufficientHistory:
    """Too few days to fit a line: only the current score is known."""

    current: float
    days: int


@dataclass(frozen=True)
class Forecast:
    """The fitted line's answer at the horizon, and what it means."""

    current: float
    """Today's score (the last point of the series)."""
    days: int
    """Points the line was fitted on."""
    horizon_days: int
    predicted: float
    lower: float
    upper: float
    slope_per_day: float
    trend: Trend
    next_level: Level | None
    days_to_next_level: int | None
    at_risk: bool


def t_quantile_95(degrees_of_freedom: int) -> float:
    """The 0.95 quantile of Student's t (the normal quantile beyond 30 degrees of freedom)."""
    if degrees_of_freedom < 1:
        raise ValueError("a t quantile needs at least one degree of freedom")
    if degrees_of_freedom <= len(_T95):
        return _T95[degrees_of_freedom - 1]
    return _Z95


def trend_of(slope_per_day: float) -> Trend:
    """Words for a slope, with the one threshold."""
    if slope_per_day > TREND_THRESHOLD:
        return "improving"
    if slope_per_day < -TREND_THRESHOLD:
        return "declining"
    return "stable"


def days_to_next_level(current: float, slope_per_day: float) -> tuple[Level | None, int | None]:
    """The next level band and the whole days until the line reaches it (None: not in a year)."""
    step = _NEXT_LEVEL.get(level_for(current))
    if step is None:
        return None, None
    level, floor = step
    if slope_per_day <= 0:
        return level, None
    days = max(1, math.ceil((floor - current) / slope_per_day))
    return level, days if days <= MAX_DAYS_TO_LEVEL else None


def _clip(value: float) -> float:
    return float(min(100.0, max(0.0, value)))


def forecast(scores: Sequence[float], horizon_days: int) -> Forecast | InsufficientHistory:
    """Forecast the score `horizon_days` after the last of `scores` (one per day, oldest first)."""
    return forecast_many([scores], horizon_days)[0]


def forecast_many(
    series: Sequence[Sequence[float]], horizon_days: int
) -> list[Forecast | InsufficientHistory]:
    """`forecast` of each series; series of equal length share x, so they are fitted at once."""
    results: list[Forecast | InsufficientHistory] = []
    groups: dict[int, list[int]] = {}
    for index, scores in enumerate(series):
        n = min(len(scores), FIT_WINDOW_DAYS)
        results.append(InsufficientHistory(current=float(scores[-1]) if n else 0.0, days=n))
        if n >= MIN_HISTORY_DAYS:
            groups.setdefault(n, []).append(index)
    for n, members in groups.items():
        y = np.array([series[i][-FIT_WINDOW_DAYS:] for i in members], dtype=float)
        x = np.arange(n, dtype=float)
        x_mean = float(x.mean())
        centred = x - x_mean
        sxx = float(centred @ centred)
        y_mean = y.mean(axis=1)
        slopes = (y - y_mean[:, None]) @ centred / sxx
        intercepts = y_mean - slopes * x_mean
        residuals = y - (intercepts[:, None] + slopes[:, None] * x)
        s = np.sqrt(np.einsum("ij,ij->i", residuals, residuals) / (n - 2))
        x_new = n - 1 + horizon_days
        leverage = 1.0 / n + (x_new - x_mean) ** 2 / sxx
        half_widths = t_quantile_95(n - 2) * s * math.sqrt(1.0 + leverage)
        predicted = intercepts + slopes * x_new
        for row, index in enumerate(members):
            results[index] = _line_forecast(
                float(y[row, -1]), n, horizon_days,
                float(predicted[row]), float(half_widths[row]), float(slopes[row]),
            )  # fmt: skip
    return results


def _line_forecast(
    current: float, n: int, horizon_days: int, predicted: float, half_width: float, slope: float
) -> Forecast:
    trend = trend_of(slope)
    point = _clip(predicted)
    next_level, days = days_to_next_level(current, slope)
    # At risk: a forecast in the Beginner band, or a declining one below Proficient.
    at_risk = not at_least(point, "Learning") or (
        trend == "declining" and not at_least(point, "Proficient")
    )
    return Forecast(
        current=current,
        days=n,
        horizon_days=horizon_days,
        predicted=point,
        lower=_clip(predicted - half_width),
        upper=_clip(predicted + half_width),
        slope_per_day=slope,
        trend=trend,
        next_level=next_level,
        days_to_next_level=days,
        at_risk=at_risk,
    )
