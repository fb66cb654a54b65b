"""The Dapr state adapter and binding sink against a fake daprd (real Dapr protos, real Redis).

The direct Redis adapter and the Dapr adapter must read and write each other's records: a
function with a sidecar and one without share one store (DESIGN §4).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
import redis
from dapr.conf import settings as dapr_settings

from mastery.adapters.dapr import DaprStateStore
from mastery.adapters.dapr import Sidecar as DaprSidecar
from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.adapters.redis_logs import RedisLogs
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.bootstrap import open_core, open_sinks, open_store
from mastery.config import Settings
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.record import StudentRecord
from mastery.domain.record_encoding import EXPANDED
from mastery.entrypoints.envelopes import read_envelope
from mastery.entrypoints.http import ingest
from mastery.errors import ConflictError, DependencyUnavailableError, StateUnavailableError
from mastery.local.servers import free_port
from mastery.ports import StateStore, Write
from mastery.services.ingest import IngestDeps, KafkaMetadata, Outcome, handle_record
from mastery.services.students import load_student, student_key
from tests.asgi import serve
from tests.contract.fake_daprd import FakeDaprd, running
from tests.factories import event, raw

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class Sidecar:
    daprd: FakeDaprd
    dapr: StateStore
    direct: RedisStateStore
    settings: Settings


@pytest.fixture
async def sidecar(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sidecar]:
    async with running(redis_url) as daprd:
        # Where DaprClient() looks for its sidecar (it reads these settings on every construction).
        monkeypatch.setattr(dapr_settings, "DAPR_RUNTIME_HOST", "127.0.0.1")
        monkeypatch.setattr(dapr_settings, "DAPR_HTTP_PORT", daprd.http_port)
        monkeypatch.setattr(dapr_settings, "DAPR_GRPC_PORT", daprd.grpc_port)
        monkeypatch.setattr(dapr_settings, "DAPR_HEALTH_TIMEOUT", 5)
        settings = Settings(state_backend="dapr", sink_backend="dapr", redis_url=redis_url)
        dapr = open_store(settings)  # through the composition root, as a function with a sidecar
        direct = RedisStateStore(connect(redis_url, cluster=False))
        try:
            yield Sidecar(daprd.daprd, dapr, direct, settings)
        finally:
            await dapr.aclose()
            await direct.aclose()


def _key() -> str:
    return student_key(f"dapr-{uuid.uuid4().hex[:8]}")


async def test_a_record_written_through_dapr_reads_the_same_directly_and_back(
    sidecar: Sidecar,
) -> None:
    key = _key()
    await sidecar.dapr.write(key, b'{"v": 1}', etag=None, ttl_seconds=600)
    direct = await sidecar.direct.read(key)
    assert direct is not None
    assert direct.data == b'{"v": 1}'
    assert direct.etag == "1"

    # The direct adapter continues from Dapr's version, and Dapr sees the direct write.
    assert await sidecar.direct.write(key, b'{"v": 2}', etag="1", ttl_seconds=600) == "2"
    through_dapr = await sidecar.dapr.read(key)
    assert through_dapr is not None
    assert (through_dapr.data, through_dapr.etag) == (b'{"v": 2}', "2")
    assert await sidecar.dapr.read_many([key, _key()]) == [through_dapr, None]
    assert 590 <= redis.Redis.from_url(sidecar.settings.redis_url).ttl(key) <= 600


async def test_stale_etags_lose_on_both_paths(sidecar: Sidecar) -> None:
    key = _key()
    await sidecar.direct.write(key, b"a", etag=None, ttl_seconds=60)
    await sidecar.dapr.write(key, b"b", etag="1", ttl_seconds=60)
    with pytest.raises(ConflictError):
        await sidecar.dapr.write(key, b"c", etag="1", ttl_seconds=60)  # daprd: ABORTED
    with pytest.raises(ConflictError):
        await sidecar.direct.write(key, b"c", etag="1", ttl_seconds=60)
    # A blind create of an existing key fails through Dapr as well: the direct adapter marks
    # its keys first-write, as Dapr does (daprd reports it as a store error, not an ETag one).
    with pytest.raises(StateUnavailableError):
        await sidecar.dapr.write(key, b"d", etag=None, ttl_seconds=60)
    stored = await sidecar.direct.read(key)
    assert stored is not None
    assert stored.data == b"b"


async def test_write_many_reports_each_lost_compare_and_set(sidecar: Sidecar) -> None:
    fresh, taken = _key(), _key()
    await sidecar.direct.write(taken, b"x", etag=None, ttl_seconds=60)
    etags = await sidecar.dapr.write_many(
        [Write(fresh, b"new", None, 60), Write(taken, b"stale", "7", 60)]
    )
    assert etags[1] is None
    assert etags[0] is not None
    assert await sidecar.direct.read_many([fresh, taken]) == [
        await sidecar.dapr.read(fresh),
        await sidecar.dapr.read(taken),
    ]


async def test_delete_through_a_state_transaction(sidecar: Sidecar) -> None:
    keys = [_key(), _key()]
    for key in keys:
        await sidecar.direct.write(key, b"x", etag=None, ttl_seconds=60)
    assert await sidecar.dapr.delete(keys) == 2
    assert await sidecar.direct.read_many(keys) == [None, None]
    assert await sidecar.dapr.ping()


async def test_events_applied_through_dapr_are_the_records_the_direct_path_reads(
    sidecar: Sidecar,
) -> None:
    dead_letters, alerts = await open_sinks(sidecar.settings)
    deps = IngestDeps(store=sidecar.dapr, dead_letters=dead_letters, clock=lambda: NOW,
                      curriculum=CURRICULUM, read_envelope=read_envelope, alerts=MemorySink())  # fmt: skip
    student = f"dapr-{uuid.uuid4().hex[:8]}"
    first = event("quiz.completed", student, "basics.variables", NOW, quiz_id="q", correct=4,
                  total=5)  # fmt: skip
    meta = KafkaMetadata(topic="learning.events", partition="1", offset="9", key=student)
    assert await handle_record(raw(first), meta, deps) == Outcome.APPLIED
    assert await handle_record(raw(first), meta, deps) == Outcome.DUPLICATE
    trace_id = uuid.uuid4().hex
    traced_meta = replace(meta, traceparent=f"00-{trace_id}-{'b' * 16}-01")
    assert await handle_record(b"{", traced_meta, deps) == Outcome.DEAD_LETTERED

    record, etag = await load_student(sidecar.direct, student)
    assert record is not None
    assert etag == "1"
    assert first["id"] in record.seen
    [letter] = sidecar.daprd.invocations
    assert (letter.name, letter.operation) == ("dead-letters", "create")
    # The record's trace goes on as binding metadata (the Kafka binding's record headers).
    assert letter.metadata.keys() == {"partitionKey", "traceparent"}
    assert letter.metadata["partitionKey"] == student
    assert letter.metadata["traceparent"].split("-")[1] == trace_id
    assert b"not valid JSON" in letter.data

    sidecar.daprd.bindings_down = True
    with pytest.raises(DependencyUnavailableError):
        await alerts.publish(student, b"{}")
    await dead_letters.aclose()
    await alerts.aclose()


async def test_a_record_in_the_previous_format_is_migrated_alike_on_both_paths(
    sidecar: Sidecar,
) -> None:
    """A record stored item by item before the compact form, then one event through Dapr and one
    directly: each path reads what the other wrote, and both leave the bytes the in-memory store
    holds after the same events."""
    student, topic = f"dapr-{uuid.uuid4().hex[:8]}", "basics.variables"
    quizzes = [
        event("quiz.completed", student, topic, NOW - timedelta(days=days, minutes=days),
              quiz_id=f"q{days}", correct=days % 6, total=6)
        for days in (12, 9, 3, 2, 1, 0)
    ]  # fmt: skip
    meta = KafkaMetadata(topic="learning.events", partition="1", offset="9", key=student)

    def deps(store: StateStore) -> IngestDeps:
        return IngestDeps(store=store, dead_letters=MemorySink(), clock=lambda: NOW,
                          curriculum=CURRICULUM, read_envelope=read_envelope)  # fmt: skip

    memory, key = MemoryStateStore(), student_key(student)
    for document in quizzes[:-2]:
        assert await handle_record(raw(document), meta, deps(memory)) == Outcome.APPLIED
    compact = memory.values[key].data
    previous = StudentRecord.model_validate_json(compact).model_dump_json(context=EXPANDED)
    assert previous.encode() != compact
    await sidecar.direct.write(key, previous.encode(), etag=None, ttl_seconds=600)

    for document, store in zip(quizzes[-2:], (sidecar.dapr, sidecar.direct), strict=True):
        assert await handle_record(raw(document), meta, deps(store)) == Outcome.APPLIED
        assert await handle_record(raw(document), meta, deps(memory)) == Outcome.APPLIED
        for path in (sidecar.direct, sidecar.dapr):
            stored = await path.read(key)
            assert stored is not None
            assert stored.data == memory.values[key].data


async def test_an_unreachable_sidecar_is_a_transient_fault(sidecar: Sidecar) -> None:
    logs = RedisLogs(connect(sidecar.settings.redis_url, cluster=False))
    store = DaprStateStore(DaprSidecar(_client_for_missing_sidecar), "mastery-state", logs)
    with pytest.raises(StateUnavailableError):
        await store.read(_key())
    assert not await store.ping()
    await store.aclose()


def _client_for_missing_sidecar() -> object:
    from dapr.aio.clients import DaprClient

    return DaprClient(address=f"127.0.0.1:{free_port()}")


async def test_waiting_for_the_sidecar_leaves_the_event_loop_free(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DaprClient() polls the sidecar with blocking calls, here for 3 s: nothing listens.
    monkeypatch.setattr(dapr_settings, "DAPR_RUNTIME_HOST", "127.0.0.1")
    monkeypatch.setattr(dapr_settings, "DAPR_HTTP_PORT", free_port())
    monkeypatch.setattr(dapr_settings, "DAPR_HEALTH_TIMEOUT", 3)
    core = await open_core(Settings(sink_backend="dapr", redis_url=redis_url))
    function = await ingest.create(core)
    async with serve(function) as client:
        started = time.monotonic()
        live = await client.get("/healthz")
        ready = await client.get("/readyz")
        elapsed = time.monotonic() - started
    await core.aclose()
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"state_store": True, "sidecar": False}
    assert elapsed < 1.0, "the probes waited for the sidecar"


async def test_ingest_is_ready_once_the_sidecar_answers(sidecar: Sidecar) -> None:
    core = await open_core(Settings(sink_backend="dapr", redis_url=sidecar.settings.redis_url))
    function = await ingest.create(core)
    async with serve(function) as client:
        deadline = time.monotonic() + 10
        while (ready := await client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            await asyncio.sleep(0.05)
    await core.aclose()
    assert ready.json()["checks"] == {"state_store": True, "sidecar": True}
