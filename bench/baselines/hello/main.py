"""Bare baseline: a functions-framework ASGI hello function (target `hello`).

The floor for cold start and idle memory: the framework, uvicorn and gunicorn, nothing else.
"""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response


@functions_framework.aio.http
async def hello(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
