"""The native consumer, killed mid-stream, still applies everything once.

A real broker, a real Redis, and ingest as a real process in native consumer mode. N ≥ 10,000
events with duplicates and poison mixed in; the consumer is SIGKILLed mid-stream and restarted.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis
from aiokafka import AIOKafkaConsumer

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.record import StudentRecord
from mastery.entrypoints.envelopes import read_envelope
from mastery.local.demo import demo_events
from mastery.local.functions import start_ingest_consumer
from mastery.local.servers import KafkaBroker, free_port
from mastery.local.stream import committed, lag, produce, wait_for_zero_lag
from mastery.services.ingest import IngestDeps, KafkaMetadata, handle_record

pytestmark = pytest.mark.integration
POISON_KINDS = (
    (b'{"id": "p", "type": "quiz.completed"', "not valid JSON"),
    (None, "unknown event type"),
    (None, "time zone"),
    (None, "unknown topic"),
)


@dataclass
class Stream:
    topic: str
    dead_letter_topic: str
    group: str
    env: dict[str, str]
    brokers: str


@pytest.fixture
def stream(redis_url: str, kafka_broker: KafkaBroker) -> Stream:
    run = uuid.uuid4().hex[:8]
    topic, dead_letters, group = f"events.{run}", f"events.{run}.dlq", f"ingest.{run}"
    kafka_broker.create_topics([topic, dead_letters, f"alerts.{run}"], partitions=4)
    env = {"REDIS_URL": redis_url, "KAFKA_BROKERS": kafka_broker.brokers, "KAFKA_TOPIC": topic,
           "KAFKA_DEAD_LETTER_TOPIC": dead_letters, "KAFKA_ALERT_TOPIC": f"alerts.{run}",
           "KAFKA_CONSUMER_GROUP": group, "KAFKA_SESSION_TIMEOUT_MS": "1000",
           "KAFKA_MAX_BATCH": "500", "LOG_LEVEL": "WARNING",
           # The ops server's own port: the default (8080) may be another suite's.
           "HEALTH_PORT": str(free_port())}  # fmt: skip
    return Stream(topic, dead_letters, group, env, kafka_broker.brokers)


STUDENTS = 36  # ~12,500 demo events over 30 days


def _poison(rng: random.Random, valid: dict[str, Any], n: int) -> tuple[bytes, str]:
    raw, reason = POISON_KINDS[n % len(POISON_KINDS)]
    if raw is not None:
        return raw, reason
    document = dict(valid, id=f"poison-{n}")
    if reason == "unknown event type":
        document["type"] = "exercise.teleported"
    elif reason == "time zone":
        document["occurred_at"] = valid["occurred_at"][:19]  # naive: no zone
    else:
        document["topic"] = "astrology.horoscopes"
    return json.dumps(document).encode(), reason


def _records(
    run: str, now: datetime, students: int = STUDENTS
) -> tuple[list[tuple[str, Any]], list[dict[str, Any]], int]:
    """(key, value) records: valid events, ~8% redelivered duplicates, ~2% poison."""
    rng = random.Random(7)
    events = demo_events(f"class-{run}", students=students, days=30, now=now, seed=11)
    for event in events:
        event["student_id"] = f"{run}-{event['student_id']}"
        event["id"] = f"{run}-{event['id']}"
    records: list[tuple[str, Any]] = []
    poison = 0
    for event in events:
        records.append((event["student_id"], event))
        if rng.random() < 0.08:
            records.append((event["student_id"], event))
        if rng.random() < 0.02:
            records.append((event["student_id"], _poison(rng, event, poison)[0]))
            poison += 1
    return records, events, poison


def _clean_pass(events: list[dict[str, Any]], now: datetime) -> dict[str, StudentRecord]:
    """Each valid event once, in order, through the same core code, in memory."""
    store = MemoryStateStore()
    deps = IngestDeps(store=store, dead_letters=MemorySink(), clock=lambda: now,
                      curriculum=CURRICULUM, read_envelope=read_envelope, alerts=MemorySink())  # fmt: skip
    for document in events:
        asyncio.run(handle_record(json.dumps(document).encode(), KafkaMetadata(), deps))
    return {
        key: StudentRecord.model_validate_json(value.data)
        for key, value in store.values.items()
        if key.startswith("student:")
    }


async def _dead_letters(brokers: str, topic: str, expected: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=brokers, auto_offset_reset="earliest")
    await consumer.start()
    letters: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 10
        while len(letters) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            letters += [json.loads(r.value) for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return letters


@pytest.mark.timeout(240)  # 12,000+ records and a clean pass: ~110 s on a loaded 2-CPU machine
def test_killed_consumer_applies_every_valid_event_exactly_once(
    stream: Stream, redis_url: str
) -> None:
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:6]
    records, events, poison = _records(run, now)
    assert len(records) >= 10_000
    ends = asyncio.run(produce(stream.brokers, stream.topic, records))
    assert sum(ends.values()) == len(records)

    first = start_ingest_consumer(stream.env)
    try:
        # SIGKILL once part, but not all, of the stream is committed.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            behind = lag(ends, asyncio.run(committed(stream.brokers, stream.group, stream.topic)))
            if behind < len(records) * 0.8:
                break
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert 0 < behind < len(records), "the kill must land mid-stream"
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    second = start_ingest_consumer(stream.env)
    try:
        asyncio.run(wait_for_zero_lag(stream.brokers, stream.group, stream.topic, ends, 45))
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0, "SIGTERM: finish the batch, commit, exit cleanly"
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    assert lag(ends, asyncio.run(committed(stream.brokers, stream.group, stream.topic))) == 0
    _assert_state_is_a_clean_pass(redis_url, events, now)

    letters = asyncio.run(_dead_letters(stream.brokers, stream.dead_letter_topic, poison))
    origins = {(letter["source"]["partition"], letter["source"]["offset"]) for letter in letters}
    assert len(origins) == poison  # every poison record, at least once (a kill may repeat one)
    for letter in letters:
        assert letter["source"]["topic"] == stream.topic
        assert any(reason in letter["reason"] for _, reason in POISON_KINDS), letter["reason"]


def _assert_state_is_a_clean_pass(
    redis_url: str, events: list[dict[str, Any]], now: datetime
) -> None:
    """Every student's stored record is what applying each valid event once gives."""
    expected = _clean_pass(events, now)
    client = redis.Redis.from_url(redis_url)
    stored = client.hmget  # one key per student, in Dapr's state.redis hash layout
    for key, record in expected.items():
        data, _version = stored(key, ["data", "version"])
        assert data is not None, key
        got = StudentRecord.model_validate_json(data).model_dump()
        want = record.model_dump()
        assert got == want, {k: (got[k], want[k]) for k in got if got[k] != want[k]}
    assert len(expected) == len({e["student_id"] for e in events})
    assert sum(r.applied for r in expected.values()) == len(events)


def _metric(url: str, name: str) -> float:
    """An unlabelled metric's value on a consumer's /metrics (0 while it does not answer)."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=2).text
    except httpx.TransportError:
        return 0.0
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def _until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.timeout(240)
def test_consumer_replaced_mid_stream_applies_every_event_exactly_once(
    stream: Stream, redis_url: str
) -> None:
    """What the Deployment's rolling update (maxSurge 1, maxUnavailable 0) does to ingest: the
    new consumer starts and joins while the old one still consumes, then the old one gets
    SIGTERM, while events keep arriving."""
    now = datetime.now(UTC)
    records, events, _ = _records(uuid.uuid4().hex[:6], now, students=12)
    half = len(records) // 2
    ends = asyncio.run(produce(stream.brokers, stream.topic, records[:half]))
    old_url, new_url = (f"http://127.0.0.1:{port}" for port in (free_port(), free_port()))
    old = start_ingest_consumer({**stream.env, "HEALTH_PORT": old_url.rsplit(":", 1)[1]})
    new = None
    try:
        _until(lambda: _metric(old_url, "kafka_consumer_batches_total") > 0 or
               _metric(old_url, "kafka_consumer_assigned_partitions") > 0, 30,
               "the old consumer joins")  # fmt: skip
        # The rest arrives in chunks while the consumers change; the last chunks are held
        # until the old consumer has gone, so events arrive before, during and after the swap.
        chunks = [records[i : i + 150] for i in range(half, len(records), 150)]
        swapped = threading.Event()

        def keep_producing() -> None:
            for n, chunk in enumerate(chunks):
                if n == len(chunks) - 2:
                    swapped.wait(120)
                ends.update(asyncio.run(produce(stream.brokers, stream.topic, chunk)))

        rest = threading.Thread(target=keep_producing)
        rest.start()
        new = start_ingest_consumer({**stream.env, "HEALTH_PORT": new_url.rsplit(":", 1)[1]})
        _until(lambda: _metric(new_url, "kafka_consumer_assigned_partitions") > 0, 30,
               "the new consumer joins the group and gets partitions")  # fmt: skip
        assert rest.is_alive(), "the old consumer must leave mid-stream"
        old.send_signal(signal.SIGTERM)
        assert old.wait(20) == 0, "SIGTERM: finish the batch, commit, leave the group"
        swapped.set()
        rest.join(60)
        asyncio.run(wait_for_zero_lag(stream.brokers, stream.group, stream.topic, ends, 45))
        _until(lambda: _metric(new_url, "kafka_consumer_assigned_partitions") == 4, 15,
               "the new consumer owns every partition")  # fmt: skip
        new.send_signal(signal.SIGTERM)
        assert new.wait(15) == 0
    finally:
        for process in (old, new):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert sum(ends.values()) == len(records)
    _assert_state_is_a_clean_pass(redis_url, events, now)
