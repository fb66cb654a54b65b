"""The gdpr function end to end with in-memory fakes: export, erasure, tombstones, audit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from mastery.adapters.memory import MemoryStateStore
from mastery.domain.record import StudentRecord
from mastery.services.gdpr import EXPORT_FORMAT_VERSION, canonical_bytes, verify_export
from mastery.services.ingest import Outcome
from mastery.services.students import student_key
from tests.all_functions import NOW, Engine, all_functions, bearer
from tests.factories import event, raw

TOPIC = "data_structures.lists"
STUDENT, OTHER, CLASS = "stu-1", "stu-2", "class-a"
ADMIN = bearer("admin-1", "admin")
TEACHER = bearer("teacher-1", "teacher", (CLASS,))


def history_of(student_id: str) -> list[bytes]:
    """A student's stream: an enrolment, exercises, a quiz, failing runs and a plea for help."""
    at = NOW - timedelta(days=3)
    events = [
        event("class.enrolled", student_id, None, at, class_id=CLASS),
        event("exercise.completed", student_id, TOPIC, at + timedelta(minutes=1),
              exercise_id="e1", difficulty="easy", passed=True),
        event("quiz.completed", student_id, TOPIC, at + timedelta(hours=1),
              quiz_id="q1", correct=1, total=4),
        event("help.requested", student_id, TOPIC, at + timedelta(hours=2), text="I'm stuck"),
    ] + [
        event("code.executed", student_id, TOPIC, at + timedelta(hours=3, minutes=n),
              ok=False, error_type="TypeError")
        for n in range(5)
    ]  # fmt: skip
    return [raw(e) for e in events]


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with all_functions(MemoryStateStore()) as running:
        for body in history_of(STUDENT) + history_of(OTHER):
            assert (await running.deliver(body)).status_code == 200
        yield running


async def stored_record(engine: Engine, student_id: str) -> StudentRecord | None:
    stored = await engine.store.read(student_key(student_id))
    return None if stored is None else StudentRecord.model_validate_json(stored.data)


async def test_export_round_trips_the_stored_record_and_is_sealed(engine: Engine) -> None:
    response = await engine.clients["gdpr"].get(f"/v1/students/{STUDENT}/export", headers=ADMIN)
    assert response.status_code == 200
    document = response.json()
    assert document["format_version"] == EXPORT_FORMAT_VERSION
    assert document["exported_at"].startswith("2026-11-20T12:00:00")
    record = await stored_record(engine, STUDENT)
    assert StudentRecord.model_validate(document["record"]) == record
    assert document["record"]["alerts"], "struggle alerts are part of the export"
    assert document["derived"]["enrolled_classes"] == [CLASS]
    assert document["derived"]["mastery"]["student_id"] == STUDENT
    assert len(document["derived"]["history"]) == 90
    assert verify_export(document)
    # Canonical form: sorted keys, no whitespace, UTF-8, without the digest; survives re-parsing.
    reparsed = json.loads(json.dumps(document, indent=2))
    assert verify_export(reparsed)
    assert b" " not in canonical_bytes({"b": 1, "a": [1, 2]})
    assert canonical_bytes({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    tampered = json.loads(json.dumps(document))
    tampered["record"]["topics"][TOPIC]["attempts"] += 1
    assert not verify_export(tampered)


async def test_export_includes_the_audit_trail_of_who_read_the_data(engine: Engine) -> None:
    await engine.clients["query"].get(f"/v1/students/{STUDENT}/mastery", headers=TEACHER)
    await engine.clients["query"].get(
        f"/v1/students/{STUDENT}/mastery", headers={**bearer(STUDENT, "student")}
    )
    response = await engine.clients["gdpr"].get(
        f"/v1/students/{STUDENT}/export",
        headers={**bearer(STUDENT, "student"), "X-Request-ID": "export-req-1"},
    )
    trail = response.json()["audit_trail"]
    assert [(e["actor"], e["action"]) for e in trail] == [
        ("teacher-1", "read"),
        (STUDENT, "export"),
    ], "the student's own read is not audited; the teacher's read and the export are"
    assert trail[0]["what"] == f"GET /v1/students/{STUDENT}/mastery"
    assert trail[1]["correlation_id"] == "export-req-1"


@pytest.mark.parametrize(
    "headers",
    [bearer(OTHER, "student"), TEACHER, bearer("t-2", "teacher", ("other-class",))],
    ids=["another-student", "their-teacher", "another-teacher"],
)
async def test_export_is_only_for_the_student_and_admins(
    engine: Engine, headers: dict[str, str]
) -> None:
    response = await engine.clients["gdpr"].get(f"/v1/students/{STUDENT}/export", headers=headers)
    assert response.status_code == 403


async def test_export_of_an_unknown_student_is_404(engine: Engine) -> None:
    response = await engine.clients["gdpr"].get("/v1/students/nobody/export", headers=ADMIN)
    assert response.status_code == 404


async def test_erasure_removes_everything_and_a_replay_brings_nothing_back(engine: Engine) -> None:
    await engine.clients["query"].get(f"/v1/students/{STUDENT}/mastery", headers=TEACHER)
    response = await engine.clients["gdpr"].delete(f"/v1/students/{STUDENT}", headers=ADMIN)
    assert response.status_code == 200
    report = response.json()
    assert report["record_erased"] is True
    assert report["events"] == 9
    assert report["topics"] == 1
    assert report["alerts"] >= 1
    assert report["audit_entries"] == 1
    assert report["classes"] == [CLASS]
    keys = {k for k in engine.store.values if "{stu-1}" in k}
    assert keys == {"tombstone:{stu-1}"}
    roster = json.loads(engine.store.values["class:{class-a}"].data)
    assert STUDENT not in roster["members"]
    assert OTHER in roster["members"]

    outcomes = [(await engine.deliver(body)).json()["outcome"] for body in history_of(STUDENT)]
    assert outcomes == [Outcome.ERASED] * 9
    assert {k for k in engine.store.values if "{stu-1}" in k} == {"tombstone:{stu-1}"}

    after = raw(event("quiz.completed", STUDENT, TOPIC, NOW, quiz_id="q9", correct=3, total=4))
    assert (await engine.deliver(after)).json()["outcome"] == Outcome.APPLIED
    record = await stored_record(engine, STUDENT)
    assert record is not None
    assert list(record.seen) == [json.loads(after)["id"]]


async def test_the_audit_trail_lists_reads_exports_and_the_erasure(engine: Engine) -> None:
    await engine.clients["query"].get(
        f"/v1/students/{STUDENT}/history", headers={**TEACHER, "X-Request-ID": "read-1"}
    )
    await engine.clients["query"].get(f"/v1/classes/{CLASS}/mastery", headers=TEACHER)
    await engine.clients["gdpr"].get(f"/v1/students/{STUDENT}/export", headers=ADMIN)
    trail = await engine.clients["gdpr"].get(f"/v1/audit?student_id={STUDENT}", headers=ADMIN)
    assert [(e["action"], e["what"]) for e in trail.json()["entries"]] == [
        ("read", f"GET /v1/students/{STUDENT}/history"),
        ("read", f"GET /v1/classes/{CLASS}/mastery"),
        ("export", f"GET /v1/students/{STUDENT}/export"),
    ]
    assert trail.json()["entries"][0]["correlation_id"] == "read-1"
    await engine.clients["gdpr"].delete(
        f"/v1/students/{STUDENT}", headers={**ADMIN, "X-Request-ID": "erase-1"}
    )
    after = await engine.clients["gdpr"].get(f"/v1/audit?student_id={STUDENT}", headers=ADMIN)
    [erasure] = after.json()["entries"]
    assert (erasure["action"], erasure["actor"], erasure["correlation_id"]) == (
        "erase",
        "admin-1",
        "erase-1",
    )


async def test_the_audit_trail_filters_by_time_range(engine: Engine) -> None:
    await engine.clients["query"].get(f"/v1/students/{STUDENT}/mastery", headers=TEACHER)
    since = (NOW + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    response = await engine.clients["gdpr"].get(
        "/v1/audit", params={"student_id": STUDENT, "since": since}, headers=ADMIN
    )
    assert response.status_code == 200
    assert response.json()["entries"] == []
    backwards = await engine.clients["gdpr"].get(
        "/v1/audit",
        params={"student_id": STUDENT, "since": NOW.isoformat(), "until": "2026-01-01T00:00Z"},
        headers=ADMIN,
    )
    assert backwards.status_code == 422


async def test_only_admins_read_the_audit_trail(engine: Engine) -> None:
    for headers in (TEACHER, bearer(STUDENT, "student")):
        response = await engine.clients["gdpr"].get(
            f"/v1/audit?student_id={STUDENT}", headers=headers
        )
        assert response.status_code == 403


async def test_students_erase_themselves_only_when_configured(engine: Engine) -> None:
    own = bearer(STUDENT, "student")
    assert (
        await engine.clients["gdpr"].delete(f"/v1/students/{STUDENT}", headers=own)
    ).status_code == 403
    assert (
        await engine.clients["gdpr"].delete(f"/v1/students/{STUDENT}", headers=TEACHER)
    ).status_code == 403
    async with all_functions(engine.store, gdpr_self_erasure=True) as configured:
        other = await configured.clients["gdpr"].delete(f"/v1/students/{OTHER}", headers=own)
        assert other.status_code == 403
        response = await configured.clients["gdpr"].delete(f"/v1/students/{STUDENT}", headers=own)
        assert response.status_code == 200
        assert response.json()["record_erased"] is True


async def test_erasing_again_keeps_the_first_erasure_and_records_the_next_beside_it(
    engine: Engine,
) -> None:
    await engine.clients["query"].get(f"/v1/students/{STUDENT}/mastery", headers=TEACHER)
    first = await engine.clients["gdpr"].delete(
        f"/v1/students/{STUDENT}", headers={**ADMIN, "X-Request-ID": "erase-1"}
    )
    again = await engine.clients["gdpr"].delete(
        f"/v1/students/{STUDENT}", headers={**bearer("admin-2", "admin"), "X-Request-ID": "erase-2"}
    )
    assert (first.json()["events"], first.json()["audit_entries"]) == (9, 1)
    assert (again.json()["record_erased"], again.json()["events"]) == (False, 0)
    stored = engine.store.values["tombstone:{stu-1}"]
    tombstone = json.loads(stored.data)
    assert tombstone["erasure"]["actor"] == "admin-1"
    assert tombstone["erased"]["events"] == 9, "the first erasure's counts are kept"
    assert again.json()["first_erased_at"] == first.json()["erased_at"]
    assert [(e["erasure"]["actor"], e["erased"]["events"]) for e in tombstone["later"]] == [
        ("admin-2", 0)
    ]
    trail = await engine.clients["gdpr"].get(f"/v1/audit?student_id={STUDENT}", headers=ADMIN)
    assert [(e["action"], e["correlation_id"]) for e in trail.json()["entries"]] == [
        ("erase", "erase-1"),
        ("erase", "erase-2"),
    ]


async def test_repeated_reads_within_the_window_make_one_entry_with_a_count(
    engine: Engine,
) -> None:
    for _ in range(3):
        await engine.clients["query"].get(f"/v1/classes/{CLASS}/mastery", headers=TEACHER)
    await engine.clients["query"].get(f"/v1/students/{STUDENT}/mastery", headers=TEACHER)
    trail = await engine.clients["gdpr"].get(f"/v1/audit?student_id={STUDENT}", headers=ADMIN)
    assert [(e["what"], e["count"]) for e in trail.json()["entries"]] == [
        (f"GET /v1/classes/{CLASS}/mastery", 3),
        (f"GET /v1/students/{STUDENT}/mastery", 1),
    ]


async def test_the_audit_trail_pages(engine: Engine) -> None:
    for n in range(5):
        await engine.clients["query"].get(f"/v1/students/{STUDENT}/history?days={n + 1}",
                                          headers=bearer(f"teacher-{n}", "teacher", (CLASS,)))  # fmt: skip
    seen, cursor = [], None
    while True:
        params = {"student_id": STUDENT, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await engine.clients["gdpr"].get("/v1/audit", params=params, headers=ADMIN)).json()
        assert len(page["entries"]) <= 2
        seen += [e["actor"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen[:5] == [f"teacher-{n}" for n in range(5)]
    bad = await engine.clients["gdpr"].get(
        "/v1/audit", params={"student_id": STUDENT, "cursor": "x"}, headers=ADMIN
    )
    assert bad.status_code == 422
