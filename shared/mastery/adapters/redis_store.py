"""The state store on Redis directly, in the Dapr `state.redis` layout.

Each key is a hash `{data, version}`; the ETag is the version. Compare-and-set and the TTL are
one Lua script, so a write is atomic on a single server and on a cluster (one key, one slot).
On a single server reads and writes go through the group commit (`mastery.adapters.redis_logs`),
with the other requests' in flight; on a cluster in a pipeline, which splits them per node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from mastery.adapters.redis_logs import HASH_FIELDS, TIMEOUT_SECONDS, RedisLogs
from mastery.adapters.redis_scripts import WRITE
from mastery.errors import ConflictError, StateUnavailableError
from mastery.ports import Versioned, Write

POOL_SIZE = 64


def connect(url: str, *, cluster: bool) -> Any:
    """A redis-py asyncio client (cluster-aware on request); connects lazily, no I/O here."""
    options: dict[str, Any] = {
        "socket_timeout": TIMEOUT_SECONDS,
        "socket_connect_timeout": TIMEOUT_SECONDS,
    }
    if cluster:
        from redis.asyncio.cluster import RedisCluster

        return RedisCluster.from_url(url, **options)
    # redis-py's default pool raises "Too many connections" past 100 in flight; under a burst
    # (measured: 1000 users, bench/load.py) that turned into 503s. Wait for a free connection.
    # What each connection reports in CLIENT SETINFO, made once for the pool: by default every
    # new connection looks redis-py's version up in the installed distributions.
    driver = redis.DriverInfo(lib_version=redis.__version__)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=POOL_SIZE, timeout=TIMEOUT_SECONDS, health_check_interval=30,
        driver_info=driver, **options,
    )  # fmt: skip
    return aioredis.Redis.from_pool(pool)  # closes the pool with the client


class RedisStateStore(RedisLogs):
    """`StateStore` on a redis-py asyncio client (single server or cluster)."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._client = client

    async def read(self, key: str) -> Versioned | None:
        return (await self.read_many([key]))[0]

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        if not keys:
            return []
        try:
            if self._single_server:  # with the appends and reads of other requests (redis_logs)
                rows = await self._read_hashes(keys)
            else:
                async with self._client.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.hmget(key, HASH_FIELDS)
                    rows = await pipe.execute()
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc
        return [
            None if data is None or version is None else Versioned(data, version.decode())
            for data, version in rows
        ]

    async def write(self, key: str, data: bytes, *, etag: str | None, ttl_seconds: int) -> str:
        (version,) = await self.write_many([Write(key, data, etag, ttl_seconds)])
        if version is None:
            raise ConflictError(key)
        return version

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        if not writes:
            return []
        try:
            if self._single_server:  # with the reads, writes and appends of other requests
                versions: list[Any] = await self._write_hashes(writes)
            else:
                # EVAL (not EVALSHA) so a cluster pipeline can route it by key; the server
                # caches the compiled script, so only the script text travels again.
                async with self._client.pipeline(transaction=False) as pipe:
                    for w in writes:
                        pipe.eval(WRITE, 1, w.key, w.etag or "", w.data, max(1, w.ttl_seconds))
                    versions = await pipe.execute()
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc
        return [None if int(v) < 0 else str(v) for v in versions]

    async def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        try:
            return int(await self._client.delete(*keys))
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()
