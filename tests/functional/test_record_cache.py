"""Ingest reuses a parsed record only when the stored bytes are exactly the ones it stands for."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.record import StudentRecord
from mastery.entrypoints.envelopes import read_envelope
from mastery.local.demo import demo_events
from mastery.ports import Write
from mastery.services.ingest import IngestDeps, KafkaMetadata, Outcome, handle_records
from mastery.services.record_cache import PARSED_BYTES_PER_JSON_BYTE, RecordCache
from mastery.services.students import load_student, student_key
from tests.factories import event, raw

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOPIC = "basics.variables"


def _deps(store: MemoryStateStore, max_bytes: int = 8 << 20) -> IngestDeps:
    return IngestDeps(store=store, dead_letters=MemorySink(), clock=lambda: NOW,
                      curriculum=CURRICULUM, read_envelope=read_envelope, alerts=MemorySink(),
                      records=RecordCache(max_bytes))  # fmt: skip


async def _one_by_one(documents: Sequence[dict[str, object]], deps: IngestDeps) -> None:
    for document in documents:
        await handle_records([(raw(document), KafkaMetadata())], deps)


async def test_cached_records_are_written_byte_for_byte_as_when_parsed_every_time() -> None:
    documents = demo_events("class-c", 4, 12, NOW, seed=11)
    documents = random.Random(2).sample(documents, len(documents))
    documents += documents[:50]  # redeliveries
    cached, parsed = MemoryStateStore(), MemoryStateStore()
    cached_deps = _deps(cached)
    await _one_by_one(documents, cached_deps)
    await _one_by_one(documents, _deps(parsed, max_bytes=0))
    assert len(cached_deps.records) > 0
    assert {k: v.data for k, v in cached.values.items()} == {
        k: v.data for k, v in parsed.values.items()
    }
    alerts = sum(len(json.loads(v.data).get("alerts", [])) for v in cached.values.values())
    assert alerts > 0  # the stream raised (and published) alerts along the way


async def test_a_record_changed_by_someone_else_is_read_again() -> None:
    store = MemoryStateStore()
    deps = _deps(store)
    first = event("quiz.completed", "a", TOPIC, NOW - timedelta(hours=1), quiz_id="q", correct=1,
                  total=2)  # fmt: skip
    await _one_by_one([first], deps)
    stored = store.values[student_key("a")]
    other = StudentRecord.model_validate_json(stored.data)
    other.seen["written-elsewhere"] = int(NOW.timestamp()) - 60
    await store.write(student_key("a"), other.model_dump_json().encode(), etag=stored.etag,
                      ttl_seconds=60)  # fmt: skip
    second = event("code.executed", "a", TOPIC, NOW, ok=True)
    await _one_by_one([second], deps)
    record, etag = await load_student(store, "a")
    assert record is not None
    assert {"written-elsewhere", first["id"], second["id"]} <= set(record.seen)
    assert etag == "3"


class RacedStore(MemoryStateStore):
    """Another pod rewrites the same bytes (a new version) just before our next write."""

    def __init__(self) -> None:
        super().__init__()
        self.race = False

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        if self.race:
            self.race = False
            for w in writes:
                current = self.values[w.key]
                await self.write(w.key, current.data, etag=current.etag, ttl_seconds=60)
        return await super().write_many(writes)


async def test_a_lost_compare_and_set_applies_the_event_once_on_a_fresh_parse() -> None:
    store = RacedStore()
    deps = _deps(store)
    first = event("code.executed", "a", TOPIC, NOW - timedelta(minutes=5), ok=False,
                  error_type="TypeError")  # fmt: skip
    await _one_by_one([first], deps)
    store.race = True
    second = event("code.executed", "a", TOPIC, NOW, ok=False, error_type="TypeError")
    outcomes = await handle_records([(raw(second), KafkaMetadata())], deps)
    assert outcomes == [Outcome.APPLIED]
    record, etag = await load_student(store, "a")
    assert record is not None
    assert record.topics[TOPIC].runs == 2  # not 3: the lost attempt's change was dropped
    assert etag == "3"
    # And it is what parsing every time gives.
    reference = MemoryStateStore()
    await _one_by_one([first, second], _deps(reference, max_bytes=0))
    assert store.values[student_key("a")].data == reference.values[student_key("a")].data


def test_the_cache_hands_out_a_record_once_and_only_for_its_own_bytes() -> None:
    data = StudentRecord(student_id="a").model_dump_json().encode()
    cache = RecordCache(max_bytes=2 * PARSED_BYTES_PER_JSON_BYTE * len(data))  # two such records
    record = cache.take("k", data)
    cache.keep("k", data, record)
    assert cache.take("k", data) is record  # cached: no parse
    assert cache.take("k", data) is not record  # taken already: parsed afresh
    cache.keep("k", data, record)
    assert cache.take("k", data + b" ") is not record  # other bytes: never the cached object
    for key in ("x", "y", "z"):
        cache.keep(key, data, record)
    assert len(cache) == 2  # least recently kept evicted
    none = RecordCache(max_bytes=0)
    none.keep("k", data, record)
    assert len(none) == 0


def test_records_that_grow_keep_the_cache_within_its_byte_budget() -> None:
    # Every event adds to a record inside the late-arrival window: counted in records, the
    # cache's memory grew with them (the soak's ingest memory); counted in bytes it stays.
    cache = RecordCache(max_bytes=100_000)
    for events in range(1, 60):
        record = StudentRecord(student_id="a", seen={f"e{i}": i for i in range(events * 20)})
        data = record.model_dump_json().encode()
        for key in ("a", "b", "c", "d"):
            cache.keep(key, data, record)
        assert cache.size <= 100_000
    assert 0 < len(cache) < 4  # the largest records no longer all fit
