"""A heat-map row and the scored answers made from the part of a record scores read
(`MasteryFacts`) are the bytes the whole record gives, on any day, in either order of reading."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.daily import daily_scores
from mastery.domain.events import parse_event
from mastery.domain.mastery import MasteryFacts, MasteryRules, student_mastery
from mastery.domain.record import StudentRecord
from mastery.domain.record_events import apply_event
from mastery.entrypoints.http.memo import AnswerMemo
from mastery.entrypoints.http.query import heat_map_row, rendered_mastery
from mastery.entrypoints.http.views import render_mastery
from tests.factories import event

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
RULES = MasteryRules()
TOPICS = sorted(CURRICULUM.topics)[:6]


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """One event of any kind the record keeps, at any time of the last 40 days."""
    zone = timezone(timedelta(minutes=draw(st.sampled_from([-300, 0, 60, 330]))))
    at = (NOW - timedelta(minutes=draw(st.integers(0, 40 * 24 * 60)))).astimezone(zone)
    topic = draw(st.sampled_from(TOPICS))
    n = draw(st.integers(0, 12))
    match draw(st.integers(0, 6)):
        case 0:
            return event("exercise.completed", "s1", topic, at, exercise_id=f"x{n}",
                         difficulty=draw(st.sampled_from(["easy", "medium", "hard"])),
                         passed=draw(st.booleans()))  # fmt: skip
        case 1:
            return event("quiz.completed", "s1", topic, at, quiz_id=f"q{n}",
                         correct=draw(st.integers(0, 5)), total=5)  # fmt: skip
        case 2:
            return event("code.reviewed", "s1", topic, at, submission_id=f"r{n}",
                         quality=draw(st.integers(0, 100)))  # fmt: skip
        case 3:
            return event("help.requested", "s1", topic, at, text="stuck on this")
        case 4:
            return event("exercise.started", "s1", topic, at, exercise_id=f"x{n}")
        case 5:
            return event("class.enrolled", "s1", None, at, class_id=f"c{n % 3}")
        case _:
            return event("class.unenrolled", "s1", None, at, class_id=f"c{n % 3}")


def stored(history: list[dict[str, Any]]) -> bytes:
    """The record of `history` as ingest stores it."""
    record = StudentRecord(student_id="s1")
    for document in history:
        apply_event(record, parse_event(document, NOW, CURRICULUM))
    return record.model_dump_json().encode()


def whole_record_row(data: bytes, day: date) -> bytes:
    """The definition: the row of the whole record's rendered mastery."""
    record = StudentRecord.model_validate_json(data)
    return render_mastery(student_mastery(record, CURRICULUM, day, RULES), CURRICULUM).row


@settings(max_examples=60, deadline=None)
@given(st.lists(documents(), max_size=60), st.lists(st.integers(-1, 12), min_size=1, max_size=4))
def test_a_row_made_alone_is_the_whole_records_row_on_every_day(
    history: list[dict[str, Any]], day_shifts: list[int]
) -> None:
    data = stored(history)
    record = StudentRecord.model_validate_json(data)
    version = AnswerMemo().version("s1", "7", data)
    assert version.enrolled_classes() == record.enrolled_classes()
    assert version.local_day(NOW) == record.local_day(NOW)
    today = record.local_day(NOW)
    for shift in day_shifts:  # the same version read on later (and earlier) days
        day = today + timedelta(days=shift)
        assert heat_map_row(version, day, CURRICULUM, RULES) == whole_record_row(data, day)


@settings(max_examples=40, deadline=None)
@given(st.lists(documents(), max_size=60), st.booleans())
def test_every_scored_answer_is_the_whole_records_in_either_order(
    history: list[dict[str, Any]], row_first: bool
) -> None:
    data = stored(history)
    record = StudentRecord.model_validate_json(data)
    day = record.local_day(NOW)
    version = AnswerMemo().version("s1", "7", data)
    if row_first:
        row = heat_map_row(version, day, CURRICULUM, RULES)
    rendered = rendered_mastery(version, day, CURRICULUM, RULES)
    if not row_first:
        row = heat_map_row(version, day, CURRICULUM, RULES)
    whole = render_mastery(student_mastery(record, CURRICULUM, day, RULES), CURRICULUM)
    assert (rendered.body, rendered.row, row) == (whole.body, whole.row, whole.row)
    assert daily_scores(version.scored(), CURRICULUM, day, 30, RULES) == daily_scores(
        record, CURRICULUM, day, 30, RULES
    )


def test_a_row_read_on_the_next_day_is_that_days_not_the_one_before() -> None:
    week = [NOW - timedelta(days=back) for back in range(7)]  # a full streak, up to today
    data = stored(
        [
            event("quiz.completed", "s1", TOPICS[0], at, quiz_id=f"q{at.day}", correct=4, total=5)
            for at in week
        ]
    )
    version = AnswerMemo().version("s1", "3", data)
    today = NOW.date()
    first = heat_map_row(version, today, CURRICULUM, RULES)
    later = heat_map_row(version, today + timedelta(days=1), CURRICULUM, RULES)
    assert first == whole_record_row(data, today)
    assert later == whole_record_row(data, today + timedelta(days=1))
    assert later != first  # a day without activity decays the streak: a stale row would show


def test_a_row_and_its_enrolment_check_parse_only_the_scored_part() -> None:
    data = stored([event("class.enrolled", "s1", None, NOW, class_id="c1")])
    version = AnswerMemo().version("s1", "1", data)
    assert version.enrolled_classes() == frozenset({"c1"})
    heat_map_row(version, NOW.date(), CURRICULUM, RULES)
    assert isinstance(version.scored(), MasteryFacts)
    version.record()  # a route that needs the whole record (history's export, predict)
    assert isinstance(version.scored(), StudentRecord)  # then scores read it: no third parse
