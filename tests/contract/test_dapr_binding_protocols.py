"""The ingest function as daprd sees it: the exact HTTP request and the AppCallback gRPC calls.

Both against the function as it is deployed: a real process (functions-framework for HTTP,
`python -m mastery.ingest_main` with INGEST_MODE=grpc), a real Redis and a real broker.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc
import httpx
import pytest
import redis
from aiokafka import AIOKafkaConsumer
from dapr.proto import appcallback_service_v1, appcallback_v1
from google.protobuf import empty_pb2

from mastery.local.functions import ROOT, RunningFunction, running_functions
from mastery.local.process import terminate
from mastery.local.servers import KafkaBroker, RedisServer, free_port
from tests.factories import event, raw

pytestmark = pytest.mark.integration
TOKEN = "dapr-app-token-for-contract-tests"
TRACEPARENT = "traceparent"


def _env(redis_url: str, brokers: str, run: str) -> dict[str, str]:
    return {"REDIS_URL": redis_url, "KAFKA_BROKERS": brokers, "APP_API_TOKEN": TOKEN,
            "KAFKA_DEAD_LETTER_TOPIC": f"dlq.{run}", "KAFKA_ALERT_TOPIC": f"alerts.{run}",
            "LOG_LEVEL": "WARNING", "JWT_SECRET": "contract-secret-with-at-least-32-bytes"}  # fmt: skip


def _dead_letters(brokers: str, topic: str) -> list[tuple[dict[str, object], str]]:
    """Each dead letter on `topic`, with the trace id of its `traceparent` header."""

    async def read() -> list[tuple[dict[str, object], str]]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=brokers, auto_offset_reset="earliest")
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=3000)
            return [
                (json.loads(r.value), dict(r.headers)[TRACEPARENT].decode().split("-")[1])
                for rs in batch.values()
                for r in rs
            ]
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _quiz(student: str) -> dict[str, object]:
    return event("quiz.completed", student, "basics.variables", datetime.now(UTC),
                 quiz_id="q1", correct=3, total=4)  # fmt: skip


# --- HTTP: POST /learning-events exactly as daprd's Kafka binding sends it -------------------


@pytest.fixture(scope="module")
def http_ingest(redis_url: str, kafka_broker: KafkaBroker) -> Iterator[tuple[RunningFunction, str]]:
    run = uuid.uuid4().hex[:8]
    kafka_broker.create_topics([f"dlq.{run}", f"alerts.{run}"], partitions=1)
    env = _env(redis_url, kafka_broker.brokers, run)
    with running_functions({"ingest": free_port()}, env) as functions:
        yield functions["ingest"], f"dlq.{run}"


def _daprd_headers(student: str, offset: int, token: str = TOKEN) -> dict[str, str]:
    return {"Content-Type": "application/json", "dapr-api-token": token, "__key": student,
            "__topic": "learning.events", "__partition": "2", "__offset": str(offset),
            "__timestamp": "1763640000000", "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}  # fmt: skip


def test_daprd_http_delivery_is_applied_once_and_acknowledged_with_200(
    http_ingest: tuple[RunningFunction, str], redis_url: str
) -> None:
    function, _ = http_ingest
    student = f"http-{uuid.uuid4().hex[:8]}"
    body = raw(_quiz(student))
    url = f"{function.url}/learning-events"
    assert httpx.options(url, headers={"dapr-api-token": TOKEN}).status_code == 200
    first = httpx.post(url, content=body, headers=_daprd_headers(student, 41))
    again = httpx.post(url, content=body, headers=_daprd_headers(student, 41))  # redelivery
    assert (first.status_code, first.json()) == (200, {"outcome": "applied"})
    assert (again.status_code, again.json()) == (200, {"outcome": "duplicate"})
    data, version = redis.Redis.from_url(redis_url).hmget(
        f"student:{{{student}}}", ["data", "version"]
    )
    assert version == b"1"
    assert json.loads(data)["seen"].keys() == {_quiz_id(body)}


def _quiz_id(body: bytes) -> str:
    return str(json.loads(body)["id"])


def test_daprd_http_delivery_without_the_app_token_is_refused(
    http_ingest: tuple[RunningFunction, str],
) -> None:
    function, _ = http_ingest
    headers = _daprd_headers("s", 1, token="wrong")
    response = httpx.post(f"{function.url}/learning-events", content=b"{}", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_daprd_http_poison_is_dead_lettered_with_its_origin_and_acknowledged(
    http_ingest: tuple[RunningFunction, str], kafka_brokers: str
) -> None:
    function, dead_letter_topic = http_ingest
    response = httpx.post(f"{function.url}/learning-events", content=b"not json at all",
                          headers=_daprd_headers("student-p", 77))  # fmt: skip
    assert (response.status_code, response.json()) == (200, {"outcome": "dead_lettered"})
    [(letter, trace_id)] = _dead_letters(kafka_brokers, dead_letter_topic)
    assert trace_id == "a" * 32  # daprd's traceparent goes on with the dead letter
    assert letter["reason"] == "not valid JSON"
    assert letter["value"] == "not json at all"
    assert letter["source"] == {"topic": "learning.events", "partition": "2", "offset": "77",
                                "key": "student-p", "timestamp": "1763640000000"}  # fmt: skip


# --- gRPC: the AppCallback service, through the real stub --------------------------------------


@pytest.fixture(scope="module")
def grpc_ingest(
    kafka_broker: KafkaBroker,
) -> Iterator[tuple[subprocess.Popen[bytes], str, RedisServer, str]]:
    run = uuid.uuid4().hex[:8]
    kafka_broker.create_topics([f"dlq.{run}", f"alerts.{run}"], partitions=1)
    port = free_port()
    # A private Redis: the transient-fault test stops it. The ops server's port is chosen free
    # too: its default, PORT + 1, may be some connection's ephemeral port.
    with RedisServer(env={}) as private_redis:
        env = {**os.environ, **_env(private_redis.url, kafka_broker.brokers, run),
               "INGEST_MODE": "grpc", "PORT": str(port), "HEALTH_PORT": str(free_port()),
               "FUNCTION_TARGET": "ingest"}  # fmt: skip
        process = subprocess.Popen([sys.executable, "-m", "mastery.ingest_main"], env=env, cwd=ROOT)
        try:
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            grpc.channel_ready_future(channel).result(timeout=20)
            channel.close()
            yield process, f"127.0.0.1:{port}", private_redis, f"dlq.{run}"
        finally:
            terminate(process, 10)


def _stub(address: str) -> tuple[grpc.Channel, appcallback_service_v1.AppCallbackStub]:
    channel = grpc.insecure_channel(address)
    return channel, appcallback_service_v1.AppCallbackStub(channel)


def _binding_event(body: bytes, student: str, offset: int) -> appcallback_v1.BindingEventRequest:
    metadata = {"__key": student, "__topic": "learning.events", "__partition": "0",
                "__offset": str(offset), "__timestamp": "1763640000000"}  # fmt: skip
    return appcallback_v1.BindingEventRequest(name="learning-events", data=body, metadata=metadata)


AUTH = (("dapr-api-token", TOKEN),)


def test_grpc_lists_the_learning_events_binding(grpc_ingest: tuple) -> None:  # type: ignore[type-arg]
    channel, stub = _stub(grpc_ingest[1])
    with channel:
        response = stub.ListInputBindings(empty_pb2.Empty(), metadata=AUTH)
    assert list(response.bindings) == ["learning-events"]


def test_grpc_binding_event_is_applied_once(grpc_ingest: tuple) -> None:  # type: ignore[type-arg]
    _, address, private_redis, _ = grpc_ingest
    student = f"grpc-{uuid.uuid4().hex[:8]}"
    body = raw(_quiz(student))
    channel, stub = _stub(address)
    with channel:
        stub.OnBindingEvent(_binding_event(body, student, 5), metadata=AUTH)
        stub.OnBindingEvent(_binding_event(body, student, 5), metadata=AUTH)  # redelivery
        with pytest.raises(grpc.RpcError):
            stub.OnBindingEvent(
                _binding_event(body, student, 5), metadata=(("dapr-api-token", "x"),)
            )
    data, version = private_redis.client().hmget(f"student:{{{student}}}", ["data", "version"])
    assert version == b"1"
    assert list(json.loads(data)["seen"]) == [_quiz_id(body)]


def test_grpc_poison_is_dead_lettered_and_the_call_succeeds(
    grpc_ingest: tuple,
    kafka_brokers: str,  # type: ignore[type-arg]
) -> None:
    channel, stub = _stub(grpc_ingest[1])
    with channel:
        daprd_trace = (TRACEPARENT, f"00-{'c' * 32}-{'d' * 16}-01")
        stub.OnBindingEvent(
            _binding_event(b'{"id": 1', "student-g", 12), metadata=(*AUTH, daprd_trace)
        )
    [(letter, trace_id)] = _dead_letters(kafka_brokers, grpc_ingest[3])
    assert trace_id == "c" * 32  # daprd's gRPC metadata traceparent goes on with it
    assert letter["reason"] == "not valid JSON"
    assert letter["source"]["offset"] == "12"  # type: ignore[index]


def test_grpc_transient_fault_is_a_grpc_error_so_dapr_retries(grpc_ingest: tuple) -> None:  # type: ignore[type-arg]
    _, address, private_redis, _ = grpc_ingest
    student = f"grpc-{uuid.uuid4().hex[:8]}"
    body = raw(_quiz(student))
    channel, stub = _stub(address)
    private_redis.stop()
    try:
        with channel, pytest.raises(grpc.RpcError) as failure:
            stub.OnBindingEvent(_binding_event(body, student, 6), metadata=AUTH, timeout=10)
        assert failure.value.code() != grpc.StatusCode.OK
    finally:
        private_redis.start()
    # Dapr's retry succeeds once the store is back (after the breaker's reset timeout).
    deadline = time.monotonic() + 10
    channel, stub = _stub(address)
    with channel:
        while True:
            try:
                stub.OnBindingEvent(_binding_event(body, student, 6), metadata=AUTH, timeout=10)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    assert private_redis.client().exists(f"student:{{{student}}}")


def test_grpc_mode_stops_on_sigterm(grpc_ingest: tuple) -> None:  # type: ignore[type-arg]
    process = grpc_ingest[0]
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0  # a graceful stop, not a kill
