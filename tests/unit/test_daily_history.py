"""The daily history walks each topic once, and gives exactly what scoring each day's cut gives."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.daily import daily_scores, history
from mastery.domain.events import parse_event
from mastery.domain.mastery import MasteryRules, StudentMastery, student_mastery
from mastery.domain.record import StudentRecord, TopicEvidence
from mastery.domain.record_events import apply_event
from mastery.entrypoints.http.views import history_point, history_view
from mastery.local.demo import demo_events
from tests.factories import event

RULES = MasteryRules()
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
TOPICS = ["control_flow.for_loops", "basics.variables", "functions.scope"]


def scored_cuts(
    record: StudentRecord, today: date, days: int, rules: MasteryRules
) -> list[StudentMastery]:
    """The definition: score a copy of the record cut at each day's end (the old code)."""
    offset = timezone(timedelta(minutes=record.utc_offset_minutes))
    points = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        end = int(datetime.combine(day, time.max, offset).timestamp())
        topics = {}
        for topic_id, evidence in record.topics.items():
            passed = {k: v for k, v in evidence.passed.items() if v[1] <= end}
            quizzes = [o for o in evidence.quizzes if o[0] <= end]
            reviews = [o for o in evidence.reviews if o[0] <= end]
            if passed or quizzes or reviews:
                topics[topic_id] = TopicEvidence(passed=passed, quizzes=quizzes, reviews=reviews)
        active = [d for d in record.active_days if d <= day.toordinal()]
        past = record.model_copy(update={"topics": topics, "active_days": active})
        points.append(student_mastery(past, CURRICULUM, day, rules))
    return points


def shuffled_record(seed: int) -> StudentRecord:
    """A month of mixed evidence in three topics, delivered in a random order (late passes)."""
    rng = random.Random(seed)
    zone = timezone(timedelta(minutes=rng.choice([-300, 0, 330])))
    documents = []
    for n in range(60):
        at = (NOW - timedelta(minutes=rng.randrange(0, 30 * 24 * 60))).astimezone(zone)
        topic = rng.choice(TOPICS)
        kind = rng.randrange(3)
        if kind == 0:
            documents.append(event("exercise.completed", "s1", topic, at, exercise_id=f"e{n % 9}",
                                   difficulty=rng.choice(["easy", "medium", "hard"]),
                                   passed=rng.random() < 0.7))  # fmt: skip
        elif kind == 1:
            documents.append(event("quiz.completed", "s1", topic, at, quiz_id=f"q{n}",
                                   correct=rng.randrange(0, 6), total=5))  # fmt: skip
        else:
            documents.append(event("code.reviewed", "s1", topic, at, submission_id=f"r{n}",
                                   quality=rng.randrange(0, 101)))  # fmt: skip
    rng.shuffle(documents)
    record = StudentRecord(student_id="s1")
    for document in documents:
        apply_event(record, parse_event(document, NOW, CURRICULUM))
    return record


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("days", [1, 30, 90])
def test_history_equals_scoring_each_days_cut_exactly(seed: int, days: int) -> None:
    record = shuffled_record(seed)
    today = record.local_day(NOW)
    assert history(record, CURRICULUM, today, days, RULES) == scored_cuts(
        record, today, days, RULES
    )


def test_history_of_a_demo_class_equals_the_cut_scoring() -> None:
    records: dict[str, StudentRecord] = {}
    for document in demo_events("c1", students=6, days=30, now=NOW, seed=7):
        parsed = parse_event(document, NOW, CURRICULUM)
        record = records.setdefault(parsed.student_id, StudentRecord(student_id=parsed.student_id))
        apply_event(record, parsed)
    for record in records.values():
        today = record.local_day(NOW)
        assert history(record, CURRICULUM, today, 30, RULES) == scored_cuts(
            record, today, 30, RULES
        )


def test_history_of_a_student_without_evidence_is_all_zero() -> None:
    points = history(StudentRecord(student_id="s9"), CURRICULUM, NOW.date(), 3, RULES)
    assert [p.overall for p in points] == [0.0, 0.0, 0.0]
    assert all(t.evidence is None for p in points for m in p.modules for t in m.topics)


@pytest.mark.parametrize("seed", range(12))
def test_daily_scores_are_the_histories_scores_bit_for_bit(seed: int) -> None:
    record = shuffled_record(seed)
    today = record.local_day(NOW)
    points = history(record, CURRICULUM, today, 30, RULES)
    scores = daily_scores(record, CURRICULUM, today, 30, RULES)
    assert scores.dates == [p.as_of for p in points]
    assert scores.overall == [p.overall for p in points]
    for topic, series in scores.topics.items():
        assert series == [
            None if p.topic(topic).evidence is None else p.topic(topic).score for p in points
        ]
    assert list(scores.topics) == [t for m in CURRICULUM.modules for t in m.topics]


@pytest.mark.parametrize("seed", range(6))
def test_the_history_view_from_daily_scores_is_the_one_from_the_points(seed: int) -> None:
    record = shuffled_record(seed)
    today = record.local_day(NOW)
    points = history(record, CURRICULUM, today, 30, RULES)
    expected = {"student_id": "s1", "days": [history_point(p) for p in points]}
    daily = daily_scores(record, CURRICULUM, today, 30, RULES)
    assert history_view("s1", daily) == expected
