"""Apply one Kafka record to the state: validate, dedupe, update, dead-letter the poison.

Exactly-once: the event id joins the student's dedupe set in the same compare-and-set write as
the change it causes, so a redelivery (at-least-once Kafka) or a concurrent delivery is applied
once. A lost compare-and-set is retried on a fresh read.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from mastery.domain.curriculum import Curriculum
from mastery.domain.events import ROSTER_TYPES, ClassRoster, LearningEvent, parse_event
from mastery.domain.record import StudentRecord, apply_event
from mastery.errors import ConflictError, PoisonEventError, StateUnavailableError
from mastery.observability import EVENTS_TOTAL
from mastery.ports import Clock, EventSink, StateStore
from mastery.services.keyed_locks import KeyedLocks
from mastery.services.students import (
    class_key,
    load_roster,
    load_student,
    retention_ttl,
    student_key,
)

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 16


async def backoff(attempt: int) -> None:
    """Full-jitter exponential backoff after a lost compare-and-set (2 ms doubling, cap 128 ms)."""
    await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))  # noqa: S311 - jitter, not crypto


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class KafkaMetadata:
    """Where a record came from (Dapr's `__topic`… headers, or the native consumer)."""

    topic: str | None = None
    partition: str | None = None
    offset: str | None = None
    key: str | None = None
    timestamp: str | None = None


@dataclass(frozen=True)
class IngestDeps:
    """What applying an event needs."""

    store: StateStore
    dead_letters: EventSink
    clock: Clock
    curriculum: Curriculum
    retention_days: int = 90
    locks: KeyedLocks = field(default_factory=KeyedLocks)


def dead_letter(raw: bytes, reason: str, meta: KafkaMetadata, deps: IngestDeps) -> bytes:
    """The dead-letter record: the reason, the original value and where it came from."""
    try:
        value: str = raw.decode()
        encoding = "utf-8"
    except UnicodeDecodeError:
        value, encoding = base64.b64encode(raw).decode(), "base64"
    document = {
        "reason": reason,
        "value": value,
        "value_encoding": encoding,
        "source": asdict(meta),
        "dead_lettered_at": deps.clock().isoformat(),
    }
    return json.dumps(document).encode()


async def handle_record(raw: bytes, meta: KafkaMetadata, deps: IngestDeps) -> Outcome:
    """Apply one record; poison goes to the dead letters. Raises only for transient faults."""
    try:
        event = parse_event(raw, deps.clock(), deps.curriculum)
    except PoisonEventError as exc:
        await deps.dead_letters.publish(meta.key or "", dead_letter(raw, exc.reason, meta, deps))
        log.warning("dead-lettered a record: %s", exc.reason, extra={"kafka": asdict(meta)})
        EVENTS_TOTAL.labels(outcome=Outcome.DEAD_LETTERED, type="invalid").inc()
        return Outcome.DEAD_LETTERED
    outcome = await apply(event, deps)
    EVENTS_TOTAL.labels(outcome=outcome, type=event.type).inc()
    return outcome


async def apply(event: LearningEvent, deps: IngestDeps) -> Outcome:
    """Apply a valid event exactly once to its student's record."""
    async with deps.locks.hold(event.student_id):
        return await _apply_locked(event, deps)


async def _apply_locked(event: LearningEvent, deps: IngestDeps) -> Outcome:
    key = student_key(event.student_id)
    for attempt in range(MAX_ATTEMPTS):
        record, etag = await load_student(deps.store, event.student_id)
        record = record or StudentRecord(student_id=event.student_id)
        if not apply_event(record, event):
            await _sync_roster(event, record, deps)
            return Outcome.DUPLICATE
        ttl = retention_ttl(record.last_event_at, deps.clock(), deps.retention_days)
        try:
            await deps.store.write(
                key, record.model_dump_json().encode(), etag=etag, ttl_seconds=ttl
            )
        except ConflictError:
            await backoff(attempt)
            continue
        await _sync_roster(event, record, deps)
        return Outcome.APPLIED
    raise StateUnavailableError(f"gave up after {MAX_ATTEMPTS} concurrent updates of {key}")


async def _sync_roster(event: LearningEvent, record: StudentRecord, deps: IngestDeps) -> None:
    """Make the class roster agree with the student's record (idempotent, so also on replays)."""
    if event.type not in ROSTER_TYPES or not isinstance(event.data, ClassRoster):
        return
    class_id = event.data.class_id
    enrolled = class_id in record.enrolled_classes()
    for attempt in range(MAX_ATTEMPTS):
        roster, etag = await load_roster(deps.store, class_id)
        members = set(roster.members)
        if enrolled:
            members.add(event.student_id)
        else:
            members.discard(event.student_id)
        if sorted(members) == roster.members:
            return
        roster.members = sorted(members)
        ttl = deps.retention_days * 86_400
        try:
            await deps.store.write(
                class_key(class_id), roster.model_dump_json().encode(), etag=etag, ttl_seconds=ttl
            )
        except ConflictError:
            await backoff(attempt)
            continue
        return
    raise StateUnavailableError(f"gave up after {MAX_ATTEMPTS} concurrent roster updates")
