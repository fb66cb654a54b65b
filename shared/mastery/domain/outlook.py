"""A student's outlook: the forecast of every topic and of the overall score (pure).

The daily series are the query function's history (`mastery.domain.daily`): the score at the
end of each local day over the last `FIT_WINDOW_DAYS` days. Each series is fitted on its
evidence days only (`mastery.domain.evidence`): for a topic, the days with a pass, a quiz or a
review in it; for the overall score, the days with evidence in any topic. How long ago the
newest evidence was decides whether the answer is stale (`mastery.domain.forecast`).
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from mastery.domain.curriculum import Curriculum
from mastery.domain.daily import daily_scores
from mastery.domain.evidence import evidence_days
from mastery.domain.forecast import (
    FIT_WINDOW_DAYS,
    STALE_AFTER_DAYS,
    DailySeries,
    InsufficientHistory,
    Prediction,
    forecast_many,
)
from mastery.domain.mastery import MasteryRules
from mastery.domain.record import StudentRecord

__all__ = ["Outlook", "Prediction", "student_outlook"]


class Outlook(NamedTuple):
    """Forecasts at one horizon, as of one local day."""

    as_of: date
    horizon_days: int
    overall: Prediction
    topics: dict[str, Prediction]
    """Every curriculum topic, in curriculum order."""


def student_outlook(
    record: StudentRecord,
    curriculum: Curriculum,
    today: date,
    rules: MasteryRules,
    horizon_days: int,
    stale_after_days: int = STALE_AFTER_DAYS,
) -> Outlook:
    """Forecast every topic and the overall score `horizon_days` after `today`."""
    daily = daily_scores(record, curriculum, today, FIT_WINDOW_DAYS, rules)
    ordinals = [day.toordinal() for day in daily.dates]
    offset = record.utc_offset_minutes
    days = [
        evidence_days(record.topics[topic], offset) if topic in record.topics else set()
        for topic in daily.topics
    ]
    days.append(set().union(*days))  # the overall score: evidence in any topic
    scores = [[score or 0.0 for score in series] for series in daily.topics.values()]
    scores.append(daily.overall)
    series = [
        DailySeries(s, [o in d for o in ordinals], today.toordinal() - max(d)) if d else None
        for s, d in zip(scores, days, strict=True)
    ]
    fitted = iter(forecast_many([s for s in series if s], horizon_days, stale_after_days))
    predictions: list[Prediction] = [
        next(fitted) if one else InsufficientHistory(current=s[-1], days=0)
        for one, s in zip(series, scores, strict=True)
    ]
    return Outlook(
        as_of=today,
        horizon_days=horizon_days,
        overall=predictions[-1],
        topics=dict(zip(daily.topics, predictions[:-1], strict=True)),
    )
