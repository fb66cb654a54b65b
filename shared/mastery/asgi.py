"""The ASGI app `mastery.serve` serves one function with (see there for how it serves).

Importing this module loads only Starlette: the benchmarks serve their bare baselines with it too.

While it serves, every `HEAP_TRIM_SECONDS` the process hands the free pages of glibc's heap back
to the system (`malloc_trim`). Requests in flight together (a burst, or a queue on a loaded
machine) grow the heap; once they are answered their bytes are free, but glibc keeps free chunks
that lie below live ones, so without the trim the resident memory stays at the highest burst
yet and rises with each higher one (docs/BENCHMARKS.md, "Soak"): what the process keeps is then
hidden under what it once needed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
_logger = logging.getLogger(__name__)
HEAP_TRIM_SECONDS = 30.0
"""How often a served process returns its heap's free pages (a trim takes ~0.05-2 ms)."""


class ServedFunction:
    """The ASGI app serving `handler`; with `function` (the entry point's `LazyFunction`), its
    `prepare()` is awaited on lifespan start-up (uvicorn binds after it) and its `aclose()` on
    lifespan shutdown (after the last request). Between the two the heap is trimmed every
    `trim_seconds`."""

    def __init__(
        self, handler: Handler, function: Any = None, trim_seconds: float = HEAP_TRIM_SECONDS
    ) -> None:
        self._handler = handler
        self._function = function
        self._trim_seconds = trim_seconds

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
        trimming: asyncio.Task[None] | None = None
        try:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if self._function is not None:
                        await self._function.prepare()
                    start_up_done()
                    trimming = asyncio.ensure_future(trim_heap_every(self._trim_seconds))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._function is not None:
                        await self._function.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        finally:
            if trimming is not None:
                trimming.cancel()


def start_up_done() -> None:
    """Freeze what start-up allocated and turn the garbage collector back on, if start-up
    turned it off (`mastery.serve`)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


async def trim_heap_every(seconds: float) -> None:
    """Every `seconds`, return the free pages of glibc's heap to the system; nothing where the C
    library has no `malloc_trim` (musl, macOS)."""
    await asyncio.sleep(seconds)
    import ctypes  # not at start-up: a cold start pays for nothing it does not use yet

    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is None:
        return
    trim.argtypes = [ctypes.c_size_t]
    while True:
        trim(0)
        await asyncio.sleep(seconds)
