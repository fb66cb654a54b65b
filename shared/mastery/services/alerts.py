"""Struggle alerts outside ingest: the "stuck" sweep and teachers' acknowledgements."""

from __future__ import annotations

from collections.abc import Sequence

from mastery.domain.alerts import Alert
from mastery.domain.record import StudentRecord
from mastery.domain.struggle import StruggleRules
from mastery.domain.struggle_alerts import sweep
from mastery.errors import NotFoundError
from mastery.ports import Clock, EventSink, StateStore
from mastery.services.outbox import Stored, update_student


async def sweep_students(
    store: StateStore,
    sink: EventSink | None,
    records: Sequence[Stored],
    *,
    clock: Clock,
    rules: StruggleRules,
    retention_days: int,
) -> list[Stored]:
    """Raise the "stuck" alerts wall-clock time has made due, publish them and store them.

    Each student's new alerts are sent before the one write that stores them marked published
    (`mastery.services.outbox`). Returns the records as they are after the sweep, each with its
    stored version's ETag (the one it came with when nothing was written).
    """
    now = int(clock().timestamp())
    swept = []
    for record, etag in records:
        result = await update_student(
            store, record.student_id, lambda r: bool(sweep(r, now, rules)),
            clock=clock, retention_days=retention_days, first=(record, etag), alerts=sink,
        )  # fmt: skip
        if result is None:
            continue
        swept.append(result)
    return swept


async def acknowledge(
    store: StateStore,
    record: StudentRecord,
    etag: str | None,
    alert_id: str,
    *,
    by: str,
    clock: Clock,
    retention_days: int,
) -> Alert:
    """Mark one alert acknowledged by `by` now; idempotent (the first acknowledgement stays)."""
    at = int(clock().timestamp())

    def ack(current: StudentRecord) -> bool:
        alert = _find(current, alert_id)
        if alert.acknowledged_at is not None:
            return False
        alert.acknowledged_at, alert.acknowledged_by = at, by
        return True

    stored = await update_student(
        store, record.student_id, ack, clock=clock, retention_days=retention_days,
        first=(record, etag),
    )  # fmt: skip
    if stored is None:
        raise NotFoundError("no such student")
    return _find(stored[0], alert_id)


def _find(record: StudentRecord, alert_id: str) -> Alert:
    for alert in record.alerts:
        if alert.id == alert_id:
            return alert
    raise NotFoundError("no such alert")
