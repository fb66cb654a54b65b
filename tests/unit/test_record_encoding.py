"""The stored form of a record's scores and active days: gaps, exact, and old records still load."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from mastery.domain.record import StudentRecord, TopicEvidence
from mastery.domain.record_encoding import EXPANDED

TOPIC = "basics.variables"


def test_scores_and_days_are_stored_as_gaps_with_only_the_ids_still_kept() -> None:
    evidence = TopicEvidence(
        quizzes=[(1_767_600_000, 0.6, ""), (1_767_686_460, 0.8, "e7"), (1_767_686_460, 0.8, "e8")],
        reviews=[(1_767_600_060, 1.0, "")],
    )
    record = StudentRecord(student_id="s", active_days=[739_620, 739_621, 739_624])
    record.topics[TOPIC] = evidence
    record.topics["empty"] = TopicEvidence()
    stored = json.loads(record.model_dump_json())
    assert stored["topics"][TOPIC]["quizzes"] == {
        "t": [1_767_600_000, 86_460, 0],
        "v": [0.6, 0.8, 0.8],
        "id": ["e7", "e8"],
    }
    assert stored["topics"][TOPIC]["reviews"] == {"t": [1_767_600_060], "v": [1.0]}
    assert stored["topics"]["empty"]["quizzes"] == []
    assert stored["active_days"] == [739_620, 1, 3]
    assert StudentRecord.model_validate_json(record.model_dump_json()) == record


def test_a_record_stored_item_by_item_before_loads_and_is_written_compactly() -> None:
    previous = json.dumps({
        "student_id": "s", "last_event_at": 1_767_686_460, "active_days": [739_620, 739_621],
        "topics": {TOPIC: {"quizzes": [[1_767_600_000, 0.6, ""], [1_767_686_460, 0.8, "e7"]],
                           "reviews": []}},
    })  # fmt: skip
    record = StudentRecord.model_validate_json(previous)
    assert record.active_days == [739_620, 739_621]
    assert record.topics[TOPIC].quizzes == [(1_767_600_000, 0.6, ""), (1_767_686_460, 0.8, "e7")]
    compact = json.loads(record.model_dump_json())
    assert compact["active_days"] == [739_620, 1]
    assert compact["topics"][TOPIC]["quizzes"] == {
        "t": [1_767_600_000, 86_460],
        "v": [0.6, 0.8],
        "id": ["e7"],
    }
    # Item by item on request (the GDPR export): the layout it had.
    assert json.loads(record.model_dump_json(context=EXPANDED))["topics"][TOPIC]["quizzes"] == [
        [1_767_600_000, 0.6, ""],
        [1_767_686_460, 0.8, "e7"],
    ]


def test_any_scores_and_days_read_back_bit_for_bit() -> None:
    rng = random.Random(7)
    for _ in range(200):
        times = sorted(
            rng.randrange(1_700_000_000, 1_707_776_000) for _ in range(rng.randint(0, 30))
        )
        times += times[: rng.randint(0, 3)]  # scores of the same second
        scores = sorted(
            (at, rng.randint(0, total) / total, rng.choice(["", "", f"e{rng.randint(0, 99)}"]))
            for at, total in ((at, rng.randint(1, 13)) for at in times)
        )
        if rng.random() < 0.5:  # the usual shape: the oldest blank, the newest all with ids
            cut = rng.randint(0, len(scores))
            scores = sorted(
                (a, v, f"e{n}" if n >= cut else "") for n, (a, v, _) in enumerate(scores)
            )
        days = sorted(set(rng.sample(range(739_000, 739_091), rng.randint(0, 40))))
        record = StudentRecord(student_id="s", active_days=days)
        record.topics[TOPIC] = TopicEvidence(quizzes=scores, reviews=scores[::2])
        data = record.model_dump_json()
        again = StudentRecord.model_validate_json(data)
        assert again == record
        assert again.model_dump_json() == data


@pytest.mark.parametrize(
    "quizzes",
    [
        {"t": [1_767_600_000, 60], "v": [0.6]},
        {"t": [1_767_600_000]},
        {"t": [1_767_600_000], "v": [0.6], "id": ["e1", "e2"]},
        {"t": ["e1"], "v": [0.6]},
        {"t": [1_767_600_000], "v": ["high"]},
        [1_767_600_000, 0.6],
    ],
    ids=["more-times", "no-values", "more-ids", "time-a-string", "value-a-string", "flat"],
)
def test_malformed_stored_scores_are_rejected(quizzes: object) -> None:
    data = json.dumps({"student_id": "s", "topics": {TOPIC: {"quizzes": quizzes}}})
    with pytest.raises(ValidationError):
        StudentRecord.model_validate_json(data)


def test_malformed_stored_days_are_rejected() -> None:
    with pytest.raises(ValidationError):
        StudentRecord.model_validate_json('{"student_id": "s", "active_days": [739620, "x"]}')


def test_day_summaries_are_stored_flat_as_gaps_and_not_at_all_while_there_are_none() -> None:
    summaries = [(1_767_686_460, 0.7212500000000001, 4), (1_767_772_800, 0.5, 12)]
    record = StudentRecord(student_id="s")
    record.topics[TOPIC] = TopicEvidence(quiz_days=summaries, quizzes=[(1_767_800_000, 1.0, "e")])
    record.topics["empty"] = TopicEvidence()
    stored = json.loads(record.model_dump_json())
    assert stored["topics"][TOPIC]["quiz_days"] == [
        1_767_686_460, 0.7212500000000001, 4, 86_340, 0.5, 12,
    ]  # fmt: skip
    assert "review_days" not in stored["topics"][TOPIC]
    assert "quiz_days" not in stored["topics"]["empty"]
    assert StudentRecord.model_validate_json(record.model_dump_json()) == record
    # The GDPR export lists each summary: its day's last score's time, the average, the count.
    expanded = json.loads(record.model_dump_json(context=EXPANDED))["topics"][TOPIC]
    assert expanded["quiz_days"] == [list(s) for s in summaries]
    assert expanded["quizzes"] == [[1_767_800_000, 1.0, "e"]]


@pytest.mark.parametrize(
    "quiz_days",
    [[1_767_686_460, 0.7], [1_767_686_460, 0.7, "four"], ["x", 0.7, 4]],
    ids=["short", "count-a-string", "time-a-string"],
)
def test_malformed_stored_summaries_are_rejected(quiz_days: object) -> None:
    data = json.dumps({"student_id": "s", "topics": {TOPIC: {"quiz_days": quiz_days}}})
    with pytest.raises(ValidationError):
        StudentRecord.model_validate_json(data)
