"""Struggle alerts on the real Redis and broker: raised by ingest, on `struggle.alerts`, seen
by the class's teacher; shuffled delivery stores the same alerts."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from mastery.adapters.memory import MemorySink
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.bootstrap import open_sinks
from mastery.config import JwtSettings, KafkaSettings, Settings
from mastery.entrypoints.core import Core
from mastery.entrypoints.http import ingest, recommend
from mastery.local.servers import KafkaBroker
from mastery.services.students import load_student
from tests.asgi import serve
from tests.factories import event, raw
from tests.integration.conftest import NOW, SECRET, bearer

pytestmark = pytest.mark.integration
LISTS = "data_structures.lists"


async def alerts_on_topic(brokers: str, topic: str, key: str) -> list[dict[str, Any]]:
    """The records keyed `key` on the alert topic (waits up to 10 s for one)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=brokers, auto_offset_reset="earliest",
                                group_id=f"test-{uuid.uuid4().hex[:6]}")  # fmt: skip
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=500)
            found += [
                json.loads(r.value) for rs in batch.values() for r in rs if r.key == key.encode()
            ]
            if found:
                return found
    finally:
        await consumer.stop()
    return found


async def test_three_wrong_answers_publish_an_alert_the_teacher_sees(
    redis_url: str, kafka_broker: KafkaBroker
) -> None:
    settings = Settings(
        jwt=JwtSettings(secret=SECRET), kafka=KafkaSettings(brokers=kafka_broker.brokers)
    )
    await kafka_broker.acreate_topics([settings.kafka.alert_topic])
    store = RedisStateStore(connect(redis_url, cluster=False))
    dead_letters, alerts = await open_sinks(settings)
    core = Core(settings=settings, store=store, dead_letters=dead_letters, alerts=alerts,
                clock=lambda: NOW)  # fmt: skip
    student = f"s-{uuid.uuid4().hex[:8]}"
    class_id = f"c-{uuid.uuid4().hex[:6]}"
    documents = [
        event("class.enrolled", student, None, NOW - timedelta(hours=1), class_id=class_id)
    ]
    documents += [
        event(
            "code.executed",
            student,
            LISTS,
            NOW - timedelta(minutes=10 - m),
            ok=False,
            error_type="TypeError",
        )
        for m in range(3)
    ]
    async with (
        serve(await ingest.create(core)) as ingest_http,
        serve(await recommend.create(core)) as recommend_http,
    ):
        for document in documents:
            response = await ingest_http.post(
                "/learning-events", content=raw(document),
                headers={"Content-Type": "application/json", "__key": student},
            )  # fmt: skip
            assert response.json() == {"outcome": "applied"}
        [message] = await alerts_on_topic(kafka_broker.brokers, settings.kafka.alert_topic, student)
        page = await recommend_http.get(
            f"/v1/classes/{class_id}/alerts", headers=bearer("t", "teacher", (class_id,))
        )
    [alert] = page.json()["alerts"]
    assert (message["trigger"], message["topic"], message["detail"]) == (
        "repeated_error", LISTS, "TypeError",
    )  # fmt: skip
    assert message["id"] == alert["id"]
    assert message["evidence"] == [d["id"] for d in documents[1:]]
    assert message["classes"] == [class_id]
    record, _ = await load_student(store, student)
    assert record is not None
    assert [a.published for a in record.alerts] == [True]
    await core.aclose()


async def test_shuffled_delivery_on_redis_stores_the_same_alerts(redis_url: str) -> None:
    student = f"s-{uuid.uuid4().hex[:8]}"
    start = NOW - timedelta(hours=5)
    documents = [
        *[
            event(
                "code.executed",
                student,
                LISTS,
                start + timedelta(minutes=m),
                ok=False,
                error_type=kind,
            )
            for m, kind in enumerate("ABCAAB")
        ],
        event("exercise.started", student, LISTS, start + timedelta(minutes=20), exercise_id="e1"),
        event(
            "quiz.completed",
            student,
            LISTS,
            start + timedelta(hours=1),
            quiz_id="q",
            correct=1,
            total=5,
        ),
        event("help.requested", student, LISTS, start + timedelta(hours=2), text="im lost"),
    ]
    stored = []
    for database, order in ((3, documents), (4, random.Random(7).sample(documents * 2, 18))):
        url = redis_url.rsplit("/", 1)[0] + f"/{database}"
        store = RedisStateStore(connect(url, cluster=False))
        core = Core(settings=Settings(), store=store, dead_letters=MemorySink(),
                    alerts=MemorySink(), clock=lambda: NOW)  # fmt: skip
        function = await ingest.create(core)
        headers = {"Content-Type": "application/json"}
        async with serve(function) as client:
            if database == 3:  # in order, one at a time
                for d in order:
                    await client.post("/learning-events", content=raw(d), headers=headers)
            else:  # shuffled, each twice, all at once
                await asyncio.gather(*(
                    client.post("/learning-events", content=raw(d), headers=headers)
                    for d in order
                ))  # fmt: skip
        record, _ = await load_student(store, student)
        assert record is not None
        stored.append([(a.id, a.trigger, a.raised_at, a.evidence) for a in record.alerts])
        await store.aclose()
    assert {trigger for _, trigger, _, _ in stored[0]} == {
        "repeated_error", "failed_runs_streak", "stuck_on_exercise", "low_quiz_score",
        "asked_for_help",
    }  # fmt: skip
    assert stored[0] == stored[1]
