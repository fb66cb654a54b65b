"""A record stored in the previous, item-by-item format is read and migrated like a new one.

The record's scores and active days are stored as gaps (`mastery.domain.record_encoding`);
records written before that hold them item by item. Every route must answer the same from
either, and the next event must leave the record a fresh delivery of the same events leaves.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from mastery.adapters.memory import MemoryStateStore
from mastery.domain.record import StudentRecord
from mastery.domain.record_encoding import EXPANDED
from mastery.services.students import student_key
from tests.all_functions import NOW, Engine, all_functions, bearer
from tests.factories import event, raw

STUDENT, CLASS = "stu-1", "class-a"
TOPICS = ("basics.variables", "basics.data_types")
ADMIN = bearer("admin-1", "admin")
TEACHER = bearer("teacher-1", "teacher", (CLASS,))


def three_weeks() -> list[bytes]:
    """An enrolment, then 20 days of passes, reviews and quizzes (some low) in two topics."""
    start = NOW - timedelta(days=20, hours=3)
    events = [event("class.enrolled", STUDENT, None, start, class_id=CLASS)]
    for day in range(20):
        topic = TOPICS[day % 2]
        at = start + timedelta(days=day, minutes=7 * day)
        events += [
            event("exercise.completed", STUDENT, topic, at, exercise_id=f"{topic}.ex{day % 5}",
                  difficulty="medium", passed=True),
            event("code.reviewed", STUDENT, topic, at + timedelta(minutes=1),
                  submission_id=f"s{day}", quality=40 + 3 * day),
            event("quiz.completed", STUDENT, topic, at + timedelta(minutes=5), quiz_id=f"q{day}",
                  correct=day % 7, total=7),
            event("code.executed", STUDENT, topic, at + timedelta(minutes=6), ok=False,
                  error_type="TypeError"),
        ]  # fmt: skip
    return [raw(e) for e in events]


async def answers(engine: Engine) -> dict[str, Any]:
    """What every route reading the student's record answers (the export without its
    time-stamped parts: its trail grows with these very reads)."""
    student = f"/v1/students/{STUDENT}"
    reads = {
        "mastery": ("query", f"{student}/mastery", ADMIN),
        "topic": ("query", f"{student}/topics/{TOPICS[0]}", ADMIN),
        "history": ("query", f"{student}/history?days=30", ADMIN),
        "forecast": ("predict", f"{student}/forecast", ADMIN),
        "recommendations": ("recommend", f"{student}/recommendations", ADMIN),
        "class alerts": ("recommend", f"/v1/classes/{CLASS}/alerts", TEACHER),
        "export": ("gdpr", f"{student}/export", ADMIN),
    }
    found = {}
    for name, (function, path, headers) in reads.items():
        response = await engine.clients[function].get(path, headers=headers)
        assert response.status_code == 200, (name, response.text)
        found[name] = response.json()
    export = found.pop("export")
    found["export record"], found["export derived"] = export["record"], export["derived"]
    return found


async def test_every_route_answers_the_same_from_a_record_in_the_previous_format() -> None:
    stream = three_weeks()
    async with all_functions(MemoryStateStore()) as engine:
        for body in stream:
            assert (await engine.deliver(body)).status_code == 200
        key = student_key(STUDENT)
        stored = await engine.store.read(key)
        assert stored is not None
        compact = await answers(engine)
        assert compact["class alerts"]["alerts"], "the low quizzes and errors raised alerts"

        record = StudentRecord.model_validate_json(stored.data)
        previous = record.model_dump_json(context=EXPANDED).encode()
        layout = json.loads(previous)
        assert layout["topics"][TOPICS[0]]["quizzes"][0][2] == "", "a blanked id, item by item"
        assert len(previous) > len(stored.data)
        assert compact["export record"] == layout, "the export keeps the item-by-item layout"
        current = await engine.store.read(key)
        assert current is not None
        await engine.store.write(key, previous, etag=current.etag, ttl_seconds=3600)
        assert await answers(engine) == compact

        # The next event writes the record back in the compact form, as a fresh delivery does.
        last = raw(event("quiz.completed", STUDENT, TOPICS[1], NOW - timedelta(minutes=5),
                         quiz_id="q-last", correct=3, total=7))  # fmt: skip
        assert (await engine.deliver(last)).status_code == 200
        migrated = await engine.store.read(key)

    async with all_functions(MemoryStateStore()) as fresh:
        for body in [*stream, last]:
            assert (await fresh.deliver(body)).status_code == 200
        expected = await fresh.store.read(key)
    assert migrated is not None
    assert expected is not None
    assert migrated.data == expected.data
