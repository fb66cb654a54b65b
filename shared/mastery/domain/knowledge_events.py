"""The learner model fed by each applied event: graded answers in, learner states out.

Which events are graded answers, and what each is worth, is `mastery.domain.record_events.graded_answer`
(docs/PREDICTIONS.md).

Shuffle invariance: the record keeps each topic's graded answers of the late-arrival window
(`StudentRecord.answers`, in (time, event id key) order; `mastery.domain.record.LATE_WINDOW`)
and the checkpoint state they start from, and the stored state of a topic is always `replay` of
those answers from that checkpoint. An answer that is the newest of its topic costs one O(1)
`update` (the same float operations `replay` would do last); a late answer or a change of
parameter file costs a replay of the topic's window. The student's cross-topic state
(`learner_student`: recent success over all topics) follows the same rule over all topics'
answers merged in (time, key) order: O(1) for the student's newest answer, a merged replay of
the windows for a late one. Answers the window drops are folded into the checkpoints, so the
states do not change, knowledge is never reset, and the logs stay as short as the window. An
answer older than the window is ignored; ingest never applies such an event (it is late:
`mastery.domain.record_events.too_late`), so every delivery ingest applies leaves the same states.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from itertools import chain

from mastery.domain.answer_log import AnswerLog
from mastery.domain.events import LearningEvent
from mastery.domain.knowledge import LearnerModel, replay_topic, use_model
from mastery.domain.learner import (
    OVERALL_DECAY,
    RECENT_START,
    StudentState,
    replay,
    update,
    update_student,
)
from mastery.domain.record import LATE_WINDOW, StudentRecord
from mastery.domain.record_events import graded_answer


def _horizon(record: StudentRecord, window: timedelta) -> float:
    return float(record.last_event_at - int(window.total_seconds()))


def _fold_student(
    start: StudentState | None, answers: Iterable[tuple[float, int, float]]
) -> StudentState | None:
    """`update_student` folded over answers of all topics, sorted here into (time, key) order.

    The loop repeats `update_student`'s arithmetic on the proportion alone (the same float
    operations, so the same result) because a late answer folds every listed answer again.
    """
    merged = sorted(answers)
    if not merged:
        return start
    recent = start.recent if start is not None else RECENT_START
    for _, _, value in merged:
        recent = recent * OVERALL_DECAY + value * (1.0 - OVERALL_DECAY)
    at, key, _ = merged[-1]
    if start is not None and (start.last_at, start.last_key) > (at, key):
        at, key = start.last_at, start.last_key
    return StudentState(recent, at, key)


def _replay_student(record: StudentRecord) -> None:
    """Recompute the cross-topic state from its checkpoint and every topic's listed answers."""
    track = record.learner_student
    track.state = _fold_student(
        track.start, chain.from_iterable(log.entries() for log in record.answers.values())
    )


def _prune(record: StudentRecord, model: LearnerModel, horizon: float) -> None:
    """Fold answers older than `horizon` into their topic's checkpoint and into the
    student's cross-topic checkpoint (all topics' dropped answers merged in time order).

    The states are the folds of the checkpoints and the listed answers, so they do not change.
    A topic left with no listed answers drops its log: its state is then its checkpoint, and
    its next answer starts a log from that state (so a topic the student has left costs the
    record one state, not two).
    """
    dropped: list[tuple[float, int, float]] = []
    for topic, log in list(record.answers.items()):
        if log.at and log.at[0] < horizon:
            taken = log.take_before(horizon)
            dropped += taken
            moments = [(at, value) for at, _, value in taken]
            log.start = replay(log.start, moments, model.for_topic(topic))
            if not log:
                del record.answers[topic]
    if dropped:
        track = record.learner_student
        track.start = _fold_student(track.start, dropped)


def track_answer(
    record: StudentRecord, event: LearningEvent, model: LearnerModel,
    window: timedelta = LATE_WINDOW,
) -> None:  # fmt: skip
    """Keep the event's graded answer (if any) and bring the learner states up to date.

    Call it after `apply_event` applied the event (never for a duplicate), with its window.
    """
    use_model(record, model)
    value = graded_answer(event)
    at, horizon = event.epoch, _horizon(record, window)
    if value is not None and event.topic is not None and at >= horizon:
        topic, key = event.topic, AnswerLog.key_of(event.id)
        log = record.answers.get(topic)
        if log is None:  # a first answer, or the first since the topic's answers were folded
            log = record.answers[topic] = AnswerLog(start=record.learner.get(topic))
        if log.insert(at, key, value):
            # The same arithmetic `replay` would do last, so the invariant holds at O(1).
            record.learner[topic] = update(
                record.learner.get(topic), model.for_topic(topic), value, at
            )
        else:
            replay_topic(record, topic, model)
        student = record.learner_student.state
        if student is None or (at, key) > (student.last_at, student.last_key):
            record.learner_student.state = update_student(student, value, at, key)
        else:
            _replay_student(record)  # late across topics: every topic's window, merged
    _prune(record, model, horizon)
