"""Append-only logs on Redis Streams (the audit trail) and the transaction that erases them,
for the direct and the Dapr adapters; and the group commit that the direct adapter's reads share.

The Dapr state API has no append and no streams, so a function behind a sidecar reaches the
same Redis directly for its logs (`REDIS_URL`). Transactions (an erasure: the record and the
logs deleted, the tombstone compared-and-set) go there too: a state.redis transaction is a
MULTI/EXEC that runs its other operations when an ETag check fails, and the SDK cannot ask it
for "only if absent"; one Lua script checks every condition before it changes anything.

Group commit: the appends of every request waiting while one round trip is in flight go together
in the next (script runs of at most `CHUNK` appends each), and on a single server so do the direct
adapter's reads and compare-and-set writes (`_read_hashes`, `_write_hashes`): an audited read's
record and its append travel in one round trip, one delivery's write and the next one's read
too, and 32 requests in flight make one instead of 32. A request's call returns only once its
own commands have answered, as without batching; an idle process sends each at once, with no
added delay. One timer bounds each round trip: the deadline of the batch's oldest request, so no
request waits more than `TIMEOUT_SECONDS` in all, and callers add no timer of their own. On a
single server the round trips go on a connection the group commit holds (the pool's connections
are taken and given back per command, and time each write and each answer on their own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mastery.adapters.redis_scripts import LOG_APPEND, LOG_READ, TRANSACT, WRITE
from mastery.errors import ConflictError, StateUnavailableError
from mastery.ports import LogAppend, LogEntry, Write, answered

CHUNK = 128
"""Appends per script run: bounds how long one run holds Redis (~10 µs an append)."""
TIMEOUT_SECONDS = 2.0
"""How long a call waits for Redis: each operation on the pool's connections, and a request's
whole wait in the group commit (the round trip in flight when it joined, then its own)."""

_Times = tuple[int, int, int]


class _Waiting:
    """What a request waits for in the group commit (`done`), until when at the latest."""

    __slots__ = ("deadline", "done")

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[Any] = loop.create_future()
        self.deadline = loop.time() + TIMEOUT_SECONDS


class _Appends(_Waiting):
    """A request's appends waiting for the next round trip; answered with how many were recorded."""

    __slots__ = ("appends", "times")

    def __init__(self, appends: Sequence[LogAppend], times: _Times) -> None:
        super().__init__()
        self.appends, self.times = appends, times


class _Reads(_Waiting):
    """A request's hash reads (`data`, `version` of each key); answered with their rows."""

    __slots__ = ("keys",)

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__()
        self.keys = keys


class _Writes(_Waiting):
    """A request's compare-and-set writes (the `WRITE` script); answered with what each returned:
    its new version, or -1 where the expected version did not hold."""

    __slots__ = ("writes",)

    def __init__(self, writes: Sequence[Write]) -> None:
        super().__init__()
        self.writes = writes


_Pending = _Appends | _Reads | _Writes
HASH_FIELDS = ("data", "version")
"""What a read of a key wants from its hash (the Dapr `state.redis` layout)."""


class RedisLogs:
    """The log operations and `transact` of `StateStore` on a redis-py asyncio client."""

    def __init__(self, client: Any) -> None:
        self._logs_client = client
        self._log_append = client.register_script(LOG_APPEND)
        self._log_read = client.register_script(LOG_READ)
        self._single_server = isinstance(client, aioredis.Redis)  # a cluster splits per node
        self._held: Any = None
        self._waiting: list[_Pending] = []
        self._committer: asyncio.Task[None] | None = None

    def append_logs(
        self, appends: Sequence[LogAppend], *, now_ms: int, window_ms: int, keep_ms: int
    ) -> asyncio.Future[int]:
        if not appends:
            return answered(0)
        return self._commit(_Appends(appends, (now_ms, window_ms, keep_ms)))

    async def _read_hashes(self, keys: Sequence[str]) -> list[list[bytes | None]]:
        """`[data, version]` of each key, in the next round trip (single server only)."""
        rows: list[list[bytes | None]] = await self._commit(_Reads(keys))
        return rows

    async def _write_hashes(self, writes: Sequence[Write]) -> list[int]:
        """What `WRITE` returned for each write, in the next round trip (single server only)."""
        versions: list[int] = await self._commit(_Writes(writes))
        return versions

    def _commit(self, pending: _Pending) -> asyncio.Future[Any]:
        """`pending`'s answer, from the next round trip (joined now)."""
        self._waiting.append(pending)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting())
        return pending.done

    async def _commit_waiting(self) -> None:
        # One turn of the loop first: what the callers that woke this one issue in the same turn
        # joins it (an audited read's append is issued before its read, which a cache miss
        # makes in a task of its own).
        await asyncio.sleep(0)
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                # one timer a round trip: the oldest waiter's deadline, the first of the batch's
                async with asyncio.timeout_at(batch[0].deadline):
                    answers = await self._send(batch)
            except TimeoutError:
                answers = [RedisTimeoutError("Redis did not answer in time")] * len(batch)
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
        keys = [key for p in batch if isinstance(p, _Reads) for key in p.keys]
        writes = [w for p in batch if isinstance(p, _Writes) for w in p.writes]
        items = [(a, p.times) for p in batch if isinstance(p, _Appends) for a in p.appends]
        size = CHUNK if self._single_server else 1
        chunks = [items[first : first + size] for first in range(0, len(items), size)]
        commands: list[tuple[Any, ...]] = [("HMGET", key, *HASH_FIELDS) for key in keys]
        commands += [
            ("EVAL", WRITE, 1, w.key, w.etag or "", w.data, max(1, w.ttl_seconds)) for w in writes
        ]
        commands += [self._append_command(chunk) for chunk in chunks]
        results = await self._round_trip(commands)
        rows, ran = results[: len(keys)], results[len(keys) :]
        versions, ran = ran[: len(writes)], ran[len(writes) :]
        return _answers(batch, rows, versions, await self._recorded(chunks, ran))

    def _append_command(
        self, chunk: list[tuple[LogAppend, _Times]], *, inline: bool = False
    ) -> tuple[Any, ...]:
        """LOG_APPEND for `chunk`: by its SHA on a single server (its text is not sent each
        time), inline on a cluster, whose pipeline routes an inline script by its keys."""
        keys, args = _script_arguments(chunk)
        if self._single_server and not inline:
            return ("EVALSHA", self._log_append.sha, len(keys), *keys, *args)
        return ("EVAL", LOG_APPEND, len(keys), *keys, *args)

    async def _recorded(
        self, chunks: list[list[tuple[LogAppend, _Times]]], ran: list[Any]
    ) -> list[Any]:
        """Per append "1" (recorded) or "0", or its chunk's error. A chunk answered NOSCRIPT ran
        nothing: it runs again, with the script's text, in one more round trip."""
        unknown = [
            chunk
            for chunk, result in zip(chunks, ran, strict=True)
            if isinstance(result, NoScriptError)
        ]
        if unknown:
            again = iter(
                await self._round_trip([self._append_command(c, inline=True) for c in unknown])
            )
            ran = [next(again) if isinstance(result, NoScriptError) else result for result in ran]
        recorded: list[Any] = []
        for chunk, result in zip(chunks, ran, strict=True):
            recorded += [result] * len(chunk) if isinstance(result, Exception) else result.decode()
        return recorded

    async def _round_trip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Each command's answer, or its error (a ResponseError) in its place, in one round trip.

        On a single server, on the group commit's own connection (`_connection`); on a cluster,
        in a pipeline, which splits them per node.
        """
        if not self._single_server:
            async with self._logs_client.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                return list(await pipe.execute(raise_on_error=False))
        connection = self._connection()
        if connection.is_connected and await connection.can_read():
            await connection.disconnect()  # closed by the server while idle (as the pool checks)
        try:
            await connection.send_packed_command(_packed(commands))
            return [await _answer(connection) for _ in commands]
        except BaseException:
            # cut off mid-exchange (its deadline, or mid-handshake): the next one reconnects
            await connection.disconnect(nowait=True)
            raise

    def _connection(self) -> Any:
        """The group commit's connection, made like the pool's but without their per-operation
        timeouts (`_commit_waiting` bounds each round trip as a whole); it reconnects when used
        after a failure closed it. Never shared: one round trip at a time uses it."""
        if self._held is None:
            pool = self._logs_client.connection_pool
            self._held = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
        return self._held

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
        if self._held is not None:
            await self._held.disconnect()
        await self._logs_client.aclose()


def _script_arguments(items: list[tuple[LogAppend, _Times]]) -> tuple[list[str], list[Any]]:
    """LOG_APPEND's KEYS and ARGV: three keys per append, six arguments per run of appends that
    share their coalesce key, note and times (one request's)."""
    keys = [k for a, _ in items for k in (a.stream, a.tally, a.owner)]
    args: list[Any] = []
    for (coalesce, note, times), run in groupby(items, lambda i: (i[0].coalesce, i[0].note, i[1])):
        args += [coalesce, note, *times, sum(1 for _ in run)]
    return keys, args


def _packed(commands: list[tuple[Any, ...]]) -> bytes:
    """`commands` in the Redis protocol, as redis-py's `pack_commands` writes them for arguments
    that are bytes, str or int (ours), in one join: its packer copies its buffer per argument, and
    a group commit's script run has ~9 arguments per append."""
    parts = []
    for command in commands:
        parts.append(b"*%d\r\n" % len(command))
        for argument in command:
            data = argument if isinstance(argument, bytes) else str(argument).encode()
            parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


async def _answer(connection: Any) -> Any:
    """The next answer on `connection`, or the error Redis answered with (the connection stays
    in step: the rest of the answers follow)."""
    try:
        return await connection.read_response()
    except ResponseError as exc:
        return exc


def _answers(
    batch: list[_Pending], reads: list[Any], versions: list[Any], recorded: list[Any]
) -> list[Any]:
    """Each waiter's share of a round trip's results: its rows, versions or count, or the error
    of the first of its commands that failed."""
    answers: list[Any] = []
    for pending in batch:
        if isinstance(pending, _Reads):
            mine, reads = reads[: len(pending.keys)], reads[len(pending.keys) :]
        elif isinstance(pending, _Writes):
            mine, versions = versions[: len(pending.writes)], versions[len(pending.writes) :]
        else:
            mine, recorded = recorded[: len(pending.appends)], recorded[len(pending.appends) :]
        failed = [r for r in mine if isinstance(r, Exception)]
        if failed:
            answers.append(failed[0])
        else:
            answers.append(sum(int(n) for n in mine) if isinstance(pending, _Appends) else mine)
    return answers


def _wrapped(exc: Exception) -> Exception:
    if not isinstance(exc, RedisError):
        return exc
    error = StateUnavailableError("state store unavailable")
    error.__cause__ = exc
    return error
