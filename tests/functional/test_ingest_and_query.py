"""Ingest through the Dapr binding contract, then read mastery back, with in-memory fakes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.config import JwtSettings, Settings
from mastery.entrypoints.core import Core
from mastery.entrypoints.http import ingest, query
from mastery.web.auth import mint_token
from tests.asgi import serve
from tests.factories import event, raw

SECRET = "functional-test-secret-with-32-bytes!"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOPIC = "data_structures.lists"


@dataclass
class Engine:
    ingest: httpx.AsyncClient
    query: httpx.AsyncClient
    store: MemoryStateStore
    dead_letters: MemorySink

    async def deliver(self, body: bytes, offset: int = 0, **headers: str) -> httpx.Response:
        """POST a record exactly as daprd's Kafka binding does."""
        return await self.ingest.post(
            "/learning-events",
            content=body,
            headers={
                "Content-Type": "application/json",
                "__topic": "learning.events",
                "__partition": "0",
                "__offset": str(offset),
                "__key": "s1",
                "__timestamp": "1763640000000",
                **headers,
            },
        )


def token(subject: str, role: str, classes: tuple[str, ...] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, subject, role, classes)}"}  # type: ignore[arg-type]


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    settings = Settings(jwt=JwtSettings(secret=SECRET), app_api_token="dapr-token")
    store, sink = MemoryStateStore(), MemorySink()
    core = Core(settings=settings, store=store, dead_letters=sink, alerts=MemorySink(),
                clock=lambda: NOW)  # fmt: skip
    ingest_function = await ingest.create(core)
    query_function = await query.create(core)
    async with serve(ingest_function) as ingest_client, serve(query_function) as query_client:
        yield Engine(ingest_client, query_client, store, sink)


DAPR = {"dapr-api-token": "dapr-token"}


async def test_binding_probe_answers_200(engine: Engine) -> None:
    response = await engine.ingest.options("/learning-events", headers=DAPR)
    assert response.status_code == 200


async def test_wrong_dapr_api_token_is_refused(engine: Engine) -> None:
    body = raw(event("quiz.completed", "s1", TOPIC, NOW, quiz_id="q", correct=1, total=1))
    response = await engine.deliver(body, **{"dapr-api-token": "nope"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert engine.store.values == {}


async def test_event_is_applied_and_readable_by_the_student(engine: Engine) -> None:
    body = raw(
        event(
            "quiz.completed", "s1", TOPIC, NOW - timedelta(hours=1), quiz_id="q", correct=3, total=4
        )
    )
    response = await engine.deliver(body, **DAPR)
    assert response.status_code == 200
    assert response.json() == {"outcome": "applied"}
    again = await engine.deliver(body, **DAPR)
    assert again.json() == {"outcome": "duplicate"}

    mastery = await engine.query.get("/v1/students/s1/mastery", headers=token("s1", "student"))
    assert mastery.status_code == 200
    lists = next(t for t in mastery.json()["topics"] if t["topic"] == TOPIC)
    assert lists["components"]["quiz"] == 0.75
    assert lists["evidence"]["quizzes"] == 1
    # 0.3 * 0.75 + 0.1 * (1/7) consistency (one active day, today) = 23.93 -> 24
    assert lists["score"] == 24
    assert lists["level"] == "Beginner"
    assert len(mastery.json()["topics"]) == 31


async def test_poison_goes_to_the_dead_letters_with_its_reason_and_is_acked(engine: Engine) -> None:
    response = await engine.deliver(b"{broken", offset=41, **DAPR)
    assert response.status_code == 200
    assert response.json() == {"outcome": "dead_lettered"}
    [(key, value)] = engine.dead_letters.records
    letter = json.loads(value)
    assert key == "s1"
    assert letter["reason"] == "not valid JSON"
    assert letter["value"] == "{broken"
    assert letter["source"]["offset"] == "41"
    assert letter["source"]["topic"] == "learning.events"


async def test_student_cannot_read_another_student(engine: Engine) -> None:
    response = await engine.query.get("/v1/students/s2/mastery", headers=token("s1", "student"))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_missing_token_is_401(engine: Engine) -> None:
    response = await engine.query.get("/v1/students/s1/mastery")
    assert response.status_code == 401


async def test_teacher_reads_only_students_of_their_classes(engine: Engine) -> None:
    for student, class_id in (("s1", "c1"), ("s2", "c2")):
        await engine.deliver(
            raw(event("class.enrolled", student, None, NOW - timedelta(days=1), class_id=class_id)),
            **DAPR,
        )
    teacher = token("t1", "teacher", ("c1",))
    assert (await engine.query.get("/v1/students/s1/mastery", headers=teacher)).status_code == 200
    assert (await engine.query.get("/v1/students/s2/mastery", headers=teacher)).status_code == 403
    assert (await engine.query.get("/v1/classes/c2/mastery", headers=teacher)).status_code == 403
    heat_map = await engine.query.get("/v1/classes/c1/mastery", headers=teacher)
    assert heat_map.status_code == 200
    assert [row["student_id"] for row in heat_map.json()["students"]] == ["s1"]
    assert len(heat_map.json()["students"][0]["topics"]) == 31


async def test_unenrolled_student_leaves_the_class_view(engine: Engine) -> None:
    await engine.deliver(
        raw(event("class.enrolled", "s1", None, NOW - timedelta(days=2), class_id="c1")), **DAPR
    )
    await engine.deliver(
        raw(event("class.unenrolled", "s1", None, NOW - timedelta(days=1), class_id="c1")), **DAPR
    )
    teacher = token("t1", "teacher", ("c1",))
    heat_map = await engine.query.get("/v1/classes/c1/mastery", headers=teacher)
    assert heat_map.json()["students"] == []
    assert (await engine.query.get("/v1/students/s1/mastery", headers=teacher)).status_code == 403


async def test_the_heat_map_shows_a_member_s_new_event_and_reuses_its_body_until_then(
    engine: Engine,
) -> None:
    await engine.deliver(
        raw(event("class.enrolled", "s1", None, NOW - timedelta(days=2), class_id="c1")), **DAPR
    )
    teacher = token("t1", "teacher", ("c1",))
    first = await engine.query.get("/v1/classes/c1/mastery", headers=teacher)
    again = await engine.query.get("/v1/classes/c1/mastery", headers=teacher)
    assert (again.content, again.headers["etag"]) == (first.content, first.headers["etag"])
    await engine.deliver(
        raw(event("exercise.completed", "s1", TOPIC, NOW - timedelta(hours=1), exercise_id="e1",
                  difficulty="medium", passed=True)),
        offset=1, **DAPR,
    )  # fmt: skip
    after = await engine.query.get("/v1/classes/c1/mastery", headers=teacher)
    assert after.headers["etag"] != first.headers["etag"]
    [row] = after.json()["students"]
    [before_row] = first.json()["students"]
    assert row["topics"] != before_row["topics"], "the new evidence is in the body"


async def test_topic_and_history_routes(engine: Engine) -> None:
    await engine.deliver(
        raw(
            event(
                "code.reviewed", "s1", TOPIC, NOW - timedelta(days=2), submission_id="r", quality=80
            )
        ),
        **DAPR,
    )
    student = token("s1", "student")
    topic = await engine.query.get(f"/v1/students/s1/topics/{TOPIC}", headers=student)
    assert topic.json()["components"]["quality"] == 0.8
    unknown = await engine.query.get("/v1/students/s1/topics/python.generators", headers=student)
    assert unknown.status_code == 404
    history = await engine.query.get("/v1/students/s1/history?days=3", headers=student)
    days = history.json()["days"]
    assert [d["date"] for d in days] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert days[0]["topics"] == {TOPIC: round(0.2 * 80 + 10 / 7)}
    bad = await engine.query.get("/v1/students/s1/history?days=91", headers=student)
    assert bad.status_code == 422


async def test_student_with_no_data_gets_a_well_formed_zero(engine: Engine) -> None:
    response = await engine.query.get(
        "/v1/students/new-student/mastery", headers=token("new-student", "student")
    )
    assert response.status_code == 200
    assert response.json()["score"] == 0
    assert all(t["score"] == 0 for t in response.json()["topics"])


async def test_invalid_student_id_is_422(engine: Engine) -> None:
    response = await engine.query.get(
        "/v1/students/bad%20id/mastery", headers=token("admin", "admin")
    )
    assert response.status_code == 422


async def test_a_record_over_the_public_body_limit_is_applied_not_413(engine: Engine) -> None:
    # 80 KiB is over the public routes' 64 KiB, far under the broker's record limit.
    document = event("code.executed", "s1", TOPIC, NOW, ok=True)
    document["data"]["output"] = "x" * 80 * 1024
    response = await engine.deliver(raw(document), **DAPR)
    assert response.status_code == 200
    assert response.json() == {"outcome": "applied"}
    assert engine.dead_letters.records == []


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_record_over_the_broker_limit_is_dead_lettered_too_large_and_acked(
    engine: Engine, streamed: bool
) -> None:
    limit = Settings().binding_max_record_bytes
    value = raw(event("code.executed", "s1", TOPIC, NOW, ok=True))[:-1] + b' "pad": "'
    value += b"y" * (limit + 10 - len(value)) + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(value), 64 * 1024):
            yield value[start : start + 64 * 1024]

    response = await engine.deliver(chunks() if streamed else value, offset=7, **DAPR)  # type: ignore[arg-type]
    assert response.status_code == 200
    assert response.json() == {"outcome": "dead_lettered"}
    [(key, letter_bytes)] = engine.dead_letters.records
    letter = json.loads(letter_bytes)
    assert key == "s1"
    assert letter["reason"] == "too_large"
    assert letter["source"] == {"topic": "learning.events", "partition": "0", "offset": "7",
                                "key": "s1", "timestamp": "1763640000000"}  # fmt: skip
    assert letter["value"] == value[:1024].decode()
    assert (letter["value_bytes"], letter["value_truncated"]) == (len(value), True)


async def test_the_heat_map_uses_the_one_rule_of_evidence(engine: Engine) -> None:
    # A quiz makes Lists practised; runs and a help request in For loops are only activity.
    documents = [
        event("class.enrolled", "s1", None, NOW - timedelta(days=1), class_id="c1"),
        event("quiz.completed", "s1", TOPIC, NOW, quiz_id="q", correct=3, total=4),
        event("code.executed", "s1", "control_flow.for_loops", NOW, ok=True),
        event("help.requested", "s1", "control_flow.for_loops", NOW, text="I'm stuck"),
    ]
    for document in documents:
        assert (await engine.deliver(raw(document), **DAPR)).status_code == 200
    teacher = token("t1", "teacher", ("c1",))
    [row] = (await engine.query.get("/v1/classes/c1/mastery", headers=teacher)).json()["students"]
    mastery = (await engine.query.get("/v1/students/s1/mastery", headers=teacher)).json()
    scores = {t["topic"]: t["score"] for t in mastery["topics"]}
    assert {t: s for t, s in row["topics"].items() if s is not None} == {TOPIC: scores[TOPIC]}
    assert row["topics"]["control_flow.for_loops"] is None
    assert scores["control_flow.for_loops"] == 0
