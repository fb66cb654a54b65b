"""The evidence the struggle triggers read, kept in the student's record.

Like the rest of the record it keeps timed observations with their event ids, never counters, so
the alerts derived from it (`mastery.domain.struggle`) depend on the set of events, not on the
order they arrived in. Quiz scores are not repeated here: the record already keeps them per topic.
What each event adds to it is `mastery.domain.struggle_events`.
"""

from __future__ import annotations

from pydantic import BaseModel

from mastery.domain.alerts import Trigger

# (epoch seconds, event id, detail): the error type of a failed run ("" when it ran fine), or
# the exercise id of a start or a pass. Sorted; the id breaks ties deterministically.
Mark = tuple[int, str, str]

STUCK: tuple[Trigger, ...] = ("stuck_on_exercise",)


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
    so no alert before it can change (`StruggleRules.frontier`; `struggle_events.detect` derives
    the "stuck" alerts due before it first)."""
    topics: dict[str, StruggleEvidence] = {}
