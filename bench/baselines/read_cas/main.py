"""Bare baseline: the least any exactly-once HTTP ingest must do per event (target `read_cas`).

Per POST: parse the JSON body, read the student's record (one `HMGET` of `data` and `version`,
the Dapr `state.redis` layout) and write it back by compare-and-set on its version with the
engine's own Lua script (`mastery.adapters.redis_scripts.WRITE`). Nothing of ours besides:
no validation, no dedupe, no apply, no metrics or logs. The key is `BARE_PREFIX` + the
event's `student_id`; a missing record is created empty. Served like the engine's functions
(functions-framework ASGI mode), it is the floor `bench/ingest_paths.py` compares the binding
path with.
"""

import json
import os

import functions_framework.aio
from redis import asyncio as aioredis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mastery.adapters.redis_scripts import WRITE

_clients: list[aioredis.Redis] = []


def _client() -> aioredis.Redis:
    # Built on the first request, like the engine's functions: no I/O at import.
    if not _clients:
        _clients.append(aioredis.Redis.from_url(os.environ["REDIS_URL"]))
    return _clients[0]


@functions_framework.aio.http
async def read_cas(request: Request) -> Response:
    if request.method != "POST":
        return Response(status_code=200)
    event = json.loads(await request.body())
    key = os.environ.get("BARE_PREFIX", "bare:") + "{" + event["student_id"] + "}"
    client = _client()
    data, version = await client.hmget(key, ["data", "version"])
    written = await client.eval(WRITE, 1, key, (version or b"").decode(), data or b"{}", 86_400)
    if int(written) < 0:
        return Response(status_code=409)
    return JSONResponse({"outcome": "applied"})
