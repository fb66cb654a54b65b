"""Every route of every function, taken from its /openapi.json, leaves an audit entry naming
whoever read (or acknowledged, exported, erased) a student's data, unless it was their own read.

A route added later is walked too: it fails here until it records its accesses.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from mastery.adapters.memory import MemoryStateStore
from mastery.domain.record import StudentRecord
from mastery.services.audit import AuditEntry
from mastery.services.students import student_key
from tests.all_functions import NOW, Engine, all_functions, authenticated_operations, bearer
from tests.factories import event, raw

STUDENT, CLASS, TOPIC = "walked-1", "class-w", "errors.try_except"
CALLERS = {"teacher-w": ("teacher", (CLASS,)), "admin-w": ("admin", ())}
AUDITOR = bearer("auditor", "admin")


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with all_functions(MemoryStateStore()) as running:
        at = NOW - timedelta(hours=2)
        for document in [
            event("class.enrolled", STUDENT, None, at, class_id=CLASS),
            event("quiz.completed", STUDENT, TOPIC, at, quiz_id="q1", correct=1, total=5),
        ]:
            assert (await running.deliver(raw(document))).status_code == 200
        yield running


async def trail(engine: Engine) -> list[AuditEntry]:
    """The student's trail as the admins' route shows it (erasures included), less the reads
    of whoever asks for it (an auditor of its own)."""
    response = await engine.clients["gdpr"].get(
        "/v1/audit", params={"student_id": STUDENT}, headers=AUDITOR
    )
    assert response.status_code == 200, response.text
    entries = [AuditEntry.model_validate(e) for e in response.json()["entries"]]
    return [e for e in entries if e.actor != "auditor"]


def concrete(path: str, alert_id: str) -> str:
    values = {"student_id": STUDENT, "class_id": CLASS, "topic_id": TOPIC, "alert_id": alert_id}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def query_of(operation: dict[str, Any]) -> dict[str, str]:
    return {
        p["name"]: STUDENT
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }


async def test_every_route_records_who_accessed_a_students_data(engine: Engine) -> None:
    stored = await engine.store.read(student_key(STUDENT))
    assert stored is not None
    [alert] = StudentRecord.model_validate_json(stored.data).alerts
    operations = await authenticated_operations(engine)
    # Erasure last: it ends the data the other routes read.
    operations.sort(key=lambda op: op[1] == "DELETE")
    walked = []
    for function, method, template, operation in operations:
        path = concrete(template, alert.id)
        served_by = []
        for subject, (role, classes) in CALLERS.items():
            response = await engine.clients[function].request(
                method, path, params=query_of(operation), headers=bearer(subject, role, classes)
            )
            if response.status_code == 403:
                continue  # not this caller's route (an admin's only, say)
            assert response.status_code < 300, (function, method, path, response.text)
            entries = [e for e in await trail(engine) if e.actor == subject]
            assert any(e.what == f"{method} {path}" for e in entries), (method, path, subject)
            served_by.append(subject)
        assert served_by, f"no caller could use {method} {template}"
        walked.append((method, template))
    assert ("GET", "/v1/classes/{class_id}/alerts") in walked
    assert ("POST", "/v1/students/{student_id}/alerts/{alert_id}/ack") in walked
    assert len(walked) == len(operations) >= 10


async def test_a_refused_request_leaves_no_entry(engine: Engine) -> None:
    """Refused callers (a teacher of another class, another student) are told 403 on every
    route and disclose nothing: the student's trail stays empty."""
    stored = await engine.store.read(student_key(STUDENT))
    assert stored is not None
    [alert] = StudentRecord.model_validate_json(stored.data).alerts
    refused = [bearer("teacher-x", "teacher", ("class-x",)), bearer("walked-2", "student")]
    operations = await authenticated_operations(engine)
    for function, method, template, operation in operations:
        for headers in refused:
            response = await engine.clients[function].request(
                method, concrete(template, alert.id), params=query_of(operation), headers=headers
            )
            assert response.status_code == 403, (method, template, response.text)
    assert len(operations) >= 10
    assert await trail(engine) == []


async def test_a_students_own_reads_are_not_recorded(engine: Engine) -> None:
    own = bearer(STUDENT, "student")
    for function, method, template, operation in await authenticated_operations(engine):
        if method == "GET" and "{student_id}" in template and "export" not in template:
            path = concrete(template, "none")
            response = await engine.clients[function].get(
                path, params=query_of(operation), headers=own
            )
            assert response.status_code == 200, (path, response.text)
    assert await trail(engine) == []


async def test_listing_class_alerts_records_each_listed_student(engine: Engine) -> None:
    teacher = bearer("teacher-w", "teacher", (CLASS,))
    response = await engine.clients["recommend"].get(f"/v1/classes/{CLASS}/alerts", headers=teacher)
    assert response.status_code == 200
    assert [a["student_id"] for a in response.json()["alerts"]] == [STUDENT]
    [entry] = await trail(engine)
    assert (entry.actor, entry.action, entry.what) == (
        "teacher-w", "read", f"GET /v1/classes/{CLASS}/alerts",
    )  # fmt: skip
