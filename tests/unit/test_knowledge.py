"""The learner model inside the record: graded answers, O(1) updates, shuffle invariance."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mastery.domain.answer_log import AnswerLog
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import LearningEvent, parse_event
from mastery.domain.knowledge import LearnerModel, use_model
from mastery.domain.knowledge_events import track_answer
from mastery.domain.learner import ModelParams, StudentState, TopicParams, replay, update_student
from mastery.domain.record import StudentRecord
from mastery.domain.record_events import apply_event, graded_answer
from tests.factories import event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LISTS, LOOPS = "data_structures.lists", "control_flow.for_loops"
WINDOW = timedelta(days=30)  # a late-arrival window wider than the 20 days the events span


def parsed(document: dict[str, Any]) -> LearningEvent:
    return parse_event(document, NOW, CURRICULUM)


def quiz(at: datetime, correct: int, total: int = 4, topic: str = LISTS) -> LearningEvent:
    return parsed(
        event("quiz.completed", "s1", topic, at, quiz_id="q", correct=correct, total=total)
    )


def ingest(events: list[LearningEvent], model: LearnerModel) -> StudentRecord:
    record = StudentRecord(student_id="s1")
    for item in events:
        if apply_event(record, item, WINDOW):
            track_answer(record, item, model, WINDOW)
    return record


def mixed_events(seed: int, count: int) -> list[LearningEvent]:
    rng = random.Random(seed)
    start = NOW - timedelta(days=20)
    events = []
    for i in range(count):
        at = start + timedelta(minutes=rng.randrange(0, 20 * 24 * 60))
        topic = rng.choice([LISTS, LOOPS])
        kind = rng.choice(["quiz", "exercise", "run", "help"])
        if kind == "quiz":
            doc = event("quiz.completed", "s1", topic, at, quiz_id=f"q{i}",
                        correct=rng.randint(0, 5), total=5)  # fmt: skip
        elif kind == "exercise":
            doc = event("exercise.completed", "s1", topic, at, exercise_id=f"e{i % 7}",
                        difficulty="easy", passed=rng.random() < 0.6)  # fmt: skip
        elif kind == "run":
            ok = rng.random() < 0.5
            doc = event("code.executed", "s1", topic, at, ok=ok,
                        **({} if ok else {"error_type": "TypeError"}))  # fmt: skip
        else:
            doc = event("help.requested", "s1", topic, at, text="I'm stuck")
        events.append(parsed(doc))
    return events


def test_graded_answers_follow_the_documented_convention() -> None:
    run_ok = parsed(event("code.executed", "s1", LISTS, NOW, ok=True))
    run_failed = parsed(event("code.executed", "s1", LISTS, NOW, ok=False, error_type="E"))
    passed = parsed(event("exercise.completed", "s1", LISTS, NOW, exercise_id="e",
                          difficulty="hard", passed=True, score=0.4))  # fmt: skip
    failed = parsed(event("exercise.completed", "s1", LISTS, NOW, exercise_id="e",
                          difficulty="hard", passed=False))  # fmt: skip
    review = parsed(event("code.reviewed", "s1", LISTS, NOW, submission_id="r", quality=90))
    assert graded_answer(quiz(NOW, 3)) == 0.75
    assert [graded_answer(e) for e in (run_ok, run_failed, passed, failed)] == [1, 0, 1, 0]
    assert graded_answer(review) is None


def test_in_order_answers_update_the_state_like_replay() -> None:
    model = LearnerModel()
    answers = [quiz(NOW - timedelta(hours=10 - i), i % 5) for i in range(10)]
    record = ingest(answers, model)
    expected = replay(None, [(a.occurred_at.timestamp(), (i % 5) / 4)
                             for i, a in enumerate(answers)], model.for_topic(LISTS))  # fmt: skip
    assert record.learner[LISTS] == expected
    assert record.learner[LISTS].answers == 10


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), shuffle=st.randoms(use_true_random=False))
def test_any_delivery_order_leaves_the_same_learner_states(
    seed: int, shuffle: random.Random
) -> None:
    events = mixed_events(seed, 40)
    delivered = events + events[:5]  # with redeliveries
    shuffle.shuffle(delivered)
    model = LearnerModel()
    in_order = ingest(sorted(events, key=lambda e: e.occurred_at), model)
    shuffled = ingest(delivered, model)
    assert shuffled.learner == in_order.learner
    assert shuffled.answers == in_order.answers
    assert shuffled.learner_student == in_order.learner_student


def test_a_new_params_file_recomputes_every_state_on_the_next_event() -> None:
    events = mixed_events(3, 30)
    record = ingest(events[:-1], LearnerModel())
    sharper = LearnerModel(ModelParams(default=TopicParams(p_init=0.6, p_learn=0.3)))
    if apply_event(record, events[-1], WINDOW):
        track_answer(record, events[-1], sharper, WINDOW)
    assert record.learner == ingest(events, sharper).learner
    assert record.learner_params == sharper.fingerprint != LearnerModel().fingerprint


def later_quiz(days: int, correct: int, topic: str = LOOPS) -> LearningEvent:
    """A quiz `days` after NOW, parsed at its own time (a delivery held back that long)."""
    at = NOW + timedelta(days=days)
    document = event("quiz.completed", "s1", topic, at, quiz_id="q", correct=correct, total=1)
    return parse_event(document, at, CURRICULUM)


def test_answers_leaving_the_retention_window_keep_their_knowledge() -> None:
    model = LearnerModel()
    old = [quiz(NOW - timedelta(days=89, minutes=i), 4) for i in range(5, 0, -1)]
    recent = quiz(NOW - timedelta(days=1), 0)
    record = ingest([*old, recent], model)
    before, student_before = record.learner[LISTS], record.learner_student.state
    assert before.answers == 6
    # An event far enough after the old answers pushes them out of the 90-day window: they
    # leave the stored list but are folded into the topic's checkpoint, so nothing is reset.
    later = later_quiz(2, 1)
    apply_event(record, later)
    track_answer(record, later, model)
    assert len(record.answers[LISTS]) == 1
    assert record.answers[LISTS].start == replay(
        None, [(a.occurred_at.timestamp(), 1.0) for a in old], model.for_topic(LISTS)
    )
    assert record.learner[LISTS] == before
    # The cross-topic state folded the same answers into its checkpoint, then took the new one.
    assert record.learner_student.start == fold_student(None, old)
    assert record.learner_student.state == update_student(
        student_before, 1.0, later.occurred_at.timestamp(), AnswerLog.key_of(later.id)
    )
    # A late answer inside the window replays from the checkpoint, not from the prior.
    late = quiz(NOW - timedelta(days=1, minutes=5), 4)
    apply_event(record, late)
    track_answer(record, late, model)
    expected = replay(record.answers[LISTS].start, [(late.occurred_at.timestamp(), 1.0),
                      (recent.occurred_at.timestamp(), 0.0)], model.for_topic(LISTS))  # fmt: skip
    assert record.learner[LISTS] == expected
    assert record.learner[LISTS].answers == 7
    # ...and the cross-topic state replays every topic's window, merged, from its checkpoint.
    assert record.learner_student.state == fold_student(
        record.learner_student.start, [late, recent, later]
    )


def test_a_topic_left_longer_than_the_window_keeps_one_state_and_resumes_from_it() -> None:
    model, window = LearnerModel(), timedelta(days=7)
    before = [quiz(NOW - timedelta(days=20, minutes=i), i % 5) for i in range(6, 0, -1)]
    other = quiz(NOW - timedelta(days=2), 2, topic=LOOPS)
    resumed = quiz(NOW, 3)
    record = StudentRecord(student_id="s1")
    for item in [*before, other]:
        assert apply_event(record, item, window)
        track_answer(record, item, model, window)
    # Every answer of LISTS is older than the window: its log is folded away, its state kept.
    assert LISTS not in record.answers
    expected = replay(None, [(a.occurred_at.timestamp(), graded_answer(a) or 0.0)
                             for a in before], model.for_topic(LISTS))  # fmt: skip
    assert record.learner[LISTS] == expected
    # A new params file leaves a folded topic's state as it is (its answers are gone).
    use_model(record, LearnerModel(ModelParams(default=TopicParams(p_init=0.6))))
    assert record.learner[LISTS] == expected
    use_model(record, model)
    # The next answer starts a log from that state: the same as replaying every answer.
    assert apply_event(record, resumed, window)
    track_answer(record, resumed, model, window)
    assert record.answers[LISTS].start == expected
    assert record.learner[LISTS] == replay(
        None,
        [(a.occurred_at.timestamp(), graded_answer(a) or 0.0) for a in [*before, resumed]],
        model.for_topic(LISTS),
    )


def fold_student(start: StudentState | None, events: list[LearningEvent]) -> StudentState | None:
    state = start
    for item in sorted(events, key=lambda e: (e.occurred_at, AnswerLog.key_of(e.id))):
        value = graded_answer(item)
        assert value is not None
        state = update_student(state, value, item.occurred_at.timestamp(),
                               AnswerLog.key_of(item.id))  # fmt: skip
    return state


def test_an_answer_older_than_the_window_is_ignored() -> None:
    model = LearnerModel()
    record = ingest([later_quiz(0, 1)], model)
    stale = later_quiz(-91, 0, LISTS)
    apply_event(record, stale)
    track_answer(record, stale, model)
    assert LISTS not in record.learner


def test_answers_in_the_same_second_keep_the_order_they_happened_in() -> None:
    model = LearnerModel()
    right = quiz(NOW + timedelta(milliseconds=100), 4)
    wrong = quiz(NOW + timedelta(milliseconds=700), 0)
    expected = replay(None, [(right.occurred_at.timestamp(), 1.0),
                             (wrong.occurred_at.timestamp(), 0.0)], model.for_topic(LISTS))  # fmt: skip
    assert ingest([right, wrong], model).learner[LISTS] == expected
    assert ingest([wrong, right], model).learner[LISTS] == expected
    # Exactly the same instant: the event id's stable key decides, whatever the values.
    same = [quiz(NOW, c) for c in (0, 4)]
    first, second = sorted(same, key=lambda e: AnswerLog.key_of(e.id))
    tied = replay(None, [(NOW.timestamp(), graded_answer(first) or 0.0),
                         (NOW.timestamp(), graded_answer(second) or 0.0)],
                  model.for_topic(LISTS))  # fmt: skip
    assert ingest(same, model).learner[LISTS] == ingest(same[::-1], model).learner[LISTS] == tied


@pytest.mark.parametrize(
    "state",
    [
        [1.5, 1e308, -1],
        [1.5, 1.7e9, 1, 1.0, 0.5, 0.5],
        [0.5, 1e308, 1, 1.0, 0.5, 0.5],
        [0.5, 1.7e9, 1, 2.0, 0.5, 0.5],
    ],
)
def test_a_stored_record_with_an_impossible_learner_state_does_not_parse(
    state: list[float],
) -> None:
    record = ingest([quiz(NOW, 3)], LearnerModel())
    document = json.loads(record.model_dump_json())
    document["learner"][LISTS] = state
    with pytest.raises(ValidationError):
        StudentRecord.model_validate_json(json.dumps(document))


def test_events_that_grade_nothing_leave_no_state() -> None:
    help_only = parsed(event("help.requested", "s1", LISTS, NOW, text="help"))
    record = ingest([help_only], LearnerModel())
    assert record.learner == {}
    assert record.answers == {}


@pytest.mark.parametrize("late_first", [False, True])
def test_state_survives_a_round_trip_through_json(late_first: bool) -> None:
    events = mixed_events(5, 12)
    record = ingest(events[::-1] if late_first else events, LearnerModel())
    restored = StudentRecord.model_validate_json(record.model_dump_json())
    assert restored.learner == record.learner
