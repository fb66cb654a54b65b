"""The read answers are exactly what their response models describe, written as they write.

The views are built as plain JSON objects (`mastery.entrypoints.http.views`); each answer,
validated by its model and written back by it, must be the same bytes: a field missing, added,
misnamed, out of order or of another type changes them.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from pydantic import BaseModel
from pydantic_core import to_json

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.daily import daily_scores
from mastery.domain.events import parse_event
from mastery.domain.knowledge import LearnerModel
from mastery.domain.knowledge_events import track_answer
from mastery.domain.mastery import MasteryRules, StudentMastery, round_score, student_mastery
from mastery.domain.outlook import student_outlook
from mastery.domain.record import LATE_WINDOW, StudentRecord
from mastery.domain.record_events import apply_event
from mastery.entrypoints.http.forecast_views import ForecastResponse, prepare_forecast
from mastery.entrypoints.http.views import (
    ClassStudentRow,
    ClassView,
    HistoryView,
    MasteryView,
    TopicView,
    class_view,
    history_view,
    render_mastery,
    topic_positions,
)
from mastery.local.demo import demo_events

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
RULES = MasteryRules()
MODEL = LearnerModel()


def demo_records() -> list[StudentRecord]:
    """A demo class's students (with the learner model's states), and one with no evidence."""
    records: dict[str, StudentRecord] = {}
    for document in demo_events("c1", students=8, days=30, now=NOW, seed=3):
        parsed = parse_event(document, NOW, CURRICULUM)
        record = records.setdefault(parsed.student_id, StudentRecord(student_id=parsed.student_id))
        if apply_event(record, parsed, LATE_WINDOW):
            track_answer(record, parsed, MODEL, LATE_WINDOW)
    records["nobody"] = StudentRecord(student_id="nobody")
    return list(records.values())


RECORDS = demo_records()
MASTERIES = [student_mastery(r, CURRICULUM, r.local_day(NOW), RULES) for r in RECORDS]


def written_by(model: type[BaseModel], body: bytes) -> bytes:
    return model.model_validate_json(body).model_dump_json(by_alias=True).encode()


@pytest.mark.parametrize("mastery", MASTERIES, ids=lambda m: m.student_id)
def test_a_rendered_mastery_is_its_models_bytes(mastery: StudentMastery) -> None:
    rendered = render_mastery(mastery, CURRICULUM)
    assert written_by(MasteryView, rendered.body) == rendered.body
    assert written_by(ClassStudentRow, rendered.row) == rendered.row
    assert json.loads(rendered.row)["topics"] == {
        t.topic: t.display_score if t.practised else None for m in mastery.modules for t in m.topics
    }


@pytest.mark.parametrize("mastery", MASTERIES, ids=lambda m: m.student_id)
def test_each_topic_answer_is_that_topic_of_the_mastery(mastery: StudentMastery) -> None:
    rendered = render_mastery(mastery, CURRICULUM)
    in_body = json.loads(rendered.body)["topics"]
    positions = topic_positions(CURRICULUM)
    assert sorted(positions) == sorted(CURRICULUM.topics)
    for topic_id, position in positions.items():
        body = rendered.topic(position)
        assert written_by(TopicView, body) == body
        assert json.loads(body) == in_body[position]
        assert json.loads(body)["topic"] == topic_id
        assert json.loads(body)["score"] == mastery.topic(topic_id).display_score


def test_the_rendered_scores_are_the_scorings() -> None:
    practised = [m for m in MASTERIES if m.overall > 0]
    assert practised  # the demo class has evidence
    for mastery in practised:
        view = json.loads(render_mastery(mastery, CURRICULUM).body)
        assert view["score"] == round_score(mastery.overall)
        assert [m["score"] for m in view["modules"]] == [
            round_score(m.score) for m in mastery.modules
        ]
        assert [t["level"] for t in view["topics"]] == [
            t.level for m in mastery.modules for t in m.topics
        ]


def test_a_class_view_is_its_models_bytes() -> None:
    rows = [render_mastery(m, CURRICULUM).row for m in MASTERIES]
    body = class_view("c1", date(2026, 11, 20), list(CURRICULUM.topics), rows)
    assert written_by(ClassView, body) == body
    assert [s["student_id"] for s in json.loads(body)["students"]] == [
        m.student_id for m in MASTERIES
    ]
    empty = class_view("c2", date(2026, 11, 20), list(CURRICULUM.topics), [])
    assert json.loads(empty)["students"] == []


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.student_id)
def test_a_history_answer_is_its_models_bytes(record: StudentRecord) -> None:
    daily = daily_scores(record, CURRICULUM, record.local_day(NOW), 30, RULES)
    body = to_json(history_view(record.student_id, daily))
    assert written_by(HistoryView, body) == body
    assert len(json.loads(body)["days"]) == 30


@pytest.mark.parametrize("horizon", [1, 7, 30])
@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.student_id)
def test_a_forecast_answer_is_its_models_bytes(record: StudentRecord, horizon: int) -> None:
    today = record.local_day(NOW)
    outlook = student_outlook(record, CURRICULUM, today, RULES, horizon)
    body = prepare_forecast(record, outlook, MODEL).body(MODEL, NOW)
    assert written_by(ForecastResponse, body) == body
    topics = json.loads(body)["topics"]
    assert [t["topic"] for t in topics] == list(outlook.topics)
    assert {t["status"] for t in topics} >= {"insufficient_history"}


def test_the_demo_forecasts_have_fits_and_learner_states() -> None:
    # So that the test above covers a fitted forecast's fields and a state's answer time.
    today = RECORDS[0].local_day(NOW)
    answers = [
        json.loads(prepare_forecast(r, student_outlook(r, CURRICULUM, today, RULES, 7), MODEL)
                   .body(MODEL, NOW))
        for r in RECORDS
    ]  # fmt: skip
    topics = [t for answer in answers for t in answer["topics"]]
    assert any(t["status"] == "ok" and t["interval"] is not None for t in topics)
    assert any(t["learner"]["last_answer_at"] is not None for t in topics)
