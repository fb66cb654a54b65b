"""An event document validates into one event; every kind of poison is named (the envelopes
a document arrives in: `test_envelopes.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import DATA_MODELS, ClassRoster, EventData, parse_event
from mastery.errors import PoisonEventError
from tests.factories import event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
AT = NOW - timedelta(hours=1)
TOPIC = "data_structures.lists"


def test_roster_events_need_no_topic() -> None:
    parsed = parse_event(event("class.enrolled", "s1", None, AT, class_id="c1"), NOW, CURRICULUM)
    assert parsed.topic is None
    assert parsed.data == ClassRoster(class_id="c1")


def _poison(document: dict[str, object]) -> str:
    with pytest.raises(PoisonEventError) as caught:
        parse_event(document, NOW, CURRICULUM)
    return caught.value.reason


def good(**changes: object) -> dict[str, object]:
    document = event("quiz.completed", "s1", TOPIC, AT, quiz_id="q1", correct=1, total=2)
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (good(type="quiz.failed"), "unknown event type 'quiz.failed'"),
        (good(student_id=None), "student_id"),
        (good(student_id="has space"), "student_id"),
        (good(occurred_at="2026-11-20T11:00:00"), "occurred_at must carry a time zone"),
        (good(occurred_at=(NOW - timedelta(days=91)).isoformat()), "more than 90 days in the past"),
        (
            good(occurred_at=(NOW + timedelta(minutes=6)).isoformat()),
            "more than 5 minutes in the future",
        ),
        (good(topic="python.generators"), "unknown topic 'python.generators'"),
        (good(topic=None), "topic is required"),
        (good(data={"quiz_id": "q1", "correct": 3, "total": 2}), "correct must not exceed total"),
        (good(data={"quiz_id": "q1", "total": 2}), "data.correct"),
        (good(type="code.executed", data={"ok": False}), "error_type is required"),
        (
            good(
                type="exercise.completed",
                data={"exercise_id": "e", "difficulty": "epic", "passed": True},
            ),
            "data.difficulty",
        ),
    ],
)
def test_poison_events_are_rejected_with_a_reason(document: dict[str, object], reason: str) -> None:
    assert reason in _poison(document)


def test_the_window_edges_are_accepted() -> None:
    edge_past = good(occurred_at=(NOW - timedelta(days=90) + timedelta(seconds=1)).isoformat())
    edge_future = good(occurred_at=(NOW + timedelta(minutes=5)).isoformat())
    parse_event(edge_past, NOW, CURRICULUM)
    parse_event(edge_future, NOW, CURRICULUM)


def test_every_kind_of_event_data_has_a_type_name() -> None:
    # The union is what every concern's `match` must cover; a member without a type name would
    # never be parsed.
    assert set(DATA_MODELS.values()) == set(get_args(EventData))
