"""Every function of the engine in process (functions-framework's ASGI app) on one store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from mastery.adapters.memory import MemorySink
from mastery.config import JwtSettings, Settings
from mastery.entrypoints.core import Core
from mastery.entrypoints.http import gdpr, ingest, predict, query, recommend
from mastery.ports import Clock, StateStore
from mastery.web.auth import mint_token
from mastery.web.function import HttpFunction
from tests.asgi import serve

SECRET = "all-functions-test-secret-of-32-bytes!"
DAPR_TOKEN = "dapr-api-token-for-tests"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HTTP_FUNCTIONS = ("query", "predict", "recommend", "gdpr")


def bearer(subject: str, role: str, classes: tuple[str, ...] = ()) -> dict[str, str]:
    """The Authorization header of a valid token."""
    return {"Authorization": f"Bearer {mint_token(SECRET, subject, role, classes)}"}  # type: ignore[arg-type]


@dataclass
class Engine:
    clients: dict[str, httpx.AsyncClient]
    functions: dict[str, HttpFunction]
    store: StateStore
    dead_letters: MemorySink = field(default_factory=MemorySink)

    async def deliver(self, body: bytes) -> httpx.Response:
        """POST one Kafka record to ingest as daprd's binding does."""
        headers = {"Content-Type": "application/json", "dapr-api-token": DAPR_TOKEN,
                   "__topic": "learning.events", "__partition": "0", "__offset": "0"}  # fmt: skip
        return await self.clients["ingest"].post("/learning-events", content=body, headers=headers)


@asynccontextmanager
async def all_functions(
    store: StateStore, *, clock: Clock = lambda: NOW, **settings: object
) -> AsyncIterator[Engine]:
    """The five functions on `store`, with `clock` (fixed at NOW by default)."""
    settings.setdefault("jwt", JwtSettings(secret=SECRET))
    config = Settings(app_api_token=DAPR_TOKEN, **settings)  # type: ignore[arg-type]
    sink = MemorySink()
    core = Core(settings=config, store=store, dead_letters=sink, alerts=MemorySink(), clock=clock)
    functions = {
        "ingest": await ingest.create(core),
        "query": await query.create(core),
        "predict": await predict.create(core),
        "recommend": await recommend.create(core),
        "gdpr": await gdpr.create(core),
    }
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(serve(function))
            for name, function in functions.items()
        }
        yield Engine(clients, functions, store, sink)


async def authenticated_operations(engine: Engine) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(function, method, path template, operation) of every route that needs a token."""
    found = []
    for name in HTTP_FUNCTIONS:
        document = (await engine.clients[name].get("/openapi.json")).json()
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                if operation.get("security"):
                    found.append((name, method.upper(), path, operation))
    return found
