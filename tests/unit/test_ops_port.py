"""Where ingest's probes and metrics listen in each mode, and what readiness reads of breakers."""

from __future__ import annotations

import pytest

from mastery.adapters.breaker import CircuitBreaker
from mastery.adapters.guarded import GuardedSink
from mastery.adapters.memory import MemorySink
from mastery.config import ConfigError, Settings
from mastery.entrypoints.ops_server import breakers_closed
from mastery.errors import SinkUnavailableError


async def _unreachable() -> None:
    raise SinkUnavailableError("down")


@pytest.mark.parametrize(
    ("env", "port"),
    [
        ({"INGEST_MODE": "kafka", "PORT": "8080"}, 8080),  # nothing else listens there
        ({"INGEST_MODE": "grpc", "PORT": "8080"}, 8081),  # PORT is the AppCallback server's
        ({"INGEST_MODE": "grpc", "PORT": "8080", "HEALTH_PORT": "9464"}, 9464),
        ({"INGEST_MODE": "kafka", "HEALTH_PORT": " "}, 8080),  # blank means unset
    ],
)
def test_ops_port_follows_the_mode_unless_health_port_is_set(
    env: dict[str, str], port: int
) -> None:
    assert Settings.from_env(env).ops_port == port


def test_health_port_must_be_a_number() -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({"HEALTH_PORT": "http"})


async def test_readiness_reports_each_open_breaker_by_dependency() -> None:
    now = [0.0]
    tripped = CircuitBreaker("alerts", failure_threshold=1, clock=lambda: now[0])
    with pytest.raises(SinkUnavailableError):
        await tripped.call(_unreachable)  # one failure opens it
    sinks = (
        GuardedSink(MemorySink(), CircuitBreaker("dead_letters")),
        GuardedSink(MemorySink(), tripped),
    )
    assert breakers_closed(*sinks, MemorySink()) == {"dead_letters": True, "alerts": False}
    now[0] = 5.0  # past reset_timeout: due for a probe, no longer failing fast
    assert breakers_closed(*sinks) == {"dead_letters": True, "alerts": True}


def test_a_group_join_can_outlast_the_session_timeout() -> None:
    # JoinGroup waits up to the rebalance (= session) timeout; a shorter request timeout made
    # the consumer time out every join on the default 10 s session and never consume.
    from mastery.entrypoints.kafka_consumer import group_timeouts

    for session in (1_000, 10_000, 45_000):
        timeouts = group_timeouts(session)
        assert timeouts["request_timeout_ms"] > session
        assert timeouts["heartbeat_interval_ms"] < session
