"""The demo class `make run` serves behaves like a class: read back through the engine's routes."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.config import JwtSettings, Settings
from mastery.entrypoints.core import Core, ingest_deps
from mastery.entrypoints.http import query, recommend
from mastery.local.class_summary import ClassSummary, read_class_summary
from mastery.local.demo import demo_events, student_groups
from mastery.services.ingest import KafkaMetadata, handle_records
from mastery.web.auth import mint_token
from tests.asgi import serve

SECRET = "functional-test-secret-with-32-bytes!"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CLASS_ID, STUDENTS = "class-7b", 30
GROUPS = student_groups(STUDENTS)
TEACHER = {"Authorization": f"Bearer {mint_token(SECRET, 't', 'teacher', (CLASS_ID,))}"}
ADMIN = {"Authorization": f"Bearer {mint_token(SECRET, 'a', 'admin')}"}


@dataclass
class DemoClass:
    query: httpx.AsyncClient
    recommend: httpx.AsyncClient
    summary: ClassSummary


@pytest.fixture(scope="module")
async def demo() -> AsyncIterator[DemoClass]:
    """The class `make run` streams (30 students, 30 days), applied in the consumer's batches."""
    core = Core(settings=Settings(jwt=JwtSettings(secret=SECRET)), store=MemoryStateStore(),
                dead_letters=MemorySink(), alerts=MemorySink(), clock=lambda: NOW)  # fmt: skip
    deps = ingest_deps(core)
    records = [(json.dumps(e).encode(), KafkaMetadata()) for e in demo_events(
        CLASS_ID, students=STUDENTS, days=30, now=NOW)]  # fmt: skip
    for start in range(0, len(records), 2000):
        await handle_records(records[start : start + 2000], deps)
    async with (
        serve(await query.create(core)) as query_client,
        serve(await recommend.create(core)) as recommend_client,
    ):
        summary = await read_class_summary(
            query_client, recommend_client, CLASS_ID, TEACHER, GROUPS
        )
        yield DemoClass(query_client, recommend_client, summary)


def test_the_banner_counts_every_student_and_every_trigger(demo: DemoClass) -> None:
    lines = demo.summary.lines()
    assert sum(demo.summary.students.values()) == STUDENTS
    assert lines[1].split(":", 1)[1].strip().split(", ") == [
        f"{level} {demo.summary.students[level]}"
        for level in ("Beginner", "Learning", "Proficient", "Mastered")
    ]
    triggers = dict(re.findall(r"(\w+) (\d+)", lines[3].split(":", 1)[1]))
    assert set(triggers) == {"repeated_error", "stuck_on_exercise", "low_quiz_score",
                             "asked_for_help", "failed_runs_streak"}  # fmt: skip
    assert all(int(count) > 0 for count in triggers.values()), lines[3]
    assert f"{sum(demo.summary.alerts.values())} open struggle alerts" in lines[0]


def test_struggling_students_carry_most_alerts_and_strong_ones_hardly_any(demo: DemoClass) -> None:
    by_group = demo.summary.alerts_by_group
    assert by_group["struggling"] > by_group["average"] > by_group["strong"]
    assert by_group["struggling"] > sum(by_group.values()) / 2


async def test_strong_students_reach_proficient_or_mastered_in_their_early_modules(
    demo: DemoClass,
) -> None:
    view = (await demo.query.get(f"/v1/classes/{CLASS_ID}/mastery", headers=TEACHER)).json()
    strong = [row for row in view["students"] if GROUPS[row["student_id"]] == "strong"]
    assert len(strong) == STUDENTS // 3
    for row in strong:
        early = {t: s for t, s in row["topics"].items()
                 if t.startswith(("basics.", "control_flow.")) and s is not None}  # fmt: skip
        assert len(early) == 9, row  # both modules started and finished
        assert all(score >= 71 for score in early.values()), row


async def test_no_recommendation_list_repeats_text_or_dwells_on_one_topic(demo: DemoClass) -> None:
    for student_id in GROUPS:
        found = (await demo.recommend.get(f"/v1/students/{student_id}/recommendations?limit=50",
                                          headers=ADMIN)).json()["recommendations"]  # fmt: skip
        assert found, student_id
        reasons = [r["reason"] for r in found]
        assert len(set(reasons)) == len(reasons), student_id
        assert max(Counter(r["topic"] for r in found).values()) <= 2, student_id
        mastery = (await demo.query.get(f"/v1/students/{student_id}/mastery",
                                        headers=ADMIN)).json()  # fmt: skip
        quizzes = {t["topic"]: t["evidence"]["quizzes"] for t in mastery["topics"]}
        for item in found:
            if "quiz average" in item["reason"]:
                assert quizzes[item["topic"]] > 0, item
