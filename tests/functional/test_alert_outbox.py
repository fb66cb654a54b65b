"""Struggle alerts are published before the one write that stores them, at least once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.alerts import Alert
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.record import StudentRecord
from mastery.domain.struggle import StruggleRules
from mastery.entrypoints.envelopes import read_envelope
from mastery.errors import StateUnavailableError
from mastery.ports import Write
from mastery.services.alerts import sweep_students
from mastery.services.ingest import IngestDeps, KafkaMetadata, Outcome, handle_records
from mastery.services.students import load_student, student_key
from tests.factories import event, raw

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LISTS = "data_structures.lists"


class FailingStore(MemoryStateStore):
    """Loses the next `lose` batch writes to a concurrent writer, or fails them (`crash`)."""

    def __init__(self) -> None:
        super().__init__()
        self.lose = 0
        self.crash = False

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        if self.crash:
            self.crash = False
            raise StateUnavailableError("store down after the publish")
        if self.lose:
            self.lose -= 1
            for w in writes:  # another pod rewrites the same bytes: our etag is stale
                current = self.values.get(w.key)
                if current is not None:
                    await self.write(w.key, current.data, etag=current.etag, ttl_seconds=60)
        return await super().write_many(writes)


def _deps(store: MemoryStateStore, alerts: MemorySink) -> IngestDeps:
    return IngestDeps(store=store, dead_letters=MemorySink(), clock=lambda: NOW,
                      curriculum=CURRICULUM, read_envelope=read_envelope, alerts=alerts)  # fmt: skip


def _wrong(minutes: int) -> dict[str, Any]:
    at = NOW - timedelta(minutes=30 - minutes)
    return event("code.executed", "s1", LISTS, at, ok=False, error_type="TypeError")


async def _deliver(document: dict[str, Any], deps: IngestDeps) -> Outcome:
    [outcome] = await handle_records([(raw(document), KafkaMetadata())], deps)
    return outcome


def _ids(sink: MemorySink) -> list[str]:
    return [json.loads(value)["id"] for _, value in sink.records]


async def test_an_alert_is_published_and_stored_published_in_the_events_one_write() -> None:
    store, sink = MemoryStateStore(), MemorySink()
    deps = _deps(store, sink)
    for minutes in (1, 2, 3):
        assert await _deliver(_wrong(minutes), deps) == Outcome.APPLIED
    record, etag = await load_student(store, "s1")
    assert record is not None
    [alert] = record.alerts
    assert alert.published
    assert _ids(sink) == [alert.id]
    assert etag == "3"  # one write per event, the alert's included


async def test_a_publish_whose_write_was_lost_is_stored_published_on_the_retry() -> None:
    store, sink = FailingStore(), MemorySink()
    deps = _deps(store, sink)
    await _deliver(_wrong(1), deps)
    await _deliver(_wrong(2), deps)
    store.lose = 1
    assert await _deliver(_wrong(3), deps) == Outcome.APPLIED
    record, _ = await load_student(store, "s1")
    assert record is not None
    assert [a.published for a in record.alerts] == [True]
    assert _ids(sink) == [record.alerts[0].id]  # the retry in the same call does not resend


async def test_a_crash_after_the_publish_republishes_the_same_alert_on_redelivery() -> None:
    store, sink = FailingStore(), MemorySink()
    deps = _deps(store, sink)
    await _deliver(_wrong(1), deps)
    await _deliver(_wrong(2), deps)
    third = _wrong(3)
    store.crash = True
    with pytest.raises(StateUnavailableError):
        await _deliver(third, deps)
    assert len(sink.records) == 1  # sent, but nothing stored: the event is not acknowledged
    assert await _deliver(third, deps) == Outcome.APPLIED  # the redelivery
    record, _ = await load_student(store, "s1")
    assert record is not None
    [alert] = record.alerts
    assert alert.published
    assert _ids(sink) == [alert.id, alert.id]  # at least once: consumers dedupe by id


async def test_an_alert_stored_unpublished_is_sent_with_the_students_next_event() -> None:
    store, sink = MemoryStateStore(), MemorySink()
    record = StudentRecord(student_id="s1")
    record.alerts = [Alert(id="alert-old", student_id="s1", topic=LISTS, trigger="low_quiz_score",
                           raised_at=int(NOW.timestamp()) - 600)]  # fmt: skip
    await store.write(student_key("s1"), record.model_dump_json().encode(), etag=None,
                      ttl_seconds=60)  # fmt: skip
    ok = event("code.executed", "s1", LISTS, NOW, ok=True)
    assert await _deliver(ok, _deps(store, sink)) == Outcome.APPLIED
    assert _ids(sink) == ["alert-old"]
    stored, etag = await load_student(store, "s1")
    assert stored is not None
    assert [a.published for a in stored.alerts] == [True]
    assert etag == "2"
    assert await _deliver(ok, _deps(store, sink)) == Outcome.DUPLICATE
    assert len(sink.records) == 1


async def test_a_sweep_publishes_a_due_stuck_alert_in_its_one_write() -> None:
    store, sink = MemoryStateStore(), MemorySink()
    started = event("exercise.started", "s1", LISTS, NOW - timedelta(hours=1), exercise_id="e1")
    await _deliver(started, _deps(store, MemorySink()))
    record, etag = await load_student(store, "s1")
    assert record is not None
    [(swept, _)] = await sweep_students(store, sink, [(record, etag)], clock=lambda: NOW,
                                   rules=StruggleRules(), retention_days=90)  # fmt: skip
    [alert] = swept.alerts
    assert (alert.trigger, alert.published) == ("stuck_on_exercise", True)
    assert _ids(sink) == [alert.id]
    assert store.values[student_key("s1")].etag == "2"


class DownSink(MemorySink):
    async def publish(self, key: str, value: bytes) -> None:
        raise StateUnavailableError("alert topic down")


async def test_a_sweep_whose_publish_fails_stores_nothing_and_the_next_sweep_sends_it() -> None:
    store = MemoryStateStore()
    started = event("exercise.started", "s1", LISTS, NOW - timedelta(hours=1), exercise_id="e1")
    await _deliver(started, _deps(store, MemorySink()))
    record, etag = await load_student(store, "s1")
    assert record is not None
    sweep = {"clock": lambda: NOW, "rules": StruggleRules(), "retention_days": 90}
    with pytest.raises(StateUnavailableError):
        await sweep_students(store, DownSink(), [(record, etag)], **sweep)  # type: ignore[arg-type]
    assert store.values[student_key("s1")].etag == "1"
    record, etag = await load_student(store, "s1")
    assert record is not None
    sink = MemorySink()
    [(swept, _)] = await sweep_students(store, sink, [(record, etag)], **sweep)  # type: ignore[arg-type]
    assert _ids(sink) == [a.id for a in swept.alerts]
    assert [a.published for a in swept.alerts] == [True]


class SinkDownFor(MemorySink):
    """Fails every publish for one student (its partition's leader is down)."""

    def __init__(self, student_id: str) -> None:
        super().__init__()
        self.down = student_id

    async def publish(self, key: str, value: bytes) -> None:
        if key == self.down:
            raise StateUnavailableError("alert topic down")
        await super().publish(key, value)


async def test_a_batch_whose_publish_fails_for_one_student_writes_no_student() -> None:
    store, sink = MemoryStateStore(), SinkDownFor("s2")
    runs = [{**_wrong(minutes), "student_id": s, "id": f"{s}-{minutes}"}
            for minutes in (1, 2, 3) for s in ("s1", "s2")]  # fmt: skip
    batch = [(raw(document), KafkaMetadata()) for document in runs]
    with pytest.raises(StateUnavailableError):
        await handle_records(batch, _deps(store, sink))
    assert store.values == {}  # the alerts of both students are sent before any write
    assert [key for key, _ in sink.records] == ["s1"]  # the other student's alert was sent
    sink.down = ""
    outcomes = await handle_records(batch, _deps(store, sink))  # the batch redelivered
    assert outcomes == [Outcome.APPLIED] * len(batch)
    for student in ("s1", "s2"):
        record, _ = await load_student(store, student)
        assert record is not None
        [alert] = record.alerts
        assert alert.published
    assert sorted(key for key, _ in sink.records) == ["s1", "s1", "s2"]  # at least once
