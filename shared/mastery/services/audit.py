"""The audit trail: who read, exported or erased a student's data, when, under which request.

Entries live in the state store, never in process memory: per student an append-only log, a
Redis Stream `audit:{student_id}` with its counts in the hash `audit:{student_id}:tally`
(`StateStore.append_logs`), so an append costs the same however long the trail is. One round
trip records a request's accesses for any number of students (a class heat map). The hash tag
is the student's, so erasure deletes the trail in the same atomic step as the record.

Coalescing: repeated accesses by the same caller, role, action and route within `window`
(default 10 minutes) of the first make one entry with a `count` and the first (`at`) and last
(`last_at`) times: a teacher refreshing a heat map every 5 s all day leaves 144 entries per
student, not 17,000.

Schedule: an entry goes `retention_days` after it was first seen (trimmed by later appends),
and the whole trail expires with the student's record (90 days after their last event) at the
latest. A student with no record gets no entry: there is nothing of theirs to have read. The
erasure itself is recorded in the tombstone, which outlives the erased data.
"""

from __future__ import annotations

import json
import re
import uuid
from asyncio import Future
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal, NamedTuple, Protocol

from pydantic import BaseModel

from mastery.observability import current_correlation_id
from mastery.ports import Clock, LogAppend, LogEntry, StateStore, answered
from mastery.services.students import student_key

__all__ = [
    "Action",
    "AuditEntry",
    "AuditPolicy",
    "Caller",
    "TrailPage",
    "access_appends",
    "audit_entry",
    "audit_keys",
    "is_cursor",
    "read_trail",
    "record_access",
    "retention_start",
    "trail_length",
]

Action = Literal["read", "acknowledge", "export", "erase"]
_CURSOR = re.compile(r"\d{1,20}-\d{1,20}")


class Caller(Protocol):
    """Whoever acts: the token's subject and role (e.g. `mastery.web.auth.Principal`)."""

    @property
    def subject(self) -> str: ...

    @property
    def role(self) -> str: ...


class AuditPolicy(NamedTuple):
    """How long entries stay, and the window within which repeated accesses coalesce."""

    retention_days: int = 90
    window_seconds: int = 600


DEFAULT_POLICY = AuditPolicy()


class AuditEntry(BaseModel):
    """One action on one student's data, or the same action repeated within the window."""

    id: str
    at: datetime
    """The first access."""
    last_at: datetime | None = None
    """The last access coalesced into this entry (the same as `at` when `count` is 1)."""
    count: int = 1
    student_id: str
    actor: str
    """The token subject of whoever acted."""
    actor_role: str
    action: Action
    what: str
    """The method and route, e.g. `GET /v1/students/s-1/mastery`."""
    correlation_id: str
    """The request of the first access."""


class TrailPage(NamedTuple):
    """Entries oldest first, and the cursor of the next page (None: no more)."""

    entries: list[AuditEntry]
    next_cursor: str | None


def audit_keys(student_id: str) -> list[str]:
    """The keys of a student's trail: the stream, and the hash of its counts."""
    return [f"audit:{{{student_id}}}", f"audit:{{{student_id}}}:tally"]


@lru_cache(maxsize=4096)
def _log_keys(student_id: str) -> tuple[str, str, str]:
    """The stream, tally and owner of a student's trail (made once per student, not per read)."""
    stream, tally = audit_keys(student_id)
    return stream, tally, student_key(student_id)


@lru_cache(maxsize=4096)
def _coalesce_key(subject: str, role: str, action: str, route: str) -> str:
    """What repeated accesses share to coalesce (made once per caller and route, not per read)."""
    return json.dumps([subject, role, action, route], separators=(",", ":"))


def is_cursor(value: str) -> bool:
    """True when `value` has the form of a trail cursor (an entry id)."""
    return _CURSOR.fullmatch(value) is not None


def audit_entry(
    caller: Caller, student_id: str, action: Action, what: str, now: datetime
) -> AuditEntry:
    """A single entry, not stored in the trail (the erasure's, kept in the tombstone)."""
    at = now.astimezone(UTC)
    return AuditEntry(
        id=uuid.uuid4().hex, at=at, last_at=at, student_id=student_id, actor=caller.subject,
        actor_role=caller.role, action=action, what=what,
        correlation_id=current_correlation_id(),
    )  # fmt: skip


def _is_self(caller: Caller, student_id: str) -> bool:
    return caller.role == "student" and caller.subject == student_id


def access_appends(
    caller: Caller,
    students: Iterable[str],
    route: str,
    *,
    action: Action = "read",
    note: str | None = None,
) -> list[LogAppend]:
    """The appends that record `caller`'s access to `students` through `route` (what
    `record_access` sends): one per student named, none for a student's own reads. `note` is
    the request's correlation id (by default the current one)."""
    coalesce = _coalesce_key(caller.subject, caller.role, action, route)
    note = current_correlation_id() if note is None else note
    return [
        LogAppend(*_log_keys(student_id), coalesce, note)
        for student_id in dict.fromkeys(students)
        if action != "read" or not _is_self(caller, student_id)
    ]


def record_access(
    store: StateStore,
    caller: Caller,
    students: Iterable[str],
    route: str,
    clock: Clock,
    *,
    action: Action = "read",
    policy: AuditPolicy = DEFAULT_POLICY,
) -> Future[int]:
    """Record that `caller` accessed the data of `students` through `route`, in one round trip.

    A student's own reads are not recorded (their exports are), nor any access to a student
    with no record. Issued when called; durable (written to the store) once the answer is in:
    how many entries were added or counted.
    """
    appends = access_appends(caller, students, route, action=action)
    if not appends:
        return answered(0)
    return store.append_logs(
        appends,
        now_ms=int(clock().timestamp() * 1000),
        window_ms=policy.window_seconds * 1000,
        keep_ms=policy.retention_days * 86_400_000,
    )


def _entry(student_id: str, stored: LogEntry) -> AuditEntry:
    actor, role, action, what = json.loads(stored.coalesce)
    first_ms = int(stored.id.split("-")[0])
    return AuditEntry(
        id=stored.id, at=datetime.fromtimestamp(first_ms / 1000, UTC),
        last_at=datetime.fromtimestamp(stored.last_ms / 1000, UTC), count=stored.count,
        student_id=student_id, actor=actor, actor_role=role, action=action, what=what,
        correlation_id=stored.note,
    )  # fmt: skip


async def read_trail(
    store: StateStore,
    student_id: str,
    since: datetime,
    until: datetime,
    *,
    policy: AuditPolicy = DEFAULT_POLICY,
    after: str | None = None,
    limit: int | None = None,
) -> TrailPage:
    """The entries with an access in [since, until], oldest first; `limit` per page.

    An entry whose window began before `since` but reached into it is included.
    """
    if until < since:
        return TrailPage([], None)
    since_ms, until_ms = int(since.timestamp() * 1000), int(until.timestamp() * 1000)
    stream, tally = audit_keys(student_id)
    start = since_ms - policy.window_seconds * 1000
    found: list[AuditEntry] = []
    while True:
        wanted = 1000 if limit is None else limit - len(found)
        chunk = await store.read_log(stream, tally, start, until_ms, after, wanted)
        found += [_entry(student_id, e) for e in chunk if e.last_ms >= since_ms]
        if len(chunk) < wanted:
            return TrailPage(found, None)
        after = chunk[-1].id
        if limit is not None and len(found) >= limit:
            return TrailPage(found, after)


async def trail_length(store: StateStore, student_id: str) -> int:
    """How many entries a student's trail holds."""
    return await store.log_length(audit_keys(student_id)[0])


def retention_start(now: datetime, policy: AuditPolicy) -> datetime:
    """The oldest time an entry can have."""
    return now - timedelta(days=policy.retention_days, seconds=policy.window_seconds)
