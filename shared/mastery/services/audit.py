"""The audit trail: who read, exported or erased a student's data, when, under which request.

Entries live in the state store, never in process memory: one key per student and UTC day,
`audit:{student_id}:YYYYMMDD`, a JSON array in the Dapr `state.redis` layout that entries are
appended to (one pipelined round trip for any number of students). The hash tag is the student's,
so erasure deletes the trail in the same atomic step as the record.

Schedule: an entry expires with the student's own data — the day key's TTL is set, on every
append, to the time left until the student's record expires (90 days after their last event),
and never more than `RETENTION_DAYS` after it was written. No entry outlives the data it is
about (except behind a Dapr sidecar, whose state API hides TTLs: there the 90 days after the
write apply). The erasure itself is recorded in the tombstone, which outlives the erased data.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, TypeAdapter

from mastery.observability import current_correlation_id
from mastery.ports import Append, StateStore
from mastery.services.students import student_key

__all__ = [
    "Action",
    "AuditEntry",
    "audit_entry",
    "audit_key",
    "audit_keys",
    "read_trail",
    "record_entries",
]

Action = Literal["read", "export", "erase"]


class AuditEntry(BaseModel):
    """One action on one student's data."""

    id: str
    at: datetime
    student_id: str
    actor: str
    """The token subject of whoever acted."""
    actor_role: str
    action: Action
    what: str
    """The function and route, e.g. `query GET /v1/students/{student_id}/mastery`."""
    correlation_id: str


_ENTRIES: TypeAdapter[list[AuditEntry]] = TypeAdapter(list[AuditEntry])


def audit_key(student_id: str, day: date) -> str:
    """The key of one student's audit entries of one UTC day."""
    return f"audit:{{{student_id}}}:{day:%Y%m%d}"


def audit_keys(student_id: str, start: date, end: date) -> list[str]:
    """Every day key of a student from `start` to `end` inclusive."""
    days = (end - start).days
    return [audit_key(student_id, start + timedelta(days=n)) for n in range(days + 1)]


def audit_entry(
    actor: tuple[str, str], student_id: str, action: Action, what: str, now: datetime
) -> AuditEntry:
    """A new entry for `actor` (subject, role) acting on `student_id` now, in this request."""
    return AuditEntry(
        id=uuid.uuid4().hex,
        at=now.astimezone(UTC),
        student_id=student_id,
        actor=actor[0],
        actor_role=actor[1],
        action=action,
        what=what,
        correlation_id=current_correlation_id(),
    )


async def record_entries(
    store: StateStore, entries: Sequence[AuditEntry], retention_days: int
) -> None:
    """Append each entry to its day key, in one round trip (expiry: see the module doc)."""
    ttl = retention_days * 86_400
    await store.append(
        [
            Append(
                audit_key(e.student_id, e.at.date()),
                e.model_dump_json().encode(),
                ttl,
                expire_with=student_key(e.student_id),
            )
            for e in entries
        ]
    )


async def read_trail(
    store: StateStore, student_id: str, since: datetime, until: datetime
) -> list[AuditEntry]:
    """The student's entries with `since <= at <= until`, oldest first (one round trip)."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    if until < since:
        return []
    stored = await store.read_many(audit_keys(student_id, since.date(), until.date()))
    entries = [e for v in stored if v is not None for e in _ENTRIES.validate_json(v.data)]
    return sorted((e for e in entries if since <= e.at <= until), key=lambda e: e.at)
