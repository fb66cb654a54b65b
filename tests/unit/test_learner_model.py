"""The online learner model: Bayes updates, replay order independence, stored forms."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastery.domain.learner import (
    LearnerParamsError,
    LearnerState,
    ModelParams,
    TopicParams,
    p_correct,
    p_mastered,
    replay,
    update,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
PARAMS = TopicParams(p_init=0.3, p_learn=0.15, p_guess=0.2, p_slip=0.1, p_forget=0.05)


def _bayes_then_transition(prior: float, correct: bool, p: TopicParams) -> float:
    """Reference: P(known | answer) by Bayes' rule, then one learn/forget step."""
    if correct:
        joint_known, joint_unknown = prior * (1 - p.p_slip), (1 - prior) * p.p_guess
    else:
        joint_known, joint_unknown = prior * p.p_slip, (1 - prior) * (1 - p.p_guess)
    posterior = joint_known / (joint_known + joint_unknown)
    return posterior * (1 - p.p_forget) + (1 - posterior) * p.p_learn


def test_a_new_student_starts_at_the_topic_prior() -> None:
    assert p_mastered(None, PARAMS, T0) == PARAMS.p_init
    expected = PARAMS.p_init * (1 - PARAMS.p_slip) + (1 - PARAMS.p_init) * PARAMS.p_guess
    assert p_correct(None, PARAMS, T0) == pytest.approx(expected)


def test_each_answer_applies_bayes_rule_then_one_transition() -> None:
    state, reference = None, PARAMS.p_init
    for i, correct in enumerate([True, False, True, True, False, True]):
        state = update(state, PARAMS, float(correct), T0 + timedelta(minutes=i))
        reference = _bayes_then_transition(reference, correct, PARAMS)
        assert state.p_known == pytest.approx(reference, abs=1e-12)
    assert state is not None
    assert state.answers == 6
    assert state.at == T0 + timedelta(minutes=5)


def test_right_answers_raise_and_wrong_answers_lower_mastery() -> None:
    start = update(None, PARAMS, 0.0, T0)
    after_right = update(start, PARAMS, 1.0, T0 + timedelta(minutes=1))
    after_wrong = update(start, PARAMS, 0.0, T0 + timedelta(minutes=1))
    assert after_wrong.p_known < start.p_known < after_right.p_known
    assert p_correct(after_wrong, PARAMS, T0) < p_correct(after_right, PARAMS, T0)


def test_a_quiz_fraction_carries_the_geometric_mean_of_its_items_evidence() -> None:
    # With no learning or forgetting between items, k of n applied as k/n n times must equal
    # k right and n - k wrong answers applied one by one, in any order.
    still = TopicParams(p_init=0.4, p_learn=0.0, p_guess=0.25, p_slip=0.15, p_forget=0.0)
    k, n = 3, 5
    fractional = binary = None
    for i in range(n):
        fractional = update(fractional, still, k / n, T0 + timedelta(seconds=i))
        binary = update(binary, still, 1.0 if i < k else 0.0, T0 + timedelta(seconds=i))
    assert fractional is not None
    assert binary is not None
    assert fractional.p_known == pytest.approx(binary.p_known, rel=1e-9)


def test_idle_days_decay_mastery_only_when_configured() -> None:
    state = update(None, PARAMS, 1.0, T0)
    later = T0 + timedelta(days=10)
    assert p_mastered(state, PARAMS, later) == state.p_known
    decaying = TopicParams(forget_per_day=0.05)
    state = update(None, decaying, 1.0, T0)
    assert p_mastered(state, decaying, later) == pytest.approx(state.p_known * 0.95**10)
    assert p_correct(state, decaying, later) < p_correct(state, decaying, T0)
    # The decayed prior is what the next answer is weighed against.
    again = update(state, decaying, 1.0, later)
    assert again.p_known < update(state, decaying, 1.0, T0).p_known


answers_strategy = st.lists(
    st.tuples(st.integers(min_value=0, max_value=50), st.sampled_from([0.0, 0.5, 1.0])),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(answers=answers_strategy, seed=st.integers(0, 10_000))
def test_shuffled_delivery_replays_to_the_in_order_state(
    answers: list[tuple[int, float]], seed: int
) -> None:
    timed = [(T0 + timedelta(minutes=m), c) for m, c in answers]
    folded = None
    for at, correct in sorted(timed):
        folded = update(folded, PARAMS, correct, at)
    shuffled = timed[:]
    random.Random(seed).shuffle(shuffled)
    assert replay(shuffled, PARAMS) == folded


def test_replay_of_nothing_is_no_state() -> None:
    assert replay([], PARAMS) is None


def test_state_is_stored_as_a_short_json_list() -> None:
    state = update(None, PARAMS, 1.0, T0)
    text = json.dumps(state)
    assert json.loads(text) == state.to_list() == [state.p_known, T0.timestamp(), 1]
    assert LearnerState.from_list(json.loads(text)) == state


@pytest.mark.parametrize(
    "stored",
    [[0.5, 1.0], [1.5, 0.0, 1], [0.5, math.inf, 1], [0.2, 0, -1], ["x", 0, 1], [None, 0, 1]],
)
def test_malformed_stored_states_are_rejected(stored: list[object]) -> None:
    with pytest.raises(LearnerParamsError):
        LearnerState.from_list(stored)


def test_params_round_trip_through_json_and_fall_back_to_the_default() -> None:
    params = ModelParams(
        default=TopicParams(p_init=0.25),
        topics={"control_flow.for_loops": PARAMS, "basics.variables": TopicParams(p_slip=0.05)},
    )
    loaded = ModelParams.from_json(params.to_json())
    assert loaded == params
    assert loaded.for_topic("control_flow.for_loops") == PARAMS
    assert loaded.for_topic("oop.inheritance") == TopicParams(p_init=0.25)
    assert ModelParams.from_dict({}) == ModelParams()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"family": "elo"}',
        '{"topics": []}',
        '{"default": {"p_learn": 1.5}}',
        '{"default": {"p_lean": 0.1}}',
        '{"default": {"p_guess": 0.6, "p_slip": 0.5}}',
        '{"default": {"p_learn": "fast"}}',
        '{"default": [0.1]}',
    ],
)
def test_malformed_params_are_rejected(text: str) -> None:
    with pytest.raises(LearnerParamsError):
        ModelParams.from_json(text)


@pytest.mark.parametrize("correct", [-0.1, 1.1])
def test_answers_outside_zero_one_are_rejected(correct: float) -> None:
    with pytest.raises(LearnerParamsError):
        update(None, PARAMS, correct, T0)


def test_answer_times_need_a_time_zone() -> None:
    with pytest.raises(LearnerParamsError):
        update(None, PARAMS, 1.0, datetime(2025, 3, 1, 9, 0))
