"""Predict's memoised answers equal freshly computed ones, on the session's real Redis.

The predict function keeps each record version's answer per horizon and local day; the learner
model's odds depend on the time asked unless the model is timeless. For generated records and
times, an answer served after an earlier request of the same version (from the memo) must be
the bytes a predict function that never saw the student computes at that moment.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mastery.adapters.memory import MemorySink
from mastery.adapters.redis_store import RedisStateStore, connect
from mastery.config import JwtSettings, Settings
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import parse_event
from mastery.domain.knowledge import LearnerModel
from mastery.domain.knowledge_events import track_answer
from mastery.domain.learner import ModelParams, TopicParams, Weights
from mastery.domain.record import LATE_WINDOW, StudentRecord
from mastery.domain.record_events import apply_event
from mastery.entrypoints.core import Core, http_function
from mastery.entrypoints.http import predict
from mastery.entrypoints.http.memo import AnswerMemo
from mastery.local.demo import demo_events
from mastery.services.learner_rollout import LearnerModels
from mastery.services.students import student_key
from mastery.web.auth import mint_token
from tests.asgi import serve

pytestmark = pytest.mark.integration
SECRET = "integration-test-secret-with-32-bytes"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ADMIN = {"Authorization": f"Bearer {mint_token(SECRET, 'root', 'admin')}"}
TIMELESS = LearnerModel()
FORGETFUL = LearnerModel(
    ModelParams(default=TopicParams(forget_per_day=0.05), weights=Weights(idle=-0.4))
)


def test_the_timeless_models_odds_do_not_move_with_time_and_the_others_do() -> None:
    assert TIMELESS.timeless
    assert not FORGETFUL.timeless
    assert not LearnerModel(ModelParams(weights=Weights(idle=0.1))).timeless
    assert not LearnerModel(
        ModelParams(topics={"basics.variables": TopicParams(forget_per_day=0.01)})
    ).timeless


def demo_records(run: str) -> list[StudentRecord]:
    """A demo class's students, with the learner model's states, under ids of this run."""
    records: dict[str, StudentRecord] = {}
    for document in demo_events(f"c-{run}", students=6, days=30, now=NOW, seed=5):
        parsed = parse_event(document, NOW, CURRICULUM)
        record = records.setdefault(parsed.student_id, StudentRecord(student_id=parsed.student_id))
        if apply_event(record, parsed, LATE_WINDOW):
            track_answer(record, parsed, TIMELESS, LATE_WINDOW)
    return list(records.values())


async def answer(client: httpx.AsyncClient, path: str) -> bytes:
    response = await client.get(path, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.content


@pytest.fixture
async def records(redis_url: str) -> AsyncIterator[tuple[RedisStateStore, list[StudentRecord]]]:
    store = RedisStateStore(connect(redis_url, cluster=False))
    written = demo_records(uuid.uuid4().hex[:8])
    for record in written:
        data = record.model_dump_json().encode()
        await store.write(student_key(record.student_id), data, etag=None, ttl_seconds=3600)
    yield store, written
    await store.delete([student_key(r.student_id) for r in written])
    await store.aclose()


@pytest.mark.parametrize("model", [TIMELESS, FORGETFUL], ids=["timeless", "forgetful"])
async def test_a_memoised_forecast_is_the_fresh_one_at_every_time(
    records: tuple[RedisStateStore, list[StudentRecord]],
    model: LearnerModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, students = records
    clock = [NOW]
    core = Core(settings=Settings(jwt=JwtSettings(secret=SECRET)), store=store,
                dead_letters=MemorySink(), alerts=MemorySink(), clock=lambda: clock[0],
                learner=LearnerModels(model))  # fmt: skip
    outlooks = 0
    outlook = predict.student_outlook

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal outlooks
        outlooks += 1
        return outlook(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(predict, "student_outlook", counted)
    memoised = http_function("predict", predict.predict_routes(core, AnswerMemo()), core)
    rng = random.Random(11)
    moved = 0
    async with serve(memoised) as client:
        for record in students:
            for horizon in (1, 7, 30):
                path = f"/v1/students/{record.student_id}/forecast?horizon_days={horizon}"
                first_at = NOW + timedelta(seconds=rng.uniform(0, 3600))
                clock[0] = first_at
                first = await answer(client, path)
                for later in (rng.uniform(1, 60), rng.uniform(600, 7200), 86_400 * 3):
                    clock[0] = at = first_at + timedelta(seconds=later)
                    before = outlooks
                    served = await answer(client, path)
                    if record.local_day(at) == record.local_day(first_at):
                        assert outlooks == before, "the same version and day: from the memo"
                    fresh = http_function("predict", predict.predict_routes(core), core)
                    async with serve(fresh) as fresh_client:
                        expected = await answer(fresh_client, path)
                    assert served == expected, (record.student_id, horizon, later)
                    moved += served != first
    # The forgetful model's odds move within a day, the timeless one's only with the day.
    if model.timeless:
        assert moved == len(students) * 3  # only the answers three days later differ
    else:
        assert moved > len(students) * 3
