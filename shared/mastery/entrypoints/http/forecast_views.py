"""JSON views of forecasts and learner-model probabilities (the predict function's answers).

As the query function's views (`mastery.entrypoints.http.views`): the models document the
answer, which is built as the plain JSON object they describe (a model per topic cost more than
the learner model's odds); tests hold it to `ForecastResponse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic_core import to_json

from mastery.domain.forecast import INTERVAL_LEVEL, Forecast, Stale, Trend
from mastery.domain.knowledge import LearnerModel, student_summary
from mastery.domain.learner import LearnerState, StudentSummary, p_correct, p_mastered
from mastery.domain.mastery import Level, level_for
from mastery.domain.outlook import Outlook, Prediction
from mastery.domain.record import StudentRecord
from mastery.entrypoints.http.documented import DocumentedModel

__all__ = ["ForecastResponse", "PreparedForecast", "prepare_forecast"]

INTERVAL_METHOD = (
    "OLS on the days with evidence, prediction interval, Student t with n-2 degrees of freedom"
)


class Interval(DocumentedModel):
    lower: float
    upper: float


class ForecastView(DocumentedModel):
    status: Literal["ok", "insufficient_history", "stale"]
    current_score: float
    current_level: Level
    history_days: int
    """Days with evidence in the window, the points the line is fitted on (0: no evidence)."""
    days_since_evidence: int | None
    """Days since the newest evidence (null without evidence)."""
    forecast: float | None
    interval: Interval | None
    slope_per_day: float | None
    trend: Trend | Literal["stale"] | None
    next_level: Level | None
    days_to_next_level: int | None
    at_risk: bool | None


class LearnerView(DocumentedModel):
    p_next_correct: float
    p_mastered: float
    answers: int
    """Graded answers the state was built from (0: the topic's prior)."""
    last_answer_at: datetime | None


class TopicForecastView(ForecastView):
    topic: str
    learner: LearnerView


class ForecastResponse(DocumentedModel):
    student_id: str
    as_of: date
    horizon_days: int
    interval_level: float
    interval_method: str
    overall: ForecastView
    topics: list[TopicForecastView]


def _r(value: float) -> float:
    return round(value, 2)


def forecast_view(prediction: Prediction) -> dict[str, Any]:
    """One forecast, or the explicit stale or insufficient-history answer with the current score
    (a `ForecastView`)."""
    current, days_since_evidence = prediction.current, prediction.idle_days
    if not isinstance(prediction, Forecast):
        stale = isinstance(prediction, Stale)
        return {"status": "stale" if stale else "insufficient_history",
                "current_score": _r(current), "current_level": level_for(current),
                "history_days": prediction.days, "days_since_evidence": days_since_evidence,
                "forecast": None, "interval": None, "slope_per_day": None,
                "trend": "stale" if stale else None, "next_level": None,
                "days_to_next_level": None, "at_risk": None}  # fmt: skip
    return {
        "status": "ok",
        "current_score": _r(current),
        "current_level": level_for(current),
        "history_days": prediction.days,
        "days_since_evidence": days_since_evidence,
        "forecast": _r(prediction.predicted),
        "interval": {"lower": _r(prediction.lower), "upper": _r(prediction.upper)},
        "slope_per_day": round(prediction.slope_per_day, 4),
        "trend": prediction.trend,
        "next_level": prediction.next_level,
        "days_to_next_level": prediction.days_to_next_level,
        "at_risk": prediction.at_risk,
    }


def learner_view(
    state: LearnerState | None,
    topic: str,
    model: LearnerModel,
    summary: StudentSummary,
    now: datetime,
) -> dict[str, Any]:
    """P(next answer correct) and P(mastered) of one topic now, the prior without answers
    (a `LearnerView`)."""
    at = now.timestamp()
    return {
        "p_next_correct": round(p_correct(state, summary, topic, model.params, at), 4),
        "p_mastered": round(p_mastered(state, model.for_topic(topic), at), 4),
        "answers": state.answers if state else 0,
        "last_answer_at": datetime.fromtimestamp(state.last_at, UTC) if state else None,
    }


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PreparedForecast:
    """The predict answer of one record version, horizon and day, but for the learner model's
    odds, which depend on the time asked (`body`): what the read path memoises per version.

    Holds the answer's JSON objects and the learner states, no part of the parsed record.
    """

    answer: dict[str, Any]
    """The answer, each topic's `learner` view missing."""
    states: tuple[LearnerState | None, ...]
    """Each topic's learner state, in the order of the answer's topics."""
    summary: StudentSummary

    def body(self, model: LearnerModel, now: datetime) -> bytes:
        """The answer at `now`, written (a `ForecastResponse`)."""
        topics = [
            view | {"learner": learner_view(state, view["topic"], model, self.summary, now)}
            for view, state in zip(self.answer["topics"], self.states, strict=True)
        ]
        return to_json(self.answer | {"topics": topics})


def prepare_forecast(
    record: StudentRecord, outlook: Outlook, model: LearnerModel
) -> PreparedForecast:
    """The predict answer of `record` (its learner states `model`'s) and `outlook`, overall and
    every topic, ready for the learner model's odds beside each topic."""
    return PreparedForecast(
        answer={
            "student_id": record.student_id,
            "as_of": outlook.as_of,
            "horizon_days": outlook.horizon_days,
            "interval_level": INTERVAL_LEVEL,
            "interval_method": INTERVAL_METHOD,
            "overall": forecast_view(outlook.overall),
            "topics": [
                forecast_view(prediction) | {"topic": topic}
                for topic, prediction in outlook.topics.items()
            ],
        },
        states=tuple(record.learner.get(topic) for topic in outlook.topics),
        summary=student_summary(record, model),
    )
