"""Serve a handler the way functions-framework's ASGI mode does, for in-process tests.

The app comes from functions-framework's public `create_asgi_app`, loading a source file
(`ff_source/served_function.py`) exactly as `functions-framework --asgi` loads
`functions/<name>/main.py`; each load takes the handler handed to `asgi_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from functions_framework.aio import create_asgi_app
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Awaitable[Response]]
_SOURCE = Path(__file__).with_name("ff_source") / "served_function.py"
_pending: list[Handler] = []


def take_pending() -> Handler:
    """The handler `asgi_app` is serving; called once by the source file as it loads."""
    return _pending.pop()


def asgi_app(handler: Handler) -> Any:
    """functions-framework's ASGI app serving `handler`."""
    _pending.append(handler)
    return create_asgi_app(target="served", source=str(_SOURCE), signature_type="http")


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to `handler` wrapped in functions-framework's real ASGI app."""
    transport = httpx.ASGITransport(app=asgi_app(handler))
    async with httpx.AsyncClient(transport=transport, base_url="http://function") as client:
        yield client
