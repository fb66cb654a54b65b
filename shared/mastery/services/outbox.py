"""Publishing struggle alerts at least once, in the one write that stores them.

New alerts are sent to the alert sink (record key = student id) *before* the compare-and-set
write that stores them, and stored already marked published. If the sink fails, the error
propagates (ingest answers 503, the consumer does not commit) and nothing is written: the
redelivered event is applied afresh and raises the same alert (same deterministic id) again. If
the alert was sent but the write is lost (a lost compare-and-set, a crash, a store outage), the
retry or the redelivery raises it again and sends it again: consumers dedupe by `alert.id`.
Within one call, an alert already sent is not sent again on a compare-and-set retry.

Alerts stored unpublished (no sink configured, or records written before this protocol) are
sent, and marked, before the student's next write.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from mastery.domain.alerts import Alert
from mastery.domain.record import StudentRecord
from mastery.errors import ConflictError, StateUnavailableError
from mastery.metrics import Counter
from mastery.ports import Clock, EventSink, StateStore
from mastery.services.retry import MAX_ATTEMPTS, CompareAndSetRounds
from mastery.services.students import load_student, retention_ttl, student_key
from mastery.tracing import traced_by_evidence

ALERTS_PUBLISHED = Counter(
    "mastery_struggle_alerts_published_total",
    "Struggle alerts sent to the alert topic",
    ["trigger"],
)

Stored = tuple[StudentRecord, str | None]


def alert_message(alert: Alert, record: StudentRecord) -> bytes:
    """The record sent to the alert topic: the alert, and the classes whose teachers it concerns."""
    document = alert.model_dump(exclude={"published"})
    document["raised_at"] = datetime.fromtimestamp(alert.raised_at, UTC).isoformat()
    document["classes"] = sorted(record.enrolled_classes())
    return json.dumps(document).encode()


async def publish_unpublished(
    sink: EventSink | None, record: StudentRecord, sent: set[str]
) -> bool:
    """Send the record's unpublished alerts and mark them published, before the write.

    `sent` holds the ids already sent by this call's earlier attempts (they are marked, not sent
    again) and gains the ones sent now. True when an alert was marked: the record must be written.
    A sink error propagates with the record only partly marked; the caller then writes nothing.
    """
    if sink is None:
        return False
    marked = False
    for alert in record.alerts:
        if alert.published:
            continue
        if alert.id not in sent:
            with traced_by_evidence(alert.evidence):
                await sink.publish(record.student_id, alert_message(alert, record))
            ALERTS_PUBLISHED.labels(trigger=alert.trigger).inc()
            sent.add(alert.id)
        alert.published = marked = True
    return marked


async def publish_all_unpublished(
    sink: EventSink | None, records: Sequence[StudentRecord], sent: set[str]
) -> set[str]:
    """`publish_unpublished` for many records at once: their alerts are sent concurrently
    (each record's in order), so a batch waits about one round trip for them, not one per
    alert. The ids of the students whose alerts were marked; every send has finished when it
    returns or raises (the first failure).
    """
    if sink is None:
        return set()
    pending = [r for r in records if any(not alert.published for alert in r.alerts)]
    results = await asyncio.gather(
        *(publish_unpublished(sink, r, sent) for r in pending), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return {r.student_id for r, marked in zip(pending, results, strict=True) if marked}


async def update_student(
    store: StateStore,
    student_id: str,
    change: Callable[[StudentRecord], bool],
    *,
    clock: Clock,
    retention_days: int,
    first: Stored | None = None,
    alerts: EventSink | None = None,
) -> Stored | None:
    """Apply `change` by compare-and-set, retried on a fresh read; None if there is no record.

    `change` returns False when it has nothing to write. `first` skips the initial read. With
    `alerts`, unpublished alerts (new ones included) are sent before the write that marks them.
    """
    sent: set[str] = set()
    async for _ in CompareAndSetRounds():
        record, etag = first if first is not None else await load_student(store, student_id)
        first = None
        if record is None:
            return None
        changed = change(record)
        if not await publish_unpublished(alerts, record, sent) and not changed:
            return record, etag
        ttl = retention_ttl(record.last_event_at, clock(), retention_days)
        data = record.model_dump_json().encode()
        try:
            etag = await store.write(student_key(student_id), data, etag=etag, ttl_seconds=ttl)
        except ConflictError:
            continue  # lost to another writer: the next round reads afresh
        return record, etag
    raise StateUnavailableError(f"gave up after {MAX_ATTEMPTS} concurrent updates of {student_id}")
