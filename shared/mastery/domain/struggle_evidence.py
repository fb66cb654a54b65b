"""The evidence the struggle triggers read, kept in the student's record.

Like the rest of the record it keeps timed observations with their event ids, never counters, so
the alerts derived from it (`mastery.domain.struggle`) depend on the set of events, not on the
order they arrived in. Quiz scores are not repeated here: the record already keeps them per topic.

What each event type says about struggling is dispatched here by its data class (`match`,
ending in `assert_never`): the evidence it adds, whether it is a success, and the triggers whose
evidence it can change.
"""

from __future__ import annotations

import bisect
from typing import assert_never, get_args

from pydantic import BaseModel

from mastery.domain.alerts import Trigger
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
from mastery.domain.help_text import says_struggling

# (epoch seconds, event id, detail): the error type of a failed run ("" when it ran fine), or
# the exercise id of a start or a pass. Sorted; the id breaks ties deterministically.
Mark = tuple[int, str, str]

TRIGGERS: tuple[Trigger, ...] = get_args(Trigger)
STUCK: tuple[Trigger, ...] = ("stuck_on_exercise",)
_FAILURES: tuple[Trigger, ...] = ("repeated_error", "failed_runs_streak")


class StruggleEvidence(BaseModel):
    """One topic's recent code runs, exercise starts and passes, and "I'm stuck" messages."""

    runs: list[Mark] = []
    starts: list[Mark] = []
    passes: list[Mark] = []
    help: list[Mark] = []
    """Help messages that said "I don't understand" / "I'm stuck" (the text is not kept)."""


class StruggleState(BaseModel):
    """The struggle evidence of every topic and the event-time clock alerts are derived at."""

    as_of: int = 0
    """Newest event time seen, or the newest sweep (wall clock), whichever is later."""
    settled: int = 0
    """The late-arrival window behind the newest event: no event before it is applied any more,
    so no alert before it can change (`StruggleRules.frontier`; `struggle_alerts.detect` derives
    the "stuck" alerts due before it first)."""
    topics: dict[str, StruggleEvidence] = {}


def observe(state: StruggleState, event: LearningEvent) -> bool:
    """Record what `event` says about struggling; True when it touched a topic's evidence.

    Call it once per newly applied event (after `apply_event` returned True).
    """
    at = int(event.epoch)
    state.as_of = max(state.as_of, at)
    data = event.data
    mark: Mark
    match data:
        case CodeExecuted():
            mark, kind = (at, event.id, "" if data.ok else (data.error_type or "error")), "runs"
        case ExerciseStarted():
            mark, kind = (at, event.id, data.exercise_id), "starts"
        case ExerciseCompleted() if data.passed:
            mark, kind = (at, event.id, data.exercise_id), "passes"
        case HelpRequested() if says_struggling(data.text):
            mark, kind = (at, event.id, ""), "help"
        case QuizCompleted():
            return True  # quiz scores live in the record's topic evidence
        case ExerciseCompleted() | HelpRequested() | CodeReviewed() | ClassRoster():
            return False
        case _:
            assert_never(data)
    assert event.topic is not None  # every event type above carries a topic
    evidence = state.topics.get(event.topic)
    if evidence is None:  # not setdefault: building a model on every event costs more
        evidence = state.topics[event.topic] = StruggleEvidence()
    bisect.insort(getattr(evidence, kind), mark)
    return True


def is_success(event: LearningEvent) -> bool:
    """Whether `event` is a success: a code run that ran, or a completed exercise."""
    data = event.data
    match data:
        case CodeExecuted():
            return data.ok
        case ExerciseCompleted():
            return True
        case ExerciseStarted() | QuizCompleted() | CodeReviewed() | HelpRequested() | ClassRoster():
            return False
        case _:
            assert_never(data)


def affected_triggers(event: LearningEvent) -> tuple[Trigger, ...]:
    """The triggers whose evidence `event` can change (the others need no re-derivation)."""
    data = event.data
    match data:
        case CodeExecuted():
            return _FAILURES  # runs
        case ExerciseStarted():
            return STUCK  # starts
        case ExerciseCompleted():
            return (*STUCK, *_FAILURES)  # passes: end "stuck" and reset "since the last success"
        case QuizCompleted():
            return ("low_quiz_score",)  # quiz scores
        case HelpRequested():
            return ("asked_for_help",)  # help messages
        case CodeReviewed() | ClassRoster():
            return TRIGGERS
        case _:
            assert_never(data)
