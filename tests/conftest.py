"""Session-wide private servers, started on first use so a unit-only run starts none; and the
check that no test reads outside the repository (tests/outside_reads.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mastery.local.servers import KafkaBroker, RedisServer
from tests.outside_reads import OutsideReads

OUTSIDE_READS = OutsideReads().install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if OUTSIDE_READS.paths:
        listed = "\n  ".join(sorted(set(OUTSIDE_READS.paths)))
        session.config.get_terminal_writer().line(
            f"\nTests read outside the repository (a clone has no sibling folders):\n  {listed}",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
