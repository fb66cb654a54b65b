"""The mastery rules of DESIGN §1, pinned by worked examples computed by hand."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.daily import history
from mastery.domain.events import parse_event
from mastery.domain.mastery import (
    MasteryRules,
    consistencies,
    consistency,
    level_for,
    student_mastery,
)
from mastery.domain.record import StudentRecord
from mastery.domain.record_events import apply_event
from mastery.domain.scores import decaying_average
from tests.factories import event

RULES = MasteryRules()
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
D1 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
TOPIC = "control_flow.for_loops"  # target: 8 exercises


def scenario() -> list[dict[str, object]]:
    """Three consecutive active days in one topic (Nov 17-19)."""
    d2, d3 = D1 + timedelta(days=1), D1 + timedelta(days=2)
    return [
        event(
            "exercise.completed", "s1", TOPIC, D1, exercise_id="e1", difficulty="easy", passed=True
        ),
        event(
            "quiz.completed", "s1", TOPIC, D1 + timedelta(hours=1), quiz_id="q1", correct=2, total=4
        ),
        event(
            "code.reviewed", "s1", TOPIC, D1 + timedelta(hours=2), submission_id="r1", quality=60
        ),
        event(
            "exercise.completed",
            "s1",
            TOPIC,
            d2,
            exercise_id="e2",
            difficulty="medium",
            passed=True,
        ),
        event(
            "exercise.completed",
            "s1",
            TOPIC,
            d2 + timedelta(hours=1),
            exercise_id="e2",
            difficulty="medium",
            passed=True,
        ),
        event(
            "exercise.completed",
            "s1",
            TOPIC,
            d2 + timedelta(hours=2),
            exercise_id="e4",
            difficulty="hard",
            passed=False,
        ),
        event(
            "quiz.completed", "s1", TOPIC, d2 + timedelta(hours=3), quiz_id="q2", correct=5, total=5
        ),
        event(
            "exercise.completed", "s1", TOPIC, d3, exercise_id="e3", difficulty="hard", passed=True
        ),
        event(
            "quiz.completed", "s1", TOPIC, d3 + timedelta(hours=1), quiz_id="q3", correct=4, total=5
        ),
        event(
            "code.reviewed", "s1", TOPIC, d3 + timedelta(hours=2), submission_id="r2", quality=90
        ),
    ]


def build(documents: list[dict[str, object]]) -> StudentRecord:
    record = StudentRecord(student_id="s1")
    for document in documents:
        apply_event(record, parse_event(document, NOW, CURRICULUM))
    return record


def test_worked_example_topic_score_matches_hand_computation() -> None:
    # completion (0.8 + 1.0 + 1.2) / 8 = 0.375 (the repeat of e2 and the failed e4 add nothing)
    # quiz 0.5 -> 0.65*1.0 + 0.35*0.5 = 0.825 -> 0.65*0.8 + 0.35*0.825 = 0.80875
    # quality 0.6 -> 0.65*0.9 + 0.35*0.6 = 0.795
    # consistency: streak 3 days, idle 1 day (as of Nov 20) -> 3/7 * 0.9 = 0.3857142857
    # score = 100 * (0.4*0.375 + 0.3*0.80875 + 0.2*0.795 + 0.1*0.3857142857) = 59.0196428571
    mastery = student_mastery(build(scenario()), CURRICULUM, date(2026, 11, 20), RULES)
    topic = mastery.topic(TOPIC)
    assert topic.components.completion == pytest.approx(0.375)
    assert topic.components.quiz == pytest.approx(0.80875)
    assert topic.components.quality == pytest.approx(0.795)
    assert topic.components.consistency == pytest.approx(3 / 7 * 0.9)
    assert topic.score == pytest.approx(59.0196428571)
    assert topic.display_score == 59
    assert topic.level == "Learning"


def test_worked_example_module_and_overall_count_empty_topics_as_zero() -> None:
    mastery = student_mastery(build(scenario()), CURRICULUM, date(2026, 11, 20), RULES)
    control_flow = next(m for m in mastery.modules if m.module == "control_flow")
    assert control_flow.score == pytest.approx(59.0196428571 / 4)
    assert mastery.overall == pytest.approx(59.0196428571 / 4 / 8)


def test_shuffled_and_duplicated_delivery_gives_the_same_record() -> None:
    documents = scenario()
    ordered = build(documents)
    shuffled = documents * 2
    random.Random(7).shuffle(shuffled)
    assert build(shuffled) == ordered


def test_duplicate_event_is_not_applied_twice() -> None:
    record = StudentRecord(student_id="s1")
    parsed = parse_event(scenario()[1], NOW, CURRICULUM)
    assert apply_event(record, parsed) is True
    assert apply_event(record, parsed) is False
    assert len(record.topics[TOPIC].quizzes) == 1


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, "Beginner"),
        (40.49, "Beginner"),
        (40.5, "Learning"),
        (70.4, "Learning"),
        (70.5, "Proficient"),
        (90.49, "Proficient"),
        (90.5, "Mastered"),
        (100, "Mastered"),
    ],
)
def test_levels_use_the_score_rounded_half_up(score: float, level: str) -> None:
    assert level_for(score) == level


def test_decaying_average_weighs_the_newest_at_065() -> None:
    assert decaying_average([], []) == 0.0
    assert decaying_average([], [(1, 0.2, "a")]) == pytest.approx(0.2)
    assert decaying_average([], [(1, 0.2, "a"), (2, 1.0, "b")]) == pytest.approx(0.72)
    # After a day summary the fold continues from its average (not from the next score).
    assert decaying_average([(1, 0.2, 3)], [(2, 1.0, "b")]) == pytest.approx(0.72)


def test_consistency_caps_the_streak_and_decays_per_idle_day() -> None:
    start = date(2026, 11, 1).toordinal()
    days = list(range(start, start + 8))  # 8-day streak ending Nov 8
    assert consistency(days, date(2026, 11, 8), RULES) == pytest.approx(1.0)
    assert consistency(days, date(2026, 11, 10), RULES) == pytest.approx(0.81)
    broken = [start, start + 2, start + 3]  # the streak is the last two days
    assert consistency(broken, date(2026, 11, 4), RULES) == pytest.approx(2 / 7)
    assert consistency([], date(2026, 11, 4), RULES) == 0.0


def test_consistencies_are_each_days_streak_and_idle_days() -> None:
    # Many dates at once walk the days once; each is the rule counted from scratch.
    rng = random.Random(4)
    start = date(2026, 9, 1).toordinal()
    for _ in range(200):
        days = sorted(rng.sample(range(start, start + 60), rng.randint(0, 40)))
        dates = [date.fromordinal(start + offset) for offset in range(-2, 66, rng.randint(1, 5))]
        expected = []
        for as_of in dates:
            past = {d for d in days if d <= as_of.toordinal()}
            if not past:
                expected.append(0.0)
                continue
            last = max(past)
            streak = next(n for n in range(1, len(past) + 2) if last - n not in past)
            idle = as_of.toordinal() - last
            expected.append(min(1.0, streak / 7) * 0.9**idle)
        assert consistencies(days, dates, RULES) == expected


def test_calendar_days_follow_the_events_time_zone() -> None:
    # 23:30 in New York on Nov 17 is Nov 18 in UTC: the student's day is the 17th.
    tz = datetime(2026, 11, 17, 23, 30).astimezone().tzinfo
    assert tz is not None
    local = "2026-11-17T23:30:00-05:00"
    document = event("quiz.completed", "s1", TOPIC, D1, quiz_id="q", correct=1, total=1)
    document["occurred_at"] = local
    record = build([document])
    assert record.active_days == [date(2026, 11, 17).toordinal()]
    assert record.utc_offset_minutes == -300


def test_history_shows_the_score_at_the_end_of_each_day() -> None:
    record = build(scenario())
    points = history(record, CURRICULUM, date(2026, 11, 20), 5, RULES)
    assert [p.as_of for p in points] == [date(2026, 11, d) for d in range(16, 21)]
    assert points[0].overall == 0.0
    # End of Nov 17: completion 0.8/8, quiz 0.5, quality 0.6, streak 1 day, not idle.
    day1 = points[1].topic(TOPIC)
    assert day1.score == pytest.approx(100 * (0.4 * 0.1 + 0.3 * 0.5 + 0.2 * 0.6 + 0.1 / 7))
    assert points[4].topic(TOPIC).score == pytest.approx(59.0196428571)


def test_curriculum_has_8_modules_31_topics_and_a_dag() -> None:
    assert len(CURRICULUM.modules) == 8
    assert len(CURRICULUM.topics) == 31
    order = CURRICULUM.topological_order()
    position = {topic_id: i for i, topic_id in enumerate(order)}
    for topic in CURRICULUM.topics.values():
        assert all(position[p] < position[topic.id] for p in topic.prerequisites)
