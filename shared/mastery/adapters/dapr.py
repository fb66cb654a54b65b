"""The state store and the output bindings through the Dapr sidecar (gRPC API).

`DaprClient()` waits for the sidecar with blocking HTTP polls (up to `DAPR_HEALTH_TIMEOUT`,
60 s), so `Sidecar` waits off the event loop and builds the client once the sidecar answers;
nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from dapr.clients.exceptions import DaprInternalError
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, StateOptions

from mastery.adapters.redis_logs import RedisLogs
from mastery.errors import ConflictError, SinkUnavailableError, StateUnavailableError
from mastery.ports import LogAppend, LogEntry, Versioned, Write
from mastery.tracing import trace_headers

# Dapr's state.redis answers a failed ETag match with ABORTED (gRPC) / 409 (HTTP); a write
# "only if absent" is first-write concurrency without an ETag.
_CONFLICT_CODES = {grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION}


# What the aio client raises: DaprGrpcError (an RpcError) from most calls, but a bare
# AioRpcError from invoke_binding and a DaprInternalError from save_state.
# TimeoutError: the sidecar has not answered yet (`Sidecar.client`).
_DAPR_ERRORS = (grpc.RpcError, DaprInternalError, TimeoutError)


# How long a call waits for a sidecar that has not answered yet before it fails as transient.
_CONNECT_WAIT_S = 5.0
_logger = logging.getLogger(__name__)


def _dapr_client() -> Any:
    from dapr.aio.clients import DaprClient  # the SDK and grpc: only with a sidecar

    return DaprClient()


def _wait_for_sidecar() -> None:
    from dapr.clients.health import DaprHealth

    DaprHealth.wait_for_sidecar()  # type: ignore[no-untyped-call]


def _log_failure(attempt: asyncio.Task[Any]) -> None:
    # The next call or readiness check starts a new attempt; this one's error is only logged.
    if not attempt.cancelled() and (error := attempt.exception()) is not None:
        _logger.warning("the Dapr sidecar did not answer: %s", error)


class Sidecar:
    """The Dapr client of this process, built once the sidecar answers.

    The wait for the sidecar runs in a thread, so the event loop (and with it the liveness
    probe) never stalls; the client is then built on the loop, which its grpc.aio channel
    belongs to, when the SDK's own health check passes at once. `ready()` is the readiness
    check: false, and a connection attempt started, until the sidecar has answered.
    """

    def __init__(
        self,
        make_client: Callable[[], Any] = _dapr_client,
        wait: Callable[[], None] = _wait_for_sidecar,
    ) -> None:
        self._make_client = make_client
        self._wait = wait
        self._client: Any = None
        self._connecting: asyncio.Task[Any] | None = None

    async def _connect(self) -> Any:
        await asyncio.to_thread(self._wait)
        self._client = self._make_client()
        return self._client

    def _attempt(self) -> asyncio.Task[Any]:
        task = self._connecting
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            self._connecting = task = asyncio.ensure_future(self._connect())
            task.add_done_callback(_log_failure)
        return task

    async def client(self) -> Any:
        """The client; raises TimeoutError if the sidecar does not answer within a few seconds."""
        if self._client is not None:
            return self._client
        async with asyncio.timeout(_CONNECT_WAIT_S):
            return await asyncio.shield(self._attempt())

    async def ready(self) -> bool:
        """Whether the sidecar has answered (starting an attempt if none is under way)."""
        if self._client is None:
            self._attempt()
        return self._client is not None

    async def aclose(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def _is_conflict(exc: Exception) -> bool:
    # The aio client's save_state wraps the gRPC error in DaprInternalError, which keeps only
    # the message; the status code survives on the cause.
    source = exc if isinstance(exc, grpc.RpcError) else exc.__cause__
    return isinstance(source, grpc.RpcError) and source.code() in _CONFLICT_CODES


class DaprStateStore:
    """`StateStore` on the sidecar's state API (component `state.redis`, `keyPrefix: none`).

    Logs (the audit trail) are Redis Streams, which the state API cannot hold: they go to the
    same Redis directly through `logs`, and so does `transact`, which the state API cannot make
    atomic with its conditions (see `mastery.adapters.redis_logs`).
    """

    def __init__(self, sidecar: Sidecar, store_name: str, logs: RedisLogs) -> None:
        self._sidecar = sidecar
        self._store = store_name
        self._logs = logs

    async def read(self, key: str) -> Versioned | None:
        try:
            client = await self._sidecar.client()
            response = await client.get_state(self._store, key)
        except _DAPR_ERRORS as exc:
            raise StateUnavailableError("state store unavailable") from exc
        if not response.data:
            return None
        return Versioned(bytes(response.data), response.etag)

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        if not keys:
            return []
        try:
            client = await self._sidecar.client()
            response = await client.get_bulk_state(self._store, list(keys), parallelism=4)
        except _DAPR_ERRORS as exc:
            raise StateUnavailableError("state store unavailable") from exc
        found = {item.key: item for item in response.items if item.data}
        return [
            Versioned(bytes(found[key].data), found[key].etag) if key in found else None
            for key in keys
        ]

    async def write(self, key: str, data: bytes, *, etag: str | None, ttl_seconds: int) -> str:
        try:
            client = await self._sidecar.client()
            await client.save_state(
                self._store,
                key,
                data,
                etag=etag,
                options=StateOptions(concurrency=Concurrency.first_write),
                state_metadata={"ttlInSeconds": str(max(1, ttl_seconds))},
            )
        except _DAPR_ERRORS as exc:
            if _is_conflict(exc):
                raise ConflictError(key) from exc
            raise StateUnavailableError("state store unavailable") from exc
        # The save answer carries no ETag; the next read returns the new one.
        return ""

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        # Concurrent SaveState calls share one HTTP/2 channel (pipelined), and unlike one bulk
        # save each answers for its own key, so a lost compare-and-set fails only that key.
        results = await asyncio.gather(
            *(self.write(w.key, w.data, etag=w.etag, ttl_seconds=w.ttl_seconds) for w in writes),
            return_exceptions=True,
        )
        etags: list[str | None] = []
        for result in results:
            if isinstance(result, ConflictError):
                etags.append(None)
            elif isinstance(result, BaseException):
                raise result
            else:
                etags.append(result)
        return etags

    async def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        operations = [
            TransactionalStateOperation(key=key, operation_type=TransactionOperationType.delete)
            for key in keys
        ]
        try:
            client = await self._sidecar.client()
            await client.execute_state_transaction(self._store, operations)
        except _DAPR_ERRORS as exc:
            raise StateUnavailableError("state store unavailable") from exc
        return len(keys)

    async def transact(self, writes: Sequence[Write], deletes: Sequence[str]) -> int:
        return await self._logs.transact(writes, deletes)  # directly: see redis_logs

    def append_logs(
        self, appends: Sequence[LogAppend], *, now_ms: int, window_ms: int, keep_ms: int
    ) -> asyncio.Future[int]:
        return self._logs.append_logs(appends, now_ms=now_ms, window_ms=window_ms, keep_ms=keep_ms)

    async def read_log(
        self, stream: str, tally: str, start_ms: int, end_ms: int, after: str | None, limit: int
    ) -> list[LogEntry]:
        return await self._logs.read_log(stream, tally, start_ms, end_ms, after, limit)

    async def log_length(self, stream: str) -> int:
        return await self._logs.log_length(stream)

    async def ping(self) -> bool:
        if not await self._sidecar.ready():
            return False
        try:
            client = await self._sidecar.client()
            await client.get_state(self._store, "readiness-probe")
        except _DAPR_ERRORS:
            return False
        return True

    async def aclose(self) -> None:
        await self._sidecar.aclose()
        await self._logs.aclose()


class DaprBindingSink:
    """`EventSink` on a Kafka output binding: operation `create`, key from `partitionKey`."""

    def __init__(self, sidecar: Sidecar, binding_name: str) -> None:
        self._sidecar = sidecar
        self._binding = binding_name

    async def publish(self, key: str, value: bytes) -> None:
        try:
            client = await self._sidecar.client()
            # The Kafka output binding sends metadata other than the key as record headers.
            metadata = {"partitionKey": key, **dict(trace_headers())}
            await client.invoke_binding(self._binding, "create", value, binding_metadata=metadata)
        except _DAPR_ERRORS as exc:
            raise SinkUnavailableError(f"output binding {self._binding} unavailable") from exc

    async def aclose(self) -> None:
        return None
