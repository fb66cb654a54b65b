"""Where a student's record and the class rosters live in the state store.

Every key of one student carries the hash tag `{student_id}` so that multi-key operations on
one student stay in one Redis Cluster slot.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from mastery.domain.record import StudentRecord
from mastery.ports import StateStore

DAY_SECONDS = 86_400


def student_key(student_id: str) -> str:
    """The key of a student's record."""
    return f"student:{{{student_id}}}"


def class_key(class_id: str) -> str:
    """The key of a class roster (the students enrolled in it)."""
    return f"class:{{{class_id}}}"


class ClassRoster(BaseModel):
    """The students enrolled in one class; derived from their records, kept for listing."""

    members: list[str] = []
    expires: dict[str, int] = {}
    """member -> epoch when their record expires (as of their last refresh; `rosters`)."""


def retention_ttl(last_event_at: int, now: datetime, retention_days: int) -> int:
    """Seconds until `retention_days` after the last event (at least one)."""
    expires = last_event_at + retention_days * DAY_SECONDS
    return max(1, expires - int(now.timestamp()))


async def load_student(
    store: StateStore, student_id: str
) -> tuple[StudentRecord | None, str | None]:
    """The student's record and its ETag (both None when there is none)."""
    stored = await store.read(student_key(student_id))
    if stored is None:
        return None, None
    return StudentRecord.model_validate_json(stored.data), stored.etag


async def load_roster(store: StateStore, class_id: str) -> tuple[ClassRoster, str | None]:
    """The roster of a class (empty when unknown) and its ETag."""
    stored = await store.read(class_key(class_id))
    if stored is None:
        return ClassRoster(), None
    return ClassRoster.model_validate_json(stored.data), stored.etag
