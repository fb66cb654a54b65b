"""Bare baseline: one Redis GET per request, the value returned as is (target `bare_get`).

The floor for a query: same server (functions-framework ASGI mode under gunicorn/uvicorn), same
client, one round trip to the same Redis, a value the size of a student's record — and nothing
of ours (no auth, validation, scoring, views, metrics or logs). The path names the key
(`GET /bench:value` reads `bench:value`); `/` and `/healthz` read `BARE_KEY`. Keys separated by
commas are read in one MGET and returned as a JSON array (the floor for a class heat map: the
same 30 records in one round trip).
"""

import os

import functions_framework.aio
from redis import asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response

_clients: list[aioredis.Redis] = []


def _client() -> aioredis.Redis:
    # Built on the first request, like the engine's functions: no I/O at import.
    if not _clients:
        _clients.append(aioredis.Redis.from_url(os.environ["REDIS_URL"]))
    return _clients[0]


@functions_framework.aio.http
async def bare_get(request: Request) -> Response:
    key = request.scope["path"].lstrip("/")
    if key in ("", "healthz"):
        key = os.environ.get("BARE_KEY", "bench:value")
    if "," in key:
        values = await _client().mget(key.split(","))
        body = b"[" + b",".join(v or b"null" for v in values) + b"]"
        return Response(body, media_type="application/json")
    value = await _client().get(key)
    if value is None:
        return Response(status_code=404)
    return Response(value, media_type="application/json")
