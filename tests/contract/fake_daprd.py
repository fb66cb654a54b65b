"""A fake daprd: the real Dapr gRPC service (`DaprServicer`) over a real Redis, for contract tests.

It implements the five calls our Dapr adapters make — GetState, GetBulkState, SaveState,
ExecuteStateTransaction, InvokeBinding — with the state semantics of components-contrib's
`state.redis` (`setDefaultQuery`): each key a hash `{data, version}`, the ETag is the version,
a write with a stale ETag fails (daprd answers ABORTED), a first-write save marks the key with a
`first-write` field so a later save without an ETag fails too (daprd answers INTERNAL, not an
ETag error), `ttlInSeconds` becomes EXPIRE. Output-binding calls are recorded.

`DaprClient()` first polls the sidecar's HTTP health endpoint (`/v1.0/healthz/outbound` on
DAPR_HTTP_PORT, for up to DAPR_HEALTH_TIMEOUT) before it opens its gRPC channel, so the fake also
answers that endpoint from a small HTTP server.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from dapr.proto import api_service_v1, api_v1, common_v1
from google.protobuf import empty_pb2
from redis import asyncio as aioredis
from redis.exceptions import ResponseError

from mastery.local.process import free_port

# The script of components-contrib state/redis (setDefaultQuery), argument for argument:
# KEYS[1] key; ARGV[1] expected version ("0": none), ARGV[2] data, ARGV[3] "0" for first-write.
SET_QUERY = """
local etag = redis.pcall("HGET", KEYS[1], "version");
if type(etag) == "table" then redis.call("DEL", KEYS[1]); end;
local fwr = redis.pcall("HGET", KEYS[1], "first-write");
if not etag or type(etag)=="table" or etag == "" or etag == ARGV[1] or (not fwr and ARGV[1] == "0") then
  redis.call("HSET", KEYS[1], "data", ARGV[2]);
  if ARGV[3] == "0" then redis.call("HSET", KEYS[1], "first-write", 0); end;
  return redis.call("HINCRBY", KEYS[1], "version", 1)
else
  return error("failed to set key " .. KEYS[1])
end
"""
DEL_QUERY = """
local etag = redis.pcall("HGET", KEYS[1], "version");
if not etag or type(etag)=="table" or etag == ARGV[1] or etag == "" or ARGV[1] == "0" then
  return redis.call("DEL", KEYS[1])
else
  return error("failed to delete " .. KEYS[1])
end
"""
FIRST_WRITE = common_v1.StateOptions.CONCURRENCY_FIRST_WRITE
LAST_WRITE = common_v1.StateOptions.CONCURRENCY_LAST_WRITE


@dataclass
class Invocation:
    name: str
    operation: str
    data: bytes
    metadata: dict[str, str]


@dataclass
class FakeDaprd(api_service_v1.DaprServicer):  # type: ignore[misc]
    redis_url: str
    store_name: str = "mastery-state"
    invocations: list[Invocation] = field(default_factory=list)
    bindings_down: bool = False

    def __post_init__(self) -> None:
        self.redis = aioredis.Redis.from_url(self.redis_url)

    async def _check_store(self, name: str, context: Any) -> None:
        if name != self.store_name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"state store {name} not found")

    async def GetState(self, request: Any, context: Any) -> Any:
        await self._check_store(request.store_name, context)
        data, version = await self.redis.hmget(request.key, ["data", "version"])
        if data is None:
            return api_v1.GetStateResponse()
        return api_v1.GetStateResponse(data=data, etag=version.decode())

    async def GetBulkState(self, request: Any, context: Any) -> Any:
        await self._check_store(request.store_name, context)
        items = []
        for key in request.keys:
            data, version = await self.redis.hmget(key, ["data", "version"])
            item = api_v1.BulkStateItem(key=key)
            if data is not None:
                item = api_v1.BulkStateItem(key=key, data=data, etag=version.decode())
            items.append(item)
        return api_v1.GetBulkStateResponse(items=items)

    @staticmethod
    def _set_args(item: Any) -> tuple[str, bool, list[Any]]:
        etag = item.etag.value if item.HasField("etag") else ""
        concurrency = item.options.concurrency
        version = "0" if concurrency == LAST_WRITE or not etag else str(int(etag))
        first_write = "0" if concurrency == FIRST_WRITE else "1"
        return etag, bool(etag), [version, item.value, first_write]

    async def SaveState(self, request: Any, context: Any) -> Any:
        await self._check_store(request.store_name, context)
        for item in request.states:
            _etag, has_etag, args = self._set_args(item)
            try:
                await self.redis.eval(SET_QUERY, 1, item.key, *args)
            except ResponseError:
                # daprd: an ETag error is ABORTED; any other store error is INTERNAL.
                code = grpc.StatusCode.ABORTED if has_etag else grpc.StatusCode.INTERNAL
                await context.abort(code, f"failed saving state in state store {self.store_name}")
            ttl = item.metadata.get("ttlInSeconds")
            if ttl:
                await self.redis.expire(item.key, int(ttl))
        return empty_pb2.Empty()

    async def ExecuteStateTransaction(self, request: Any, context: Any) -> Any:
        await self._check_store(request.storeName, context)
        async with self.redis.pipeline(transaction=True) as pipe:
            for operation in request.operations:
                item = operation.request
                if operation.operationType == "delete":
                    etag = item.etag.value if item.HasField("etag") else "0"
                    pipe.eval(DEL_QUERY, 1, item.key, etag or "0")
                else:
                    pipe.eval(SET_QUERY, 1, item.key, *self._set_args(item)[2])
            try:
                await pipe.execute()
            except ResponseError:
                await context.abort(grpc.StatusCode.INTERNAL, "transaction failed")
        return empty_pb2.Empty()

    async def InvokeBinding(self, request: Any, context: Any) -> Any:
        if self.bindings_down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "binding unavailable")
        self.invocations.append(
            Invocation(request.name, request.operation, request.data, dict(request.metadata))
        )
        return api_v1.InvokeBindingResponse()


class HealthEndpoint:
    """daprd's HTTP health endpoint, always healthy, in a background thread."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(204 if self.path.startswith("/v1.0/healthz") else 404)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Running:
    """A fake daprd serving: its gRPC API port and its HTTP (health) port."""

    daprd: FakeDaprd
    grpc_port: int
    http_port: int


@asynccontextmanager
async def running(redis_url: str) -> AsyncIterator[Running]:
    """A fake daprd on free loopback ports, its gRPC API served from this event loop."""
    daprd = FakeDaprd(redis_url)
    server = grpc.aio.server()
    api_service_v1.add_DaprServicer_to_server(daprd, server)
    grpc_port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    await server.start()
    health = HealthEndpoint()
    try:
        yield Running(daprd, grpc_port, health.port)
    finally:
        await server.stop(None)
        health.close()
        await daprd.redis.aclose()
