"""A student's stored evidence.

The record keeps the evidence itself (passed exercises, timed scores, active days), not running
totals, so every derived number is a function of the *set* of events: duplicates are ignored by
id and late or shuffled deliveries end in the same record as an ordered one. How one event
changes it is `mastery.domain.record_events`, apart so that the read functions, which only read
records, do not load the event models. The one summary it holds is exact: a busy day's scores,
once no event can reach them, folded into the day's decaying average and count
(`record_events.fold_scores`, `mastery.domain.scores`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from mastery.domain.alerts import Alert
from mastery.domain.answer_log import AnswerLog, StudentTrack
from mastery.domain.learner import StoredLearnerState
from mastery.domain.record_encoding import (
    DaySummary,
    Observation,
    StoredAs,
    pack_days,
    pack_scores,
    pack_summaries,
    unpack_days,
    unpack_scores,
    unpack_summaries,
)
from mastery.domain.struggle_evidence import StruggleState

RETENTION = timedelta(days=90)
LATE_WINDOW = timedelta(days=7)
"""Default late-arrival window (`INGEST_LATE_WINDOW_HOURS`); the struggle alerts' lateness."""


Scores = Annotated[list[Observation], BeforeValidator(unpack_scores), StoredAs(pack_scores)]
"""Timed scores, sorted; stored as gaps (`mastery.domain.record_encoding`)."""
Summaries = Annotated[
    list[DaySummary],
    BeforeValidator(unpack_summaries),
    StoredAs(pack_summaries),
    Field(exclude_if=lambda summaries: not summaries),
]
"""Day summaries of final scores, sorted (`mastery.domain.scores`); stored as gaps, and not at
all while there are none (so most topics' are made by `default_factory`: pydantic deep-copies a
mutable default, which was a quarter of a heat-map row's parse; docs/BENCHMARKS.md)."""
Days = Annotated[list[int], BeforeValidator(unpack_days), StoredAs(pack_days)]
"""Sorted local-calendar day ordinals; stored as gaps (`mastery.domain.record_encoding`)."""


class TopicEvidence(BaseModel):
    """What one student has shown in one topic."""

    passed: dict[str, tuple[str, int]] = {}
    """exercise id -> (difficulty, epoch of the first pass)."""
    quizzes: Scores = []
    reviews: Scores = []
    """code-review quality scaled to 0–1."""
    quiz_days: Summaries = Field(default_factory=list)
    review_days: Summaries = Field(default_factory=list)
    """The final quiz and review scores of busy days, one summary a day (`mastery.domain.scores`);
    `quizzes` and `reviews` hold the rest."""
    attempts: int = 0
    runs: int = 0
    failed_runs: int = 0
    help_requests: int = 0
    last_activity: int = 0


class ClassMembership(BaseModel):
    """The newest roster event for one class decides membership."""

    enrolled: bool
    at: int
    event_id: str


class StudentRecord(BaseModel):
    """Everything the engine holds about one student."""

    student_id: str
    last_event_at: int = 0
    utc_offset_minutes: int = 0
    """Offset of the newest event: the student's own calendar days."""
    seen: dict[str, int] = {}
    """event id -> epoch of occurrence: the dedupe set, of the late-arrival window only."""
    applied: int = 0
    """How many events were applied to this record."""
    erased_at: float | None = None
    """When the student was erased before this record began (epoch seconds): events from
    before it are never applied (`mastery.services.tombstones`)."""
    active_days: Days = []
    """Sorted local-calendar day ordinals with any activity."""
    classes: dict[str, ClassMembership] = {}
    topics: dict[str, TopicEvidence] = {}
    alerts: list[Alert] = []
    """Struggle alerts, newest last (derived from the evidence by the struggle detector)."""
    struggle: StruggleState = Field(default_factory=StruggleState)
    """What the struggle triggers read (`mastery.domain.struggle_alerts` keeps it bounded)."""
    answers: dict[str, AnswerLog] = {}
    """topic -> graded answers of the late-arrival window and the checkpoint state they start
    from (the learner model's evidence; `mastery.domain.answer_log`)."""
    learner: dict[str, StoredLearnerState] = {}
    """topic -> learner-model state, always `replay` of `answers[topic]`, or the folded
    checkpoint of a topic without answers in the window (domain.knowledge);
    its ranges are checked whenever a record is parsed."""
    learner_student: StudentTrack = Field(default_factory=StudentTrack)
    """The learner model's cross-topic state (recent success over all topics; domain.knowledge)."""
    learner_params: str = ""
    """Fingerprint of the learner parameters `learner` was computed with."""

    def enrolled_classes(self) -> frozenset[str]:
        """Classes the student is in now."""
        return frozenset(c for c, m in self.classes.items() if m.enrolled)

    def local_day(self, at: datetime) -> date:
        """The calendar day of `at` in the student's time zone."""
        offset = timezone(timedelta(minutes=self.utc_offset_minutes))
        return at.astimezone(offset).date()
