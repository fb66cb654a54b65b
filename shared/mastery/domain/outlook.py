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
from mastery.domain.forecast import FIT_WINDOW_DAYS, Forecast, InsufficientHistory, forecast
from mastery.domain.mastery import MasteryRules, StudentMastery, history
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


def _since_first_evidence(days: list[StudentMastery], topic: str | None) -> list[float]:
    """The scores from the first day with evidence (in `topic`, or in any topic) to today."""
    series: list[float] = []
    for day in days:
        topics = [t for m in day.modules for t in m.topics]
        if topic is None:
            started = bool(series) or any(t.evidence is not None for t in topics)
            if started:
                series.append(day.overall)
        else:
            scored = day.topic(topic)
            if series or scored.evidence is not None:
                series.append(scored.score)
    return series


def student_outlook(
    record: StudentRecord,
    curriculum: Curriculum,
    today: date,
    rules: MasteryRules,
    horizon_days: int,
) -> Outlook:
    """Forecast every topic and the overall score `horizon_days` after `today`."""
    days = history(record, curriculum, today, FIT_WINDOW_DAYS, rules)
    today_mastery = days[-1]

    def predict(topic: str | None) -> Prediction:
        series = _since_first_evidence(days, topic)
        if not series:
            # No evidence at all: today's score (0, or consistency alone) is all there is.
            current = today_mastery.overall if topic is None else today_mastery.topic(topic).score
            return InsufficientHistory(current=current, days=0)
        return forecast(series, horizon_days)

    return Outlook(
        as_of=today,
        horizon_days=horizon_days,
        overall=predict(None),
        topics={topic: predict(topic) for m in curriculum.modules for topic in m.topics},
    )
