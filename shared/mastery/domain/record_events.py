"""How one event changes a student's record (`mastery.domain.record`).

The late-arrival window bounds what the record costs. The dedupe ids are kept only for events
less than the window behind the student's newest event; an event further behind is *late*: it
is not applied (the caller dead-letters it), so a redelivery of an event whose id was forgotten
is never applied twice. Every delivery in which each event arrives less than the window behind
the newest event applied before it therefore ends in the same record as an ordered one.

Every event type is dispatched here by its data class (`match`, ending in `assert_never`): how
it changes the record, which class roster it changes, and the graded answer it is, so mypy names
each place a new event type must be handled.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from typing import assert_never

from mastery.domain.events import (
    ClassRoster,
    CodeExecuted,
    CodeReviewed,
    ExerciseCompleted,
    ExerciseStarted,
    HelpRequested,
    LearningEvent,
    QuizCompleted,
)
from mastery.domain.record import (
    LATE_WINDOW,
    RETENTION,
    ClassMembership,
    StudentRecord,
    TopicEvidence,
)
from mastery.domain.record_encoding import DaySummary, Observation
from mastery.domain.scores import fold


def _insert(days: list[DaySummary], observations: list[Observation], item: Observation) -> None:
    # A score at or before its newest day summary cannot be folded in (only a late-arrival
    # window raised after the fold lets its event in): the event is applied without it.
    if not days or item[0] > days[-1][0]:
        bisect.insort(observations, item)


def too_late(record: StudentRecord, event: LearningEvent, window: timedelta = LATE_WINDOW) -> bool:
    """Whether `event` lies more than `window` behind the student's newest event, and is not
    known: whether or not it was applied once, it is not applied now."""
    return _late(record, event.id, int(event.epoch), int(window.total_seconds()))


def _late(record: StudentRecord, event_id: str, at: int, window_s: int) -> bool:
    return at < record.last_event_at - window_s and event_id not in record.seen


def apply_event(
    record: StudentRecord, event: LearningEvent, window: timedelta = LATE_WINDOW
) -> bool:
    """Apply `event` to `record` in place; False (and no change) when it was already applied or
    is `too_late`."""
    at, window_s = int(event.epoch), int(window.total_seconds())
    if event.id in record.seen or _late(record, event.id, at, window_s):
        return False
    record.seen[event.id] = at
    record.applied += 1
    if at >= record.last_event_at:
        record.last_event_at = at
        offset = event.occurred_at.utcoffset() or timedelta()
        record.utc_offset_minutes = int(offset.total_seconds() // 60)
    _apply_data(record, event, at)
    _forget_seen(record, record.last_event_at - window_s)
    _prune(record)
    return True


def _apply_data(record: StudentRecord, event: LearningEvent, at: int) -> None:
    data = event.data
    if isinstance(data, ClassRoster):  # membership, not a topic's evidence
        current = record.classes.get(data.class_id)
        if current is None or (current.at, current.event_id) < (at, event.id):
            record.classes[data.class_id] = ClassMembership(
                enrolled=event.type == "class.enrolled", at=at, event_id=event.id
            )
        return
    assert event.topic is not None  # parse_event guarantees a topic for every other type
    day = event.occurred_at.date().toordinal()
    index = bisect.bisect_left(record.active_days, day)
    if index == len(record.active_days) or record.active_days[index] != day:
        record.active_days.insert(index, day)
    evidence = record.topics.get(event.topic)
    if evidence is None:
        evidence = record.topics[event.topic] = TopicEvidence()
    evidence.last_activity = max(evidence.last_activity, at)
    match data:
        case ExerciseCompleted():
            evidence.attempts += 1
            first = evidence.passed.get(data.exercise_id)
            if data.passed and (first is None or at < first[1]):
                evidence.passed[data.exercise_id] = (data.difficulty, at)
        case QuizCompleted():
            _insert(evidence.quiz_days, evidence.quizzes, (at, data.correct / data.total, event.id))
        case CodeReviewed():
            _insert(evidence.review_days, evidence.reviews, (at, data.quality / 100, event.id))
        case CodeExecuted():
            evidence.runs += 1
            evidence.failed_runs += 0 if data.ok else 1
        case HelpRequested():
            evidence.help_requests += 1
        case ExerciseStarted():
            pass  # counts as activity; the stuck trigger reads it from the struggle evidence
        case _:
            assert_never(data)


def roster_class(event: LearningEvent) -> str | None:
    """The class whose roster `event` changes (it enrols or unenrols its student), if any."""
    data = event.data
    match data:
        case ClassRoster():
            return data.class_id
        case (
            ExerciseStarted()
            | ExerciseCompleted()
            | QuizCompleted()
            | CodeExecuted()
            | CodeReviewed()
            | HelpRequested()
        ):
            return None
        case _:
            assert_never(data)


def graded_answer(event: LearningEvent) -> float | None:
    """The event's graded answer in [0, 1] (the learner model's evidence, kept in
    `StudentRecord.answers` by `mastery.domain.knowledge`), or None when it grades nothing.

    A quiz is one answer worth `correct / total` (the learner model's fractional-answer
    convention); an exercise attempt is 1 when it passed, else 0; a code run is 1 when it ran,
    else 0 (docs/PREDICTIONS.md).
    """
    data = event.data
    match data:
        case QuizCompleted():
            return data.correct / data.total
        case ExerciseCompleted():
            return 1.0 if data.passed else 0.0
        case CodeExecuted():
            return 1.0 if data.ok else 0.0
        case ExerciseStarted() | CodeReviewed() | HelpRequested() | ClassRoster():
            return None
        case _:
            assert_never(data)


def _forget_seen(record: StudentRecord, horizon: int) -> None:
    """Drop the dedupe ids of events older than the late-arrival window's horizon."""
    if min(record.seen.values()) >= horizon:
        return  # the common case, found at C speed
    for event_id in [event_id for event_id, at in record.seen.items() if at < horizon]:
        del record.seen[event_id]


def _blank_before(observations: list[Observation], horizon: int) -> None:
    # Blanked ids form a prefix: walk back from the horizon until the first blank one.
    index = bisect.bisect_left(observations, (horizon,)) - 1
    while index >= 0 and observations[index][2]:
        at, value, _ = observations[index]
        observations[index] = (at, value, "")
        index -= 1


def _prune(record: StudentRecord) -> None:
    """Forget evidence older than the retention window before the newest event."""
    horizon = record.last_event_at - int(RETENTION.total_seconds())
    first_day = datetime.fromtimestamp(horizon, UTC).date().toordinal()
    if record.active_days and record.active_days[0] < first_day:
        record.active_days = [d for d in record.active_days if d >= first_day]
    for evidence in record.topics.values():
        if evidence.quizzes and evidence.quizzes[0][0] < horizon:
            evidence.quizzes = [o for o in evidence.quizzes if o[0] >= horizon]
        if evidence.reviews and evidence.reviews[0][0] < horizon:
            evidence.reviews = [o for o in evidence.reviews if o[0] >= horizon]
        if evidence.quiz_days and evidence.quiz_days[0][0] < horizon:
            evidence.quiz_days = [d for d in evidence.quiz_days if d[0] >= horizon]
        if evidence.review_days and evidence.review_days[0][0] < horizon:
            evidence.review_days = [d for d in evidence.review_days if d[0] >= horizon]


def fold_scores(record: StudentRecord, previous: int, window: timedelta = LATE_WINDOW) -> None:
    """Fold the scores no event can reach any more into day summaries (`mastery.domain.scores`),
    and blank the event ids of those left raw.

    Call it once the struggle alerts were derived from the events just applied (`previous`: the
    newest event's time before them): a score more than `window` behind the newest event is
    final, as no event before that is applied (`too_late`) and the low-quiz trigger reads no
    quiz before it (`StruggleState.settled`, moved there by the derivation). So its id, which
    only orders scores of the same second and names the quiz a low-quiz alert fired on, is read
    no more: a final score keeps its time and value (what the history and the averages read),
    and with ids like UUIDs loses most of its bytes. What is folded and blanked depends only on
    the newest event, never on the order of delivery.
    """
    window_s = int(window.total_seconds())
    since, horizon = previous - window_s, record.last_event_at - window_s
    if horizon <= since:
        return  # no score newly final
    offset_s = record.utc_offset_minutes * 60
    for evidence in record.topics.values():
        evidence.quiz_days, evidence.quizzes = fold(
            evidence.quiz_days, evidence.quizzes, since, horizon, offset_s
        )
        evidence.review_days, evidence.reviews = fold(
            evidence.review_days, evidence.reviews, since, horizon, offset_s
        )
        _blank_before(evidence.quizzes, horizon)
        _blank_before(evidence.reviews, horizon)
