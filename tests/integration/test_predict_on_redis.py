"""Ingest, predict and recommend on the session's real Redis: the learner state round-trips."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mastery.adapters.memory import MemorySink
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.config import JwtSettings, Settings
from mastery.entrypoints.core import Core
from mastery.entrypoints.http import ingest, predict, recommend
from mastery.web.auth import mint_token
from tests.asgi import serve
from tests.factories import event, raw

pytestmark = pytest.mark.integration
SECRET = "integration-test-secret-with-32-bytes"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LISTS = "data_structures.lists"


async def test_forecast_and_recommendations_read_what_ingest_wrote_to_redis(redis_url: str) -> None:
    store = RedisStateStore(connect(redis_url, cluster=False))
    core = Core(settings=Settings(jwt=JwtSettings(secret=SECRET)), store=store,
                dead_letters=MemorySink(), alerts=MemorySink(), clock=lambda: NOW)  # fmt: skip
    student = f"s-{uuid.uuid4().hex[:8]}"
    admin = {"Authorization": f"Bearer {mint_token(SECRET, 'root', 'admin')}"}
    headers = {"Content-Type": "application/json", "__topic": "learning.events"}
    try:
        async with (
            serve(await ingest.create(core)) as ingest_client,
            serve(await predict.create(core)) as predict_client,
            serve(await recommend.create(core)) as recommend_client,
        ):
            # Delivered newest first: every answer after the first is a late one (replay path).
            for day in range(5, -1, -1):
                at = NOW - timedelta(days=day, hours=2)
                body = raw(event("quiz.completed", student, LISTS, at, quiz_id=f"q{day}",
                                 correct=5 - day % 5, total=5))  # fmt: skip
                response = await ingest_client.post(
                    "/learning-events", content=body, headers=headers
                )
                assert response.json() == {"outcome": "applied"}
            forecast = (await predict_client.get(f"/v1/students/{student}/forecast",
                                                 headers=admin)).json()  # fmt: skip
            recs = (await recommend_client.get(f"/v1/students/{student}/recommendations",
                                               headers=admin)).json()  # fmt: skip
    finally:
        await store.delete([f"student:{{{student}}}"])
        await store.aclose()
    lists = next(t for t in forecast["topics"] if t["topic"] == LISTS)
    assert lists["status"] == "ok"
    assert lists["history_days"] == 6
    assert lists["learner"]["answers"] == 6
    # The 1- and 2-of-5 quizzes raised struggle alerts; Lists' prerequisites are unmet, so the first
    # item strengthens its first foundation, naming the alerts.
    first = recs["recommendations"][0]
    assert (first["kind"], first["topic"]) == ("strengthen", "basics.variables")
    assert first["reason"].endswith(
        "Lists needs it at Proficient (71) and has 2 open struggle alerts."
    )
    assert all(r["topic"] != LISTS for r in recs["recommendations"])  # its prerequisites are unmet
