"""/healthz, /readyz and /metrics of ingest in the modes functions-framework does not serve.

Ingest runs as a real process (`python -m mastery.ingest_main`) in `INGEST_MODE=kafka` and
`INGEST_MODE=grpc`, on a real broker and a private Redis that the tests stop: the probes must
answer on `HEALTH_PORT`, readiness must follow the dependencies, and daprd's gRPC app health
check must agree with /readyz.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from dapr.proto.runtime.v1 import appcallback_pb2_grpc as appcallback_service_v1
from google.protobuf.empty_pb2 import Empty

from mastery.local.functions import ROOT
from mastery.local.process import terminate
from mastery.local.servers import KafkaBroker, RedisServer, free_port

pytestmark = pytest.mark.integration


@dataclass
class Ingest:
    process: subprocess.Popen[bytes]
    ops: str
    redis: RedisServer
    port: int


def _start(mode: str, kafka_broker: KafkaBroker) -> Iterator[Ingest]:
    run = uuid.uuid4().hex[:8]
    topic = f"ops.{run}"
    kafka_broker.create_topics([topic, f"{topic}.dlq", f"alerts.{run}"], partitions=2)
    port, health_port = free_port(), free_port()
    with RedisServer(env={}) as redis_server:
        env = {**os.environ, "REDIS_URL": redis_server.url, "KAFKA_BROKERS": kafka_broker.brokers,
               "KAFKA_TOPIC": topic, "KAFKA_DEAD_LETTER_TOPIC": f"{topic}.dlq",
               "KAFKA_ALERT_TOPIC": f"alerts.{run}", "KAFKA_CONSUMER_GROUP": f"ops.{run}",
               "KAFKA_SESSION_TIMEOUT_MS": "1000", "INGEST_MODE": mode, "PORT": str(port),
               "HEALTH_PORT": str(health_port), "FUNCTION_TARGET": "ingest",
               "LOG_LEVEL": "ERROR"}  # fmt: skip
        process = subprocess.Popen([sys.executable, "-m", "mastery.ingest_main"], env=env, cwd=ROOT)
        try:
            yield Ingest(process, f"http://127.0.0.1:{health_port}", redis_server, port)
        finally:
            terminate(process, 15)


@pytest.fixture(scope="module")
def consumer(kafka_broker: KafkaBroker) -> Iterator[Ingest]:
    yield from _start("kafka", kafka_broker)


@pytest.fixture(scope="module")
def grpc_ingest(kafka_broker: KafkaBroker) -> Iterator[Ingest]:
    yield from _start("grpc", kafka_broker)


def _wait_for(url: str, status: int, limit_s: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == status:
                return response
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered {status}"
        time.sleep(0.1)


def test_consumer_mode_serves_liveness_readiness_and_metrics(consumer: Ingest) -> None:
    ready = _wait_for(f"{consumer.ops}/readyz", 200)
    assert ready.json() == {
        "ready": True,
        "checks": {"kafka": True, "state_store": True, "dead_letters": True, "alerts": True},
    }
    assert httpx.get(f"{consumer.ops}/healthz").status_code == 200
    metrics = httpx.get(f"{consumer.ops}/metrics").text
    assert 'circuit_breaker_state{dependency="kafka"} 0.0' in metrics
    assert 'circuit_breaker_state{dependency="state_store"} 0.0' in metrics
    assert "kafka_consumer_batches_total" in metrics
    deadline = time.monotonic() + 20
    while "kafka_consumer_assigned_partitions 2.0" not in metrics:  # joined: owns both
        assert time.monotonic() < deadline, "the consumer never owned the topic's partitions"
        time.sleep(0.1)
        metrics = httpx.get(f"{consumer.ops}/metrics").text
    assert httpx.get(f"{consumer.ops}/v1/anything").status_code == 404


def test_consumer_is_not_ready_while_redis_is_down_and_stays_alive(consumer: Ingest) -> None:
    _wait_for(f"{consumer.ops}/readyz", 200)
    consumer.redis.stop()
    try:
        down = _wait_for(f"{consumer.ops}/readyz", 503)
        assert down.json()["checks"]["state_store"] is False
        assert down.json()["checks"]["kafka"] is True
        assert httpx.get(f"{consumer.ops}/healthz").status_code == 200  # no restart for this
    finally:
        consumer.redis.start()
    _wait_for(f"{consumer.ops}/readyz", 200)
    assert consumer.process.poll() is None


def test_grpc_mode_serves_probes_and_daprd_health_check_agrees(grpc_ingest: Ingest) -> None:
    _wait_for(f"{grpc_ingest.ops}/readyz", 200)
    assert httpx.get(f"{grpc_ingest.ops}/healthz").status_code == 200
    assert "circuit_breaker_state" in httpx.get(f"{grpc_ingest.ops}/metrics").text
    with grpc.insecure_channel(f"127.0.0.1:{grpc_ingest.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=20)
        health = appcallback_service_v1.AppCallbackHealthCheckStub(channel)
        health.HealthCheck(Empty(), timeout=5)  # healthy: no error
        grpc_ingest.redis.stop()
        try:
            assert _wait_for(f"{grpc_ingest.ops}/readyz", 503).json()["checks"] == {
                "state_store": False, "dead_letters": True, "alerts": True,
            }  # fmt: skip
            with pytest.raises(grpc.RpcError):
                health.HealthCheck(Empty(), timeout=5)
        finally:
            grpc_ingest.redis.start()
        _wait_for(f"{grpc_ingest.ops}/readyz", 200)
        health.HealthCheck(Empty(), timeout=5)
