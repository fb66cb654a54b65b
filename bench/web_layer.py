"""What our web layer (`mastery.web`) costs per request and at import, against the alternatives.

    .venv/bin/python -m bench.web_layer [--requests 20000] [--rounds 3]

Three functions-framework ASGI apps answer the same request, `GET /v1/students/s-1?days=30`
(a path parameter, a validated query, a JSON answer), driven in process straight through the
ASGI interface (no sockets, no client library: only the app's own cost is timed):

- `bare`: the functions-framework function alone, parsing nothing (the floor);
- `starlette`: Starlette's own `Router` matching inside the function plus a pydantic model for
  the query — the alternative, written as small as it can be;
- `ours`: `HttpFunction` with one `Route` (routing, query validation, problem+json mapping,
  security headers, metrics, access log), authentication off, as every function serves.

Also the import time of each stack in a fresh interpreter. Medians of `--rounds`; ratios are
against `bare` measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.routing import Route as StarletteRoute

from mastery.config import Settings
from mastery.web import Call, HttpFunction, Route
from tests.asgi import asgi_app

Handler = Callable[[Request], Awaitable[Response]]


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: Annotated[int, Field(ge=1, le=90)] = 30


async def bare(request: Request) -> Response:
    return JSONResponse({"student": "s-1", "days": 30})


def starlette_function() -> Handler:
    async def endpoint(request: Request) -> Response:
        query = HistoryQuery.model_validate(dict(request.query_params))
        return JSONResponse({"student": request.path_params["student_id"], "days": query.days})

    routes = [StarletteRoute("/v1/students/{student_id}", endpoint, methods=["GET"])]

    async def function(request: Request) -> Response:
        for route in routes:
            match, child = route.matches(request.scope)
            if match is Match.FULL:
                request.scope.update(child)
                return await endpoint(Request(request.scope, request.receive))
        return JSONResponse({"title": "Not found"}, status_code=404)

    return function


def our_function() -> Handler:
    async def endpoint(call: Call) -> dict[str, Any]:
        query = call.query_as(HistoryQuery)
        return {"student": call.path_params["student_id"], "days": query.days}

    route = Route("GET", "/v1/students/{student_id}", endpoint, auth=False,
                  query_params=HistoryQuery)  # fmt: skip
    ours = HttpFunction("bench", [route], settings=Settings(), readiness=_ready, verifier=None)
    return ours.__call__


async def _ready() -> dict[str, bool]:
    return {}


async def _drive(app: Any, requests: int) -> float:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/v1/students/s-1", "raw_path": b"/v1/students/s-1",
             "query_string": b"days=30", "root_path": "", "headers": [(b"host", b"bench")],
             "client": ("127.0.0.1", 1), "server": ("bench", 80)}  # fmt: skip
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(scope), receive, send)
    elapsed = time.perf_counter() - started
    assert statuses == [200] * requests, set(statuses)
    return elapsed / requests


def _import_ms(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    command = [sys.executable, "-c", code]
    out = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    return float(out.stdout) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    apps = {"bare": asgi_app(bare), "starlette": asgi_app(starlette_function()),
            "ours": asgi_app(our_function())}  # fmt: skip
    per_request: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(args.rounds):
        for name, app in apps.items():
            per_request[name].append(asyncio.run(_drive(app, args.requests)))
    imports = {
        "bare": "import functions_framework.aio",
        "starlette": "import functions_framework.aio, starlette.routing, pydantic",
        "ours": "import functions_framework.aio, mastery.web",
    }
    floor = statistics.median(per_request["bare"])
    for name in apps:
        median = statistics.median(per_request[name])
        imported = statistics.median(_import_ms(imports[name]) for _ in range(args.rounds))
        print(f"{name:10s} {median * 1e6:7.1f} µs/request ({median / floor:4.2f}× bare)  "
              f"import {imported:6.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
