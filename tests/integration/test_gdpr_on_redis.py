"""Erasure, tombstones, the audit trail and retention on the real Redis keyspace."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from mastery.adapters import redis_logs
from mastery.adapters.breaker import CircuitBreaker
from mastery.adapters.cache import CachedStateStore
from mastery.adapters.guarded import GuardedStateStore
from mastery.adapters.memory import MemorySink
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.config import Settings
from mastery.entrypoints.core import Core
from mastery.entrypoints.http.audited import read_audited
from mastery.errors import ConflictError, StateUnavailableError
from mastery.ports import LogAppend, Versioned, Write
from mastery.services.audit import audit_entry
from mastery.services.gdpr import ErasureReport, erase_student
from mastery.services.ingest import Outcome
from mastery.services.tombstones import Tombstone, tombstone_key
from mastery.web.auth import Principal
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
        assert set(before) == {
            f"student:{{{student}}}",
            f"audit:{{{student}}}",
            f"audit:{{{student}}}:tally",
        }
        assert f"class:{{{class_id}}}".encode() in await raw_redis.keys(f"class:{{{class_id}}}")

        response = await engine.clients["gdpr"].delete(f"/v1/students/{student}", headers=ADMIN)
        assert response.status_code == 200
        assert response.json()["keys_deleted"] == 3
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
    await raw_redis.set(f"b:{{{tag}}}", "not a hash")  # makes the write fail inside the script
    with pytest.raises(StateUnavailableError):
        await store.transact([Write(f"b:{{{tag}}}", b"x", None, 60)], [f"a:{{{tag}}}"])
    assert (await store.read(f"a:{{{tag}}}")) is not None, "a failed step changes nothing"
    deleted = await store.transact(
        [Write(f"c:{{{tag}}}", b"t", None, 60)], [f"a:{{{tag}}}", f"b:{{{tag}}}"]
    )
    assert deleted == 2
    stored = await store.read(f"c:{{{tag}}}")
    assert stored is not None


async def test_transact_compares_and_sets_before_it_changes_anything(
    store: RedisStateStore,
) -> None:
    tag = fresh("t")
    record, tomb = f"a:{{{tag}}}", f"c:{{{tag}}}"
    await store.write(record, b"1", etag=None, ttl_seconds=60)
    etag = await store.write(tomb, b"first", etag=None, ttl_seconds=60)
    for stale in (None, "99"):  # "only if absent", and an old version
        with pytest.raises(ConflictError):
            await store.transact([Write(tomb, b"second", stale, 60)], [record])
        assert (await store.read(record)) is not None, "a refused step deletes nothing"
    assert await store.transact([Write(tomb, b"second", etag, 60)], [record]) == 1
    stored = await store.read(tomb)
    assert stored is not None
    assert stored.data == b"second"


async def seeded(engine: Any, student: str) -> None:
    for body in week_of(student, fresh("c"), NOW - timedelta(days=2)):
        assert (await engine.deliver(body)).status_code == 200


async def test_two_erasures_at_once_keep_the_first_and_record_both(
    store: RedisStateStore,
) -> None:
    student = fresh("s")
    async with all_functions(store) as engine:
        await seeded(engine, student)
        gdpr = engine.clients["gdpr"]
        first, second = await asyncio.gather(
            gdpr.delete(f"/v1/students/{student}", headers=bearer("admin-a", "admin")),
            gdpr.delete(f"/v1/students/{student}", headers=bearer("admin-b", "admin")),
        )
        assert (first.status_code, second.status_code) == (200, 200), second.text
        reports = sorted([first.json(), second.json()], key=lambda r: -r["events"])
        assert [r["events"] for r in reports] == [13, 0], "one found the data, one nothing"
        assert reports[0]["first_erased_at"] == reports[1]["first_erased_at"]
        stored = await store.read(tombstone_key(student))
        assert stored is not None
        tombstone = Tombstone.model_validate_json(stored.data)
        assert tombstone.erased["events"] == 13, "the real erasure's record is kept"
        assert [later.erased["events"] for later in tombstone.later] == [0]
        trail = await gdpr.get("/v1/audit", params={"student_id": student}, headers=ADMIN)
        erasures = [e for e in trail.json()["entries"] if e["action"] == "erase"]
        assert sorted(e["actor"] for e in erasures) == ["admin-a", "admin-b"]


def erase_in_own_thread(redis_url: str, student: str, actor: str, start: Any) -> ErasureReport:
    """One erasure on its own connection and event loop, begun when every thread is ready."""

    async def erase() -> ErasureReport:
        own = RedisStateStore(connect(redis_url, cluster=False))
        try:
            await own.ping()
            start.wait()
            entry = audit_entry(Admin(actor), student, "erase", "DELETE", NOW)
            return await erase_student(own, student, entry, retention_days=90)
        finally:
            await own.aclose()

    return asyncio.run(erase())


@dataclass(frozen=True)
class Admin:
    subject: str
    role: str = "admin"


async def test_erasures_from_many_threads_at_once_lose_none(
    store: RedisStateStore, redis_url: str
) -> None:
    student, erasers = fresh("s"), 6
    async with all_functions(store) as engine:
        await seeded(engine, student)
    start = threading.Barrier(erasers)
    with ThreadPoolExecutor(erasers) as pool:
        reports = list(pool.map(
            lambda n: erase_in_own_thread(redis_url, student, f"admin-{n}", start),
            range(erasers),
        ))  # fmt: skip
    assert sorted(r.events for r in reports) == [0] * (erasers - 1) + [13]
    stored = await store.read(tombstone_key(student))
    assert stored is not None
    tombstone = Tombstone.model_validate_json(stored.data)
    assert tombstone.erased["events"] == 13
    assert len(tombstone.later) == erasers - 1
    assert sorted(e.actor for e in tombstone.entries()) == [f"admin-{n}" for n in range(erasers)]


def access(tag: str, coalesce: str, note: str = "r") -> LogAppend:
    return LogAppend(f"log:{{{tag}}}", f"tally:{{{tag}}}", f"student:{{{tag}}}", coalesce, note)


async def test_log_appends_coalesce_within_the_window_and_expire_with_the_owner(
    store: RedisStateStore, raw_redis: aioredis.Redis
) -> None:
    tag, t0 = fresh("t"), 1_764_000_000_000
    assert await store.append_logs([access(tag, "a")], now_ms=t0, window_ms=600, keep_ms=10**6) == 0
    assert await raw_redis.exists(f"log:{{{tag}}}") == 0, "no owner, nothing recorded"
    await store.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=50)
    for step, key in enumerate(["a", "a", "b", "a"]):
        await store.append_logs(
            [access(tag, key, f"r{step}")], now_ms=t0 + step * 100, window_ms=350, keep_ms=10**6
        )
    await store.append_logs([access(tag, "a", "r4")], now_ms=t0 + 400, window_ms=350, keep_ms=10**6)
    entries = await store.read_log(f"log:{{{tag}}}", f"tally:{{{tag}}}", t0, t0 + 10**4, None, 10)
    assert [(e.coalesce, e.note, e.count, e.last_ms - t0) for e in entries] == [
        ("a", "r0", 3, 300),  # the first, then two more within 350 ms of it
        ("b", "r2", 1, 200),
        ("a", "r4", 1, 400),  # 400 ms after the first "a": a new entry
    ]
    page = await store.read_log(
        f"log:{{{tag}}}", f"tally:{{{tag}}}", t0, t0 + 10**4, entries[0].id, 1
    )
    assert [e.note for e in page] == ["r2"]
    assert await store.log_length(f"log:{{{tag}}}") == 3
    assert 0 < await raw_redis.ttl(f"log:{{{tag}}}") <= 50
    assert 0 < await raw_redis.ttl(f"tally:{{{tag}}}") <= 50


async def test_log_entries_older_than_keep_are_trimmed_with_their_counts(
    store: RedisStateStore, raw_redis: aioredis.Redis
) -> None:
    tag, t0, keep = fresh("t"), 1_764_000_000_000, 10_000
    await store.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=600)
    for n in range(6):  # one entry per second, each counted twice
        for _ in range(2):
            await store.append_logs(
                [access(tag, f"k{n}")], now_ms=t0 + n * 1000, window_ms=500, keep_ms=keep
            )
    await store.append_logs([access(tag, "late")], now_ms=t0 + 13_500, window_ms=500, keep_ms=keep)
    entries = await store.read_log(f"log:{{{tag}}}", f"tally:{{{tag}}}", 0, t0 * 2, None, 100)
    assert [e.coalesce for e in entries] == ["k4", "k5", "late"], "older than 10 s: gone"
    fields = {f.decode() for f in await raw_redis.hkeys(f"tally:{{{tag}}}")}
    assert fields == {"o:k4", "o:k5", "o:late"}, "the trimmed entries' counts went with them"


async def test_a_lagging_clock_still_appends_after_the_newest_entry(store: RedisStateStore) -> None:
    tag, t0 = fresh("t"), 1_764_000_000_000
    await store.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=600)
    await store.append_logs([access(tag, "fast")], now_ms=t0 + 5000, window_ms=1, keep_ms=10**6)
    await store.append_logs([access(tag, "slow")], now_ms=t0, window_ms=1, keep_ms=10**6)
    entries = await store.read_log(f"log:{{{tag}}}", f"tally:{{{tag}}}", 0, t0 * 2, None, 100)
    assert [e.coalesce for e in entries] == ["fast", "slow"]


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
        assert set(before) == {f"student:{{{old}}}", f"audit:{{{old}}}", f"audit:{{{old}}}:tally"}
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


async def test_the_in_memory_logs_agree_with_redis(store: RedisStateStore) -> None:
    """The fake the functional tests use, against the real scripts: same entries, counts, ids."""
    import random

    from mastery.adapters.memory import MemoryStateStore

    rng, tag, t0 = random.Random(7), fresh("t"), 1_764_000_000_000
    memory = MemoryStateStore()
    for target in (store, memory):
        await target.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=600)
    now = t0
    for _ in range(300):
        now += rng.choice([0, 1, 40, 300, 2000])
        batch = [access(tag, rng.choice("abc"), str(now)) for _ in range(rng.randint(1, 3))]
        for target in (store, memory):
            await target.append_logs(batch, now_ms=now, window_ms=1000, keep_ms=20_000)
    stream, tally = f"log:{{{tag}}}", f"tally:{{{tag}}}"
    expected = await store.read_log(stream, tally, 0, now, None, 10_000)
    assert await memory.read_log(stream, tally, 0, now, None, 10_000) == expected
    assert len(expected) > 10
    assert any(e.count > 1 for e in expected)
    middle = expected[len(expected) // 2].id
    assert await memory.read_log(stream, tally, t0, now, middle, 5) == await store.read_log(
        stream, tally, t0, now, middle, 5
    )


async def test_concurrent_appends_share_one_round_trip_and_each_gets_its_own_answer(
    store: RedisStateStore, raw_redis: aioredis.Redis
) -> None:
    tags = [fresh("t") for _ in range(40)]
    for tag in tags[:30]:  # the last ten have no record: not recorded
        await store.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=600)
    await raw_redis.config_resetstat()
    recorded = await asyncio.gather(
        *(store.append_logs([access(t, "k")], now_ms=1_764_000_000_000, window_ms=1, keep_ms=10**6)
          for t in tags)
    )  # fmt: skip
    assert recorded == [1] * 30 + [0] * 10
    stats = await raw_redis.info("commandstats")  # by its SHA, or its text after NOSCRIPT
    runs = [stats[c] for c in ("cmdstat_evalsha", "cmdstat_eval") if c in stats]
    assert sum(r["calls"] - r["failed_calls"] for r in runs) == 1, "forty requests, one script run"
    await raw_redis.set(f"log:{{{tags[0]}}}", "not a stream")
    failing = [
        store.append_logs([access(t, "new")], now_ms=1_764_000_000_000, window_ms=1, keep_ms=10**6)
        for t in tags[:3]
    ]
    outcomes = await asyncio.gather(*failing, return_exceptions=True)
    assert all(isinstance(o, StateUnavailableError) for o in outcomes), outcomes


class RoundTrips:
    """Counts the group commit's round trips from now on: one write to its own connection each
    (open it first: opening sends commands too)."""

    def __init__(self, store: RedisStateStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        connection = store._connection()
        send = connection.send_packed_command

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await send(*args, **kwargs)

        monkeypatch.setattr(connection, "send_packed_command", counted)


async def test_reads_and_appends_in_flight_together_share_one_round_trip(
    store: RedisStateStore, raw_redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an audited read sends: its record's read and its append go in one pipeline, with
    every other request's; each caller still gets only its own answer."""
    tags = [fresh("t") for _ in range(4)]
    for tag in tags[:3]:
        await store.write(f"student:{{{tag}}}", tag.encode(), etag=None, ttl_seconds=600)
    await store.read(f"student:{{{tags[0]}}}")  # the group commit's connection is open
    sent = RoundTrips(store, monkeypatch)
    now = 1_764_000_000_000
    answers = await asyncio.gather(
        *(store.read(f"student:{{{tag}}}") for tag in tags),
        store.read_many([f"student:{{{tags[1]}}}", f"student:{{{tags[3]}}}"]),
        *(store.append_logs([access(tag, "k")], now_ms=now, window_ms=1, keep_ms=10**6)
          for tag in tags),
    )  # fmt: skip
    assert sent.count == 1, "nine requests, one round trip"
    assert [a.data if a else None for a in answers[:4]] == [t.encode() for t in tags[:3]] + [None]
    assert [a.data if a else None for a in answers[4]] == [tags[1].encode(), None]
    assert answers[5:] == [1, 1, 1, 0]
    await raw_redis.set(f"log:{{{tags[0]}}}", "not a stream")
    read, failed, recorded = await asyncio.gather(
        store.read(f"student:{{{tags[0]}}}"),
        store.append_logs([access(tags[0], "new")], now_ms=now, window_ms=1, keep_ms=10**6),
        store.append_logs([access(tags[1], "new")], now_ms=now + 1, window_ms=1, keep_ms=10**6),
        return_exceptions=True,
    )
    assert sent.count == 2
    assert isinstance(read, Versioned)
    assert read.data == tags[0].encode(), "a read is not failed by another's append"
    assert isinstance(failed, StateUnavailableError)
    assert isinstance(recorded, StateUnavailableError), "same script run: nothing known written"


async def test_writes_in_flight_with_reads_share_one_round_trip_and_each_gets_its_own_answer(
    store: RedisStateStore, raw_redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compare-and-set writes go in the group commit too (one delivery's write with the next
    one's read): each caller gets its own outcome, a lost expectation or a failed write is
    only its own, and what holds is written with its TTL."""
    keys = [f"student:{{{fresh('t')}}}" for _ in range(4)]
    first = await store.write_many([Write(key, b"v1", None, 600) for key in keys[:3]])
    assert first == ["1", "1", "1"]  # and the group commit's connection is open
    sent = RoundTrips(store, monkeypatch)
    answers = await asyncio.gather(
        store.write_many([Write(keys[0], b"v2", "1", 60), Write(keys[1], b"v2", "7", 60)]),
        store.write(keys[2], b"v2", etag=None, ttl_seconds=60),  # must be absent: it is not
        store.write(keys[3], b"new", etag=None, ttl_seconds=60),
        store.read(keys[1]),
        return_exceptions=True,
    )
    assert sent.count == 1, "four requests, one round trip"
    assert answers[0] == ["2", None]
    assert isinstance(answers[1], ConflictError)
    assert answers[2] == "1"
    assert answers[3] == Versioned(b"v1", "1")
    assert await raw_redis.hmget(keys[0], ["data", "version"]) == [b"v2", b"2"]
    assert 0 < await raw_redis.ttl(keys[0]) <= 60
    assert await raw_redis.hget(keys[1], "data") == b"v1"
    await raw_redis.delete(keys[2])
    await raw_redis.set(keys[2], "not a hash")
    failed, written = await asyncio.gather(
        store.write(keys[2], b"v3", etag=None, ttl_seconds=60),
        store.write_many([Write(keys[1], b"v3", "1", 60)]),
        return_exceptions=True,
    )
    assert sent.count == 2
    assert isinstance(failed, StateUnavailableError)
    assert written == ["2"], "a write is not failed by another's error"


async def test_appends_sent_after_redis_lost_its_scripts_are_recorded_once(
    store: RedisStateStore, raw_redis: aioredis.Redis
) -> None:
    tags = [fresh("t") for _ in range(3)]
    for tag in tags:
        await store.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=600)
    await raw_redis.script_flush()
    recorded = await asyncio.gather(
        store.read(f"student:{{{tags[0]}}}"),  # with it, the appends go in a pipeline
        *(store.append_logs([access(tag, "k")], now_ms=1_764_000_000_000 + n, window_ms=1,
                            keep_ms=10**6) for n, tag in enumerate(tags)),
    )  # fmt: skip
    assert recorded[1:] == [1, 1, 1]
    assert [await raw_redis.xlen(f"log:{{{tag}}}") for tag in tags] == [1, 1, 1]


async def test_appends_after_redis_closed_the_group_commits_connection_are_recorded(
    store: RedisStateStore, raw_redis: aioredis.Redis
) -> None:
    """The group commit holds a connection of its own: one closed while idle (a restart, the
    server's idle timeout) is replaced before the next round trip, as the pool does."""
    tag = fresh("t")
    await store.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=600)
    now = 1_764_000_000_000
    assert await store.append_logs([access(tag, "a")], now_ms=now, window_ms=1, keep_ms=10**6)
    assert await raw_redis.client_kill_filter(skipme=True) >= 1
    await asyncio.sleep(0.05)  # the close reaches the client
    recorded = await store.append_logs([access(tag, "b")], now_ms=now, window_ms=1, keep_ms=10**6)
    assert recorded == 1
    assert await raw_redis.xlen(f"log:{{{tag}}}") == 2


async def test_a_round_trip_cut_off_by_its_timeout_leaves_the_next_in_step(
    redis_url: str, raw_redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request waits for the group commit at most its timeout; the late answer of a round
    trip cut off is never taken for the next one's (its connection is closed)."""
    monkeypatch.setattr(redis_logs, "TIMEOUT_SECONDS", 0.2)
    store = RedisStateStore(aioredis.Redis.from_url(redis_url))
    tags = [fresh("t") for _ in range(2)]
    for tag in tags:
        await store.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=600)
    now = 1_764_000_000_000
    try:
        await raw_redis.client_pause(600, all=True)
        with pytest.raises(StateUnavailableError):
            await store.append_logs([access(tags[0], "a")], now_ms=now, window_ms=1, keep_ms=10**6)
        await asyncio.sleep(0.6)  # the pause ends: the cut-off script runs, its answer unread
        assert await store.read(f"student:{{{tags[1]}}}") == Versioned(b"{}", "1")
        assert (
            await store.append_logs(
                [access(tags[1], "a"), access(tags[1], "b")], now_ms=now, window_ms=1, keep_ms=10**6
            )
            == 2
        )
    finally:
        await store.aclose()


async def test_an_audited_read_that_misses_the_cache_goes_with_its_append(
    store: RedisStateStore, raw_redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`read_audited` issues the append before it reads, and the L1 cache loads a miss in a
    task of its own a turn later: the group commit waits that turn, so both share a round trip."""
    tag = fresh("t")
    await store.write(f"student:{{{tag}}}", b"{}", etag=None, ttl_seconds=600)
    # the group commit's connection open, its script loaded (a NOSCRIPT answer costs one more)
    unknown = access(fresh("t"), "k")
    await store.append_logs([unknown], now_ms=1_764_000_000_000, window_ms=1, keep_ms=10**6)
    cached = CachedStateStore(GuardedStateStore(store, CircuitBreaker("t-audited-miss")))
    core = Core(settings=Settings(), store=cached, dead_letters=MemorySink(), alerts=MemorySink())
    sent = RoundTrips(store, monkeypatch)
    read = await read_audited(
        cached.read(f"student:{{{tag}}}"), core, Principal("admin-1", "admin"), [tag], "GET /x"
    )
    assert read is not None
    assert read.data == b"{}"
    assert sent.count == 1, "the record's read and its append in one round trip"
    assert await raw_redis.xlen(f"audit:{{{tag}}}") == 1
