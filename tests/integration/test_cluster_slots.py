"""Every multi-key operation stays in one student's hash slot on a real 3-node Redis Cluster.

The keys of one student (`student:{id}`, `audit:{id}` and its tally, `tombstone:{id}`) share the hash
tag `{id}`; class rosters (`class:{id}`) are single keys written on their own. On a cluster, any
script or transaction touching two slots fails with CROSSSLOT. Here the operations that touch
several keys at once run on `servers.RedisCluster`: the GDPR erasure (one script deleting the
record and the audit trail's keys and writing the tombstone), the audit append (stream, tally
and the record whose TTL caps them: three keys), and the native consumer's batch write (`write_many`: one pipeline across
students, hence across nodes). A deliberately cross-student transaction is the control: it must
fail, so a CROSSSLOT would not go unnoticed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from redis.cluster import key_slot
from redis.exceptions import ClusterCrossSlotError

from mastery.adapters.memory import MemorySink
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.domain.curriculum import CURRICULUM
from mastery.entrypoints.envelopes import read_envelope
from mastery.errors import StateUnavailableError
from mastery.local.servers import RedisCluster
from mastery.ports import Write
from mastery.services.ingest import IngestDeps, KafkaMetadata, Outcome, handle_records
from tests.all_functions import NOW, all_functions, bearer
from tests.factories import event, raw

pytestmark = pytest.mark.integration
TOPIC = "functions.scope"
ADMIN = bearer("admin-1", "admin")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with RedisCluster() as started:
        yield started


@pytest.fixture
async def store(cluster: RedisCluster) -> AsyncIterator[RedisStateStore]:
    store = RedisStateStore(connect(cluster.url, cluster=True))
    yield store
    await store.aclose()


def _students(prefix: str, count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"{prefix}-{run}-{n}" for n in range(count)]


async def _nodes_holding(cluster: RedisCluster, keys: list[str]) -> set[int]:
    """Indexes of the nodes that hold `keys` (each key is read from its own node)."""
    holders = set()
    for index, node in enumerate(cluster.nodes):
        client = aioredis.Redis.from_url(node.url)
        try:
            for key in keys:
                try:
                    if await client.exists(key):
                        holders.add(index)
                except aioredis.ResponseError:  # MOVED: the key lives on another node
                    continue
        finally:
            await client.aclose()
    return holders


async def test_batch_write_across_nodes_and_gdpr_erasure_stay_in_one_slot_per_student(
    cluster: RedisCluster, store: RedisStateStore
) -> None:
    students = _students("slot", 24)
    class_id = f"class-{uuid.uuid4().hex[:8]}"
    assert len({key_slot(f"{{{s}}}".encode()) for s in students}) > 1
    deps = IngestDeps(store=store, dead_letters=MemorySink(), clock=lambda: NOW,
                      curriculum=CURRICULUM, read_envelope=read_envelope, alerts=MemorySink())  # fmt: skip
    records = [
        (raw(event("class.enrolled", s, None, NOW - timedelta(days=2), class_id=class_id)),
         KafkaMetadata())
        for s in students
    ] + [
        (raw(event("exercise.completed", s, TOPIC, NOW - timedelta(days=1, hours=n),
                   exercise_id=f"e{n}", difficulty="medium", passed=n % 2 == 0)), KafkaMetadata())
        for s in students for n in range(4)
    ]  # fmt: skip
    # One batch as the native consumer applies it: read_many + write_many over every node.
    outcomes = await handle_records(records, deps)
    assert outcomes == [Outcome.APPLIED] * len(records)
    student_keys = [f"student:{{{s}}}" for s in students]
    assert await _nodes_holding(cluster, student_keys) == {0, 1, 2}

    teacher = bearer("t-1", "teacher", (class_id,))
    victim = students[0]
    async with all_functions(store) as engine:
        # A teacher's read appends to the audit stream and tally, capped by the record's TTL.
        read = await engine.clients["query"].get(f"/v1/students/{victim}/mastery", headers=teacher)
        assert read.status_code == 200
        audit_key = f"audit:{{{victim}}}"
        assert await store.log_length(audit_key) == 1
        heat_map = await engine.clients["query"].get(
            f"/v1/classes/{class_id}/mastery", headers=teacher
        )
        assert heat_map.status_code == 200

        erased = await engine.clients["gdpr"].delete(f"/v1/students/{victim}", headers=ADMIN)
        assert erased.status_code == 200, erased.text
        assert erased.json()["keys_deleted"] == 3  # the record, the audit stream and tally
        assert await store.read(f"student:{{{victim}}}") is None
        assert await store.log_length(audit_key) == 0
        assert await store.read(f"tombstone:{{{victim}}}") is not None
        export = await engine.clients["gdpr"].get(
            f"/v1/students/{students[1]}/export", headers=ADMIN
        )
        assert export.status_code == 200
    others = await store.read_many(student_keys[1:])
    assert all(found is not None for found in others)


async def test_a_transaction_across_two_students_is_refused_by_the_cluster(
    store: RedisStateStore,
) -> None:
    first, second = _students("cross", 2)
    while key_slot(f"{{{first}}}".encode()) == key_slot(f"{{{second}}}".encode()):
        second += "x"
    with pytest.raises(StateUnavailableError) as refused:
        await store.transact(
            [Write(f"tombstone:{{{first}}}", b"{}", None, 60)], [f"student:{{{second}}}"]
        )
    assert isinstance(refused.value.__cause__, ClusterCrossSlotError)  # CROSSSLOT
