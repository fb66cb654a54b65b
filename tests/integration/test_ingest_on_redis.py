"""Exactly-once ingest and access control on a real Redis server."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis

from mastery.adapters.breaker import CircuitBreaker
from mastery.adapters.memory import MemorySink
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.bootstrap import http_app
from mastery.config import Settings
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.record import StudentRecord
from mastery.entrypoints.core import Core
from mastery.entrypoints.envelopes import read_envelope
from mastery.entrypoints.http.ingest import create
from mastery.local.servers import RedisServer, free_port
from mastery.ports import StateStore
from mastery.services.ingest import IngestDeps, KafkaMetadata, Outcome, handle_record
from mastery.services.students import load_student, student_key
from tests.asgi import serve
from tests.factories import event, raw
from tests.integration.conftest import NOW, RedisEngine, bearer

pytestmark = pytest.mark.integration
TOPIC = "control_flow.for_loops"


def student() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def quiz(
    student_id: str, at: datetime = NOW, quiz_id: str = "q", correct: int = 1, total: int = 1
) -> bytes:
    """One `quiz.completed` record in TOPIC."""
    fields = {"quiz_id": quiz_id, "correct": correct, "total": total}
    return raw(event("quiz.completed", student_id, TOPIC, at, **fields))


def quizzes(student_id: str, count: int) -> list[bytes]:
    """`count` distinct half-right quizzes, a minute apart."""
    return [
        quiz(student_id, NOW - timedelta(minutes=i), f"q{i}", correct=1, total=2)
        for i in range(count)
    ]


def ingest_deps(store: StateStore) -> IngestDeps:
    """One ingest pod's dependencies on `store`, dead letters kept in memory."""
    return IngestDeps(
        store=store,
        dead_letters=MemorySink(),
        clock=lambda: NOW,
        curriculum=CURRICULUM,
        read_envelope=read_envelope,
    )


def stream(student_id: str) -> list[bytes]:
    """A scripted week of activity in one topic."""
    out = []
    for day in range(6):
        at = NOW - timedelta(days=6 - day, hours=2)
        exercise = {"exercise_id": f"e{day}", "difficulty": "medium", "passed": day % 2 == 0}
        review = {"submission_id": f"r{day}", "quality": 50 + 5 * day}
        out += [
            raw(event("exercise.completed", student_id, TOPIC, at, **exercise)),
            quiz(student_id, at + timedelta(minutes=30), f"q{day}", correct=day, total=5),
            raw(event("code.reviewed", student_id, TOPIC, at + timedelta(minutes=40), **review)),
        ]
    return out


async def stored(engine: RedisEngine, student_id: str) -> StudentRecord:
    record, _ = await load_student(engine.store, student_id)
    assert record is not None
    return record


async def test_twice_shuffled_delivery_leaves_the_same_state_as_once(redis_url: str) -> None:
    student_id = student()
    events = stream(student_id)
    records = []
    for database, deliveries in (
        (1, events),
        (2, random.Random(3).sample(events * 2, len(events) * 2)),
    ):
        store = RedisStateStore(
            connect(redis_url.rsplit("/", 1)[0] + f"/{database}", cluster=False)
        )
        deps = ingest_deps(store)
        outcomes = [await handle_record(body, KafkaMetadata(), deps) for body in deliveries]
        assert outcomes.count(Outcome.APPLIED) == len(events)
        record, _ = await load_student(store, student_id)
        records.append(record)
        await store.aclose()
    assert records[0] is not None
    assert records[0] == records[1]


async def test_one_event_delivered_concurrently_is_applied_once(redis_engine: RedisEngine) -> None:
    student_id = student()
    body = quiz(student_id, total=2)
    responses = await asyncio.gather(*(redis_engine.deliver(body) for _ in range(12)))
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * 11
    assert len((await stored(redis_engine, student_id)).topics[TOPIC].quizzes) == 1


async def test_concurrent_events_for_one_student_lose_no_update(redis_engine: RedisEngine) -> None:
    student_id = student()
    responses = await asyncio.gather(*(redis_engine.deliver(b) for b in quizzes(student_id, 20)))
    assert all(r.json()["outcome"] == "applied" for r in responses)
    assert len((await stored(redis_engine, student_id)).topics[TOPIC].quizzes) == 20


async def test_each_kind_of_poison_is_dead_lettered_and_later_events_apply(
    redis_engine: RedisEngine,
) -> None:
    student_id = student()
    good = event("quiz.completed", student_id, TOPIC, NOW, quiz_id="q", correct=1, total=1)
    poison = {
        "not JSON": b"{oops",
        "unknown type": raw({**good, "id": "p1", "type": "quiz.deleted"}),
        "missing field": raw({k: v for k, v in good.items() if k != "student_id"} | {"id": "p2"}),
        "naive timestamp": raw({**good, "id": "p3", "occurred_at": "2026-11-20T10:00:00"}),
        "too old": raw(
            {**good, "id": "p4", "occurred_at": (NOW - timedelta(days=100)).isoformat()}
        ),
        "unknown topic": raw({**good, "id": "p5", "topic": "rust.lifetimes"}),
    }
    for body in poison.values():
        response = await redis_engine.deliver(body, key=student_id)
        assert response.json() == {"outcome": "dead_lettered"}
    assert (await redis_engine.deliver(raw(good))).json() == {"outcome": "applied"}
    reasons = [json.loads(value)["reason"] for _, value in redis_engine.dead_letters.records]
    assert reasons[0] == "not valid JSON"
    assert "unknown event type" in reasons[1]
    assert "student_id" in reasons[2]
    assert "time zone" in reasons[3]
    assert "90 days" in reasons[4]
    assert "unknown topic" in reasons[5]
    assert len((await stored(redis_engine, student_id)).topics[TOPIC].quizzes) == 1


async def test_scripted_scenario_mastery_equals_hand_computation(redis_engine: RedisEngine) -> None:
    student_id = student()
    for body in stream(student_id):
        await redis_engine.deliver(body)
    response = await redis_engine.query.get(
        f"/v1/students/{student_id}/topics/{TOPIC}", headers=bearer(student_id, "student")
    )
    topic = response.json()
    # completion: passed e0, e2, e4 (medium) -> 3 / 8 = 0.375
    # quiz: 0/5, 1/5, ..., 5/5 in time order, newest weighs 0.65
    quiz = 0.0
    for i in range(6):
        quiz = i / 5 if i == 0 else 0.65 * i / 5 + 0.35 * quiz
    # quality: 50, 55, ... 75 (scaled to 0-1), same decay
    quality = 0.0
    for i in range(6):
        quality = 0.5 if i == 0 else 0.65 * (50 + 5 * i) / 100 + 0.35 * quality
    # consistency: active Nov 14-19 (6 days), as of Nov 20: 6/7 * 0.9
    consistency = 6 / 7 * 0.9
    score = 100 * (0.4 * 0.375 + 0.3 * quiz + 0.2 * quality + 0.1 * consistency)
    assert topic["components"]["completion"] == 0.375
    assert topic["components"]["quiz"] == pytest.approx(quiz, abs=1e-4)
    assert topic["components"]["quality"] == pytest.approx(quality, abs=1e-4)
    assert topic["components"]["consistency"] == pytest.approx(consistency, abs=1e-4)
    assert topic["score"] == int(score + 0.5) == 64


async def test_student_cannot_read_another_and_teacher_only_their_classes(
    redis_engine: RedisEngine,
) -> None:
    mine, other = student(), student()
    await redis_engine.deliver(raw(event("class.enrolled", mine, None, NOW, class_id="class-a")))
    await redis_engine.deliver(raw(event("class.enrolled", other, None, NOW, class_id="class-b")))
    assert (
        await redis_engine.query.get(
            f"/v1/students/{other}/mastery", headers=bearer(mine, "student")
        )
    ).status_code == 403
    teacher = bearer("t", "teacher", ("class-a",))
    assert (
        await redis_engine.query.get(f"/v1/students/{mine}/mastery", headers=teacher)
    ).status_code == 200
    assert (
        await redis_engine.query.get(f"/v1/students/{other}/mastery", headers=teacher)
    ).status_code == 403
    view = await redis_engine.query.get("/v1/classes/class-a/mastery", headers=teacher)
    assert mine in [row["student_id"] for row in view.json()["students"]]
    assert other not in [row["student_id"] for row in view.json()["students"]]


async def test_record_expires_retention_after_the_last_event(
    redis_engine: RedisEngine, redis_url: str
) -> None:
    student_id = student()
    await redis_engine.deliver(quiz(student_id, NOW - timedelta(days=10)))
    ttl = redis.Redis.from_url(redis_url).ttl(student_key(student_id))
    assert 80 * 86_400 - 5 <= ttl <= 80 * 86_400


async def test_redis_down_answers_503_and_the_event_applies_once_after() -> None:
    with RedisServer(env={}) as server:
        store = RedisStateStore(connect(server.url, cluster=False))
        student_id = student()
        body = quiz(student_id)
        headers = {"Content-Type": "application/json"}
        function = await create(
            Core(settings=Settings(), store=store, dead_letters=MemorySink(), alerts=MemorySink(),
                 clock=lambda: NOW)
        )  # fmt: skip
        async with serve(function) as client:
            server.stop()
            down = await client.post("/learning-events", content=body, headers=headers)
            assert down.status_code == 503
            assert down.headers["content-type"] == "application/problem+json"
            assert "Retry-After" in down.headers
            server.start()
            first = await client.post("/learning-events", content=body, headers=headers)
            again = await handle_record(body, KafkaMetadata(), ingest_deps(store))
        assert first.json() == {"outcome": "applied"}
        assert again is Outcome.DUPLICATE
        record, _ = await load_student(store, student_id)
        assert record is not None
        assert len(record.topics[TOPIC].quizzes) == 1
        await store.aclose()


async def test_concurrent_pods_meet_at_the_etag_and_lose_no_update(redis_url: str) -> None:
    student_id = student()
    pods = [ingest_deps(RedisStateStore(connect(redis_url, cluster=False))) for _ in range(4)]
    bodies = quizzes(student_id, 24)
    outcomes = await asyncio.gather(
        *(handle_record(b, KafkaMetadata(), pods[i % 4]) for i, b in enumerate(bodies))
    )
    assert set(outcomes) == {Outcome.APPLIED}
    record, _ = await load_student(pods[0].store, student_id)
    assert record is not None
    assert len(record.topics[TOPIC].quizzes) == 24
    for pod in pods:
        await pod.store.aclose()


async def test_ingest_starts_without_its_broker_and_answers_503_for_a_dead_letter_it_cannot_send(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its Kafka sinks connect on their first publish: a broker nobody answers at stops neither
    start-up nor an event that needs no dead letter; a poison record is not acknowledged (503:
    the binding delivers it again), each attempt counted by the sink's breaker until it opens."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KAFKA_BROKERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("FUNCTION_TARGET", "ingest")
    function = await http_app("ingest")
    headers = {"Content-Type": "application/json", "__topic": "learning.events"}
    good = raw(event("quiz.completed", student(), TOPIC, datetime.now(UTC), quiz_id="q",
                     correct=1, total=1))  # fmt: skip
    try:
        async with serve(function) as client:
            applied = await client.post("/learning-events", content=good, headers=headers)
            assert applied.json() == {"outcome": "applied"}
            for _ in range(CircuitBreaker("probe").failure_threshold + 1):
                poison = await client.post("/learning-events", content=b"{oops", headers=headers)
                assert poison.status_code == 503
            breaker = await client.get("/metrics")
    finally:
        await function.aclose()
    assert 'circuit_breaker_state{dependency="dead_letters"} 2.0' in breaker.text
