"""Struggle alerts: what a teacher sees when a student is stuck (DESIGN §1)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Trigger = Literal[
    "repeated_error",  # the same error type 3+ times in a topic since the last success
    "stuck_on_exercise",  # started, not passed, for more than 10 minutes
    "low_quiz_score",  # a quiz score under 50%
    "asked_for_help",  # "I don't understand", "I'm stuck" and close variants
    "failed_runs_streak",  # 5+ failed code executions in a row
]


class Alert(BaseModel):
    """One struggle alert, stored in the student's record."""

    id: str
    """Stable: derived from student, topic, trigger and the evidence event ids."""
    student_id: str
    topic: str
    trigger: Trigger
    evidence: list[str] = []
    """Ids of the events that raised it."""
    raised_at: int
    """Epoch seconds of the event that completed the evidence (event time, not arrival)."""
    acknowledged_at: int | None = None
    acknowledged_by: str | None = None
    detail: str | None = None
    """What fired: the error type, the exercise id, or the quiz score (never the student's text)."""
    published: bool = False
    """Sent to the alert topic (the record is the outbox: unpublished alerts are re-sent)."""

    @property
    def open(self) -> bool:
        """Not yet acknowledged by a teacher."""
        return self.acknowledged_at is None
