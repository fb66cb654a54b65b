"""Score forecasts: a least-squares line through the days with evidence (plain floats).

A series is one score per local calendar day, oldest first, ending today (x = 0 … n-1), with
the days on which the topic (overall: any topic) got new evidence marked. Only those days are
fitted: between them a score moves only with the streak, which says nothing about learning,
and a line through weeks of idle days claims a trend the student never made. The line
y = a + b·x is fitted by ordinary least squares on the evidence days and evaluated at
x = n-1+h. The interval is the classical 90% prediction interval of a new observation there:

    ŷ ± t(0.95, k-2) · s · sqrt(1 + 1/k + (x - x̄)² / Σ(xᵢ - x̄)²),   s² = Σ residuals² / (k-2)

over the k fitted days, with the Student t quantile (exact table for k-2 ≤ 30, the normal
quantile beyond). Scores live in [0, 100], so the forecast and the interval are clipped to it.

A direction needs evidence of one: the slope must pass `TREND_THRESHOLD` *and* its own 90%
confidence bound must stay on that side of zero, so a flat or noisy series is `stable`. When
the newest evidence is older than `STALE_AFTER_DAYS`, there is no line at all: the answer is
`Stale`, with the current score and how long the topic has been idle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from mastery.domain.mastery import Level, at_least, level_for

__all__ = [
    "FIT_WINDOW_DAYS",
    "INTERVAL_LEVEL",
    "MAX_DAYS_TO_LEVEL",
    "MIN_HISTORY_DAYS",
    "STALE_AFTER_DAYS",
    "TREND_THRESHOLD",
    "DailySeries",
    "Forecast",
    "InsufficientHistory",
    "Prediction",
    "Stale",
    "Trend",
    "forecast",
    "forecast_many",
    "t_quantile_95",
]

Trend = Literal["improving", "stable", "declining"]

FIT_WINDOW_DAYS = 30
"""The line is fitted over at most the last 30 days (older behaviour says little about next week)."""
MIN_HISTORY_DAYS = 3
"""Fewer evidence days than this: no forecast (two points always fit a line, with no residual)."""
STALE_AFTER_DAYS = 14
"""Newest evidence older than this: `Stale`, no direction (the default of a setting)."""
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


class DailySeries(NamedTuple):
    """One score per local day, oldest first, ending today, and the days with new evidence."""

    scores: Sequence[float]
    evidence: Sequence[bool]
    """Parallel to `scores`: whether that day brought new evidence (only those are fitted)."""
    idle_days: int = 0
    """Days since the newest evidence (which may lie before the window)."""

    @classmethod
    def every_day(cls, scores: Sequence[float]) -> DailySeries:
        """A series with evidence on every day."""
        return cls(scores, [True] * len(scores))


@dataclass(frozen=True)
class InsufficientHistory:
    """Too few evidence days to fit a line: only the current score is known."""

    current: float
    days: int
    idle_days: int | None = None
    """Days since the newest evidence; None: no evidence at all."""


@dataclass(frozen=True)
class Stale:
    """The newest evidence is too old for a direction: the current score and the idle days."""

    current: float
    days: int
    idle_days: int


@dataclass(frozen=True)
class Forecast:
    """The fitted line's answer at the horizon, and what it means."""

    current: float
    """Today's score (the last point of the series)."""
    days: int
    """Evidence days the line was fitted on."""
    idle_days: int
    """Days since the newest evidence."""
    horizon_days: int
    predicted: float
    lower: float
    upper: float
    slope_per_day: float
    trend: Trend
    next_level: Level | None
    days_to_next_level: int | None
    at_risk: bool


Prediction = Forecast | InsufficientHistory | Stale


def t_quantile_95(degrees_of_freedom: int) -> float:
    """The 0.95 quantile of Student's t (the normal quantile beyond 30 degrees of freedom)."""
    if degrees_of_freedom < 1:
        raise ValueError("a t quantile needs at least one degree of freedom")
    if degrees_of_freedom <= len(_T95):
        return _T95[degrees_of_freedom - 1]
    return _Z95


def trend_of(slope_per_day: float, slope_margin: float = 0.0) -> Trend:
    """Words for a slope: past the threshold, and past zero by its confidence margin."""
    if slope_per_day > TREND_THRESHOLD and slope_per_day - slope_margin > 0:
        return "improving"
    if slope_per_day < -TREND_THRESHOLD and slope_per_day + slope_margin < 0:
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
    days = (floor - current) / slope_per_day
    return level, max(1, math.ceil(days)) if days <= MAX_DAYS_TO_LEVEL else None


def _clip(value: float) -> float:
    return float(min(100.0, max(0.0, value)))


def forecast(scores: Sequence[float], horizon_days: int) -> Prediction:
    """Forecast the score `horizon_days` after the last of `scores` (evidence every day)."""
    return forecast_many([DailySeries.every_day(scores)], horizon_days)[0]


def forecast_many(
    series: Sequence[DailySeries], horizon_days: int, stale_after_days: int = STALE_AFTER_DAYS
) -> list[Prediction]:
    """`forecast` of each series."""
    results: list[Prediction] = []
    for one in series:
        current = float(one.scores[-1]) if one.scores else 0.0
        days = sum(bool(e) for e in one.evidence[-FIT_WINDOW_DAYS:])
        if one.idle_days > stale_after_days:
            results.append(Stale(current=current, days=days, idle_days=one.idle_days))
            continue
        if days < MIN_HISTORY_DAYS:
            results.append(InsufficientHistory(current=current, days=days, idle_days=one.idle_days))
        else:
            results.append(_fit(one, min(len(one.scores), FIT_WINDOW_DAYS), horizon_days))
    return results


def _fit(one: DailySeries, n: int, horizon_days: int) -> Forecast:
    """The least-squares line through the evidence days of the last `n` days, at the horizon."""
    points = [
        (float(x), float(y))
        for x, (y, seen) in enumerate(zip(one.scores[-n:], one.evidence[-n:], strict=True))
        if seen
    ]
    k = len(points)
    x_mean = math.fsum(x for x, _ in points) / k
    y_mean = math.fsum(y for _, y in points) / k
    sxx = math.fsum((x - x_mean) ** 2 for x, _ in points)
    slope = math.fsum((x - x_mean) * (y - y_mean) for x, y in points) / sxx
    intercept = y_mean - slope * x_mean
    s = math.sqrt(math.fsum((y - intercept - slope * x) ** 2 for x, y in points) / (k - 2))
    x_new = n - 1 + horizon_days
    t = t_quantile_95(k - 2)
    half_width = t * s * math.sqrt(1.0 + 1.0 / k + (x_new - x_mean) ** 2 / sxx)
    return _line_forecast(
        float(one.scores[-1]), k, one.idle_days, horizon_days, intercept + slope * x_new,
        half_width, slope, t * s / math.sqrt(sxx),
    )  # fmt: skip


def _line_forecast(
    current: float, k: int, idle_days: int, horizon_days: int, predicted: float,
    half_width: float, slope: float, slope_margin: float,
) -> Forecast:  # fmt: skip
    trend = trend_of(slope, slope_margin)
    point = _clip(predicted)
    next_level, days = days_to_next_level(current, slope)
    # At risk: a forecast in the Beginner band, or a declining one below Proficient.
    at_risk = not at_least(point, "Learning") or (
        trend == "declining" and not at_least(point, "Proficient")
    )
    return Forecast(
        current=current,
        days=k,
        idle_days=idle_days,
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
