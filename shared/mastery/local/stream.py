"""Put a stream of events on Kafka and wait until a consumer group has applied all of it.

Lag is measured against the end offsets the producer's acknowledgements show, not ListOffsets:
the bundled Tansu broker answers ListOffsets wrongly after a multi-record batch
(bench/kafka_clients.py). The ingest consumer commits only after a batch is applied, so
"committed == acknowledged end" on every partition means the whole stream is in the state.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterable, Mapping
from typing import Any

# A value that is already bytes is sent as is (tests send poison); anything else as JSON.
Record = tuple[str, Any]


def encode(value: Any) -> bytes:
    """The Kafka record value of an event document (bytes pass through)."""
    return value if isinstance(value, bytes) else json.dumps(value).encode()


async def produce(brokers: str, topic: str, records: Iterable[Record]) -> dict[int, int]:
    """Send keyed records (key, value) and return each partition's acknowledged end offset."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=brokers, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=encode(value), key=key.encode())
            for key, value in records
        ]
        acks = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    ends: dict[int, int] = {}
    for ack in acks:
        ends[ack.partition] = max(ends.get(ack.partition, 0), ack.offset + 1)
    return ends


async def committed(brokers: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of `topic` (partitions without one: absent)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    # A manually assigned consumer reads the group's commits without joining the group (the
    # admin client's OffsetFetch is not answered by Tansu).
    consumer = AIOKafkaConsumer(bootstrap_servers=brokers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        offsets = {tp.partition: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()
    return {p: offset for p, offset in offsets.items() if offset is not None}


def lag(ends: Mapping[int, int], commits: Mapping[int, int]) -> int:
    """Records produced but not yet committed by the group, over all partitions."""
    return sum(max(0, end - max(commits.get(p, 0), 0)) for p, end in ends.items())


async def wait_for_zero_lag(
    brokers: str, group: str, topic: str, ends: Mapping[int, int], limit_s: float = 120.0,
    consumer: subprocess.Popen[bytes] | None = None,
) -> float:  # fmt: skip
    """Wait until the group has committed every acknowledged record; the seconds it took.

    With `consumer`, fail at once if that process has exited instead of waiting out the limit.
    """
    started = time.monotonic()
    while True:
        remaining = lag(ends, await committed(brokers, group, topic))
        if remaining == 0:
            return time.monotonic() - started
        if consumer is not None and consumer.poll() is not None:
            raise RuntimeError(f"the ingest consumer exited with {consumer.returncode}")
        if time.monotonic() - started > limit_s:
            raise TimeoutError(f"consumer group {group} still {remaining} records behind")
        await asyncio.sleep(0.1)
