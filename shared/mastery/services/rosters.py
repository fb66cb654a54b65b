"""Class rosters that forget a student when the student's data expires or is erased.

A roster (`class:{class_id}`) lists its members with the expiry of each member's record as of
the member's last refresh. Ingest refreshes a member when their record's expiry has moved on by
a day or more (so at most one roster write per student, class and day), and every roster write
drops members whose stored expiry has passed. The stored expiry never exceeds the record's, so
a roster entry never lists a student longer than their data exists, and the roster key itself
expires with its longest-lived member. Erasure removes the student at once.

Ingest does not read the rosters on every event: a `RosterMemo` remembers, per process, the
expiries it last read or wrote. An event needs no roster read when the memo knows the student's
entry is current (within a day of the record's expiry) and that no entry of the class has lapsed
yet. Stored expiries only grow until the entry is removed, and every removal is covered: a
roster event (enrol, leave) makes ingest forget what it knew of that entry; erasure deletes the
record, so the student returns only through a roster event; pruning removes only entries whose
expiry has passed, which the memo checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cachetools import LRUCache

from mastery.domain.record import StudentRecord
from mastery.errors import StateUnavailableError
from mastery.ports import StateStore, Write
from mastery.services.retry import MAX_ATTEMPTS, CompareAndSetRounds
from mastery.services.students import DAY_SECONDS, ClassRoster, class_key

__all__ = ["RosterMemo", "keep_enrolments", "prune", "remove_from_rosters"]


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


class RosterMemo:
    """The member expiries of recently read or written rosters, as stored (one process)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._classes: LRUCache[str, tuple[int | None, dict[str, int]]] = LRUCache(max(1, capacity))

    def saw(self, class_id: str, roster: ClassRoster) -> None:
        """Remember `roster` as it is stored now (just read unchanged, or just written)."""
        if self._capacity <= 0:
            return
        expires = dict(roster.expires)
        self._classes[class_id] = (min(expires.values(), default=None), expires)

    def forget(self, class_id: str, member: str) -> None:
        """Forget `member`'s entry (a roster event may have removed or re-added it)."""
        entry = self._classes.get(class_id)
        if entry is not None:
            entry[1].pop(member, None)

    def current(self, class_id: str, member: str, expires: int, now: int) -> bool:
        """Whether the stored roster needs no refresh for `member` (whose data expires at
        `expires`) and no pruning at `now`, as far as this process knows."""
        entry = self._classes.get(class_id)
        if entry is None:
            return False
        earliest, known = entry
        stored = known.get(member)
        if stored is None or stored < expires - DAY_SECONDS:
            return False
        return earliest is None or earliest >= now


async def _update(
    store: StateStore,
    wanted: dict[str, dict[str, int | None]],
    now: datetime,
    retention_days: int,
    memo: RosterMemo | None = None,
) -> None:
    """Set, per class, each named member's expiry (None removes the member), with CAS retries."""
    epoch = int(now.timestamp())
    pending = sorted(wanted)
    async for _ in CompareAndSetRounds():
        if not pending:
            return
        stored = await store.read_many([class_key(c) for c in pending])
        writes: list[Write] = []
        rosters: dict[str, ClassRoster] = {}
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
            rosters[class_id] = roster
            if roster.model_dump() != before:
                data = roster.model_dump_json().encode()
                ttl = _ttl(roster, epoch, retention_days)
                writes.append(Write(class_key(class_id), data, value.etag if value else None, ttl))
        results = await store.write_many(writes)
        lost = {w.key for w, etag in zip(writes, results, strict=True) if etag is None}
        pending = [c for c in pending if class_key(c) in lost]
        if memo is not None:
            for class_id, roster in rosters.items():
                if class_key(class_id) not in lost:
                    memo.saw(class_id, roster)
    if not pending:
        return
    raise StateUnavailableError(f"gave up after {MAX_ATTEMPTS} concurrent roster updates")


async def keep_enrolments(
    store: StateStore,
    records: Sequence[StudentRecord],
    now: datetime,
    retention_days: int,
    memo: RosterMemo | None = None,
    leaving: Sequence[tuple[str, str]] = (),
) -> None:
    """Refresh the roster entries of `records` (just written by ingest) in their classes, and
    remove the (class, student) pairs in `leaving`.

    One read of the rosters involved, none for entries `memo` knows are current; a write only
    where a member's stored expiry lags a day, a member has lapsed or left.
    """
    epoch = int(now.timestamp())
    wanted: dict[str, dict[str, int | None]] = {}
    for class_id, student_id in leaving:
        wanted.setdefault(class_id, {})[student_id] = None
    for record in records:
        expires = record.last_event_at + retention_days * DAY_SECONDS
        for class_id in record.enrolled_classes():
            if memo is None or not memo.current(class_id, record.student_id, expires, epoch):
                wanted.setdefault(class_id, {})[record.student_id] = expires
    await _update(store, wanted, now, retention_days, memo)


async def remove_from_rosters(
    store: StateStore,
    student_id: str,
    class_ids: Sequence[str],
    now: datetime,
    retention_days: int,
) -> None:
    """Remove `student_id` from the rosters of `class_ids` (idempotent)."""
    await _update(store, {c: {student_id: None} for c in class_ids}, now, retention_days)
