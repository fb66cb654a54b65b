"""The L1 read cache: bounded, at most ttl stale, dropped on local writes, counted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from mastery.adapters.cache import CACHE_REQUESTS, ENTRY_OVERHEAD, CachedStateStore
from mastery.adapters.memory import MemoryStateStore
from mastery.ports import Versioned


def count(result: str) -> float:
    return CACHE_REQUESTS.labels(result=result).value


async def test_reads_hit_until_the_ttl_then_see_other_writers() -> None:
    backing = MemoryStateStore()
    now = [0.0]
    cache = CachedStateStore(backing, ttl_seconds=0.05, timer=lambda: now[0])
    await backing.write("k", b"one", etag=None, ttl_seconds=60)
    hits, misses = count("hit"), count("miss")
    first = await cache.read("k")
    assert first is not None
    assert first.data == b"one"
    await backing.write("k", b"two", etag=first.etag, ttl_seconds=60)  # another process writes
    stale = await cache.read("k")
    assert stale is not None
    assert stale.data == b"one"
    assert (count("hit") - hits, count("miss") - misses) == (1, 1)
    now[0] += 0.06
    fresh = await cache.read("k")
    assert fresh is not None
    assert fresh.data == b"two"


async def test_absent_keys_are_cached_and_writes_through_the_cache_drop_the_entry() -> None:
    cache = CachedStateStore(MemoryStateStore(), ttl_seconds=60)
    assert await cache.read("k") is None
    await cache.write("k", b"v", etag=None, ttl_seconds=60)
    value = await cache.read("k")
    assert value is not None
    assert value.data == b"v"
    await cache.delete(["k"])
    assert await cache.read("k") is None
    assert await cache.ping()


async def test_read_many_mixes_hits_and_one_batched_miss() -> None:
    backing = MemoryStateStore()
    cache = CachedStateStore(backing, ttl_seconds=60, max_bytes=2 * (ENTRY_OVERHEAD + 1))
    await backing.write("a", b"A", etag=None, ttl_seconds=60)
    await cache.read("a")
    hits = count("hit")
    values = await cache.read_many(["a", "b"])
    assert [v.data if v else None for v in values] == [b"A", None]
    assert count("hit") - hits == 1
    await cache.aclose()


async def test_records_that_grow_keep_the_cache_within_its_byte_budget() -> None:
    # A second of reads of ever larger records: counted in entries the cache would hold them
    # all; counted in bytes the least recently used leave.
    backing = MemoryStateStore()
    cache = CachedStateStore(backing, ttl_seconds=60, max_bytes=50_000)
    for size in range(1_000, 30_000, 1_000):
        for key in ("a", "b", "c", "d"):
            await cache.delete([key])
            await cache.write(key, b"x" * size, etag=None, ttl_seconds=60)
            await cache.read(key)
            assert cache.size <= 50_000
    assert await cache.read("d") == await backing.read("d")  # the newest is still served
    huge = CachedStateStore(backing, ttl_seconds=60, max_bytes=1_000)
    assert await huge.read("d") == await backing.read("d")  # larger than the budget: not kept
    assert huge.size == 0


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class GatedStore(MemoryStateStore):
    """Reads wait for `opened`; each read is counted with its keys."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = asyncio.Event()
        self.reads: list[list[str]] = []

    async def read(self, key: str) -> Versioned | None:
        return (await self.read_many([key]))[0]

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        self.reads.append(list(keys))
        await self.opened.wait()
        return await super().read_many(keys)


async def test_concurrent_misses_share_one_load_and_a_write_meanwhile_is_not_hidden() -> None:
    backing = GatedStore()
    cache = CachedStateStore(backing, ttl_seconds=60)
    await backing.write("a", b"A", etag=None, ttl_seconds=60)
    await backing.write("b", b"B", etag=None, ttl_seconds=60)
    given_up = asyncio.ensure_future(cache.read("a"))
    many = [asyncio.ensure_future(cache.read_many(["a", "b"])) for _ in range(5)]
    one = asyncio.ensure_future(cache.read("b"))
    await settle()
    assert backing.reads == [["a"], ["b"]], "seven readers, two loads"
    given_up.cancel()  # a caller giving up does not cancel the load the others wait for
    await settle()
    backing.opened.set()
    answers = await asyncio.gather(*many, one)
    assert [[v.data for v in vs if v] for vs in answers[:5]] == [[b"A", b"B"]] * 5
    assert answers[5] is not None
    assert answers[5].data == b"B"
    assert backing.reads == [["a"], ["b"]]
    backing.opened.clear()
    cache._cache.clear()  # both expire
    loading = asyncio.ensure_future(cache.read("a"))
    await settle()
    await cache.write("a", b"A2", etag="1", ttl_seconds=60)  # while the load is under way
    backing.opened.set()
    assert (await loading) is not None
    after = await cache.read("a")
    assert after is not None
    assert after.data == b"A2", "the load that began before the write is not cached"
