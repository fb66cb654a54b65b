"""The state store and the output bindings through the Dapr sidecar (gRPC API).

`DaprClient()` waits for the sidecar (up to `DAPR_HEALTH_TIMEOUT`), so the composition root
builds it at startup and passes it in; nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from dapr.clients.exceptions import DaprInternalError
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, StateOptions

from mastery.errors import ConflictError, SinkUnavailableError, StateUnavailableError
from mastery.ports import Append, Put, Versioned, Write

# Dapr's state.redis answers a failed ETag match with ABORTED (gRPC) / 409 (HTTP); a write
# "only if absent" is first-write concurrency without an ETag.
_CONFLICT_CODES = {grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION}
_APPEND_ATTEMPTS = 8


# What the aio client raises: DaprGrpcError (an RpcError) from most calls, but a bare
# AioRpcError from invoke_binding and a DaprInternalError from save_state.
_DAPR_ERRORS = (grpc.RpcError, DaprInternalError)


def _is_conflict(exc: Exception) -> bool:
    # The aio client's save_state wraps the gRPC error in DaprInternalError, which keeps only
    # the message; the status code survives on the cause.
    source = exc if isinstance(exc, grpc.RpcError) else exc.__cause__
    return isinstance(source, grpc.RpcError) and source.code() in _CONFLICT_CODES


class DaprStateStore:
    """`StateStore` on the sidecar's state API (component `state.redis`, `keyPrefix: none`)."""

    def __init__(self, client: Any, store_name: str) -> None:
        self._client = client
        self._store = store_name

    async def read(self, key: str) -> Versioned | None:
        try:
            response = await self._client.get_state(self._store, key)
        except _DAPR_ERRORS as exc:
            raise StateUnavailableError("state store unavailable") from exc
        if not response.data:
            return None
        return Versioned(bytes(response.data), response.etag)

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        if not keys:
            return []
        try:
            response = await self._client.get_bulk_state(self._store, list(keys), parallelism=4)
        except _DAPR_ERRORS as exc:
            raise StateUnavailableError("state store unavailable") from exc
        found = {item.key: item for item in response.items if item.data}
        return [
            Versioned(bytes(found[key].data), found[key].etag) if key in found else None
            for key in keys
        ]

    async def write(self, key: str, data: bytes, *, etag: str | None, ttl_seconds: int) -> str:
        try:
            await self._client.save_state(
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
            await self._client.execute_state_transaction(self._store, operations)
        except _DAPR_ERRORS as exc:
            raise StateUnavailableError("state store unavailable") from exc
        return len(keys)

    async def transact(self, puts: Sequence[Put], deletes: Sequence[str]) -> int:
        if not puts and not deletes:
            return 0
        operations = [
            TransactionalStateOperation(key=key, operation_type=TransactionOperationType.delete)
            for key in deletes
        ] + [
            TransactionalStateOperation(
                key=put.key, data=put.data, metadata={"ttlInSeconds": str(max(1, put.ttl_seconds))}
            )
            for put in puts
        ]
        try:
            # state.redis runs a transaction as one MULTI/EXEC: all or nothing.
            await self._client.execute_state_transaction(self._store, operations)
        except _DAPR_ERRORS as exc:
            raise StateUnavailableError("state store unavailable") from exc
        return len(deletes)

    async def append(self, appends: Sequence[Append]) -> None:
        # The sidecar has no append: read, splice, compare-and-set, concurrently per key. Its
        # state API does not show a key's TTL either, so `expire_with` cannot cap it here.
        await asyncio.gather(*(self._append_one(a) for a in appends))

    async def _append_one(self, append: Append) -> None:
        for _ in range(_APPEND_ATTEMPTS):
            current = await self.read(append.key)
            items = current.data[1:-1] + b"," if current and len(current.data) > 2 else b""
            try:
                await self.write(
                    append.key,
                    b"[" + items + append.item + b"]",
                    etag=current.etag if current else None,
                    ttl_seconds=append.ttl_seconds,
                )
                return
            except ConflictError:
                continue
        raise StateUnavailableError(f"gave up appending to {append.key}")

    async def ping(self) -> bool:
        try:
            await self._client.get_state(self._store, "readiness-probe")
        except _DAPR_ERRORS:
            return False
        return True

    async def aclose(self) -> None:
        await self._client.close()


class DaprBindingSink:
    """`EventSink` on a Kafka output binding: operation `create`, key from `partitionKey`."""

    def __init__(self, client: Any, binding_name: str) -> None:
        self._client = client
        self._binding = binding_name

    async def publish(self, key: str, value: bytes) -> None:
        try:
            await self._client.invoke_binding(
                self._binding, "create", value, binding_metadata={"partitionKey": key}
            )
        except _DAPR_ERRORS as exc:
            raise SinkUnavailableError(f"output binding {self._binding} unavailable") from exc

    async def aclose(self) -> None:
        return None
