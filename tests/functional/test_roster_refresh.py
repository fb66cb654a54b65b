"""Ingest refreshes a class roster entry at most once per student, class and day, without a
roster read on the other events, and still never leaves an entry without an expiry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.curriculum import CURRICULUM
from mastery.entrypoints.envelopes import read_envelope
from mastery.ports import Versioned
from mastery.services.ingest import IngestDeps, KafkaMetadata, handle_records
from mastery.services.rosters import RosterMemo
from mastery.services.students import DAY_SECONDS, ClassRoster, class_key
from tests.factories import event, raw

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOPIC = "basics.variables"
CLASS = "c1"


class CountingStore(MemoryStateStore):
    """Counts the roster keys read."""

    def __init__(self) -> None:
        super().__init__()
        self.roster_reads = 0

    def _count(self, keys: Sequence[str]) -> None:
        self.roster_reads += sum(key.startswith("class:") for key in keys)

    async def read(self, key: str) -> Versioned | None:
        self._count([key])
        return await super().read(key)

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        self._count(keys)
        return await super().read_many(keys)


class Ingest:
    def __init__(self, store: MemoryStateStore) -> None:
        self.now = NOW
        self.store = store
        self.deps = IngestDeps(store=store, dead_letters=MemorySink(), clock=lambda: self.now,
                               curriculum=CURRICULUM, read_envelope=read_envelope, alerts=MemorySink())  # fmt: skip

    async def deliver(self, *documents: dict[str, Any]) -> None:
        for document in documents:
            await handle_records([(raw(document), KafkaMetadata())], self.deps)

    def roster(self) -> ClassRoster:
        return ClassRoster.model_validate_json(self.store.values[class_key(CLASS)].data)


def _quiz(student: str, at: datetime) -> dict[str, Any]:
    return event("quiz.completed", student, TOPIC, at, quiz_id="q", correct=1, total=2)


def _expiry(at: datetime) -> int:
    return int(at.timestamp()) + 90 * DAY_SECONDS


async def test_a_days_events_read_the_roster_once_and_the_next_day_refreshes_it() -> None:
    store = CountingStore()
    ingest = Ingest(store)
    start = NOW - timedelta(days=3)
    await ingest.deliver(event("class.enrolled", "s1", None, start, class_id=CLASS))
    enrolled = store.roster_reads
    await ingest.deliver(*(_quiz("s1", start + timedelta(minutes=m)) for m in range(1, 40)))
    assert store.roster_reads == enrolled  # same day: the roster is not read at all
    next_day = start + timedelta(days=1, minutes=1)
    await ingest.deliver(_quiz("s1", next_day))
    assert store.roster_reads == enrolled + 1
    assert ingest.roster().expires == {"s1": _expiry(next_day)}
    await ingest.deliver(*(_quiz("s1", next_day + timedelta(minutes=m)) for m in range(1, 10)))
    assert store.roster_reads == enrolled + 1


async def test_a_new_process_reads_the_roster_once_per_class_to_learn_it() -> None:
    store = CountingStore()
    first = Ingest(store)
    await first.deliver(event("class.enrolled", "s1", None, NOW, class_id=CLASS),
                        _quiz("s1", NOW))  # fmt: skip
    second = Ingest(store)  # another pod, or after a restart
    reads = store.roster_reads
    await second.deliver(*(_quiz("s1", NOW + timedelta(minutes=m)) for m in range(1, 5)))
    assert store.roster_reads == reads + 1


async def test_rejoining_a_class_gets_a_roster_entry_with_an_expiry_again() -> None:
    store = MemoryStateStore()
    pod_a, pod_b = Ingest(store), Ingest(store)  # s1's partition, s2's partition
    at = NOW - timedelta(days=2)
    await pod_a.deliver(event("class.enrolled", "s1", None, at, class_id=CLASS))
    await pod_b.deliver(event("class.enrolled", "s2", None, at, class_id=CLASS))
    await pod_a.deliver(event("class.unenrolled", "s1", None, at + timedelta(hours=1),
                              class_id=CLASS))  # fmt: skip
    await pod_b.deliver(_quiz("s2", at + timedelta(days=1, hours=1)))  # drops s1's expiry
    assert set(pod_a.roster().expires) == {"s2"}
    rejoined = at + timedelta(hours=2)
    await pod_a.deliver(event("class.enrolled", "s1", None, rejoined, class_id=CLASS))
    roster = pod_a.roster()
    assert roster.members == ["s1", "s2"]
    assert roster.expires["s1"] == _expiry(rejoined)  # so it lapses with s1's data


async def test_a_lapsed_member_is_pruned_on_another_members_next_event() -> None:
    ingest = Ingest(MemoryStateStore())
    old = NOW - timedelta(days=90) + timedelta(seconds=3)
    await ingest.deliver(event("class.enrolled", "old", None, old, class_id=CLASS),
                         event("class.enrolled", "s1", None, NOW - timedelta(hours=2),
                               class_id=CLASS))  # fmt: skip
    await ingest.deliver(_quiz("s1", NOW - timedelta(hours=1)))
    assert ingest.roster().members == ["old", "s1"]
    ingest.now = NOW + timedelta(seconds=4)
    await ingest.deliver(_quiz("s1", NOW))  # s1's own entry is current: only the lapse reads
    assert ingest.roster().members == ["s1"]
    assert set(ingest.roster().expires) == {"s1"}


def test_the_memo_forgets_entries_and_keeps_a_bounded_number_of_classes() -> None:
    memo = RosterMemo(capacity=2)
    roster = ClassRoster(members=["a"], expires={"a": 1_000})
    memo.saw("c1", roster)
    assert memo.current("c1", "a", 1_000, now=10)
    assert not memo.current("c1", "a", 1_000 + DAY_SECONDS + 1, now=10)  # lags a day
    assert not memo.current("c1", "a", 1_000, now=1_001)  # lapsed: prune
    assert not memo.current("c1", "b", 1_000, now=10)
    memo.forget("c1", "a")
    memo.forget("c9", "a")
    assert not memo.current("c1", "a", 1_000, now=10)
    for class_id in ("c2", "c3", "c4"):
        memo.saw(class_id, roster)
    assert not memo.current("c2", "a", 1_000, now=10)  # evicted
    assert memo.current("c4", "a", 1_000, now=10)
    off = RosterMemo(capacity=0)
    off.saw("c1", roster)
    assert not off.current("c1", "a", 1_000, now=10)
    assert json.loads(roster.model_dump_json()) == {"members": ["a"], "expires": {"a": 1000}}
