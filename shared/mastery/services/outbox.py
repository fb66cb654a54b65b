"""Publishing struggle alerts at least once, with the student's record as the outbox.

An alert is stored with `published=False` in the same compare-and-set write as the evidence
that raised it; after that write it is sent to the alert sink (record key = student id) and
then marked published by a second compare-and-set. If the sink fails, the error propagates (ingest answers 503, the
consumer does not commit), the event is redelivered, finds itself a duplicate, and the duplicate
path sends the still-unpublished alerts again; any later event of the student, or a sweep, does
too. A crash between the send and the mark re-sends an alert: consumers dedupe by `alert.id`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import Counter

from mastery.domain.alerts import Alert
from mastery.domain.record import StudentRecord
from mastery.errors import ConflictError, StateUnavailableError
from mastery.ports import Clock, EventSink, StateStore
from mastery.services.retry import MAX_ATTEMPTS, backoff
from mastery.services.students import load_student, retention_ttl, student_key

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


async def update_student(
    store: StateStore,
    student_id: str,
    change: Callable[[StudentRecord], bool],
    *,
    clock: Clock,
    retention_days: int,
    first: Stored | None = None,
) -> Stored | None:
    """Apply `change` by compare-and-set, retried on a fresh read; None if there is no record.

    `change` returns False when it has nothing to write. `first` skips the initial read.
    """
    for attempt in range(MAX_ATTEMPTS):
        record, etag = first if first is not None else await load_student(store, student_id)
        first = None
        if record is None:
            return None
        if not change(record):
            return record, etag
        ttl = retention_ttl(record.last_event_at, clock(), retention_days)
        data = record.model_dump_json().encode()
        try:
            etag = await store.write(student_key(student_id), data, etag=etag, ttl_seconds=ttl)
        except ConflictError:
            await backoff(attempt)
            continue
        return record, etag
    raise StateUnavailableError(f"gave up after {MAX_ATTEMPTS} concurrent updates of {student_id}")


async def publish_pending(
    store: StateStore, sink: EventSink | None, stored: Stored, clock: Clock, retention_days: int
) -> int:
    """Send the record's unpublished alerts, then mark them published; how many were sent."""
    record, _ = stored
    pending = [alert for alert in record.alerts if not alert.published]
    if sink is None or not pending:
        return 0
    for alert in pending:
        await sink.publish(record.student_id, alert_message(alert, record))
        ALERTS_PUBLISHED.labels(trigger=alert.trigger).inc()
    sent = {alert.id for alert in pending}

    def mark(current: StudentRecord) -> bool:
        marked = False
        for alert in current.alerts:
            if alert.id in sent and not alert.published:
                alert.published = marked = True
        return marked

    await update_student(
        store, record.student_id, mark, clock=clock, retention_days=retention_days, first=stored
    )
    return len(pending)
