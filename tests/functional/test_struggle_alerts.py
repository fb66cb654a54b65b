"""Struggle alerts end to end on fakes: ingest raises and publishes, teachers list and ack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.config import JwtSettings, Settings
from mastery.domain.record import StudentRecord
from mastery.entrypoints.core import Core
from mastery.entrypoints.http import ingest, recommend
from mastery.entrypoints.http.alerts import LISTINGS_IN_FLIGHT
from mastery.errors import SinkUnavailableError
from mastery.ports import Versioned
from mastery.services.students import load_student
from mastery.web.auth import mint_token
from tests.asgi import serve
from tests.factories import event, raw

SECRET = "functional-test-secret-with-32-bytes!"
LISTS = "data_structures.lists"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def token(subject: str, role: str, classes: tuple[str, ...] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, subject, role, classes)}"}  # type: ignore[arg-type]


TEACHER = token("t1", "teacher", ("c1",))


class FlakySink(MemorySink):
    """A sink that is down until `up` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = True

    async def publish(self, key: str, value: bytes) -> None:
        if not self.up:
            raise SinkUnavailableError("alert topic down")
        await super().publish(key, value)


@dataclass
class Engine:
    ingest: httpx.AsyncClient
    recommend: httpx.AsyncClient
    store: MemoryStateStore
    alerts: FlakySink
    clock: list[datetime]

    async def deliver(self, document: dict[str, Any]) -> httpx.Response:
        headers = {"Content-Type": "application/json", "__topic": "learning.events"}
        return await self.ingest.post("/learning-events", content=raw(document), headers=headers)

    def published(self) -> list[dict[str, Any]]:
        return [json.loads(value) for _, value in self.alerts.records]


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    store, alerts, clock = MemoryStateStore(), FlakySink(), [T0 + timedelta(hours=3)]
    core = Core(settings=Settings(jwt=JwtSettings(secret=SECRET)), store=store,
                dead_letters=MemorySink(), alerts=alerts, clock=lambda: clock[0])  # fmt: skip
    ingest_function = await ingest.create(core)
    teacher_side = await recommend.create(core)
    async with serve(ingest_function) as ingest_client, serve(teacher_side) as recommend_client:
        yield Engine(ingest_client, recommend_client, store, alerts, clock)


def wrong_answer(student: str, minutes: int) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minutes)
    return event("code.executed", student, LISTS, at, ok=False, error_type="TypeError")


async def enrol(engine: Engine, student: str, class_id: str = "c1") -> None:
    await engine.deliver(event("class.enrolled", student, None, T0, class_id=class_id))


async def test_three_wrong_answers_on_lists_reach_the_teacher_and_the_alert_topic(
    engine: Engine,
) -> None:
    await enrol(engine, "s1")
    for minutes in (1, 2, 3):
        await engine.deliver(wrong_answer("s1", minutes))
    page = (await engine.recommend.get("/v1/classes/c1/alerts", headers=TEACHER)).json()
    [alert] = page["alerts"]
    assert (alert["student_id"], alert["topic"], alert["trigger"]) == (
        "s1",
        LISTS,
        "repeated_error",
    )
    assert alert["topic_name"] == "Lists"
    assert alert["detail"] == "TypeError"
    assert alert["status"] == "open"
    assert page["next_cursor"] is None
    [message] = engine.published()
    assert engine.alerts.records[0][0] == "s1"
    assert (message["id"], message["classes"]) == (alert["id"], ["c1"])
    record, _ = await load_student(engine.store, "s1")
    assert record is not None
    assert record.alerts[0].published


async def test_a_redelivery_after_the_alert_topic_failed_publishes_the_alert(
    engine: Engine,
) -> None:
    await engine.deliver(wrong_answer("s1", 1))
    await engine.deliver(wrong_answer("s1", 2))
    engine.alerts.up = False
    third = wrong_answer("s1", 3)
    failed = await engine.deliver(third)
    assert failed.status_code == 503
    assert engine.published() == []
    record, _ = await load_student(engine.store, "s1")
    assert record is not None
    assert third["id"] not in record.seen  # not acknowledged, so not kept
    engine.alerts.up = True
    again = await engine.deliver(third)
    assert again.json() == {"outcome": "applied"}
    assert [m["trigger"] for m in engine.published()] == ["repeated_error"]
    await engine.deliver(third)
    assert len(engine.published()) == 1  # stored published: not sent again


async def test_reading_the_alerts_notices_a_silent_stuck_student(engine: Engine) -> None:
    await enrol(engine, "s2")
    start = T0 + timedelta(hours=1)
    await engine.deliver(event("exercise.started", "s2", LISTS, start, exercise_id="e7"))
    engine.clock[0] = start + timedelta(minutes=5)
    before = await engine.recommend.get("/v1/classes/c1/alerts", headers=TEACHER)
    assert before.json()["alerts"] == []
    engine.clock[0] = start + timedelta(minutes=15)
    after = (await engine.recommend.get("/v1/classes/c1/alerts", headers=TEACHER)).json()
    [alert] = after["alerts"]
    assert (alert["trigger"], alert["detail"]) == ("stuck_on_exercise", "e7")
    assert alert["raised_at"] == (start + timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    assert [m["trigger"] for m in engine.published()] == ["stuck_on_exercise"]


async def test_alerts_page_newest_first_with_an_opaque_cursor(engine: Engine) -> None:
    for n in range(5):
        student = f"p{n}"
        await enrol(engine, student)
        quiz_at = T0 + timedelta(minutes=10 * n)
        await engine.deliver(event("quiz.completed", student, LISTS, quiz_at, quiz_id="q",
                                   correct=0, total=4))  # fmt: skip
    seen: list[str] = []
    url = "/v1/classes/c1/alerts?limit=2"
    while True:
        page = (await engine.recommend.get(url, headers=TEACHER)).json()
        assert len(page["alerts"]) <= 2
        seen += [a["student_id"] for a in page["alerts"]]
        if page["next_cursor"] is None:
            break
        url = f"/v1/classes/c1/alerts?limit=2&cursor={page['next_cursor']}"
    assert seen == ["p4", "p3", "p2", "p1", "p0"]
    bad = await engine.recommend.get("/v1/classes/c1/alerts?cursor=nonsense", headers=TEACHER)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


async def test_acknowledging_is_idempotent_records_who_and_closes_the_alert(
    engine: Engine,
) -> None:
    await enrol(engine, "s3")
    await engine.deliver(event("help.requested", "s3", LISTS, T0, text="i dont get it"))
    [alert] = (await engine.recommend.get("/v1/classes/c1/alerts", headers=TEACHER)).json()[
        "alerts"
    ]
    ack_url = f"/v1/students/s3/alerts/{alert['id']}/ack"
    first = await engine.recommend.post(ack_url, headers=TEACHER)
    assert first.status_code == 200
    assert first.json()["status"] == "acknowledged"
    assert first.json()["acknowledged_by"] == "t1"
    engine.clock[0] += timedelta(minutes=5)
    second = await engine.recommend.post(ack_url, headers=token("root", "admin"))
    assert second.json() == first.json()
    open_now = await engine.recommend.get("/v1/classes/c1/alerts", headers=TEACHER)
    assert open_now.json()["alerts"] == []
    everything = await engine.recommend.get("/v1/classes/c1/alerts?status=all", headers=TEACHER)
    assert [a["id"] for a in everything.json()["alerts"]] == [alert["id"]]
    acknowledged = await engine.recommend.get(
        "/v1/classes/c1/alerts?status=acknowledged", headers=TEACHER
    )
    assert [a["status"] for a in acknowledged.json()["alerts"]] == ["acknowledged"]
    missing = await engine.recommend.post("/v1/students/s3/alerts/alert-nope/ack", headers=TEACHER)
    assert missing.status_code == 404


async def test_only_teachers_of_the_class_or_admins_see_and_ack(engine: Engine) -> None:
    await enrol(engine, "s4", "c2")
    await engine.deliver(event("help.requested", "s4", LISTS, T0, text="I'm stuck"))
    other_teacher = token("t9", "teacher", ("c1",))
    assert (
        await engine.recommend.get("/v1/classes/c2/alerts", headers=other_teacher)
    ).status_code == 403
    student = token("s4", "student")
    assert (await engine.recommend.get("/v1/classes/c2/alerts", headers=student)).status_code == 403
    admin_page = await engine.recommend.get("/v1/classes/c2/alerts", headers=token("a", "admin"))
    [alert] = admin_page.json()["alerts"]
    ack_url = f"/v1/students/s4/alerts/{alert['id']}/ack"
    assert (await engine.recommend.post(ack_url, headers=other_teacher)).status_code == 403
    assert (await engine.recommend.post(ack_url, headers=student)).status_code == 403
    own_teacher = token("t2", "teacher", ("c2",))
    assert (await engine.recommend.post(ack_url, headers=own_teacher)).status_code == 200
    nobody = await engine.recommend.post(
        "/v1/students/ghost/alerts/x/ack", headers=token("a", "admin")
    )
    assert nobody.status_code == 404


async def test_the_recommend_function_serves_the_teacher_routes() -> None:
    core = Core(settings=Settings(jwt=JwtSettings(secret=SECRET)), store=MemoryStateStore(),
                dead_letters=MemorySink(), alerts=MemorySink())  # fmt: skip
    async with serve(await recommend.create(core)) as client:
        spec = (await client.get("/openapi.json")).json()
        assert "/v1/classes/{class_id}/alerts" in spec["paths"]
        assert "/v1/students/{student_id}/alerts/{alert_id}/ack" in spec["paths"]
        empty = await client.get("/v1/classes/c1/alerts", headers=TEACHER)
        assert empty.json() == {"class_id": "c1", "alerts": [], "next_cursor": None}


async def test_a_listing_that_found_nothing_due_still_notices_the_next_start(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The listing memoises each record version's quiet time; the sweep it skips must not hide
    # a start that falls due later, and a quiet member is not parsed in full again.
    await enrol(engine, "s5")
    start = T0 + timedelta(hours=1)
    e1 = dict(exercise_id="e1")
    await engine.deliver(event("exercise.started", "s5", LISTS, start, **e1))
    await engine.deliver(event("exercise.completed", "s5", LISTS, start + timedelta(minutes=5),
                               difficulty="easy", passed=True, **e1))  # fmt: skip
    second = start + timedelta(minutes=6)
    await engine.deliver(event("exercise.started", "s5", LISTS, second, exercise_id="e2"))
    for minutes in (13, 14):  # e1 came due and was passed: a sweep that changes nothing
        engine.clock[0] = start + timedelta(minutes=minutes)
        assert (await engine.recommend.get("/v1/classes/c1/alerts", headers=TEACHER)).json()[
            "alerts"
        ] == []
    parses: list[str] = []
    original = StudentRecord.model_validate_json
    monkeypatch.setattr(StudentRecord, "model_validate_json",
                        lambda data: parses.append("full") or original(data))  # fmt: skip
    engine.clock[0] = second + timedelta(minutes=11)
    await engine.recommend.get("/v1/classes/c1/alerts", headers=TEACHER)
    assert parses == []  # re-armed until e2 falls due (+ the sweep's grace)
    engine.clock[0] = second + timedelta(minutes=13)
    [alert] = (await engine.recommend.get("/v1/classes/c1/alerts", headers=TEACHER)).json()[
        "alerts"
    ]
    assert (alert["trigger"], alert["detail"]) == ("stuck_on_exercise", "e2")
    assert parses == ["full"]


async def test_a_listing_that_only_dropped_expired_alerts_does_not_sweep_them_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sweeping a member whose alerts left retention drops them from the answer without a write;
    # the version is then quiet, not parsed and swept again on every listing.
    await enrol(engine, "s6")
    for minutes in (1, 2, 3):
        await engine.deliver(wrong_answer("s6", minutes))
    stored = engine.store.values["student:{s6}"].etag
    engine.clock[0] = T0 + timedelta(days=9)
    parses: list[str] = []
    original = StudentRecord.model_validate_json
    monkeypatch.setattr(StudentRecord, "model_validate_json",
                        lambda data: parses.append("full") or original(data))  # fmt: skip
    for minutes in (0, 1):
        engine.clock[0] = T0 + timedelta(days=9, minutes=minutes)
        page = await engine.recommend.get("/v1/classes/c1/alerts", headers=TEACHER)
        assert page.json()["alerts"] == []
    assert parses == ["full"]
    assert engine.store.values["student:{s6}"].etag == stored  # dropped, not stored


class SlowReads(MemoryStateStore):
    """Batch reads that take a moment; counts the most in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.most = 0

    async def read_many(self, keys: Sequence[str]) -> list[Versioned | None]:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            return await super().read_many(keys)
        finally:
            self.in_flight -= 1


async def test_at_most_a_few_class_listings_read_their_members_at_once() -> None:
    # Each listing holds its members' stored records until it answers: more at once in one
    # process would only raise the heap's high-water. The rest wait, and all are answered.
    store = SlowReads()
    core = Core(settings=Settings(jwt=JwtSettings(secret=SECRET)), store=store,
                dead_letters=MemorySink(), alerts=MemorySink(),
                clock=lambda: T0 + timedelta(hours=3))  # fmt: skip
    async with (
        serve(await ingest.create(core)) as ingest_client,
        serve(await recommend.create(core)) as client,
    ):
        headers = {"Content-Type": "application/json", "__topic": "learning.events"}
        for document in (event("class.enrolled", "s1", None, T0, class_id="c1"),
                         *(wrong_answer("s1", minutes) for minutes in (1, 2, 3))):  # fmt: skip
            await ingest_client.post("/learning-events", content=raw(document), headers=headers)
        store.most = 0
        pages = await asyncio.gather(*(
            client.get("/v1/classes/c1/alerts", headers=TEACHER)
            for _ in range(3 * LISTINGS_IN_FLIGHT)
        ))  # fmt: skip
    assert {len(page.json()["alerts"]) for page in pages} == {1}
    assert store.most == LISTINGS_IN_FLIGHT
