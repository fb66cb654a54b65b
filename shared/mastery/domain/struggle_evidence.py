"""The evidence the struggle triggers read, kept in the student's record.

Like the rest of the record it keeps timed observations with their event ids, never counters, so
the alerts derived from it (`mastery.domain.struggle`) depend on the set of events, not on the
order they arrived in. Quiz scores are not repeated here: the record already keeps them per topic.
"""

from __future__ import annotations

import bisect

from pydantic import BaseModel, Field

from mastery.domain.events import (
    CodeExecuted,
    ExerciseCompleted,
    ExerciseStarted,
    HelpRequested,
    LearningEvent,
)
from mastery.domain.help_text import says_struggling

# (epoch seconds, event id, detail): the error type of a failed run ("" when it ran fine), or
# the exercise id of a start or a pass. Sorted; the id breaks ties deterministically.
Mark = tuple[int, str, str]


class StruggleEvidence(BaseModel):
    """One topic's recent code runs, exercise starts and passes, and "I'm stuck" messages."""

    runs: list[Mark] = Field(default_factory=list)
    starts: list[Mark] = Field(default_factory=list)
    passes: list[Mark] = Field(default_factory=list)
    help: list[Mark] = Field(default_factory=list)
    """Help messages that said "I don't understand" / "I'm stuck" (the text is not kept)."""


class StruggleState(BaseModel):
    """The struggle evidence of every topic and the event-time clock alerts are derived at."""

    as_of: int = 0
    """Newest event time seen, or the newest sweep (wall clock), whichever is later."""
    topics: dict[str, StruggleEvidence] = Field(default_factory=dict)


def observe(state: StruggleState, event: LearningEvent) -> bool:
    """Record what `event` says about struggling; True when it touched a topic's evidence.

    Call it once per newly applied event (after `apply_event` returned True).
    """
    at = int(event.occurred_at.timestamp())
    state.as_of = max(state.as_of, at)
    data = event.data
    mark: Mark
    if isinstance(data, CodeExecuted):
        mark, kind = (at, event.id, "" if data.ok else (data.error_type or "error")), "runs"
    elif isinstance(data, ExerciseStarted):
        mark, kind = (at, event.id, data.exercise_id), "starts"
    elif isinstance(data, ExerciseCompleted) and data.passed:
        mark, kind = (at, event.id, data.exercise_id), "passes"
    elif isinstance(data, HelpRequested) and says_struggling(data.text):
        mark, kind = (at, event.id, ""), "help"
    else:
        return event.type == "quiz.completed"  # quiz scores live in the record's topic evidence
    assert event.topic is not None  # every event type above carries a topic
    evidence = state.topics.get(event.topic)
    if evidence is None:  # not setdefault: building a model on every event costs more
        evidence = state.topics[event.topic] = StruggleEvidence()
    bisect.insort(getattr(evidence, kind), mark)
    return True
