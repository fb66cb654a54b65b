"""A student's outlook: the forecast of every topic and of the overall score (pure).

The daily series are the query function's history (`mastery.history`): the score at the end of
each local day, over the last `FIT_WINDOW_DAYS` days. A topic's series starts on the first day
it had scored evidence (a passed exercise, a quiz or a code review), the overall series on the
first day any topic had; earlier days are zeros that say nothing about the student's pace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mastery.domain.curriculum import Curriculum
from mastery.domain.daily import daily_scores
from mastery.domain.forecast import (
    FIT_WINDOW_DAYS,
    Forecast,
    InsufficientHistory,
    forecast_many,
)
from mastery.domain.mastery import MasteryRules
from mastery.domain.record import StudentRecord

__all__ = ["Outlook", "student_outlook"]

Prediction = Forecast | InsufficientHistory


@dataclass(frozen=True)
class Outlook:
    """Forecasts at one horizon, as of one local day."""

    as_of: date
    horizon_days: int
    overall: Prediction
    topics: dict[str, Prediction]
    """Every curriculum topic, in curriculum order."""


def _since_first_evidence(scores: list[float | None]) -> list[float]:
    """The scores from the first day with evidence to today (evidence only accumulates)."""
    first = next((d for d, score in enumerate(scores) if score is not None), len(scores))
    return [score or 0.0 for score in scores[first:]]


def student_outlook(
    record: StudentRecord,
    curriculum: Curriculum,
    today: date,
    rules: MasteryRules,
    horizon_days: int,
) -> Outlook:
    """Forecast every topic and the overall score `horizon_days` after `today`."""
    daily = daily_scores(record, curriculum, today, FIT_WINDOW_DAYS, rules)
    topics = list(daily.topics)
    series = [_since_first_evidence(daily.topics[topic]) for topic in topics]
    # The overall series starts on the first day any topic had evidence.
    started = max(len(s) for s in series)
    series.append(daily.overall[len(daily.overall) - started :] if started else [])
    fitted = iter(forecast_many([s for s in series if s], horizon_days))
    predictions: list[Prediction] = []
    for topic, scores in zip([*topics, None], series, strict=True):
        if scores:
            predictions.append(next(fitted))
            continue
        # No evidence at all: today's score (0, or consistency alone) is all there is.
        current = daily.overall[-1] if topic is None else 0.0
        predictions.append(InsufficientHistory(current=current, days=0))
    return Outlook(
        as_of=today,
        horizon_days=horizon_days,
        overall=predictions[-1],
        topics=dict(zip(topics, predictions[:-1], strict=True)),
    )
