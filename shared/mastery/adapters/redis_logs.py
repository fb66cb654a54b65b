"""Append-only logs on Redis Streams (the audit trail) and the transaction that erases them,
for the direct and the Dapr adapters.

The Dapr state API has no append and no streams, so a function behind a sidecar reaches the
same Redis directly for its logs (`REDIS_URL`). Transactions (an erasure: the record and the
logs deleted, the tombstone compared-and-set) go there too: a state.redis transaction is a
MULTI/EXEC that runs its other operations when an ETag check fails, and the SDK cannot ask it
for "only if absent"; one Lua script checks every condition before it changes anything.

Appends are group-committed: the appends of every request waiting while one round trip is in
flight go together in the next (one pipeline of scripts of at most `CHUNK` appends each). A
request's `append_logs` returns only once its own appends are written, as without batching;
an idle process sends each request's appends at once, with no added delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from mastery.adapters.redis_scripts import LOG_APPEND, LOG_READ, TRANSACT
from mastery.errors import ConflictError, StateUnavailableError
from mastery.ports import LogAppend, LogEntry, Write

CHUNK = 128
"""Appends per script run: bounds how long one run holds Redis (~10 µs an append)."""

_Pending = tuple[list[tuple[LogAppend, tuple[int, int, int]]], "asyncio.Future[int]"]


class RedisLogs:
    """The log operations and `transact` of `StateStore` on a redis-py asyncio client."""

    def __init__(self, client: Any) -> None:
        self._logs_client = client
        self._log_append = client.register_script(LOG_APPEND)
        self._log_read = client.register_script(LOG_READ)
        self._one_script = isinstance(client, aioredis.Redis)  # a cluster splits per slot
        self._waiting: list[_Pending] = []
        self._committer: asyncio.Task[None] | None = None

    async def append_logs(
        self, appends: Sequence[LogAppend], *, now_ms: int, window_ms: int, keep_ms: int
    ) -> int:
        if not appends:
            return 0
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append(([(a, (now_ms, window_ms, keep_ms)) for a in appends], done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting())
        return await done

    async def _commit_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                recorded = await self._send([item for items, _ in batch for item in items])
            except Exception as exc:  # every waiter gets it: nothing of theirs is known written
                for _, done in batch:
                    if not done.done():
                        done.set_exception(_wrapped(exc))
                continue
            start = 0
            for items, done in batch:
                if not done.done():  # its caller may have given up (a breaker's timeout)
                    done.set_result(sum(recorded[start : start + len(items)]))
                start += len(items)

    async def _send(self, items: list[tuple[LogAppend, tuple[int, int, int]]]) -> list[int]:
        """One round trip: one script, or a pipeline of them (per chunk; per append on a cluster,
        where each append's keys share a slot but different students' may not)."""
        if self._one_script and len(items) <= CHUNK:
            keys = [k for a, _ in items for k in (a.stream, a.tally, a.owner)]
            args = [v for a, times in items for v in (a.coalesce, a.note, *times)]
            return [int(n) for n in await self._log_append(keys=keys, args=args)]
        size = CHUNK if self._one_script else 1
        # EVAL, not EVALSHA: a pipeline (and a cluster's routing) needs the script inline.
        async with self._logs_client.pipeline(transaction=False) as pipe:
            for first in range(0, len(items), size):
                chunk = items[first : first + size]
                keys = [k for a, _ in chunk for k in (a.stream, a.tally, a.owner)]
                args = [v for a, times in chunk for v in (a.coalesce, a.note, *times)]
                pipe.eval(LOG_APPEND, len(keys), *keys, *args)
            results = await pipe.execute()
        return [int(n) for result in results for n in result]

    async def read_log(
        self, stream: str, tally: str, start_ms: int, end_ms: int, after: str | None, limit: int
    ) -> list[LogEntry]:
        first = f"({after}" if after is not None else str(max(0, start_ms))
        try:
            rows = await self._log_read(keys=[stream, tally], args=[first, str(end_ms), limit])
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc
        entries = []
        for raw_id, coalesce, note, extra, last in rows:
            entry_id = raw_id.decode()
            entries.append(
                LogEntry(
                    id=entry_id,
                    coalesce=coalesce.decode(),
                    note=note.decode(),
                    count=1 + int(extra or 0),
                    last_ms=int(last) if last else int(entry_id.split("-")[0]),
                )
            )
        return entries

    async def transact(self, writes: Sequence[Write], deletes: Sequence[str]) -> int:
        keys = [*deletes, *(w.key for w in writes)]
        if not keys:
            return 0
        args: list[Any] = [len(deletes)]
        for w in writes:
            args += [w.etag or "", w.data, max(1, w.ttl_seconds)]
        try:
            existed = int(await self._logs_client.eval(TRANSACT, len(keys), *keys, *args))
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc
        if existed < 0:
            raise ConflictError(", ".join(w.key for w in writes))
        return existed

    async def log_length(self, stream: str) -> int:
        try:
            return int(await self._logs_client.xlen(stream))
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc

    async def aclose(self) -> None:
        await self._logs_client.aclose()


def _wrapped(exc: Exception) -> Exception:
    if not isinstance(exc, RedisError):
        return exc
    error = StateUnavailableError("state store unavailable")
    error.__cause__ = exc
    return error
