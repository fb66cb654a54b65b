"""An `EventSink` opened on its first publish, for functions that seldom publish.

The HTTP functions publish seldom: ingest a dead letter for a poison record or a struggle alert,
recommend and agents an alert only when a read sweeps one due. So they start without connecting
to the broker (nor importing its client). The composition root builds it, behind its breaker,
and closes it with the other adapters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mastery.ports import EventSink


class LazySink:
    """`open()` on the first publish, once; every publish then goes to what it opened."""

    def __init__(self, open_sink: Callable[[], Awaitable[EventSink]]) -> None:
        self._open = open_sink
        self._sink: EventSink | None = None
        self._lock = asyncio.Lock()

    async def publish(self, key: str, value: bytes) -> None:
        async with self._lock:
            if self._sink is None:
                self._sink = await self._open()
        await self._sink.publish(key, value)

    async def aclose(self) -> None:
        if self._sink is not None:
            await self._sink.aclose()
