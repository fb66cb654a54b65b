"""Erasure, tombstones, the audit trail and retention on the real Redis keyspace."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
import redis.asyncio as aioredis

from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.errors import StateUnavailableError
from mastery.ports import Append, Put
from mastery.services.ingest import Outcome
from tests.all_functions import NOW, all_functions, bearer
from tests.factories import event, raw

pytestmark = pytest.mark.integration
TOPIC = "functions.scope"
ADMIN = bearer("admin-1", "admin")


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStateStore]:
    store = RedisStateStore(connect(redis_url, cluster=False))
    yield store
    await store.aclose()


async def keys_of(client: aioredis.Redis, tag: str) -> dict[str, int]:
    """Every raw Redis key carrying the hash tag `{tag}`, with its TTL in seconds."""
    found = [k async for k in client.scan_iter(match=f"*{{{tag}}}*", count=1000)]
    return {k.decode(): await client.ttl(k) for k in sorted(found)}


def week_of(student_id: str, class_id: str, start: datetime) -> list[bytes]:
    events = [event("class.enrolled", student_id, None, start, class_id=class_id)]
    for n in range(6):
        at = start + timedelta(hours=n)
        events += [
            event("exercise.completed", student_id, TOPIC, at, exercise_id=f"e{n}",
                  difficulty="medium", passed=n % 2 == 0),
            event("code.executed", student_id, TOPIC, at, ok=False, error_type="NameError"),
        ]  # fmt: skip
    return [raw(e) for e in events]


async def test_erasure_leaves_only_the_tombstone_and_replay_creates_nothing(
    store: RedisStateStore, raw_redis: aioredis.Redis
) -> None:
    student, class_id = fresh("s"), fresh("c")
    teacher = bearer("t-1", "teacher", (class_id,))
    stream = week_of(student, class_id, NOW - timedelta(days=2))
    async with all_functions(store) as engine:
        for body in stream:
            assert (await engine.deliver(body)).status_code == 200
        await engine.clients["query"].get(f"/v1/students/{student}/mastery", headers=teacher)
        before = await keys_of(raw_redis, student)
        assert set(before) == {f"student:{{{student}}}", f"audit:{{{student}}}:20261120"}
        assert f"class:{{{class_id}}}".encode() in await raw_redis.keys(f"class:{{{class_id}}}")

        response = await engine.clients["gdpr"].delete(f"/v1/students/{student}", headers=ADMIN)
        assert response.status_code == 200
        assert response.json()["keys_deleted"] == 2
        assert response.json()["events"] == 13
        assert list(await keys_of(raw_redis, student)) == [f"tombstone:{{{student}}}"]
        roster = json.loads(await raw_redis.hget(f"class:{{{class_id}}}", "data") or b"{}")
        assert student not in roster.get("members", [])

        replay = [(await engine.deliver(body)).json()["outcome"] for body in stream]
        assert replay == [Outcome.ERASED] * len(stream)
        assert list(await keys_of(raw_redis, student)) == [f"tombstone:{{{student}}}"]

        new = raw(event("exercise.started", student, TOPIC, NOW, exercise_id="e9"))
        assert (await engine.deliver(new)).json()["outcome"] == Outcome.APPLIED
        assert set(await keys_of(raw_redis, student)) == {
            f"student:{{{student}}}",
            f"tombstone:{{{student}}}",
        }
        tombstone_ttl = (await keys_of(raw_redis, student))[f"tombstone:{{{student}}}"]
        assert 90 * 86_400 < tombstone_ttl <= 90 * 86_400 + 3_600


async def test_transact_is_one_atomic_step(
    store: RedisStateStore, raw_redis: aioredis.Redis
) -> None:
    tag = fresh("t")
    await store.write(f"a:{{{tag}}}", b"1", etag=None, ttl_seconds=60)
    await raw_redis.set(f"b:{{{tag}}}", "not a hash")  # makes the put fail inside the script
    with pytest.raises(StateUnavailableError):
        await store.transact([Put(f"b:{{{tag}}}", b"x", 60)], [f"a:{{{tag}}}"])
    assert (await store.read(f"a:{{{tag}}}")) is not None, "a failed step changes nothing"
    deleted = await store.transact(
        [Put(f"c:{{{tag}}}", b"t", 60)], [f"a:{{{tag}}}", f"b:{{{tag}}}"]
    )
    assert deleted == 2
    assert (await store.read(f"c:{{{tag}}}")) is not None


async def test_append_builds_a_json_array_capped_by_the_record_ttl(
    store: RedisStateStore, raw_redis: aioredis.Redis
) -> None:
    tag = fresh("t")
    await store.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=50)
    appends = [Append(f"log:{{{tag}}}", json.dumps({"n": n}).encode(), 3600, f"student:{{{tag}}}")
               for n in range(3)]  # fmt: skip
    await store.append(appends)
    stored = await store.read(f"log:{{{tag}}}")
    assert stored is not None
    assert json.loads(stored.data) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert 0 < await raw_redis.ttl(f"log:{{{tag}}}") <= 50


async def test_every_personal_key_expires_90_days_after_the_last_event(
    store: RedisStateStore, raw_redis: aioredis.Redis
) -> None:
    """Events 90 days minus 3 s ago: record, audit, roster entry must all be gone in 3 s."""
    old, active, class_id = fresh("old"), fresh("active"), fresh("c")
    teacher = bearer("t-1", "teacher", (class_id,))
    clock = MovableClock(NOW)
    async with all_functions(store, clock=clock) as engine:
        nearly_expired = NOW - timedelta(days=90) + timedelta(seconds=3)
        for body in week_of(old, class_id, nearly_expired)[:3]:
            assert (await engine.deliver(body)).status_code == 200
        for body in week_of(active, class_id, NOW - timedelta(days=1)):
            assert (await engine.deliver(body)).status_code == 200
        await engine.clients["query"].get(f"/v1/classes/{class_id}/mastery", headers=teacher)
        before = await keys_of(raw_redis, old)
        print("keys of the old student before:", before)
        assert set(before) == {f"student:{{{old}}}", f"audit:{{{old}}}:20261120"}
        assert all(0 < ttl <= 3 for ttl in before.values())
        roster = json.loads(await raw_redis.hget(f"class:{{{class_id}}}", "data") or b"{}")
        assert sorted(roster["members"]) == sorted([old, active])

        await asyncio.sleep(3.5)
        clock.now = NOW + timedelta(seconds=4)
        after = await keys_of(raw_redis, old)
        print("keys of the old student after:", after)
        assert after == {}
        # The roster entry lapses too: any roster write prunes it, and reads never show it.
        later = raw(
            event("quiz.completed", active, TOPIC, clock.now, quiz_id="q", correct=1, total=2)
        )
        assert (await engine.deliver(later)).status_code == 200
        roster = json.loads(await raw_redis.hget(f"class:{{{class_id}}}", "data") or b"{}")
        assert roster["members"] == [active]
        assert old not in roster["expires"]
        assert 0 < await raw_redis.ttl(f"class:{{{class_id}}}") <= 90 * 86_400
