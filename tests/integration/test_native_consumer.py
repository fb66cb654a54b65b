"""The native consumer's batch loop on a real broker and a real (private, stoppable) Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from mastery.adapters.memory import MemorySink
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.domain.curriculum import CURRICULUM
from mastery.entrypoints.envelopes import read_envelope
from mastery.entrypoints.kafka_consumer import BATCHES, BatchConsumer
from mastery.errors import DependencyUnavailableError
from mastery.local.servers import KafkaBroker, RedisServer
from mastery.local.stream import produce
from mastery.ports import Versioned
from mastery.services.ingest import IngestDeps
from mastery.services.students import load_student
from tests.factories import event

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)


@pytest.fixture
async def private_redis() -> AsyncIterator[RedisServer]:
    with RedisServer(env={}) as server:
        yield server


class WatchedStore(RedisStateStore):
    """The Redis store, signalling each batch read that failed (one per batch attempted)."""

    def __init__(self, url: str) -> None:
        super().__init__(connect(url, cluster=False))
        self.failed_reads = 0
        self.failed = asyncio.Condition()

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        try:
            return await super().read_many(keys)
        except DependencyUnavailableError:
            async with self.failed:
                self.failed_reads += 1
                self.failed.notify_all()
            raise


async def _consumer(brokers: str, topic: str, group: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=brokers, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                session_timeout_ms=1000, heartbeat_interval_ms=300)  # fmt: skip
    await consumer.start()
    return consumer


@pytest.mark.parametrize("max_batch", [1000, 7])
async def test_transient_fault_commits_nothing_and_the_batch_is_applied_when_redis_returns(
    kafka_broker: KafkaBroker, private_redis: RedisServer, max_batch: int
) -> None:
    # 1000: every record fits one poll. 7: the next batch is polled and parsed while one is
    # applied, so a failed batch seeks back that one too.
    run = uuid.uuid4().hex[:8]
    topic, group = f"consumer.{run}", f"group.{run}"
    await kafka_broker.acreate_topics([topic], partitions=2)
    students = [f"{run}-{n}" for n in range(6)]
    records = [
        (s, event("code.executed", s, "basics.variables", NOW, ok=True)) for s in students * 5
    ]
    ends = await produce(kafka_broker.brokers, topic, records)
    store = WatchedStore(private_redis.url)
    dead_letters = MemorySink()
    deps = IngestDeps(store=store, dead_letters=dead_letters, clock=lambda: NOW,
                      curriculum=CURRICULUM, read_envelope=read_envelope, alerts=MemorySink())  # fmt: skip
    consumer = await _consumer(kafka_broker.brokers, topic, group)
    batches = BatchConsumer(consumer, deps, max_batch=max_batch)
    retried = BATCHES.labels(outcome="retried")
    before = retried.value
    private_redis.stop()
    task = asyncio.create_task(batches.run())
    try:
        # A second failed batch means the first was sought back and polled again (only a
        # batch after an applied one is applied; had the consumer moved past the first, it
        # would never be applied).
        async with asyncio.timeout(30), store.failed:
            await store.failed.wait_for(lambda: store.failed_reads >= 2)
        assert retried.value - before >= 1
        assert batches.applied_batches == 0
        committed = [await consumer.committed(TopicPartition(topic, p)) for p in ends]
        assert committed == [None] * len(ends)

        private_redis.start()
        for _ in range(100):
            if {p: await consumer.committed(TopicPartition(topic, p)) for p in ends} == ends:
                break
            await asyncio.sleep(0.1)
        assert {p: await consumer.committed(TopicPartition(topic, p)) for p in ends} == ends
    finally:
        batches.stop()
        await task
        await consumer.stop()
    for student in students:
        record, _ = await load_student(store, student)
        assert record is not None
        assert len(record.seen) == 5
        assert record.applied == 5
    assert dead_letters.records == []
    await store.aclose()
