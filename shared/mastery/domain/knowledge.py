"""The learner model inside the student's record: graded answers in, P(known) per topic out.

Which events are graded answers (docs/PREDICTIONS.md): a quiz is one answer worth
`correct / total` (the learner model's fractional-answer convention); an exercise attempt is 1
when it passed, else 0; a code run is 1 when it ran, else 0. Other events grade nothing.

Shuffle invariance: the record keeps every graded answer (`StudentRecord.answers`), and the
stored state of a topic is always exactly `replay` of that topic's stored answers with the
current parameters. An answer that is the newest of its topic costs one O(1) `update` (the same
float operations `replay` would do last); a late answer, an answer that made the retention
window drop old ones, or a change of parameter file costs a `replay`. So any delivery order of
the same events leaves the same states.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from mastery.domain.answer_log import AnswerLog
from mastery.domain.events import CodeExecuted, ExerciseCompleted, LearningEvent, QuizCompleted
from mastery.domain.learner import LearnerState, ModelParams, TopicParams, replay, update
from mastery.domain.record import RETENTION, StudentRecord

__all__ = ["LearnerModel", "graded_answer", "replay_topic", "track_answer"]


@dataclass(frozen=True)
class LearnerModel:
    """The parameters ingest and predict use, with a fingerprint to notice a new params file."""

    params: ModelParams = field(default_factory=ModelParams)

    @cached_property
    def fingerprint(self) -> str:
        """A short digest of the parameters; stored with the states computed from them."""
        return hashlib.sha256(self.params.to_json().encode()).hexdigest()[:16]

    def for_topic(self, topic: str) -> TopicParams:
        """The parameters of one topic."""
        return self.params.for_topic(topic)


def graded_answer(event: LearningEvent) -> float | None:
    """The event's answer value in [0, 1], or None when it grades nothing."""
    data = event.data
    if isinstance(data, QuizCompleted):
        return data.correct / data.total
    if isinstance(data, ExerciseCompleted):
        return 1.0 if data.passed else 0.0
    if isinstance(data, CodeExecuted):
        return 1.0 if data.ok else 0.0
    return None


def _moments(log: AnswerLog) -> Iterable[tuple[datetime, float]]:
    return (
        (datetime.fromtimestamp(at, UTC), value)
        for at, value in zip(log.at, log.value, strict=True)
    )


def replay_topic(record: StudentRecord, topic: str, model: LearnerModel) -> None:
    """Recompute one topic's state from its stored answers (dropping it when there are none)."""
    log = record.answers.get(topic)
    state = replay(_moments(log), model.for_topic(topic)) if log else None
    if state is None:
        record.answers.pop(topic, None)
        record.learner.pop(topic, None)
    else:
        record.learner[topic] = state


def _prune(record: StudentRecord) -> set[str]:
    """Drop answers older than the retention window; the topics that lost any."""
    horizon = record.last_event_at - int(RETENTION.total_seconds())
    return {topic for topic, log in record.answers.items() if log.drop_before(horizon)}


def track_answer(record: StudentRecord, event: LearningEvent, model: LearnerModel) -> None:
    """Keep the event's graded answer (if any) and bring the learner states up to date.

    Call it after `apply_event` applied the event (never for a duplicate).
    """
    if record.learner_params != model.fingerprint:
        # States computed with other parameters: recompute them all once.
        record.learner_params = model.fingerprint
        for name in list(record.answers):
            replay_topic(record, name, model)
    value = graded_answer(event)
    if value is None or event.topic is None:
        return
    topic = event.topic
    at = int(event.occurred_at.timestamp())
    log = record.answers.setdefault(topic, AnswerLog())
    newest = log.insert(at, value)
    touched = _prune(record)
    state: LearnerState | None = record.learner.get(topic)
    if newest and topic not in touched and (state is not None or len(log) == 1):
        # The same arithmetic `replay` would do last, so the invariant holds at O(1).
        when = datetime.fromtimestamp(at, UTC)
        record.learner[topic] = update(state, model.for_topic(topic), value, when)
    else:
        touched.add(topic)
    for name in touched:
        replay_topic(record, name, model)
