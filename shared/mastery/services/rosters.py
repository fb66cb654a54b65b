"""Class rosters that forget a student when the student's data expires or is erased.

A roster (`class:{class_id}`) lists its members with the expiry of each member's record as of
the member's last refresh. Ingest refreshes a member when their record's expiry has moved on by
a day or more (so at most one roster write per student, class and day), and every roster write
drops members whose stored expiry has passed. The stored expiry never exceeds the record's, so
a roster entry never lists a student longer than their data exists, and the roster key itself
expires with its longest-lived member. Erasure removes the student at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mastery.domain.record import StudentRecord
from mastery.errors import StateUnavailableError
from mastery.ports import StateStore, Write
from mastery.services.students import DAY_SECONDS, ClassRoster, class_key

__all__ = ["keep_enrolments", "prune", "remove_from_rosters"]

_ATTEMPTS = 16


def prune(roster: ClassRoster, now: int) -> None:
    """Drop members whose data has expired, and expiries of students no longer members."""
    live = [m for m in roster.members if roster.expires.get(m, now) >= now]
    roster.expires = {m: at for m, at in roster.expires.items() if m in live}
    roster.members = live


def _lags(roster: ClassRoster, member: str, expires: int) -> bool:
    return roster.expires.get(member, 0) < expires - DAY_SECONDS


def _ttl(roster: ClassRoster, now: int, retention_days: int) -> int:
    # A member without a stored expiry (written before the refresh ran) gets the full window.
    ends = [roster.expires.get(m, now + retention_days * DAY_SECONDS) for m in roster.members]
    return max([1, *(end - now for end in ends)])


async def _update(
    store: StateStore,
    wanted: dict[str, dict[str, int | None]],
    now: datetime,
    retention_days: int,
) -> None:
    """Set, per class, each named member's expiry (None removes the member), with CAS retries."""
    epoch = int(now.timestamp())
    pending = sorted(wanted)
    for _ in range(_ATTEMPTS):
        if not pending:
            return
        stored = await store.read_many([class_key(c) for c in pending])
        writes: list[Write] = []
        for class_id, value in zip(pending, stored, strict=True):
            roster = ClassRoster.model_validate_json(value.data) if value else ClassRoster()
            before = roster.model_dump()
            for member, expires in wanted[class_id].items():
                if expires is None:
                    roster.members = [m for m in roster.members if m != member]
                    roster.expires.pop(member, None)
                elif member not in roster.members or _lags(roster, member, expires):
                    roster.members = sorted({*roster.members, member})
                    roster.expires[member] = expires
            prune(roster, epoch)
            if roster.model_dump() != before:
                data = roster.model_dump_json().encode()
                ttl = _ttl(roster, epoch, retention_days)
                writes.append(Write(class_key(class_id), data, value.etag if value else None, ttl))
        results = await store.write_many(writes)
        lost = {w.key for w, etag in zip(writes, results, strict=True) if etag is None}
        pending = [c for c in pending if class_key(c) in lost]
    raise StateUnavailableError(f"gave up after {_ATTEMPTS} concurrent roster updates")


async def keep_enrolments(
    store: StateStore, records: Sequence[StudentRecord], now: datetime, retention_days: int
) -> None:
    """Refresh the roster entries of `records` (just written by ingest) in their classes.

    One read of the rosters involved; a write only where a member's stored expiry lags a day.
    """
    wanted: dict[str, dict[str, int | None]] = {}
    for record in records:
        expires = record.last_event_at + retention_days * DAY_SECONDS
        for class_id in record.enrolled_classes():
            wanted.setdefault(class_id, {})[record.student_id] = expires
    await _update(store, wanted, now, retention_days)


async def remove_from_rosters(
    store: StateStore,
    student_id: str,
    class_ids: Sequence[str],
    now: datetime,
    retention_days: int,
) -> None:
    """Remove `student_id` from the rosters of `class_ids` (idempotent)."""
    await _update(store, {c: {student_id: None} for c in class_ids}, now, retention_days)
