"""A delivery's W3C trace context, kept through ingest: on its log lines, on the struggle alert
and the dead letter it causes (Kafka record headers), over the real broker and Redis — for
daprd's HTTP delivery (`traceparent` header) and for the native consumer (record headers)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.bootstrap import open_sinks
from mastery.config import KafkaSettings, Settings
from mastery.entrypoints.core import Core, ingest_deps
from mastery.entrypoints.http import ingest
from mastery.entrypoints.kafka_consumer import BatchConsumer
from mastery.local.servers import KafkaBroker
from mastery.observability import json_log_handler
from tests.asgi import serve
from tests.factories import event, raw
from tests.integration.conftest import NOW

pytestmark = pytest.mark.integration
LISTS = "data_structures.lists"


def traceparent() -> tuple[str, str]:
    trace_id = uuid.uuid4().hex
    return trace_id, f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = json_log_handler("ingest", stream)
    logger = logging.getLogger("mastery")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def lines_of(stream: io.StringIO, trace_id: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [e for e in entries if e.get("trace_id") == trace_id]


async def records_on(brokers: str, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=brokers, auto_offset_reset="earliest")
    await consumer.start()
    found: list[Any] = []
    try:
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=500)
            found += [r for rs in batch.values() for r in rs]
            if len(found) >= count:
                break
    finally:
        await consumer.stop()
    return found


def trace_of(record: Any) -> str:
    headers = dict(record.headers)
    return headers["traceparent"].decode().split("-")[1]


def documents(student: str) -> list[dict[str, Any]]:
    """Three TypeErrors in a row: the third raises a `repeated_error` alert."""
    return [
        event("code.executed", student, LISTS, NOW - timedelta(minutes=10 - m), ok=False,
              error_type="TypeError")
        for m in range(3)
    ]  # fmt: skip


async def _engine(redis_url: str, brokers: str, run: str) -> Core:
    settings = Settings(kafka=KafkaSettings(
        brokers=brokers, dead_letter_topic=f"dlq.{run}", alert_topic=f"alerts.{run}"))  # fmt: skip
    store = RedisStateStore(connect(redis_url, cluster=False))
    dead_letters, alerts = await open_sinks(settings)
    return Core(settings=settings, store=store, dead_letters=dead_letters, alerts=alerts,
                clock=lambda: NOW)  # fmt: skip


async def test_daprd_delivery_trace_reaches_the_alert_the_dead_letter_and_the_logs(
    redis_url: str, kafka_broker: KafkaBroker, log_lines: io.StringIO
) -> None:
    run = uuid.uuid4().hex[:8]
    await kafka_broker.acreate_topics([f"dlq.{run}", f"alerts.{run}"])
    core = await _engine(redis_url, kafka_broker.brokers, run)
    student = f"s-{run}"
    alert_trace, alert_parent = traceparent()
    poison_trace, poison_parent = traceparent()
    function = await ingest.create(core)
    async with serve(function) as client:
        *before, third = documents(student)
        for document in before:
            await client.post("/learning-events", content=raw(document))
        answer = await client.post("/learning-events", content=raw(third),
                                   headers={"traceparent": alert_parent})  # fmt: skip
        assert answer.json() == {"outcome": "applied"}
        answer = await client.post("/learning-events", content=b"{not json",
                                   headers={"traceparent": poison_parent, "__key": student})  # fmt: skip
        assert answer.json() == {"outcome": "dead_lettered"}
    await core.aclose()

    [alert] = await records_on(kafka_broker.brokers, f"alerts.{run}", 1)
    [letter] = await records_on(kafka_broker.brokers, f"dlq.{run}", 1)
    assert json.loads(alert.value)["trigger"] == "repeated_error"
    assert (trace_of(alert), trace_of(letter)) == (alert_trace, poison_trace)
    assert dict(alert.headers)["traceparent"] != alert_parent.encode()  # our span, its child
    alert_lines = lines_of(log_lines, alert_trace)
    assert [line["logger"] for line in alert_lines] == ["mastery.access"]
    assert {line["logger"] for line in lines_of(log_lines, poison_trace)} == {
        "mastery.access", "mastery.services.ingest"
    }  # fmt: skip


async def test_native_consumer_keeps_each_records_trace_from_its_headers(
    redis_url: str, kafka_broker: KafkaBroker, log_lines: io.StringIO
) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"events.{run}"
    await kafka_broker.acreate_topics([topic, f"dlq.{run}", f"alerts.{run}"])
    student = f"s-{run}"
    traces = [traceparent() for _ in range(4)]
    values = [raw(d) for d in documents(student)] + [b"{not json"]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.brokers)
    await producer.start()
    for value, (_, parent) in zip(values, traces, strict=True):
        await producer.send_and_wait(topic, value, key=student.encode(),
                                     headers=[("traceparent", parent.encode())])  # fmt: skip
    await producer.stop()

    core = await _engine(redis_url, kafka_broker.brokers, run)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_broker.brokers,
                                group_id=f"g.{run}", enable_auto_commit=False,
                                auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    batches = BatchConsumer(consumer, ingest_deps(core))
    task = asyncio.create_task(batches.run())
    try:
        [alert] = await records_on(kafka_broker.brokers, f"alerts.{run}", 1)
        [letter] = await records_on(kafka_broker.brokers, f"dlq.{run}", 1)
    finally:
        batches.stop()
        await task
        await consumer.stop()
        await core.aclose()
    # The alert goes on in the trace of the event that completed its evidence (the third).
    assert trace_of(alert) == traces[2][0]
    assert trace_of(letter) == traces[3][0]
    [line] = lines_of(log_lines, traces[3][0])
    assert line["message"].startswith("dead-lettered a record")
