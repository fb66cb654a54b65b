"""The functions as the run command serves them: real functions-framework processes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from mastery.config import KafkaSettings
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import parse_event
from mastery.domain.mastery import MasteryRules, student_mastery
from mastery.domain.record import StudentRecord
from mastery.domain.record_events import apply_event
from mastery.local.demo import demo_events
from mastery.local.functions import (
    FUNCTIONS,
    LOCAL_AUTHORIZATION_SERVER,
    RunningFunction,
    running_functions,
)
from mastery.local.run import deliver_like_dapr
from mastery.local.servers import KafkaBroker, free_port
from mastery.web.auth import mint_token

pytestmark = pytest.mark.integration
SECRET = "served-functions-secret-with-32-bytes"
KAFKA = KafkaSettings()


@pytest.fixture(scope="module")
def served(redis_url: str, kafka_broker: KafkaBroker) -> Iterator[dict[str, RunningFunction]]:
    kafka_broker.create_topics([KAFKA.topic, KAFKA.dead_letter_topic, KAFKA.alert_topic])
    env = {"REDIS_URL": redis_url, "KAFKA_BROKERS": kafka_broker.brokers, "JWT_SECRET": SECRET,
           "LOG_LEVEL": "WARNING", "RETENTION_DAYS": "90",
           "MCP_AUTHORIZATION_SERVER": LOCAL_AUTHORIZATION_SERVER}  # fmt: skip
    with running_functions({name: free_port() for name in FUNCTIONS}, env) as functions:
        yield functions


def bearer(subject: str, role: str, classes: tuple[str, ...] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, subject, role, classes)}"}  # type: ignore[arg-type]


def test_every_function_is_healthy_ready_and_describes_itself(
    served: dict[str, RunningFunction],
) -> None:
    for name, function in served.items():
        assert httpx.get(f"{function.url}/readyz").status_code == 200, name
        spec = httpx.get(f"{function.url}/openapi.json").json()
        assert spec["openapi"].startswith("3."), name
        assert "/healthz" in spec["paths"], name
        assert "http_requests_total" in httpx.get(f"{function.url}/metrics").text


def test_demo_stream_through_the_binding_contract_gives_the_class_view(
    served: dict[str, RunningFunction],
) -> None:
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:6]
    class_id = f"class-{run}"
    events = demo_events(class_id, students=6, days=10, now=now, seed=5, prefix=f"s-{run}-")
    outcomes = asyncio.run(deliver_like_dapr(served["ingest"].url, events, KAFKA.topic))
    assert outcomes == {"applied": len(events)}

    view = httpx.get(f"{served['query'].url}/v1/classes/{class_id}/mastery",
                     headers=bearer("t", "teacher", (class_id,))).json()  # fmt: skip
    # The same events folded in process give the same scores as the served engine.
    records: dict[str, StudentRecord] = {}
    for document in events:
        event = parse_event(document, now, CURRICULUM)
        apply_event(
            records.setdefault(event.student_id, StudentRecord(student_id=event.student_id)), event
        )
    expected = {
        sid: round(student_mastery(r, CURRICULUM, r.local_day(now), MasteryRules()).overall + 1e-9)
        for sid, r in records.items()
    }
    assert {row["student_id"]: row["score"] for row in view["students"]} == pytest.approx(
        expected, abs=1
    )
    assert len(view["students"]) == 6


def test_dapr_metadata_headers_survive_the_real_server_and_poison_reaches_the_topic(
    served: dict[str, RunningFunction], kafka_brokers: str
) -> None:
    response = httpx.post(
        f"{served['ingest'].url}/learning-events",
        content=b'{"id": "x", "type": "quiz.completed"',
        headers={"Content-Type": "application/json", "__topic": KAFKA.topic, "__partition": "3",
                 "__offset": "1234", "__key": "student-x", "__timestamp": "1763640000000"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {"outcome": "dead_lettered"}

    async def read_dead_letters() -> list[dict[str, object]]:
        consumer = AIOKafkaConsumer(KAFKA.dead_letter_topic, bootstrap_servers=kafka_brokers,
                                    auto_offset_reset="earliest", consumer_timeout_ms=2000)  # fmt: skip
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=5000)
            return [json.loads(r.value) for records in batch.values() for r in records]
        finally:
            await consumer.stop()

    letters = asyncio.run(read_dead_letters())
    mine = [letter for letter in letters if letter["source"]["offset"] == "1234"]  # type: ignore[index]
    assert mine, letters
    assert mine[0]["reason"] == "not valid JSON"
    assert mine[0]["source"] == {"topic": KAFKA.topic, "partition": "3", "offset": "1234",
                                 "key": "student-x", "timestamp": "1763640000000"}  # fmt: skip
