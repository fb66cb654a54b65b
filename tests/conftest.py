"""Session-wide private servers, started on first use so a unit-only run starts none."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mastery.local.servers import KafkaBroker, RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """The Redis of this test session: `REDIS_URL` if set, else a private server."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session's Redis."""
    return redis_server.url


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """The Kafka broker of this test session: `KAFKA_BROKERS` if set, else a private Tansu."""
    with KafkaBroker() as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_brokers(kafka_broker: KafkaBroker) -> str:
    """Bootstrap servers ("host:port") of the session's broker."""
    return kafka_broker.brokers
