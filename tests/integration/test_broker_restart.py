"""Fault injection: the Kafka broker crashes and comes back while the native consumer runs.

A private Tansu broker with durable storage (`KafkaBroker(persistence=True)`: its log and the
group's commits live in a private S3 server that outlives the broker process), a private Redis,
and ingest as a real process in native consumer mode. A producer keeps sending through the
outage, retrying every send the broker did not acknowledge; the broker is SIGKILLed mid-stream
and restarted on the same port. The same consumer process must come back by itself and apply
every acknowledged event exactly once, with zero lag, and its /readyz must say so throughout.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.local.functions import start_ingest_consumer
from mastery.local.servers import KafkaBroker, free_port
from mastery.local.stream import committed, lag, wait_for_zero_lag
from mastery.services.students import load_student
from tests.factories import event, raw

pytestmark = pytest.mark.integration
TOPIC = "data_structures.lists"
EVENTS, STUDENTS, CHUNK = 1_200, 8, 40
OUTAGE_S = 2.0


@pytest.fixture
def durable_broker() -> Iterator[KafkaBroker]:
    with KafkaBroker(env={}, persistence=True) as broker:
        yield broker


async def _ready(client: httpx.AsyncClient, url: str) -> tuple[int, dict[str, bool]]:
    try:
        response = await client.get(f"{url}/readyz")
    except httpx.TransportError:
        return 0, {}
    return response.status_code, response.json().get("checks", {})


async def _until(check: Callable[[], Awaitable[bool]], limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        if await check():
            return
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def _true(value: bool) -> bool:
    return value


async def _more(count: Awaitable[int], than: int) -> bool:
    return await count > than


async def _is_ready(client: httpx.AsyncClient, url: str) -> bool:
    return (await _ready(client, url))[0] == 200


async def test_broker_restarted_mid_stream_loses_nothing_and_applies_each_event_once(
    durable_broker: KafkaBroker, redis_url: str
) -> None:
    run = uuid.uuid4().hex[:8]
    topic, group = f"events.{run}", f"ingest.{run}"
    await durable_broker.acreate_topics([topic, f"{topic}.dlq", f"alerts.{run}"], partitions=4)
    health_port = free_port()
    env = {"REDIS_URL": redis_url, "KAFKA_BROKERS": durable_broker.brokers, "KAFKA_TOPIC": topic,
           "KAFKA_DEAD_LETTER_TOPIC": f"{topic}.dlq", "KAFKA_ALERT_TOPIC": f"alerts.{run}",
           "KAFKA_CONSUMER_GROUP": group, "KAFKA_SESSION_TIMEOUT_MS": "3000",
           "KAFKA_MAX_BATCH": "200", "HEALTH_PORT": str(health_port), "LOG_LEVEL": "ERROR"}  # fmt: skip
    ops = f"http://127.0.0.1:{health_port}"
    now = datetime.now(UTC)
    students = [f"{run}-s{n}" for n in range(STUDENTS)]
    events = [event("quiz.completed", students[i % STUDENTS], TOPIC, now - timedelta(seconds=i),
                    f"{run}-e{i}", quiz_id=f"q{i}", correct=1, total=2)
              for i in range(EVENTS)]  # fmt: skip
    ends: dict[int, int] = {}
    retried_sends = 0
    acked_in: dict[str, int] = {}  # acknowledgements by the phase they arrived in
    phase = {"name": "up"}
    readiness_seen: dict[str, set[int]] = {
        "up": set(),
        "down": set(),
        "restarting": set(),
        "back": set(),
    }

    consumer = start_ingest_consumer(env)
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            await _until(lambda: _is_ready(client, ops))  # joined, assigned, Redis up

            async def produce() -> None:
                nonlocal retried_sends
                producer = AIOKafkaProducer(bootstrap_servers=durable_broker.brokers, acks="all",
                                            request_timeout_ms=1500, retry_backoff_ms=100)  # fmt: skip
                await producer.start()
                try:
                    for start in range(0, EVENTS, CHUNK):
                        pending = events[start : start + CHUNK]
                        while pending:  # the producer retries each send until the broker acks it
                            sends = [producer.send_and_wait(topic, raw(d), key=d["student_id"].encode())
                                     for d in pending]  # fmt: skip
                            results = await asyncio.gather(*sends, return_exceptions=True)
                            failed = []
                            for document, result in zip(pending, results, strict=True):
                                if isinstance(result, KafkaError):
                                    failed.append(document)
                                elif isinstance(result, BaseException):
                                    raise result
                                else:
                                    acked_in[phase["name"]] = acked_in.get(phase["name"], 0) + 1
                                    ends[result.partition] = max(ends.get(result.partition, 0),
                                                                 result.offset + 1)  # fmt: skip
                            retried_sends += len(failed)
                            pending = failed
                            if failed:
                                await asyncio.sleep(0.1)
                        await asyncio.sleep(0.1)
                finally:
                    await producer.stop()

            async def watch_readiness(stop: asyncio.Event) -> None:
                while not stop.is_set():
                    seen_in = phase["name"]
                    status, _ = await _ready(client, ops)
                    if seen_in == phase["name"]:
                        readiness_seen[seen_in].add(status)
                    await asyncio.sleep(0.1)

            async def commits() -> int:
                return sum((await committed(durable_broker.brokers, group, topic)).values())

            async def chaos() -> tuple[float, float, float]:
                await _until(lambda: _true(sum(ends.values()) >= EVENTS // 3))
                await _until(lambda: _more(commits(), 0))  # the crash lands mid-stream
                done_before = await commits()
                durable_broker.kill()
                phase["name"] = "down"
                await asyncio.sleep(OUTAGE_S)
                phase["name"] = "restarting"
                durable_broker.start()
                back = time.monotonic()
                await _until(lambda: _is_ready(client, ops))
                ready_after = time.monotonic() - back
                phase["name"] = "back"
                await _until(lambda: _more(commits(), done_before))  # resumed committing
                return back, ready_after, time.monotonic() - back

            stop = asyncio.Event()
            watcher = asyncio.create_task(watch_readiness(stop))
            (back, ready_after, committing_after), _ = await asyncio.gather(chaos(), produce())
            caught_up = await wait_for_zero_lag(durable_broker.brokers, group, topic, ends, 60)
            caught_up_after = time.monotonic() - back
            stop.set()
            await watcher
        assert consumer.poll() is None, "the same consumer process rode out the outage"
    finally:
        consumer.terminate()
        exit_code = consumer.wait(15)
    assert exit_code == 0

    assert sum(ends.values()) >= EVENTS  # every event acknowledged (retries may add copies)
    assert lag(ends, await committed(durable_broker.brokers, group, topic)) == 0
    store = RedisStateStore(connect(redis_url, cluster=False))
    try:
        for n, student in enumerate(students):
            record, _ = await load_student(store, student)
            assert record is not None
            applied = sorted(q[2] for q in record.topics[TOPIC].quizzes)
            assert applied == sorted(f"{run}-e{i}" for i in range(n, EVENTS, STUDENTS))
    finally:
        await store.aclose()
    after_restart = acked_in.get("restarting", 0) + acked_in.get("back", 0)
    assert after_restart >= EVENTS // 10, "the stream went on after the restart"
    assert readiness_seen["up"] == {200}
    assert 503 in readiness_seen["down"], "/readyz reports the broker outage"
    print(json.dumps({"events": EVENTS, "outage_s": OUTAGE_S, "retried_sends": retried_sends,
                      "acked_by_phase": acked_in, "ready_after_restart_s": round(ready_after, 2),
                      "committing_after_restart_s": round(committing_after, 2),
                      "zero_lag_after_restart_s": round(caught_up_after, 2),
                      "final_catch_up_s": round(caught_up, 2)}))  # fmt: skip
