"""The online learner model: Bayes updates, the logistic prediction, stored forms."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from mastery.domain.learner import (
    FAST_DECAY,
    SLOW_DECAY,
    LearnerParamsError,
    LearnerState,
    ModelParams,
    StudentState,
    StudentSummary,
    TopicParams,
    Weights,
    features,
    p_correct,
    p_mastered,
    replay,
    summarize,
    update,
    update_student,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC).timestamp()
MINUTE, DAY = 60.0, 86_400.0
NOBODY = StudentSummary()
PARAMS = TopicParams(p_init=0.3, p_learn=0.15, p_guess=0.2, p_slip=0.1, p_forget=0.05)


def _bayes_then_transition(prior: float, correct: bool, p: TopicParams) -> float:
    """Reference: P(known | answer) by Bayes' rule, then one learn/forget step."""
    if correct:
        joint_known, joint_unknown = prior * (1 - p.p_slip), (1 - prior) * p.p_guess
    else:
        joint_known, joint_unknown = prior * p.p_slip, (1 - prior) * (1 - p.p_guess)
    posterior = joint_known / (joint_known + joint_unknown)
    return posterior * (1 - p.p_forget) + (1 - posterior) * p.p_learn


def bkt_correct(state: LearnerState | None, params: TopicParams, at: float) -> float:
    return p_correct(state, NOBODY, "t", ModelParams(default=params), at)


def test_a_new_student_starts_at_the_topic_prior() -> None:
    assert p_mastered(None, PARAMS, T0) == PARAMS.p_init
    expected = PARAMS.p_init * (1 - PARAMS.p_slip) + (1 - PARAMS.p_init) * PARAMS.p_guess
    # The default weights are the BKT logit alone: P(next correct) is BKT's own prediction.
    assert bkt_correct(None, PARAMS, T0) == pytest.approx(expected, abs=1e-12)


def test_each_answer_applies_bayes_rule_then_one_transition() -> None:
    state, reference = None, PARAMS.p_init
    for i, correct in enumerate([True, False, True, True, False, True]):
        state = update(state, PARAMS, float(correct), T0 + i * MINUTE)
        reference = _bayes_then_transition(reference, correct, PARAMS)
        assert state.p_known == pytest.approx(reference, abs=1e-12)
    assert state is not None
    assert (state.answers, state.successes, state.last_at) == (6, 4.0, T0 + 5 * MINUTE)


def test_counts_and_recent_proportions_follow_each_answer() -> None:
    state = update(update(None, PARAMS, 1.0, T0), PARAMS, 0.25, T0 + MINUTE)
    assert state.recent_fast == pytest.approx((0.5 * FAST_DECAY + 1 - FAST_DECAY) * FAST_DECAY
                                              + 0.25 * (1 - FAST_DECAY))  # fmt: skip
    assert state.recent_slow == pytest.approx((0.5 * SLOW_DECAY + 1 - SLOW_DECAY) * SLOW_DECAY
                                              + 0.25 * (1 - SLOW_DECAY))  # fmt: skip
    assert state.successes == 1.25


def test_right_answers_raise_and_wrong_answers_lower_mastery() -> None:
    start = update(None, PARAMS, 0.0, T0)
    after_right = update(start, PARAMS, 1.0, T0 + MINUTE)
    after_wrong = update(start, PARAMS, 0.0, T0 + MINUTE)
    assert after_wrong.p_known < start.p_known < after_right.p_known
    assert bkt_correct(after_wrong, PARAMS, T0) < bkt_correct(after_right, PARAMS, T0)


def test_a_quiz_fraction_carries_the_geometric_mean_of_its_items_evidence() -> None:
    # With no learning or forgetting between items, k of n applied as k/n n times must equal
    # k right and n - k wrong answers applied one by one, in any order.
    still = TopicParams(p_init=0.4, p_learn=0.0, p_guess=0.25, p_slip=0.15, p_forget=0.0)
    k, n = 3, 5
    fractional = binary = None
    for i in range(n):
        fractional = update(fractional, still, k / n, T0 + i)
        binary = update(binary, still, 1.0 if i < k else 0.0, T0 + i)
    assert fractional is not None
    assert binary is not None
    assert fractional.p_known == pytest.approx(binary.p_known, rel=1e-9)


def test_idle_days_decay_mastery_only_when_configured() -> None:
    state = update(None, PARAMS, 1.0, T0)
    later = T0 + 10 * DAY
    assert p_mastered(state, PARAMS, later) == state.p_known
    decaying = TopicParams(forget_per_day=0.05)
    state = update(None, decaying, 1.0, T0)
    assert p_mastered(state, decaying, later) == pytest.approx(state.p_known * 0.95**10)
    assert bkt_correct(state, decaying, later) < bkt_correct(state, decaying, T0)
    # The decayed prior is what the next answer is weighed against.
    again = update(state, decaying, 1.0, later)
    assert again.p_known < update(state, decaying, 1.0, T0).p_known


def test_p_correct_is_the_logistic_model_over_the_documented_features() -> None:
    topic = TopicParams(intercept=-0.3, successes=0.1, failures=-0.2, base_rate=0.6)
    weights = Weights(intercept=0.2, bkt=0.8, successes=0.3, failures=-0.4, recent_fast=0.5,
                      recent_slow=0.6, total_successes=0.05, total_failures=-0.07, ability=1.5,
                      idle=-0.25, recent_all=0.7)  # fmt: skip
    params = ModelParams(topics={"t": topic, "u": TopicParams(base_rate=0.4)}, weights=weights)
    states = {"t": update(update(None, topic, 1.0, T0), topic, 0.0, T0 + MINUTE),
              "u": update(None, TopicParams(), 1.0, T0 + 2 * MINUTE)}  # fmt: skip
    student = None
    for i, value in enumerate((1.0, 0.0, 1.0)):
        student = update_student(student, value, T0 + i * MINUTE)
    assert student == StudentState(((0.5 * 0.9 + 0.1) * 0.9) * 0.9 + 0.1, T0 + 2 * MINUTE, 0)
    summary = summarize(states, params, student)
    assert summary == StudentSummary(3, 2.0, (1.0 - 2 * 0.6) + (1.0 - 0.4), student.recent)
    at = T0 + 3 * DAY
    x = features(states["t"], summary, topic, at)
    known = states["t"].p_known
    bkt = known * (1 - topic.p_slip) + (1 - known) * topic.p_guess
    assert x == pytest.approx((1.0, math.log(bkt / (1 - bkt)), math.log(2), math.log(2),
                               states["t"].recent_fast, states["t"].recent_slow, math.log(3),
                               math.log(2), summary.residual / (3 + 5.0),
                               math.log1p(3 - 1 / 1440), student.recent))  # fmt: skip
    w = [weights.intercept + topic.intercept, weights.bkt, weights.successes + topic.successes,
         weights.failures + topic.failures, *list(weights.to_dict().values())[4:]]  # fmt: skip
    z = sum(wi * xi for wi, xi in zip(w, x, strict=True))
    assert p_correct(states["t"], summary, "t", params, at) == pytest.approx(1 / (1 + math.exp(-z)))


def test_a_stronger_student_elsewhere_is_predicted_stronger_here() -> None:
    params = ModelParams(weights=Weights(ability=2.0))
    right, wrong = (replay(None, [(T0, c)] * 5, params.default) for c in (1.0, 0.0))
    assert right is not None
    assert wrong is not None
    strong, weak = summarize({"u": right}, params), summarize({"u": wrong}, params)
    assert p_correct(None, weak, "t", params, T0) < p_correct(None, NOBODY, "t", params, T0)
    assert p_correct(None, NOBODY, "t", params, T0) < p_correct(None, strong, "t", params, T0)


def test_replay_folds_update_from_a_checkpoint() -> None:
    answers = [(T0 + i * MINUTE, float(i % 2)) for i in range(6)]
    folded = None
    for at, correct in answers:
        folded = update(folded, PARAMS, correct, at)
    checkpoint = replay(None, answers[:4], PARAMS)
    assert replay(checkpoint, answers[4:], PARAMS) == folded
    assert replay(None, [], PARAMS) is None


def test_state_is_stored_as_a_short_json_list() -> None:
    state = update(None, PARAMS, 1.0, T0 + 0.25)
    text = json.dumps(state)
    assert json.loads(text) == state.to_list()
    assert state.to_list()[:4] == [state.p_known, T0 + 0.25, 1, 1.0]
    assert LearnerState.from_list(json.loads(text)) == state


@pytest.mark.parametrize(
    "stored",
    [
        [0.5, 1.0],
        [1.5, 1e308, -1],
        [1.5, 0.0, 1, 1, 0.5, 0.5],
        [0.5, 1e308, 1, 1, 0.5, 0.5],
        [0.5, math.inf, 1, 1, 0.5, 0.5],
        [0.2, 0, -1, 0, 0.5, 0.5],
        [0.2, 0, 1, 2, 0.5, 0.5],
        [0.2, 0, 1, 1, 1.5, 0.5],
        ["x", 0, 1, 1, 0.5, 0.5],
        [None, 0, 1, 1, 0.5, 0.5],
    ],
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
    weighted = ModelParams(weights=Weights(ability=1.2, idle=-0.1))
    assert ModelParams.from_json(weighted.to_json()) == weighted
    # A file of the earlier BKT-only family loads with the BKT-alone weights.
    assert ModelParams.from_dict({"family": "bkt_forget"}).weights == Weights()
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
        '{"default": {"intercept": "high"}}',
        '{"default": {"base_rate": 1.5}}',
        '{"weights": {"abilty": 1.0}}',
        '{"weights": [1.0]}',
    ],
)
def test_malformed_params_are_rejected(text: str) -> None:
    with pytest.raises(LearnerParamsError):
        ModelParams.from_json(text)


@pytest.mark.parametrize("correct", [-0.1, 1.1])
def test_answers_outside_zero_one_are_rejected(correct: float) -> None:
    with pytest.raises(LearnerParamsError):
        update(None, PARAMS, correct, T0)


@pytest.mark.parametrize("at", [-1.0, 1e308, math.nan])
def test_answer_times_must_be_epoch_seconds(at: float) -> None:
    with pytest.raises(LearnerParamsError):
        update(None, PARAMS, 1.0, at)
