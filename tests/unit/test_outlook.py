"""Outlooks fit each topic on its own evidence days and call long-idle topics stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import parse_event
from mastery.domain.forecast import Forecast, Stale
from mastery.domain.mastery import MasteryRules
from mastery.domain.outlook import student_outlook
from mastery.domain.record import StudentRecord
from mastery.domain.record_events import apply_event
from tests.factories import event

RULES = MasteryRules()
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
VARIABLES, CONDITIONALS = "basics.variables", "control_flow.conditionals"


def student(last_quiz_days_ago: int) -> StudentRecord:
    """A 6/10 quiz in Variables on each of 5 days ending `last_quiz_days_ago`, then code runs in
    Conditionals every day until today: the streak keeps moving Variables' daily score."""
    documents = [
        event("quiz.completed", "s1", VARIABLES, NOW - timedelta(days=last_quiz_days_ago + d),
              quiz_id=f"q{d}", correct=6, total=10)
        for d in range(5)
    ]  # fmt: skip
    documents += [
        event("code.executed", "s1", CONDITIONALS, NOW - timedelta(days=d), ok=True)
        for d in range(last_quiz_days_ago)
    ]
    record = StudentRecord(student_id="s1")
    for document in documents:
        apply_event(record, parse_event(document, NOW, CURRICULUM))
    return record


def test_a_topic_idle_longer_than_the_setting_is_stale_not_a_trend() -> None:
    outlook = student_outlook(student(20), CURRICULUM, NOW.date(), RULES, 7)
    variables = outlook.topics[VARIABLES]
    assert isinstance(variables, Stale)
    assert (variables.days, variables.idle_days) == (5, 20)
    assert isinstance(outlook.overall, Stale)
    longer = student_outlook(student(20), CURRICULUM, NOW.date(), RULES, 7, stale_after_days=30)
    assert isinstance(longer.topics[VARIABLES], Forecast)


def test_a_recent_topic_is_fitted_on_its_evidence_days_only() -> None:
    outlook = student_outlook(student(6), CURRICULUM, NOW.date(), RULES, 7)
    variables = outlook.topics[VARIABLES]
    assert isinstance(variables, Forecast)
    assert (variables.days, variables.idle_days) == (5, 6)
    # Runs alone never make Conditionals practised: nothing to forecast there.
    assert outlook.topics[CONDITIONALS].days == 0
