"""Learning events: the event document validated into one model (DESIGN §2).

The envelopes an event arrives in (ours, a CloudEvent) are read into the event document outside
the domain, by the entry points (`mastery.entrypoints.envelopes`). `EventData` is the union of
the types' data models: the concerns that react to a type dispatch on it with `match` ending in
`assert_never` (`mastery.domain.record`, `mastery.domain.struggle_evidence`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from mastery.domain.curriculum import Curriculum
from mastery.domain.event_fields import MAX_AGE, MAX_SKEW, Identifier
from mastery.errors import PoisonEventError


# Only ingest validates events (`parse_event`); the other functions import these models for
# their types alone, so their validators are built on first use, not at import (defer_build).
class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class ExerciseStarted(_Data):
    exercise_id: Identifier


class ExerciseCompleted(_Data):
    exercise_id: Identifier
    difficulty: Literal["easy", "medium", "hard"]
    passed: bool
    score: Annotated[float, Field(ge=0, le=1)] | None = None
    duration_s: Annotated[float, Field(ge=0)] | None = None
    hints_used: Annotated[int, Field(ge=0)] | None = None


class QuizCompleted(_Data):
    quiz_id: Identifier
    correct: Annotated[int, Field(ge=0)]
    total: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _correct_within_total(self) -> QuizCompleted:
        if self.correct > self.total:
            raise ValueError("correct must not exceed total")
        return self


class CodeExecuted(_Data):
    ok: bool
    error_type: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    exercise_id: Identifier | None = None

    @model_validator(mode="after")
    def _error_type_when_failed(self) -> CodeExecuted:
        if not self.ok and self.error_type is None:
            raise ValueError("error_type is required when ok is false")
        return self


class CodeReviewed(_Data):
    submission_id: Identifier
    quality: Annotated[float, Field(ge=0, le=100)]


class HelpRequested(_Data):
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class ClassRoster(_Data):
    class_id: Identifier


# The data of each event type: every concern that reacts to events matches on this union.
EventData = (
    ExerciseStarted
    | ExerciseCompleted
    | QuizCompleted
    | CodeExecuted
    | CodeReviewed
    | HelpRequested
    | ClassRoster
)

# The discriminator: an event's type name picks its data model.
DATA_MODELS: dict[str, type[EventData]] = {
    "exercise.started": ExerciseStarted,
    "exercise.completed": ExerciseCompleted,
    "quiz.completed": QuizCompleted,
    "code.executed": CodeExecuted,
    "code.reviewed": CodeReviewed,
    "help.requested": HelpRequested,
    "class.enrolled": ClassRoster,
    "class.unenrolled": ClassRoster,
}
ROSTER_TYPES = frozenset({"class.enrolled", "class.unenrolled"})


@dataclass(frozen=True, slots=True)
class LearningEvent:
    """One learning event, validated by `parse_event` (its only maker); `topic` is None only for
    roster events. A plain value: building it re-validates nothing (a pydantic model here cost
    a fifth of parsing an event)."""

    id: str
    type: str
    student_id: str
    topic: str | None
    occurred_at: datetime
    data: EventData
    epoch: float
    """`occurred_at` in seconds since the epoch, worked out once (every concern reads it)."""


class _Fields(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: Identifier
    type: str
    student_id: Identifier
    topic: str | None = None
    occurred_at: datetime


class _Document(_Fields):
    data: dict[str, Any] = {}


def _describe(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        where = prefix + ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


class _TypedDocument(_Fields):
    data: EventData  # each type's own model is set by `_typed` (the union is never used)


@functools.cache
def _typed(type_name: str) -> type[_TypedDocument]:
    """The document model of a known event type, its data by the type's own model: one
    validation of the whole document for a valid event. Made on the first event of the type,
    not at import (the readers import this module and parse no events)."""
    data_model = DATA_MODELS[type_name]
    return type(f"_{data_model.__name__}Document", (_TypedDocument,),
                {"__annotations__": {"data": data_model}})  # fmt: skip


def parse_event(
    document: Mapping[str, object], now: datetime, curriculum: Curriculum
) -> LearningEvent:
    """Validate one event document (`id`, `type`, `student_id`, `topic`, `occurred_at`, `data`);
    raise PoisonEventError saying what is wrong.

    A document whose fields and data are valid is validated in one pass, by its type's model;
    any other is validated step by step, so the reason names the first problem in the order
    below (fields, type, time, topic, data), whatever else is wrong with it.
    """
    fields: _Document | _TypedDocument | None = None
    type_name = document.get("type")
    if isinstance(type_name, str) and type_name in DATA_MODELS:
        with contextlib.suppress(ValidationError):
            fields = _typed(type_name).model_validate(document)
    if fields is None:
        fields = _validate_fields(document)
    occurred = fields.occurred_at
    if occurred.tzinfo is None or occurred.utcoffset() is None:
        raise PoisonEventError("occurred_at must carry a time zone")
    if occurred < now - MAX_AGE:
        raise PoisonEventError("occurred_at is more than 90 days in the past")
    if occurred > now + MAX_SKEW:
        raise PoisonEventError("occurred_at is more than 5 minutes in the future")
    topic = fields.topic
    if fields.type not in ROSTER_TYPES:
        if topic is None:
            raise PoisonEventError("topic is required")
        if topic not in curriculum:
            raise PoisonEventError(f"unknown topic {topic!r}")
    data = fields.data if isinstance(fields, _TypedDocument) else _validate_data(fields)
    return LearningEvent(
        id=fields.id,
        type=fields.type,
        student_id=fields.student_id,
        topic=topic if fields.type not in ROSTER_TYPES else None,
        occurred_at=occurred,
        data=data,
        epoch=occurred.timestamp(),
    )


def _validate_fields(document: Mapping[str, object]) -> _Document:
    try:
        fields = _Document.model_validate(document)
    except ValidationError as exc:
        raise PoisonEventError(_describe(exc)) from exc
    if fields.type not in DATA_MODELS:
        raise PoisonEventError(f"unknown event type {fields.type!r}")
    return fields


def _validate_data(fields: _Document) -> EventData:
    try:
        return DATA_MODELS[fields.type].model_validate(fields.data)
    except ValidationError as exc:
        raise PoisonEventError(_describe(exc, "data.")) from exc
