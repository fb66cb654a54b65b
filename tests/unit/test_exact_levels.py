"""Levels and displayed scores come from the exact score, rounded half up (DESIGN §1)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import parse_event
from mastery.domain.mastery import (
    LEVEL_FLOORS,
    Level,
    MasteryRules,
    consistency,
    student_mastery,
    topic_mastery,
)
from mastery.domain.record import StudentRecord, TopicEvidence
from mastery.domain.record_events import apply_event
from tests.factories import event

RULES = MasteryRules()
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DIFFICULTY = {"easy": Fraction(4, 5), "medium": Fraction(1), "hard": Fraction(6, 5)}
NEWEST = Fraction(13, 20)
# (correct, total) with small round totals, so that many scores land exactly on a .5 boundary.
QUIZ = st.sampled_from([1, 2, 4, 5, 10, 20]).flatmap(
    lambda total: st.tuples(st.integers(0, total), st.just(total))
)


def half_up_student() -> StudentRecord:
    """Scores of exactly 40.5, 70.5 and 90.5, with a 7-day streak as of Nov 20 (UTC)."""
    documents = []
    start = NOW - timedelta(days=6)
    for day in range(7):  # lists: one medium pass a day for 7 days -> 7/10
        documents.append(event("exercise.completed", "s1", "data_structures.lists",
                               start + timedelta(days=day), exercise_id=f"l{day}",
                               difficulty="medium", passed=True))  # fmt: skip
    for topic, passes, (correct, total), quality in [
        ("control_flow.for_loops", 1, (3, 4), 15),  # 5 + 22.5 + 3 + 10 = 40.5
        ("data_structures.lists", 0, (3, 4), 50),  # 28 + 22.5 + 10 + 10 = 70.5
        ("basics.input_output", 4, (19, 20), 100),  # 32 + 28.5 + 20 + 10 = 90.5
    ]:
        for n in range(passes):
            documents.append(event("exercise.completed", "s1", topic, NOW, exercise_id=f"{topic}{n}",
                                   difficulty="medium", passed=True))  # fmt: skip
        documents.append(
            event("quiz.completed", "s1", topic, NOW, quiz_id=topic, correct=correct, total=total)
        )
        documents.append(
            event("code.reviewed", "s1", topic, NOW, submission_id=topic, quality=quality)
        )
    record = StudentRecord(student_id="s1")
    for document in documents:
        apply_event(record, parse_event(document, NOW, CURRICULUM))
    return record


def test_scores_of_exactly_x5_round_up_to_the_higher_level() -> None:
    mastery = student_mastery(half_up_student(), CURRICULUM, NOW.date(), RULES)
    shown = {
        t: (mastery.topic(t).display_score, mastery.topic(t).level)
        for t in ("control_flow.for_loops", "data_structures.lists", "basics.input_output")
    }
    assert shown == {
        "control_flow.for_loops": (41, "Learning"),
        "data_structures.lists": (71, "Proficient"),
        "basics.input_output": (91, "Mastered"),
    }


def exact_level(score: Fraction) -> tuple[int, Level]:
    rounded = math.floor(score + Fraction(1, 2))
    level = next(lv for lv, floor in reversed(LEVEL_FLOORS.items()) if rounded >= floor)
    return rounded, level


def exact_fold(values: list[Fraction]) -> Fraction:
    average = Fraction(0)
    for index, value in enumerate(values):
        average = value if index == 0 else NEWEST * value + (1 - NEWEST) * average
    return average


@settings(max_examples=300, deadline=None)
@given(
    passes=st.lists(st.sampled_from(sorted(DIFFICULTY)), max_size=12),
    target=st.integers(1, 12),
    quizzes=st.lists(QUIZ, max_size=3),
    reviews=st.lists(st.integers(0, 100), max_size=3),
    streak=st.integers(1, 9),
    idle=st.integers(0, 2),
)
@example(["medium"], 8, [(3, 4)], [15], 7, 0)  # 40.5
@example(["medium"] * 7, 10, [(3, 4)], [50], 7, 0)  # 70.5
@example(["medium"] * 4, 5, [(19, 20)], [100], 7, 0)  # 90.5
def test_level_and_display_match_the_exact_rational_score(
    passes: list[str],
    target: int,
    quizzes: list[tuple[int, int]],
    reviews: list[int],
    streak: int,
    idle: int,
) -> None:
    today = date(2026, 11, 20)
    last = today.toordinal() - idle
    evidence = TopicEvidence(
        passed={f"e{i}": (d, i) for i, d in enumerate(passes)},
        quizzes=[(i, c / t, f"q{i}") for i, (c, t) in enumerate(quizzes)],
        reviews=[(i, q / 100, f"r{i}") for i, q in enumerate(reviews)],
    )
    streak_value = consistency(list(range(last - streak + 1, last + 1)), today, RULES)
    topic = topic_mastery("t", evidence, target, streak_value, RULES)

    completion = min(Fraction(1), sum((DIFFICULTY[d] for d in passes), Fraction(0)) / target)
    quiz = exact_fold([Fraction(c, t) for c, t in quizzes])
    quality = exact_fold([Fraction(q, 100) for q in reviews])
    steady = min(Fraction(1), Fraction(streak, 7)) * Fraction(9, 10) ** idle
    if not (passes or quizzes or reviews):
        exact = Fraction(0)  # no evidence: no score (mastery.domain.evidence)
    else:
        exact = 40 * completion + 30 * quiz + 20 * quality + 10 * steady
    assert (topic.display_score, topic.level) == exact_level(exact)
