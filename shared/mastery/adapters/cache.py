"""An L1 read cache in front of the state store, for the read-only functions.

Time-limited: an entry lives at most `ttl_seconds` (default 1 s), so a record written by ingest
in another process is visible to every reader within that bound. Writes and deletes through
this store drop the cached entry at once. Bounded in bytes (LRU, `max_bytes`, default 8 MiB):
what a second of reads holds grows with the request rate and with the records' size, so a count
of entries would not bound it. An entry counts its stored bytes and `ENTRY_OVERHEAD`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from cachetools import TTLCache
from prometheus_client import Counter

from mastery.ports import LogAppend, LogEntry, StateStore, Versioned, Write

CACHE_REQUESTS = Counter(
    "state_cache_requests_total", "L1 state cache lookups by result (hit, miss).", ["result"]
)
_HIT, _MISS = CACHE_REQUESTS.labels(result="hit"), CACHE_REQUESTS.labels(result="miss")
_ABSENT = Versioned(b"", "")  # caches "no such key" too: unknown students are common reads
DEFAULT_L1_BYTES = 8 * 1024 * 1024
ENTRY_OVERHEAD = 256
"""Bytes counted per entry beyond its data: key, ETag, the tuple, the cache's own links."""


def _entry_size(value: Versioned) -> int:
    return len(value.data) + ENTRY_OVERHEAD


class CachedStateStore:
    """`StateStore` with reads served from memory for up to `ttl_seconds`."""

    def __init__(
        self,
        inner: StateStore,
        *,
        ttl_seconds: float = 1.0,
        max_bytes: int = DEFAULT_L1_BYTES,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._cache: TTLCache[str, Versioned] = TTLCache(
            max_bytes, ttl_seconds, timer, getsizeof=_entry_size
        )

    def _keep(self, key: str, value: Versioned) -> None:
        if _entry_size(value) <= self._cache.maxsize:  # one larger than the budget: not kept
            self._cache[key] = value

    @property
    def size(self) -> int:
        """The bytes the cache counts now (at most `max_bytes`)."""
        return int(self._cache.currsize)

    async def read(self, key: str) -> Versioned | None:
        cached = self._cache.get(key)
        if cached is not None:
            _HIT.inc()
            return None if cached is _ABSENT else cached
        _MISS.inc()
        value = await self._inner.read(key)
        self._keep(key, _ABSENT if value is None else value)
        return value

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        found = {key: self._cache.get(key) for key in keys}
        missing = [key for key, value in found.items() if value is None]
        _HIT.inc(len(keys) - len(missing))
        _MISS.inc(len(missing))
        for key, value in zip(missing, await self._inner.read_many(missing), strict=True):
            found[key] = kept = _ABSENT if value is None else value
            self._keep(key, kept)
        return [None if found[key] is _ABSENT else found[key] for key in keys]

    async def write(self, key: str, data: bytes, *, etag: str | None, ttl_seconds: int) -> str:
        self._cache.pop(key, None)
        return await self._inner.write(key, data, etag=etag, ttl_seconds=ttl_seconds)

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        for w in writes:
            self._cache.pop(w.key, None)
        return await self._inner.write_many(writes)

    async def delete(self, keys: Sequence[str]) -> int:
        for key in keys:
            self._cache.pop(key, None)
        return await self._inner.delete(keys)

    async def transact(self, writes: Sequence[Write], deletes: Sequence[str]) -> int:
        for key in [*deletes, *(w.key for w in writes)]:
            self._cache.pop(key, None)
        return await self._inner.transact(writes, deletes)

    async def append_logs(
        self, appends: Sequence[LogAppend], *, now_ms: int, window_ms: int, keep_ms: int
    ) -> int:
        return await self._inner.append_logs(
            appends, now_ms=now_ms, window_ms=window_ms, keep_ms=keep_ms
        )

    async def read_log(
        self, stream: str, tally: str, start_ms: int, end_ms: int, after: str | None, limit: int
    ) -> list[LogEntry]:
        return await self._inner.read_log(stream, tally, start_ms, end_ms, after, limit)

    async def log_length(self, stream: str) -> int:
        return await self._inner.log_length(stream)

    async def ping(self) -> bool:
        return await self._inner.ping()

    async def aclose(self) -> None:
        await self._inner.aclose()
