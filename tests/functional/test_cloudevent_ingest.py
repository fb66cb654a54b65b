"""Ingest as every transport builds it (`ingest_deps` of the core) takes both
envelopes: a CloudEvent is applied like our envelope, and one without a data object is
dead-lettered with its reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.config import Settings
from mastery.entrypoints.core import Core, ingest_deps
from mastery.services.ingest import KafkaMetadata, Outcome, handle_records
from mastery.services.students import load_student
from tests.factories import event, raw

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
AT = NOW - timedelta(hours=1)
TOPIC = "basics.variables"


def cloudevent(event_id: str, data: object) -> bytes:
    return raw({"specversion": "1.0", "id": event_id, "source": "learnflow/quiz",
                "type": "quiz.completed", "subject": "s1", "time": AT.isoformat(),
                "data": data})  # fmt: skip


async def test_both_envelopes_are_applied_and_a_broken_cloudevent_is_dead_lettered() -> None:
    store, dead_letters = MemoryStateStore(), MemorySink()
    deps = ingest_deps(Core(settings=Settings(), store=store, dead_letters=dead_letters,
                            alerts=MemorySink(), clock=lambda: NOW))  # fmt: skip
    ours = event("quiz.completed", "s1", TOPIC, AT, "e1", quiz_id="q1", correct=1, total=2)
    quiz = {"topic": TOPIC, "quiz_id": "q2", "correct": 3, "total": 4}
    meta = KafkaMetadata(topic="learning-events", partition="0", offset="7", key="s1")
    records = [(raw(ours), meta), (cloudevent("e2", quiz), meta), (cloudevent("e3", "text"), meta)]
    outcomes = await handle_records(records, deps)
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.DEAD_LETTERED]
    record, _ = await load_student(store, "s1")
    assert record is not None
    assert set(record.seen) == {"e1", "e2"}
    assert [q[1] for q in record.topics[TOPIC].quizzes] == [0.5, 0.75]
    [(key, letter)] = dead_letters.records
    assert key == "s1"
    assert json.loads(letter)["reason"] == "cloudevent data must be a JSON object"
