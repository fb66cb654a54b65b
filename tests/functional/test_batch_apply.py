"""The batch path (native consumer) and the single-event path share one apply: same outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.curriculum import CURRICULUM
from mastery.entrypoints.envelopes import read_envelope
from mastery.ports import Write
from mastery.services.ingest import IngestDeps, KafkaMetadata, Outcome, handle_records
from mastery.services.students import load_student, student_key
from tests.factories import event, raw

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class RacedStore(MemoryStateStore):
    """Another pod writes `student` between our read and our first batch write."""

    def __init__(self, student: str) -> None:
        super().__init__()
        self.key = student_key(student)
        self.raced = False

    async def write_many(self, writes: Sequence[Write]) -> list[str | None]:
        if not self.raced:
            self.raced = True
            current = self.values.get(self.key)
            await self.write(self.key, current.data if current else b'{"student_id": "a"}',
                             etag=current.etag if current else None, ttl_seconds=60)  # fmt: skip
        return await super().write_many(writes)


def _deps(store: MemoryStateStore) -> IngestDeps:
    return IngestDeps(store=store, dead_letters=MemorySink(), clock=lambda: NOW,
                      curriculum=CURRICULUM, read_envelope=read_envelope, alerts=MemorySink())  # fmt: skip


async def test_a_batch_applies_each_event_once_per_student_and_dead_letters_poison() -> None:
    store = MemoryStateStore()
    quiz = event("quiz.completed", "a", "basics.variables", NOW, quiz_id="q", correct=1, total=2)
    run = event("code.executed", "b", "basics.variables", NOW, ok=True)
    meta = KafkaMetadata(topic="t", partition="0", offset="1")
    batch = [(raw(quiz), meta), (b"{", meta), (raw(run), meta), (raw(quiz), meta)]
    outcomes = await handle_records(batch, _deps(store))
    assert outcomes == [Outcome.APPLIED, Outcome.DEAD_LETTERED, Outcome.APPLIED, Outcome.DUPLICATE]
    # One compare-and-set per student for the whole batch.
    assert {key: v.etag for key, v in store.values.items()} == {
        student_key("a"): "1",
        student_key("b"): "1",
    }


async def test_a_student_whose_write_lost_is_retried_on_a_fresh_read() -> None:
    store = RacedStore("a")
    second = event("code.executed", "a", "basics.variables", NOW, ok=False, error_type="E")
    other = event("code.executed", "c", "basics.variables", NOW, ok=True)
    outcomes = await handle_records(
        [(raw(second), KafkaMetadata()), (raw(other), KafkaMetadata())], _deps(store)
    )
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED]
    record, etag = await load_student(store, "a")
    assert record is not None
    assert second["id"] in record.seen
    assert etag == "2"  # the racing write, then ours on top of it
