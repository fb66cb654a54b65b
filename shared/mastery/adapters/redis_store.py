"""The state store on Redis directly, in the Dapr `state.redis` layout.

Each key is a hash `{data, version}`; the ETag is the version. Compare-and-set and the TTL are
one Lua script, so a write is atomic on a single server and on a cluster (one key, one slot).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis import asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from mastery.errors import ConflictError, StateUnavailableError
from mastery.ports import Append, Put, Versioned, Write

# ARGV: expected version ("" = key must be absent), data, ttl seconds. Returns the new version,
# or -1 when the expectation does not hold.
_WRITE = """
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
  if current then return -1 end
elseif current ~= ARGV[1] then
  return -1
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'data', ARGV[2])
-- Dapr's state.redis marks keys written with first-write concurrency this way; with the mark, a
-- sidecar's write without an ETag fails on an existing key instead of overwriting it.
redis.call('HSET', KEYS[1], 'first-write', 0)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return version
"""

TIMEOUT_SECONDS = 2.0
POOL_SIZE = 64

# KEYS: the keys to delete, then the keys to put; ARGV: the number of deletes, then data and
# ttl of each put. One script is one atomic step: nothing runs between its commands, and it
# checks every put before changing anything (Redis does not roll a failed script back).
# Returns how many of the deleted keys existed.
_TRANSACT = """
local deletes = tonumber(ARGV[1])
for i = deletes + 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'hash' and kind ~= 'none' then return redis.error_reply('WRONGTYPE ' .. KEYS[i]) end
end
local existed = 0
for i = 1, deletes do
  existed = existed + redis.call('DEL', KEYS[i])
end
for i = deletes + 1, #KEYS do
  local arg = 2 + (i - deletes - 1) * 2
  redis.call('HINCRBY', KEYS[i], 'version', 1)
  redis.call('HSET', KEYS[i], 'data', ARGV[arg])
  redis.call('EXPIRE', KEYS[i], ARGV[arg + 1])
end
return existed
"""

# KEYS: the array's key, optionally a key whose shorter TTL caps the array's; ARGV: one encoded
# JSON value, ttl seconds. The stored data is a JSON array; appending splices the item before
# its closing bracket instead of decoding it.
_APPEND = """
local ttl = tonumber(ARGV[2])
if KEYS[2] then
  local left = redis.call('TTL', KEYS[2])
  if left > 0 and left < ttl then ttl = left end
end
local data = redis.call('HGET', KEYS[1], 'data')
if data and string.len(data) > 2 then
  data = string.sub(data, 1, -2) .. ',' .. ARGV[1] .. ']'
else
  data = '[' .. ARGV[1] .. ']'
end
redis.call('HSET', KEYS[1], 'data', data)
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""


def connect(url: str, *, cluster: bool) -> Any:
    """A redis-py asyncio client (cluster-aware on request); connects lazily, no I/O here."""
    options: dict[str, Any] = {
        "socket_timeout": TIMEOUT_SECONDS,
        "socket_connect_timeout": TIMEOUT_SECONDS,
    }
    if cluster:
        return RedisCluster.from_url(url, **options)
    # redis-py's default pool raises "Too many connections" past 100 in flight; under a burst
    # (measured: 1000 users, bench/load.py) that turned into 503s. Wait for a free connection.
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=POOL_SIZE, timeout=TIMEOUT_SECONDS, health_check_interval=30,
        **options,
    )  # fmt: skip
    return aioredis.Redis.from_pool(pool)  # closes the pool with the client


class RedisStateStore:
    """`StateStore` on a redis-py asyncio client (single server or cluster)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._write = client.register_script(_WRITE)

    async def read(self, key: str) -> Versioned | None:
        try:
            data, version = await self._client.hmget(key, ["data", "version"])
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc
        if data is None or version is None:
            return None
        return Versioned(data, version.decode())

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        if not keys:
            return []
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(key, ["data", "version"])
                rows = await pipe.execute()
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc
        return [
            None if data is None or version is None else Versioned(data, version.decode())
            for data, version in rows
        ]

    async def write(self, key: str, data: bytes, *, etag: str | None, ttl_seconds: int) -> str:
        try:
            version = await self._write(keys=[key], args=[etag or "", data, max(1, ttl_seconds)])
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc
        if int(version) < 0:
            raise ConflictError(key)
        return str(version)

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        if not writes:
            return []
        try:
            # EVAL (not EVALSHA) so a cluster pipeline can route it by key; the server caches
            # the compiled script, so only the script text travels again.
            async with self._client.pipeline(transaction=False) as pipe:
                for w in writes:
                    pipe.eval(_WRITE, 1, w.key, w.etag or "", w.data, max(1, w.ttl_seconds))
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

    async def transact(self, puts: Sequence[Put], deletes: Sequence[str]) -> int:
        keys = [*deletes, *(p.key for p in puts)]
        if not keys:
            return 0
        args: list[Any] = [len(deletes)]
        for put in puts:
            args += [put.data, max(1, put.ttl_seconds)]
        try:
            return int(await self._client.eval(_TRANSACT, len(keys), *keys, *args))
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc

    async def append(self, appends: Sequence[Append]) -> None:
        if not appends:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for a in appends:
                    keys = [a.key] if a.expire_with is None else [a.key, a.expire_with]
                    pipe.eval(_APPEND, len(keys), *keys, a.item, max(1, a.ttl_seconds))
                await pipe.execute()
        except RedisError as exc:
            raise StateUnavailableError("state store unavailable") from exc

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()
