"""The ASGI app `mastery.serve` serves one function with (see there for how it serves).

Importing this module loads only Starlette: the benchmarks serve their bare baselines with it too.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
_logger = logging.getLogger(__name__)


class ServedFunction:
    """The ASGI app serving `handler`; with `function` (the entry point's `LazyFunction`), its
    `prepare()` is awaited on lifespan start-up (uvicorn binds after it) and its `aclose()` on
    lifespan shutdown (after the last request)."""

    def __init__(self, handler: Handler, function: Any = None) -> None:
        self._handler = handler
        self._function = function

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        try:
            response = await self._handler(Request(scope, receive, send))
        except Exception:
            _logger.exception("Exception on %s [%s]", scope["path"], scope["method"])
            response = PlainTextResponse(
                "Internal Server Error", 500, headers={"X-Google-Status": "crash"}
            )
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._function is not None:
                    await self._function.prepare()
                start_up_done()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._function is not None:
                    await self._function.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def start_up_done() -> None:
    """Freeze what start-up allocated and turn the garbage collector back on, if start-up
    turned it off (`mastery.serve`)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
