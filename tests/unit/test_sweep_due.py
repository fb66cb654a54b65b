"""A record version knows until when sweeping it for "stuck" alerts changes nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import parse_event
from mastery.domain.record import StudentRecord
from mastery.domain.record_events import apply_event
from mastery.domain.struggle import StruggleRules
from mastery.domain.struggle_alerts import sweep
from mastery.domain.struggle_events import detect
from mastery.domain.sweep_due import AlertFacts, quiet_until
from tests.factories import event

RULES = StruggleRules()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
TOPICS = ["data_structures.lists", "control_flow.for_loops"]


def fold(documents: list[dict[str, Any]]) -> StudentRecord:
    record = StudentRecord(student_id="s1")
    for document in documents:
        parsed = parse_event(document, NOW, CURRICULUM)
        if apply_event(record, parsed):
            detect(record, [parsed], RULES)
    return record


def random_record(rng: random.Random) -> StudentRecord:
    """Starts, passes, failed runs and quizzes over ~10 days, delivered shuffled."""
    documents = []
    for n in range(rng.randrange(1, 25)):
        at = T0 + timedelta(minutes=rng.randrange(0, 10 * 24 * 60, 3))
        topic, exercise = rng.choice(TOPICS), f"e{rng.randrange(4)}"
        kind = rng.randrange(4)
        if kind == 0:
            documents.append(event("exercise.started", "s1", topic, at, exercise_id=exercise))
        elif kind == 1:
            documents.append(event("exercise.completed", "s1", topic, at, exercise_id=exercise,
                                   difficulty="easy", passed=True))  # fmt: skip
        elif kind == 2:
            documents.append(event("code.executed", "s1", topic, at, ok=False, error_type="E"))
        else:
            documents.append(event("quiz.completed", "s1", topic, at, quiz_id=f"q{n}",
                                   correct=rng.randrange(3), total=5))  # fmt: skip
    rng.shuffle(documents)
    return fold(documents)


def quiet(record: StudentRecord) -> int:
    return quiet_until(record.struggle, record.alerts, RULES)


def swept(record: StudentRecord, now: int) -> StudentRecord:
    copy = record.model_copy(deep=True)
    sweep(copy, now, RULES)
    return copy


@pytest.mark.parametrize("seed", range(40))
def test_sweeping_before_the_quiet_time_changes_no_alert(seed: int) -> None:
    rng = random.Random(seed)
    record = random_record(rng)
    clock = record.struggle.as_of
    for _ in range(30):
        now = clock + rng.randrange(-600, 12 * 86_400, 7)
        if now < quiet(record):
            assert swept(record, now).alerts == record.alerts


@pytest.mark.parametrize("seed", range(40))
def test_after_a_sweep_that_changed_nothing_its_quiet_time_holds_for_the_stored_version(
    seed: int,
) -> None:
    # The alert route re-arms a version's quiet time from the swept copy it did not write.
    rng = random.Random(seed)
    record = random_record(rng)
    clock = record.struggle.as_of
    first = clock + rng.randrange(0, 3 * 86_400, 11)
    if swept(record, first).alerts != record.alerts:
        # This sweep raised alerts: the stored version is the swept one, and sweeping it again at
        # the same time must change nothing (a sweep is idempotent).
        record = swept(record, first)
    after_first = swept(record, first)
    assert after_first.alerts == record.alerts
    for _ in range(20):
        later = first + rng.randrange(0, 10 * 86_400, 13)
        if later < quiet(after_first):
            assert swept(record, later).alerts == record.alerts


def test_a_start_not_yet_due_is_quiet_until_due_plus_the_grace() -> None:
    start = T0 + timedelta(hours=1)
    record = fold([event("exercise.started", "s1", TOPICS[0], start, exercise_id="e1")])
    due = int(start.timestamp()) + RULES.stuck_after_s
    assert quiet(record) == due + RULES.sweep_grace_s
    assert swept(record, due + RULES.sweep_grace_s - 1).alerts == []
    [alert] = swept(record, due + RULES.sweep_grace_s).alerts
    assert alert.trigger == "stuck_on_exercise"


def test_a_record_without_starts_or_alerts_is_quiet_for_ever() -> None:
    record = fold([event("quiz.completed", "s1", TOPICS[0], T0, quiz_id="q", correct=5, total=5)])
    assert quiet(record) > int(NOW.timestamp()) + 10 * 365 * 86_400


def test_an_alert_is_quiet_until_it_leaves_the_retention_window() -> None:
    documents = [event("quiz.completed", "s1", TOPICS[0], T0, quiz_id="q", correct=0, total=5)]
    record = fold(documents)
    [alert] = record.alerts
    expires = alert.raised_at + RULES.alert_retention_s + RULES.sweep_grace_s
    assert quiet(record) == expires
    assert swept(record, expires).alerts == [alert]
    assert swept(record, expires + 1).alerts == []


def test_a_start_already_due_at_the_records_clock_is_never_quiet() -> None:
    start = T0 + timedelta(hours=1)
    record = fold([event("exercise.started", "s1", TOPICS[0], start, exercise_id="e1")])
    record.struggle.as_of = int(start.timestamp()) + RULES.stuck_after_s
    assert quiet(record) == 0


def test_the_alert_facts_parse_only_what_the_listing_reads() -> None:
    record = fold([event("class.enrolled", "s1", None, T0, class_id="c1"),
                   event("quiz.completed", "s1", TOPICS[0], T0, quiz_id="q", correct=0,
                         total=5)])  # fmt: skip
    facts = AlertFacts.model_validate_json(record.model_dump_json())
    assert facts.enrolled_classes() == frozenset({"c1"})
    assert facts.alerts == record.alerts
    assert facts.struggle == record.struggle
