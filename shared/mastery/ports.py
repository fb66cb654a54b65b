"""What the core needs from the outside world, as narrow protocols (adapters implement them)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol


class Versioned(NamedTuple):
    """A stored value and its ETag (the Dapr state.redis `version`)."""

    data: bytes
    etag: str


class Write(NamedTuple):
    """One compare-and-set (`StateStore.write_many`, `transact`): the arguments of `write`."""

    key: str
    data: bytes
    etag: str | None
    ttl_seconds: int


class LogAppend(NamedTuple):
    """One access to record in an append-only log (`StateStore.append_logs`).

    The log is a stream at `stream` with its counts in the hash `tally` (both in `owner`'s hash
    slot). Nothing is recorded while `owner` does not exist, and the log expires no later than
    `owner`. Appends with the same `coalesce` key within the window merge into one entry. A
    named tuple: half the cost of a frozen dataclass to make, and a heat map makes 30 a request.
    """

    stream: str
    tally: str
    owner: str
    coalesce: str
    note: str
    """Kept from the first access of the entry (e.g. its correlation id)."""


@dataclass(frozen=True)
class LogEntry:
    """One entry of a log: its id (`<ms>-<seq>`, the first access), and how often, until when."""

    id: str
    coalesce: str
    note: str
    count: int
    last_ms: int


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

    async def transact(self, writes: Sequence[Write], deletes: Sequence[str]) -> int:
        """Compare-and-set `writes` and delete `deletes` in one atomic step (all keys in one
        hash slot): when any write's ETag does not hold, raises `ConflictError` and changes
        nothing.

        Returns how many of `deletes` existed.
        """
        ...

    def append_logs(
        self, appends: Sequence[LogAppend], *, now_ms: int, window_ms: int, keep_ms: int
    ) -> asyncio.Future[int]:
        """Record each access in its log, one round trip; answers how many were recorded.

        Issued when called (not when awaited): a caller can read meanwhile, and on a single Redis
        its reads join the same round trip. Durable once the answer is in.

        Cost is constant in the log's length. An access within `window_ms` of the first of an
        entry with the same coalesce key adds to that entry's count; entries older than
        `keep_ms` are dropped, and the log expires `keep_ms` after its last append (or with its
        owner, if sooner). An access whose owner does not exist is not recorded. Answers (or
        fails) within the store's own timeout: a circuit breaker adds no timer of its own.
        """
        ...

    async def read_log(
        self, stream: str, tally: str, start_ms: int, end_ms: int, after: str | None, limit: int
    ) -> list[LogEntry]:
        """Up to `limit` entries first seen in [start_ms, end_ms], oldest first, after `after`."""
        ...

    async def log_length(self, stream: str) -> int:
        """How many entries the log holds."""
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


def answered(value: int) -> asyncio.Future[int]:
    """An answer already in (`StateStore.append_logs` with nothing to send, or no I/O)."""
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    done.set_result(value)
    return done
