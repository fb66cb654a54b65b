"""In-memory state store and sink, for unit and functional tests (same semantics as Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from mastery.errors import ConflictError
from mastery.ports import LogAppend, LogEntry, Versioned, Write, answered


class MemoryStateStore:
    """A dict with ETags; TTLs are recorded, not enforced."""

    def __init__(self) -> None:
        self.values: dict[str, Versioned] = {}
        self.ttls: dict[str, int] = {}
        self.logs: dict[str, list[tuple[int, int, str, str]]] = {}
        """Per stream: (ms, seq, coalesce key, note), oldest first."""
        self.tallies: dict[str, dict[str, tuple[int, int]]] = {}
        """Per tally key: entry id -> (extra count, last ms); `open:<key>` -> (ms, seq)."""

    async def read(self, key: str) -> Versioned | None:
        return self.values.get(key)

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        return [self.values.get(key) for key in keys]

    async def write(self, key: str, data: bytes, *, etag: str | None, ttl_seconds: int) -> str:
        current = self.values.get(key)
        if (current.etag if current else None) != etag:
            raise ConflictError(key)
        version = str(int(etag or 0) + 1)
        self.values[key] = Versioned(data, version)
        self.ttls[key] = ttl_seconds
        return version

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        results: list[str | None] = []
        for w in writes:
            try:
                results.append(
                    await self.write(w.key, w.data, etag=w.etag, ttl_seconds=w.ttl_seconds)
                )
            except ConflictError:
                results.append(None)
        return results

    async def delete(self, keys: Sequence[str]) -> int:
        removed = [
            self.values.pop(key, None) or self.logs.pop(key, None) or self.tallies.pop(key, None)
            for key in keys
        ]
        for key in keys:
            self.ttls.pop(key, None)
        return sum(value is not None for value in removed)

    async def transact(self, writes: Sequence[Write], deletes: Sequence[str]) -> int:
        for w in writes:
            current = self.values.get(w.key)
            if (current.etag if current else None) != w.etag:
                raise ConflictError(w.key)
        existed = await self.delete(deletes)
        for w in writes:
            await self.write(w.key, w.data, etag=w.etag, ttl_seconds=w.ttl_seconds)
        return existed

    def append_logs(
        self, appends: Sequence[LogAppend], *, now_ms: int, window_ms: int, keep_ms: int
    ) -> asyncio.Future[int]:
        recorded = 0
        for a in appends:
            if a.owner not in self.values:
                continue
            log = self.logs.setdefault(a.stream, [])
            tally = self.tallies.setdefault(a.tally, {})
            opened = tally.get(f"open:{a.coalesce}")
            if opened is not None and opened[0] <= now_ms < opened[0] + window_ms:
                entry_id = f"{opened[0]}-{opened[1]}"
                extra, _ = tally.get(entry_id, (0, 0))
                tally[entry_id] = (extra + 1, now_ms)
            else:
                ms = max(now_ms, log[-1][0]) if log else now_ms
                seq = log[-1][1] + 1 if log and log[-1][0] == ms else 0
                log.append((ms, seq, a.coalesce, a.note))
                tally[f"open:{a.coalesce}"] = (ms, seq)
                for _ in range(4):  # as many as the Redis script trims per append
                    if log[0][0] >= now_ms - keep_ms:
                        break
                    gone = log.pop(0)
                    tally.pop(f"{gone[0]}-{gone[1]}", None)
            ttl = keep_ms // 1000
            self.ttls[a.stream] = self.ttls[a.tally] = min(ttl, self.ttls.get(a.owner, ttl))
            recorded += 1
        return answered(recorded)

    async def read_log(
        self, stream: str, tally: str, start_ms: int, end_ms: int, after: str | None, limit: int
    ) -> list[LogEntry]:
        after_id = tuple(int(n) for n in after.split("-")) if after else (-1, -1)
        counts = self.tallies.get(tally, {})
        entries: list[LogEntry] = []
        for ms, seq, coalesce, note in self.logs.get(stream, []):
            if start_ms <= ms <= end_ms and (ms, seq) > after_id and len(entries) < limit:
                extra, last = counts.get(f"{ms}-{seq}", (0, ms))
                entries.append(LogEntry(f"{ms}-{seq}", coalesce, note, 1 + extra, last))
        return entries

    async def log_length(self, stream: str) -> int:
        return len(self.logs.get(stream, []))

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class MemorySink:
    """Keeps published records in a list."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []

    async def publish(self, key: str, value: bytes) -> None:
        self.records.append((key, value))

    async def aclose(self) -> None:
        return None
