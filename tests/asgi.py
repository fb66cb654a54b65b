"""Serve an HttpFunction the way functions-framework's ASGI mode does, for in-process tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from functions_framework import _function_registry
from functions_framework.aio import _create_asgi_app_with_function
from starlette.requests import Request
from starlette.responses import Response


@asynccontextmanager
async def serve(
    handler: Callable[[Request], Awaitable[Response]],
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to `handler` wrapped in functions-framework's real ASGI app."""

    async def function(request: Request) -> Response:
        return await handler(request)

    app = _create_asgi_app_with_function(function, _function_registry.HTTP_SIGNATURE_TYPE, False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://function") as client:
        yield client
