"""An L1 read cache in front of the state store, for the read-only functions.

Time-limited: an entry lives at most `ttl_seconds` (default 1 s), so a record written by ingest
in another process is visible to every reader within that bound. Writes and deletes through
this store drop the cached entry at once. Bounded in bytes (LRU, `max_bytes`, default 8 MiB):
what a second of reads holds grows with the request rate and with the records' size, so a count
of entries would not bound it. An entry counts its stored bytes and `ENTRY_OVERHEAD`.

Concurrent misses of a key share one load: when a class's 30 entries expire, the heat maps in
flight wait for the one read of them rather than each reading all 30 again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from cachetools import TTLCache

from mastery.metrics import Counter
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
        self._loading: dict[str, asyncio.Task[dict[str, Versioned]]] = {}

    def _keep(self, key: str, value: Versioned) -> None:
        if _entry_size(value) <= self._cache.maxsize:  # one larger than the budget: not kept
            self._cache[key] = value

    @property
    def size(self) -> int:
        """The bytes the cache counts now (at most `max_bytes`)."""
        return int(self._cache.currsize)

    async def read(self, key: str) -> Versioned | None:
        value = self._cache.get(key)
        if value is None:
            return (await self.read_many([key]))[0]
        _HIT.inc()  # a hit without read_many's lists: most reads of a student are one
        return None if value is _ABSENT else value

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        found = {key: self._cache.get(key) for key in keys}
        missing = [key for key, value in found.items() if value is None]
        _HIT.inc(len(keys) - len(missing))
        if missing:
            _MISS.inc(len(missing))
            loads = {self._loading[key] for key in missing if key in self._loading}
            unloaded = [key for key in missing if key not in self._loading]
            if unloaded:
                started = asyncio.ensure_future(self._load(unloaded))
                self._loading.update(dict.fromkeys(unloaded, started))
                loads.add(started)
            # shielded: a caller that gives up does not cancel a load others wait for
            for load in loads:
                loaded = await asyncio.shield(load)
                found.update((key, loaded[key]) for key in missing if key in loaded)
        return [None if found[key] is _ABSENT else found[key] for key in keys]

    async def _load(self, keys: list[str]) -> dict[str, Versioned]:
        """Read `keys` and keep those that no write dropped meanwhile."""
        this = asyncio.current_task()
        try:
            if len(keys) == 1:
                values = [await self._inner.read(keys[0])]
            else:
                values = await self._inner.read_many(keys)
        finally:
            still = {key for key in keys if self._loading.get(key) is this}
            for key in still:
                del self._loading[key]
        loaded = {k: _ABSENT if v is None else v for k, v in zip(keys, values, strict=True)}
        for key in still:
            self._keep(key, loaded[key])
        return loaded

    def _drop(self, keys: Sequence[str]) -> None:
        """Forget the keys, and any load of them under way (it may have read them before)."""
        for key in keys:
            self._cache.pop(key, None)
            self._loading.pop(key, None)

    async def write(self, key: str, data: bytes, *, etag: str | None, ttl_seconds: int) -> str:
        self._drop([key])
        return await self._inner.write(key, data, etag=etag, ttl_seconds=ttl_seconds)

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        self._drop([w.key for w in writes])
        return await self._inner.write_many(writes)

    async def delete(self, keys: Sequence[str]) -> int:
        self._drop(keys)
        return await self._inner.delete(keys)

    async def transact(self, writes: Sequence[Write], deletes: Sequence[str]) -> int:
        self._drop([*deletes, *(w.key for w in writes)])
        return await self._inner.transact(writes, deletes)

    def append_logs(
        self, appends: Sequence[LogAppend], *, now_ms: int, window_ms: int, keep_ms: int
    ) -> asyncio.Future[int]:
        return self._inner.append_logs(appends, now_ms=now_ms, window_ms=window_ms, keep_ms=keep_ms)

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
