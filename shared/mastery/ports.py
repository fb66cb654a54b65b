"""What the core needs from the outside world, as narrow protocols (adapters implement them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Versioned:
    """A stored value and its ETag (the Dapr state.redis `version`)."""

    data: bytes
    etag: str


@dataclass(frozen=True)
class Write:
    """One compare-and-set of a batch (`StateStore.write_many`): the arguments of `write`."""

    key: str
    data: bytes
    etag: str | None
    ttl_seconds: int


@dataclass(frozen=True)
class Put:
    """An unconditional write of a transaction (`StateStore.transact`), last-write-wins."""

    key: str
    data: bytes
    ttl_seconds: int


@dataclass(frozen=True)
class Append:
    """One item added to the JSON array stored at `key` (`StateStore.append`)."""

    key: str
    item: bytes
    """One JSON value, already encoded."""
    ttl_seconds: int
    expire_with: str | None = None
    """A key (same hash slot) whose remaining TTL, if shorter, caps `ttl_seconds`."""


class StateStore(Protocol):
    """Key/value state in the Dapr `state.redis` layout, with optimistic concurrency.

    Infrastructure failures raise `StateUnavailableError`; a lost compare-and-set raises
    `ConflictError`.
    """

    async def read(self, key: str) -> Versioned | None:
        """The value and ETag of `key`, or None."""
        ...

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        """`read` for many keys in one round trip, in order."""
        ...

    async def write(self, key: str, data: bytes, *, etag: str | None, ttl_seconds: int) -> str:
        """Store `data` if the current ETag is `etag` (None: only if the key is absent).

        Returns the new ETag; the key expires after `ttl_seconds`.
        """
        ...

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        """`write` for many keys in one round trip (pipelined, not atomic across keys).

        Per write, in order: the new ETag, or None where its ETag did not match.
        """
        ...

    async def delete(self, keys: Sequence[str]) -> int:
        """Delete keys (all in one hash slot), atomically; the number that existed."""
        ...

    async def transact(self, puts: Sequence[Put], deletes: Sequence[str]) -> int:
        """Write `puts` and delete `deletes` in one atomic step (all keys in one hash slot).

        Returns how many of `deletes` existed (the Dapr sidecar cannot tell: it returns all).
        """
        ...

    async def append(self, appends: Sequence[Append]) -> None:
        """Add each item to the JSON array at its key (created if absent), one round trip.

        Each append is atomic on its key and resets the key's TTL; appends are not atomic
        with each other.
        """
        ...

    async def ping(self) -> bool:
        """True when the store answers."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class EventSink(Protocol):
    """A Kafka topic we publish to (dead letters, struggle alerts)."""

    async def publish(self, key: str, value: bytes) -> None:
        """Publish one record; raises `SinkUnavailableError` when it cannot."""
        ...

    async def aclose(self) -> None:
        """Flush and release connections."""
        ...


class Clock(Protocol):
    """Wall-clock time; tests pass a controllable one."""

    def __call__(self) -> datetime: ...
