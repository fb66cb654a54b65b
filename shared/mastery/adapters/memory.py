"""In-memory state store and sink, for unit and functional tests (same semantics as Redis)."""

from __future__ import annotations

from collections.abc import Sequence

from mastery.errors import ConflictError
from mastery.ports import Append, Put, Versioned, Write


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

    async def transact(self, puts: Sequence[Put], deletes: Sequence[str]) -> int:
        existed = await self.delete(deletes)
        for put in puts:
            current = self.values.get(put.key)
            version = str(int(current.etag or 0) + 1 if current else 1)
            self.values[put.key] = Versioned(put.data, version)
            self.ttls[put.key] = put.ttl_seconds
        return existed

    async def append(self, appends: Sequence[Append]) -> None:
        for a in appends:
            current = self.values.get(a.key)
            items = current.data[1:-1] + b"," if current and len(current.data) > 2 else b""
            version = str(int(current.etag or 0) + 1 if current else 1)
            self.values[a.key] = Versioned(b"[" + items + a.item + b"]", version)
            cap = self.ttls.get(a.expire_with, a.ttl_seconds) if a.expire_with else a.ttl_seconds
            self.ttls[a.key] = min(a.ttl_seconds, cap)

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
