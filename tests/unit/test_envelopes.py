"""Both envelopes read into the same event document; a value that is neither is named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import QuizCompleted, parse_event
from mastery.entrypoints.envelopes import read_envelope
from mastery.errors import PoisonEventError
from tests.factories import event, raw

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
AT = NOW - timedelta(hours=1)
TOPIC = "data_structures.lists"


def cloudevent(**changes: Any) -> dict[str, Any]:
    document = {
        "specversion": "1.0",
        "id": "e1",
        "source": "learnflow/quiz",
        "type": "quiz.completed",
        "subject": "s1",
        "time": AT.isoformat(),
        "datacontenttype": "application/json",
        "data": {"topic": TOPIC, "quiz_id": "q1", "correct": 3, "total": 4},
    }
    document.update(changes)
    return document


def test_our_envelope_and_a_cloudevent_mean_the_same_event() -> None:
    ours = event("quiz.completed", "s1", TOPIC, AT, "e1", quiz_id="q1", correct=3, total=4)
    first = parse_event(read_envelope(raw(ours)), NOW, CURRICULUM)
    second = parse_event(read_envelope(raw(cloudevent())), NOW, CURRICULUM)
    assert first == second
    assert first.data == QuizCompleted(quiz_id="q1", correct=3, total=4)


def test_our_envelope_is_the_event_document_itself() -> None:
    ours = event("class.enrolled", "s1", None, AT, "e2", class_id="c1")
    assert read_envelope(json.dumps(ours)) == ours


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"subject": "has space"}, "student_id: String should match pattern"),
        ({"subject": None}, "student_id: Input should be a valid string"),
        ({"time": "2026-11-20T11:00:00"}, "occurred_at must carry a time zone"),
        ({"id": None}, "id: Input should be a valid string"),
    ],
)
def test_a_cloudevent_is_rejected_in_the_event_documents_names(
    changes: dict[str, Any], reason: str
) -> None:
    document = read_envelope(raw(cloudevent(**changes)))
    with pytest.raises(PoisonEventError) as caught:
        parse_event(document, NOW, CURRICULUM)
    assert caught.value.reason.startswith(reason)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "event must be a JSON object"),
        (b'"text"', "event must be a JSON object"),
        (raw(cloudevent(data="text")), "cloudevent data must be a JSON object"),
        (raw({"specversion": "1.0", "id": "x"}), "cloudevent data must be a JSON object"),
    ],
)
def test_a_value_in_neither_envelope_is_rejected_with_a_reason(value: bytes, reason: str) -> None:
    with pytest.raises(PoisonEventError) as caught:
        read_envelope(value)
    assert caught.value.reason == reason
