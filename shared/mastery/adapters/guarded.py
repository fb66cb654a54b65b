"""The ports behind a circuit breaker: every call timed out, failing fast while open."""

from __future__ import annotations

from asyncio import Future
from collections.abc import Sequence

from mastery.adapters.breaker import CircuitBreaker
from mastery.ports import EventSink, LogAppend, LogEntry, StateStore, Versioned, Write


class GuardedStateStore:
    """`StateStore` whose calls go through a breaker (ConflictError is not a failure)."""

    def __init__(self, inner: StateStore, breaker: CircuitBreaker) -> None:
        self._inner = inner
        self.breaker = breaker

    async def read(self, key: str) -> Versioned | None:
        return await self.breaker.call(lambda: self._inner.read(key))

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        return await self.breaker.call(lambda: self._inner.read_many(keys))

    async def write(self, key: str, data: bytes, *, etag: str | None, ttl_seconds: int) -> str:
        return await self.breaker.call(
            lambda: self._inner.write(key, data, etag=etag, ttl_seconds=ttl_seconds)
        )

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        return await self.breaker.call(lambda: self._inner.write_many(writes))

    async def delete(self, keys: Sequence[str]) -> int:
        return await self.breaker.call(lambda: self._inner.delete(keys))

    async def transact(self, writes: Sequence[Write], deletes: Sequence[str]) -> int:
        return await self.breaker.call(lambda: self._inner.transact(writes, deletes))

    def append_logs(
        self, appends: Sequence[LogAppend], *, now_ms: int, window_ms: int, keep_ms: int
    ) -> Future[int]:
        return self.breaker.issue(  # bounded by the store itself (`StateStore.append_logs`)
            lambda: self._inner.append_logs(
                appends, now_ms=now_ms, window_ms=window_ms, keep_ms=keep_ms
            )
        )

    async def read_log(
        self, stream: str, tally: str, start_ms: int, end_ms: int, after: str | None, limit: int
    ) -> list[LogEntry]:
        return await self.breaker.call(
            lambda: self._inner.read_log(stream, tally, start_ms, end_ms, after, limit)
        )

    async def log_length(self, stream: str) -> int:
        return await self.breaker.call(lambda: self._inner.log_length(stream))

    async def ping(self) -> bool:
        """False while the breaker is open, so /readyz reports it."""
        return not self.breaker.is_open and await self._inner.ping()

    async def aclose(self) -> None:
        await self._inner.aclose()


class GuardedSink:
    """`EventSink` whose publishes go through a breaker."""

    def __init__(self, inner: EventSink, breaker: CircuitBreaker) -> None:
        self._inner = inner
        self.breaker = breaker

    async def publish(self, key: str, value: bytes) -> None:
        await self.breaker.call(lambda: self._inner.publish(key, value))

    async def aclose(self) -> None:
        await self._inner.aclose()
