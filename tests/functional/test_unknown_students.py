"""A student id never seen: 404 problem+json to teachers and admins, the empty view to the
student themselves (a new student opening their dashboard)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from mastery.adapters.memory import MemoryStateStore
from tests.all_functions import Engine, all_functions, authenticated_operations, bearer

NOBODY, CLASS = "never-seen-1", "class-u"
STUDENT_ROUTES = {
    ("query", "/v1/students/{student_id}/mastery"),
    ("query", "/v1/students/{student_id}/topics/{topic_id}"),
    ("query", "/v1/students/{student_id}/history"),
    ("predict", "/v1/students/{student_id}/forecast"),
    ("recommend", "/v1/students/{student_id}/recommendations"),
}


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with all_functions(MemoryStateStore()) as running:
        yield running


def concrete(path: str) -> str:
    values = {"student_id": NOBODY, "topic_id": "basics.variables", "alert_id": "a1"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


@pytest.mark.parametrize(
    "caller",
    [bearer("admin-u", "admin"), bearer("teacher-u", "teacher", (CLASS,))],
    ids=["admin", "teacher"],
)
async def test_an_unknown_student_is_404_to_admins_and_teachers(
    engine: Engine, caller: dict[str, str]
) -> None:
    routes = {(f, t) for f, m, t, _ in await authenticated_operations(engine) if m == "GET"}
    assert routes >= STUDENT_ROUTES
    for function, template in sorted(STUDENT_ROUTES):
        response = await engine.clients[function].get(concrete(template), headers=caller)
        assert response.status_code == 404, (template, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    ack = await engine.clients["recommend"].post(
        concrete("/v1/students/{student_id}/alerts/{alert_id}/ack"), headers=caller
    )
    assert ack.status_code == 404
    assert engine.store.logs == {}, "no audit keys for ids that hold nothing"  # type: ignore[attr-defined]


async def test_a_student_reading_their_own_empty_record_gets_the_empty_view(
    engine: Engine,
) -> None:
    own = bearer(NOBODY, "student")
    for function, template in sorted(STUDENT_ROUTES):
        response = await engine.clients[function].get(concrete(template), headers=own)
        assert response.status_code == 200, (template, response.text)
    mastery = await engine.clients["query"].get(f"/v1/students/{NOBODY}/mastery", headers=own)
    assert mastery.json()["score"] == 0
    other = await engine.clients["query"].get("/v1/students/someone-else/mastery", headers=own)
    assert other.status_code == 403
