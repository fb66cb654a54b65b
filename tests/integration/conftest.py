"""An engine (ingest + query functions in process) on the session's real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from mastery.adapters.memory import MemorySink
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.config import JwtSettings, Settings
from mastery.entrypoints.core import Core
from mastery.entrypoints.http import ingest, query
from mastery.web.auth import mint_token
from tests.asgi import serve
from tests.demo_run import DemoRun, start_demo

SECRET = "integration-test-secret-with-32-bytes"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def bearer(subject: str, role: str, classes: tuple[str, ...] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, subject, role, classes)}"}  # type: ignore[arg-type]


@dataclass
class RedisEngine:
    ingest: httpx.AsyncClient
    query: httpx.AsyncClient
    store: RedisStateStore
    dead_letters: MemorySink

    async def deliver(self, body: bytes, key: str = "k") -> httpx.Response:
        """POST one record as daprd's Kafka binding does."""
        headers = {"Content-Type": "application/json", "__topic": "learning.events",
                   "__partition": "0", "__offset": "0", "__key": key}  # fmt: skip
        return await self.ingest.post("/learning-events", content=body, headers=headers)


@pytest.fixture
async def redis_engine(redis_url: str) -> AsyncIterator[RedisEngine]:
    store = RedisStateStore(connect(redis_url, cluster=False))
    sink = MemorySink()
    core = Core(settings=Settings(jwt=JwtSettings(secret=SECRET)), store=store,
                dead_letters=sink, alerts=MemorySink(), clock=lambda: NOW)  # fmt: skip
    ingest_function = await ingest.create(core)
    query_function = await query.create(core)
    async with serve(ingest_function) as ingest_client, serve(query_function) as query_client:
        yield RedisEngine(ingest_client, query_client, store, sink)
    await store.aclose()


DEMO_SECRET = "demo-run-test-secret-with-32-bytes!!"


@pytest.fixture(scope="session")
def demo() -> Iterator[DemoRun]:
    """The engine exactly as `make run` starts it (its own process group), banner printed."""
    run = start_demo({"JWT_SECRET": DEMO_SECRET})
    try:
        yield run
    finally:
        run.stop()
        run.stderr.close()
