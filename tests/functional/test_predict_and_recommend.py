"""The predict function and the recommend function's student route, on in-memory fakes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FunctionType, MethodType, ModuleType
from typing import Any

import httpx
import numpy as np
import pytest

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.config import JwtSettings, Settings
from mastery.domain.alerts import Alert
from mastery.domain.daily import history
from mastery.domain.forecast import FIT_WINDOW_DAYS
from mastery.domain.knowledge import LearnerModel, replay_topic
from mastery.domain.learner import ModelParams, StudentSummary, TopicParams, p_correct
from mastery.domain.mastery import MasteryRules, TopicMastery
from mastery.domain.record import StudentRecord, TopicEvidence
from mastery.entrypoints.core import Core, http_function
from mastery.entrypoints.http import ingest, predict, recommend
from mastery.entrypoints.http.memo import AnswerMemo
from mastery.entrypoints.http.recommendations import student_recommendation_routes
from mastery.services.learner_rollout import LearnerModels
from mastery.services.students import load_student, student_key
from mastery.web.auth import mint_token
from tests.asgi import serve
from tests.factories import event, raw

SECRET = "functional-test-secret-with-32-bytes!"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LISTS = "data_structures.lists"
PARAMS = ModelParams(default=TopicParams(p_init=0.25, p_guess=0.15))


def token(subject: str, role: str, classes: tuple[str, ...] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, subject, role, classes)}"}  # type: ignore[arg-type]


ADMIN = token("root", "admin")
NOBODY = token("nobody", "student")


@dataclass
class Engine:
    ingest: httpx.AsyncClient
    predict: httpx.AsyncClient
    recommend: httpx.AsyncClient
    store: MemoryStateStore
    core: Core

    async def deliver(self, document: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json", "__topic": "learning.events"}
        response = await self.ingest.post(
            "/learning-events", content=raw(document), headers=headers
        )
        assert response.status_code == 200, response.text


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    store = MemoryStateStore()
    core = Core(settings=Settings(jwt=JwtSettings(secret=SECRET)), store=store,
                dead_letters=MemorySink(), alerts=MemorySink(), clock=lambda: NOW,
                learner=LearnerModels(LearnerModel(PARAMS)))  # fmt: skip
    functions = [await ingest.create(core),
                 await predict.create(core), await recommend.create(core)]  # fmt: skip
    async with serve(functions[0]) as i, serve(functions[1]) as p, serve(functions[2]) as r:
        yield Engine(i, p, r, store, core)


async def week_of_quizzes(engine: Engine, student: str = "s1") -> None:
    """Six days of improving quizzes and passed exercises in Lists, plus a failed code run."""
    for day in range(6):
        at = NOW - timedelta(days=5 - day, hours=1)
        await engine.deliver(event("quiz.completed", student, LISTS, at, quiz_id=f"q{day}",
                                   correct=min(5, 1 + day), total=5))  # fmt: skip
        await engine.deliver(event("exercise.completed", student, LISTS, at, exercise_id=f"e{day}",
                                   difficulty="medium", passed=True))  # fmt: skip
    await engine.deliver(event("code.executed", student, LISTS, NOW - timedelta(minutes=5),
                               ok=False, error_type="TypeError"))  # fmt: skip
    await engine.deliver(event("class.enrolled", student, None, NOW - timedelta(days=6),
                               class_id="c1"))  # fmt: skip


async def test_forecast_of_a_student_with_no_data_is_well_formed(engine: Engine) -> None:
    # The student themselves: to an admin or a teacher an unknown student is 404.
    response = await engine.predict.get("/v1/students/nobody/forecast", headers=NOBODY)
    assert response.status_code == 200
    body = response.json()
    assert body["horizon_days"] == 7
    assert body["interval_level"] == 0.9
    assert body["overall"]["status"] == "insufficient_history"
    assert body["overall"]["current_score"] == 0
    assert body["overall"]["forecast"] is None
    assert len(body["topics"]) == 31
    prior = p_correct(None, StudentSummary(), LISTS, PARAMS, NOW.timestamp())
    for topic in body["topics"]:
        assert topic["status"] == "insufficient_history"
        assert topic["history_days"] == 0
        assert topic["learner"] == {"p_next_correct": round(prior, 4), "p_mastered": 0.25,
                                    "answers": 0, "last_answer_at": None}  # fmt: skip


async def test_forecast_equals_a_numpy_fit_of_the_daily_history(engine: Engine) -> None:
    await week_of_quizzes(engine)
    response = await engine.predict.get("/v1/students/s1/forecast?horizon_days=10", headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    lists = next(t for t in body["topics"] if t["topic"] == LISTS)
    record, _ = await load_student(engine.store, "s1")
    assert record is not None
    days = history(record, engine.core.curriculum, NOW.date(), FIT_WINDOW_DAYS, MasteryRules())
    scores = [d.topic(LISTS).score for d in days if d.topic(LISTS).evidence is not None]
    slope, intercept = np.polyfit(np.arange(len(scores)), scores, 1)
    assert lists["status"] == "ok"
    assert lists["history_days"] == len(scores) == 6
    assert lists["forecast"] == pytest.approx(min(100, intercept + slope * (5 + 10)), abs=0.01)
    assert lists["slope_per_day"] == pytest.approx(slope, abs=1e-4)
    assert lists["trend"] == "improving"
    assert lists["interval"]["lower"] <= lists["forecast"] <= lists["interval"]["upper"]
    assert body["overall"]["status"] == "ok"
    # The learner model saw 13 graded answers: 6 quizzes, 6 passed exercises, 1 failed run.
    assert lists["learner"]["answers"] == 13
    assert lists["learner"]["p_mastered"] > 0.5 > 0.25
    assert 0 < lists["learner"]["p_next_correct"] < 1


async def test_a_late_answer_gives_the_state_of_an_ordered_delivery(engine: Engine) -> None:
    await week_of_quizzes(engine, "s1")
    late = NOW - timedelta(days=4, hours=3)
    document = event("quiz.completed", "s1", LISTS, late, quiz_id="late", correct=0, total=5)
    await engine.deliver(document)
    record, _ = await load_student(engine.store, "s1")
    assert record is not None
    replayed = record.model_copy(deep=True)
    replay_topic(replayed, LISTS, engine.core.learner.stable)
    assert record.learner[LISTS] == replayed.learner[LISTS]
    assert record.learner[LISTS].answers == 14


@pytest.mark.parametrize("query", ["horizon_days=0", "horizon_days=31", "horizon_days=x", "h=1"])
async def test_horizon_outside_one_to_thirty_days_is_422(engine: Engine, query: str) -> None:
    response = await engine.predict.get(f"/v1/students/s1/forecast?{query}", headers=ADMIN)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (token("s1", "student"), 200),
        (token("s2", "student"), 403),
        (token("t1", "teacher", ("c1",)), 200),
        (token("t2", "teacher", ("c9",)), 403),
        (ADMIN, 200),
        ({}, 401),
    ],
)
@pytest.mark.parametrize("path", ["/forecast", "/recommendations"])
async def test_student_teachers_and_admins_may_read(
    engine: Engine, headers: dict[str, str], status: int, path: str
) -> None:
    await week_of_quizzes(engine, "s1")
    client = engine.predict if path == "/forecast" else engine.recommend
    response = await client.get(f"/v1/students/s1{path}", headers=headers)
    assert response.status_code == status


async def test_recommendations_for_a_student_with_no_data_are_well_formed(engine: Engine) -> None:
    response = await engine.recommend.get("/v1/students/nobody/recommendations", headers=NOBODY)
    assert response.status_code == 200
    body = response.json()
    assert body["student_id"] == "nobody"
    assert body["total"] == 1
    assert body["recommendations"] == [{
        "rank": 1, "kind": "start", "topic": "basics.variables", "topic_name": "Variables",
        "reason": body["recommendations"][0]["reason"], "estimated_minutes": 30,
        "alert_id": None, "gap": None,
    }]  # fmt: skip


async def test_foundations_then_open_alerts_come_first_and_limit_cuts_the_list(
    engine: Engine,
) -> None:
    await week_of_quizzes(engine, "s1")
    record, etag = await load_student(engine.store, "s1")
    assert record is not None
    raised = int(NOW.timestamp()) - 60
    record.alerts.append(Alert(id="a1", student_id="s1", topic="basics.variables",
                               trigger="low_quiz_score", raised_at=raised))  # fmt: skip
    await engine.store.write(student_key("s1"), record.model_dump_json().encode(), etag=etag,
                             ttl_seconds=3600)  # fmt: skip
    response = await engine.recommend.get(
        "/v1/students/s1/recommendations?limit=1", headers=token("s1", "student")
    )
    body = response.json()
    assert response.status_code == 200
    # Variables is the missing foundation of Lists (prerequisites first), then its alert.
    assert body["total"] == 2
    [first] = body["recommendations"]
    assert (first["rank"], first["kind"], first["topic"]) == (1, "strengthen", "basics.variables")
    assert "Lists needs it at Proficient" in first["reason"]
    everything = await engine.recommend.get(
        "/v1/students/s1/recommendations", headers=token("s1", "student")
    )
    second = everything.json()["recommendations"][1]
    assert (second["kind"], second["topic"], second["alert_id"]) == (
        "remediate",
        "basics.variables",
        "a1",
    )


@pytest.mark.parametrize("query", ["limit=0", "limit=51", "other=1"])
async def test_bad_recommendation_queries_are_422(engine: Engine, query: str) -> None:
    response = await engine.recommend.get(f"/v1/students/s1/recommendations?{query}", headers=ADMIN)
    assert response.status_code == 422


async def test_empty_stored_record_is_served_like_no_record(engine: Engine) -> None:
    empty = StudentRecord(student_id="s3").model_dump_json().encode()
    await engine.store.write(student_key("s3"), empty, etag=None, ttl_seconds=60)
    forecast = await engine.predict.get("/v1/students/s3/forecast", headers=ADMIN)
    recs = await engine.recommend.get("/v1/students/s3/recommendations", headers=ADMIN)
    assert forecast.json()["overall"]["status"] == "insufficient_history"
    assert [r["topic"] for r in recs.json()["recommendations"]] == ["basics.variables"]


def _types_reachable(root: object) -> set[type]:
    """The type of every object reachable from `root` (classes, modules, functions not followed)."""
    seen: set[int] = set()
    found: set[type] = set()
    pending = [root]
    while pending:
        item = pending.pop()
        if id(item) in seen or isinstance(item, type | ModuleType | FunctionType | MethodType):
            continue
        seen.add(id(item))
        found.add(type(item))
        pending.extend(gc.get_referents(item))
    return found


async def test_the_recommendations_memo_keeps_no_part_of_the_parsed_record(engine: Engine) -> None:
    # The memo outlives the request: holding the record's evidence or alerts, it grew with
    # every event of every student it remembers (the soak's recommend memory).
    await week_of_quizzes(engine, "s1")
    record, etag = await load_student(engine.store, "s1")
    assert record is not None
    record.alerts.append(Alert(id="a1", student_id="s1", topic="basics.variables",
                               trigger="low_quiz_score", raised_at=int(NOW.timestamp()) - 60))  # fmt: skip
    await engine.store.write(student_key("s1"), record.model_dump_json().encode(), etag=etag,
                             ttl_seconds=3600)  # fmt: skip
    memo = AnswerMemo()
    routes = student_recommendation_routes(engine.core, memo)
    async with serve(http_function("recommend", routes, engine.core)) as client:
        response = await client.get(
            "/v1/students/s1/recommendations", headers=token("s1", "student")
        )
    kinds = [r["kind"] for r in response.json()["recommendations"]]
    assert response.status_code == 200
    assert "remediate" in kinds  # the alert was used
    assert "strengthen" in kinds  # and the evidence (Lists is practised)
    assert memo.students == 1
    held = _types_reachable(memo)
    assert held.isdisjoint({StudentRecord, TopicEvidence, Alert, TopicMastery})
