"""Tombstones: an erased student's events from before the erasure are never applied again.

Erasure leaves `tombstone:{student_id}` (same hash tag as the record) holding the first
erasure's time, who and counts; a later erasure (of data that arrived since, or of nothing) is
recorded beside it, never over it. Ingest drops every event of that student whose
`occurred_at` is earlier than the latest erasure (a replay of the topic,
a late redelivery) and counts it as `erased`; activity after the erasure starts a new record,
which keeps the erasure time (`StudentRecord.erased_at`), so only a student without a record
needs its tombstone read.
The tombstone lives until such events can no longer arrive: ingest refuses events older than
90 days (`MAX_AGE`), so it expires that long after the erasure, plus a margin for clock skew.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel

from mastery.domain.event_fields import MAX_AGE
from mastery.ports import StateStore
from mastery.services.audit import AuditEntry

__all__ = [
    "LaterErasure",
    "Tombstone",
    "erasure_times",
    "tombstone_key",
    "tombstone_ttl",
]

_MARGIN = timedelta(hours=1)


class LaterErasure(BaseModel):
    """An erasure after the first: who, when, and what it found."""

    erasure: AuditEntry
    erased: dict[str, int]


class Tombstone(BaseModel):
    """What remains of an erased student: when, by whom, and how much was erased."""

    student_id: str
    erased_at: datetime
    """The first erasure."""
    erasure: AuditEntry
    """The audit entry of the first erasure (the rest of the trail was erased with the data)."""
    erased: dict[str, int]
    """What the first erasure erased, counted (no content): see `ErasureReport`."""
    later: list[LaterErasure] = []
    """Every erasure since, oldest first."""

    def last_erased_at(self) -> datetime:
        """The latest erasure: events from before it are never applied."""
        return max([self.erased_at, *(e.erasure.at for e in self.later)])

    def entries(self) -> list[AuditEntry]:
        """The audit entries of every erasure, oldest first."""
        return [self.erasure, *(e.erasure for e in self.later)]


def tombstone_key(student_id: str) -> str:
    """The key of a student's tombstone."""
    return f"tombstone:{{{student_id}}}"


def tombstone_ttl(retention_days: int) -> int:
    """Seconds a tombstone must live: until no event from before the erasure is accepted."""
    window = max(MAX_AGE, timedelta(days=retention_days)) + _MARGIN
    return int(window.total_seconds())


async def erasure_times(store: StateStore, student_ids: Sequence[str]) -> dict[str, datetime]:
    """When each erased student among `student_ids` was last erased (one round trip)."""
    stored = await store.read_many([tombstone_key(s) for s in student_ids])
    return {
        student_id: Tombstone.model_validate_json(value.data).last_erased_at()
        for student_id, value in zip(student_ids, stored, strict=True)
        if value is not None
    }
