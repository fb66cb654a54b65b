"""In-memory state store and sink, for unit and functional tests (same semantics as Redis)."""

from __future__ import annotations

from collections.abc import Sequence

from mastery.errors import ConflictError
from mastery.ports import Versioned, Write


class MemoryStateStore:
    """A dict with ETags; TTLs are recorded, not enforced."""

    def __init__(self) -> None:
        self.values: dict[str, Versioned] = {}
        self.ttls: dict[str, int] = {}

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
        removed = [self.values.pop(key, None) for key in keys]
        for key in keys:
            self.ttls.pop(key, None)
        return sum(value is not None for value in removed)

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
