"""Append-only logs on Redis Streams (the audit trail) and the transaction that erases them,
for the direct and the Dapr adapters; and the group commit that the direct adapter's reads share.

The Dapr state API has no append and no streams, so a function behind a sidecar reaches the
same Redis directly for its logs (`REDIS_URL`). Transactions (an erasure: the record and the
logs deleted, the tombstone compared-and-set) go there too: a state.redis transaction is a
MULTI/EXEC that runs its other operations when an ETag check fails, and the SDK cannot ask it
for "only if absent"; one Lua script checks every condition before it changes anything.

Group commit: the appends of every request waiting while one round trip is in flight go together
in the next (one script run; a pipeline of scripts of at most `CHUNK` appends each when there are
more, or reads), and on a single server so do the direct adapter's reads (`_read_hashes`): an
audited read's record and its append travel in one round trip, and 32 requests in flight make one
instead of 32. A request's call returns only once its own commands have answered, as without
batching; an idle process sends each at once, with no added delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from mastery.adapters.redis_scripts import LOG_APPEND, LOG_READ, TRANSACT
from mastery.errors import ConflictError, StateUnavailableError
from mastery.ports import LogAppend, LogEntry, Write

CHUNK = 128
"""Appends per script run: bounds how long one run holds Redis (~10 µs an append)."""

_Times = tuple[int, int, int]


class _Appends:
    """A request's appends waiting for the next round trip; answered with how many were recorded."""

    __slots__ = ("appends", "done", "times")

    def __init__(
        self, appends: Sequence[LogAppend], times: _Times, done: asyncio.Future[Any]
    ) -> None:
        self.appends, self.times, self.done = appends, times, done


class _Reads:
    """A request's hash reads (`data`, `version` of each key); answered with their rows."""

    __slots__ = ("done", "keys")

    def __init__(self, keys: Sequence[str], done: asyncio.Future[Any]) -> None:
        self.keys, self.done = keys, done


_Pending = _Appends | _Reads
_FIELDS = ["data", "version"]


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
        times = (now_ms, window_ms, keep_ms)
        return int(await self._commit(_Appends(appends, times, self._future())))

    async def _read_hashes(self, keys: Sequence[str]) -> list[list[bytes | None]]:
        """`[data, version]` of each key, in the next round trip (single server only)."""
        rows: list[list[bytes | None]] = await self._commit(_Reads(keys, self._future()))
        return rows

    @staticmethod
    def _future() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _commit(self, pending: _Pending) -> Any:
        self._waiting.append(pending)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting())
        return await pending.done

    async def _commit_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                answers = await self._send(batch)
            except Exception as exc:  # every waiter gets it: nothing of theirs is known written
                answers = [exc] * len(batch)
            for pending, answer in zip(batch, answers, strict=True):
                if pending.done.done():  # its caller may have given up (a breaker's timeout)
                    continue
                if isinstance(answer, Exception):
                    pending.done.set_exception(_wrapped(answer))
                else:
                    pending.done.set_result(answer)

    async def _send(self, batch: list[_Pending]) -> list[Any]:
        """One round trip for the whole batch: per waiter its answer, or the error it gets."""
        appends = [p for p in batch if isinstance(p, _Appends)]
        items = [(a, p.times) for p in appends for a in p.appends]
        if len(batch) == 1 and isinstance(batch[0], _Reads) and len(batch[0].keys) == 1:
            return [[await self._logs_client.hmget(batch[0].keys[0], _FIELDS)]]
        if len(appends) == len(batch) and self._one_script and len(items) <= CHUNK:
            # appends only (reads served from a cache): one script run, no pipeline
            keys, args = _script_arguments(items)
            return _answers(batch, [], await self._log_append(keys=keys, args=args))
        size = CHUNK if self._one_script else 1
        chunks = [items[first : first + size] for first in range(0, len(items), size)]
        async with self._logs_client.pipeline(transaction=False) as pipe:
            for pending in batch:
                if isinstance(pending, _Reads):
                    for key in pending.keys:
                        pipe.hmget(key, _FIELDS)
            for chunk in chunks:
                keys, args = _script_arguments(chunk)
                if self._one_script:  # the script's text is not sent each time (see below)
                    pipe.evalsha(self._log_append.sha, len(keys), *keys, *args)
                else:  # a cluster pipeline routes an inline script by its keys
                    pipe.eval(LOG_APPEND, len(keys), *keys, *args)
            results = await pipe.execute(raise_on_error=False)
        reads, ran = results[: len(results) - len(chunks)], results[len(results) - len(chunks) :]
        recorded: list[Any] = []
        for chunk, result in zip(chunks, ran, strict=True):
            if isinstance(result, NoScriptError):  # not run at all: safe to run now
                keys, args = _script_arguments(chunk)
                try:
                    result = await self._log_append(keys=keys, args=args)
                except RedisError as exc:
                    result = exc
            recorded += [result] * len(chunk) if isinstance(result, Exception) else result
        return _answers(batch, reads, recorded)

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


def _script_arguments(items: list[tuple[LogAppend, _Times]]) -> tuple[list[str], list[Any]]:
    """LOG_APPEND's KEYS and ARGV: three keys per append, six arguments per run of appends that
    share their coalesce key, note and times (one request's)."""
    keys = [k for a, _ in items for k in (a.stream, a.tally, a.owner)]
    args: list[Any] = []
    for (coalesce, note, times), run in groupby(items, lambda i: (i[0].coalesce, i[0].note, i[1])):
        args += [coalesce, note, *times, sum(1 for _ in run)]
    return keys, args


def _answers(batch: list[_Pending], reads: list[Any], recorded: list[Any]) -> list[Any]:
    """Each waiter's share of a pipeline's results: its rows or count, or the error of the first
    of its commands that failed."""
    answers: list[Any] = []
    for pending in batch:
        if isinstance(pending, _Reads):
            mine, reads = reads[: len(pending.keys)], reads[len(pending.keys) :]
        else:
            mine, recorded = recorded[: len(pending.appends)], recorded[len(pending.appends) :]
        failed = [r for r in mine if isinstance(r, Exception)]
        if failed:
            answers.append(failed[0])
        else:
            answers.append(mine if isinstance(pending, _Reads) else sum(int(n) for n in mine))
    return answers


def _wrapped(exc: Exception) -> Exception:
    if not isinstance(exc, RedisError):
        return exc
    error = StateUnavailableError("state store unavailable")
    error.__cause__ = exc
    return error
