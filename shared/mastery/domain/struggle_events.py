"""What each event says about struggling, and the alerts newly applied events raise (pure).

What each event type says about struggling is dispatched here by its data class (`match`,
ending in `assert_never`): the evidence it adds to the record's struggle evidence
(`mastery.domain.struggle_evidence`), whether it is a success, and the triggers whose evidence
it can change. `detect` adds a run of applied events and re-derives the alerts they can affect
(`mastery.domain.struggle_alerts`, which `sweep`s when time passes without events).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import timedelta
from typing import assert_never, get_args

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
from mastery.domain.record import LATE_WINDOW, StudentRecord
from mastery.domain.struggle import StruggleRules
from mastery.domain.struggle_alerts import Touched, prune, refresh
from mastery.domain.struggle_evidence import STUCK, Mark, StruggleEvidence, StruggleState

TRIGGERS: tuple[Trigger, ...] = get_args(Trigger)
_FAILURES: tuple[Trigger, ...] = ("repeated_error", "failed_runs_streak")


def detect(
    record: StudentRecord,
    events: Sequence[LearningEvent],
    rules: StruggleRules,
    late_window: timedelta = LATE_WINDOW,
) -> None:
    """Add the struggle evidence of `events` (newly applied to `record`, in this order; once per
    applied event) and re-derive the alerts: the alerts one re-derivation after each event
    would give, with one re-derivation per run of events.

    Each event asks for its triggers of its topic to be re-derived from its own time (or the
    clock before it, if earlier), and for "stuck" of every topic from the clock before it. An
    alert at time x depends only on evidence up to x, and a later event asks for nothing before
    its own time, so re-deriving each (topic, trigger) once, from the earliest time any event of
    the run asked for, with all the run's evidence, gives what the last of the per-event
    re-derivations covering each time gave. That holds while every asked-for time is at or after
    the frontier (alerts before it are frozen, their evidence pruned) of the clock the run ends
    at: the run is re-derived before an event whose clock would move the frontier past one.

    Each event also moves `settled` to `late_window` behind it (ingest applies no event further
    behind its student's newest one), a frontier of its own (`StruggleRules.frontier`). An
    event whose window's edge lies past the clock (a student's next session) first moves the
    clock to that edge, as a sweep would, so the "stuck" alerts due before it are derived before
    they freeze (the event changes none of them: it can only end or start one after its time).
    """
    state = record.struggle
    lateness = min(rules.lateness_s, rules.run_lateness_s)  # the latest frontier of any trigger
    window_s = int(late_window.total_seconds())
    touched: Touched = {}
    stuck_since = floor = state.as_of  # the run's clock before it; its earliest asked-for time
    for event in events:
        at = int(event.epoch)
        pending = touched or state.as_of > stuck_since
        if pending and max(max(state.as_of, at) - lateness, state.settled, at - window_s) > floor:
            refresh(record, touched, stuck_since, rules)
            touched, stuck_since, floor = {}, state.as_of, state.as_of
        if at - window_s > state.as_of:
            previous, state.as_of = state.as_of, at - window_s
            prune(state, previous, state.settled, rules, None)
            refresh(record, touched, stuck_since, rules)
            touched, stuck_since, floor = {}, state.as_of, state.as_of
        previous, settled = state.as_of, state.settled
        hit = observe(state, event) and event.topic is not None
        state.settled = max(settled, at - window_s)
        if hit and at > previous and is_success(event):
            hit = False  # a success newer than everything fires nothing and undoes nothing
        prune(state, previous, settled, rules, event.topic)
        if hit and event.topic is not None:
            # nothing changes before the event, nor "stuck" before the clock
            since = min(at, previous)
            floor = min(floor, since)
            asked = touched.setdefault(event.topic, {})
            for trigger in affected_triggers(event):
                asked[trigger] = min(asked.get(trigger, since), since)
    refresh(record, touched, stuck_since, rules)


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
