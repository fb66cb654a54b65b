"""Fitting recovers a known BKT process, and the fitted model tracks the hidden state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mastery.domain.learner import (
    LearnerParamsError,
    LearnerState,
    ModelParams,
    TopicParams,
    p_mastered,
    update,
)
from mastery.learner_params import load_params, save_params
from mastery.learning import em
from mastery.learning.bkt import SkillParams, predict_known
from mastery.learning.fit import fit_params
from mastery.learning.metrics import auc
from mastery.learning.synthetic import Synthetic, simulate

# Tolerances for ~300 students x 4 skills x 5-40 answers (about 27,000 answers). p_init has
# one observation per student and skill (~300), so its standard error is near 0.03; every
# other parameter sees thousands of answers.
TOLERANCE = {"p_init": 0.10, "p_learn": 0.05, "p_guess": 0.05, "p_slip": 0.03, "p_forget": 0.02}


@pytest.fixture(scope="module", params=[1, 2, 3])
def simulated(request: pytest.FixtureRequest) -> Synthetic:
    return simulate(300, 4, 5, 40, seed=request.param)


def test_em_recovers_the_generating_parameters(simulated: Synthetic) -> None:
    result = em.fit(simulated.log)
    truth = SkillParams.from_model(simulated.truth, simulated.log.skill_ids)
    assert result.converged
    for name, tolerance in TOLERANCE.items():
        error = np.abs(getattr(result.params, name) - getattr(truth, name))
        assert error.max() < tolerance, (name, error)


def test_em_never_lowers_the_likelihood_much(simulated: Synthetic) -> None:
    trace = np.array(em.fit(simulated.log).loglik)
    # The Beta prior and the bounds make it MAP-EM, so allow rounding-sized dips only.
    assert np.all(np.diff(trace) > -1e-6)
    assert trace[-1] > trace[0]


def test_p_mastered_tracks_the_hidden_state(simulated: Synthetic) -> None:
    params = em.fit(simulated.log).params
    mastered = predict_known(simulated.log, params)
    known = simulated.known
    assert auc(known.astype(np.float64), mastered) > 0.85
    assert mastered[known].mean() > mastered[~known].mean() + 0.4


def test_batch_bkt_equals_the_online_model_answer_by_answer() -> None:
    data = simulate(40, 3, 2, 15, seed=9)
    params, _ = fit_params(data.log)
    log = data.log
    batch = predict_known(log, SkillParams.from_model(params, log.skill_ids))
    t0 = 1_735_689_600.0
    states: dict[tuple[int, int], LearnerState] = {}
    online = np.empty(len(log))
    for row in range(len(log)):  # rows are in (student, order) order: a real event stream
        key = (int(log.student[row]), int(log.skill[row]))
        topic = params.for_topic(log.skill_ids[key[1]])
        at = t0 + 60.0 * row
        state = states.get(key)
        online[row] = p_mastered(state, topic, at)
        states[key] = update(state, topic, float(log.correct[row]), at)
    np.testing.assert_allclose(batch, online, rtol=1e-12, atol=1e-12)


def test_fitted_default_is_the_answer_weighted_mean_of_the_skills() -> None:
    data = simulate(60, 3, 2, 30, seed=4)
    params, report = fit_params(data.log, TopicParams(forget_per_day=0.01))
    counts = np.bincount(data.log.skill, minlength=3)
    learn = [params.topics[s].p_learn for s in data.log.skill_ids]
    assert params.default.p_learn == pytest.approx(np.dot(counts, learn) / counts.sum())
    assert params.default.forget_per_day == 0.01
    assert report.em.answers.tolist() == counts.tolist()
    rates = (np.bincount(data.log.skill, weights=data.log.correct) + 1) / (counts + 2)
    assert [params.topics[s].base_rate for s in data.log.skill_ids] == pytest.approx(rates)


def test_params_file_round_trips_and_defaults_without_a_file(tmp_path: Path) -> None:
    assert load_params(None) == ModelParams()
    assert load_params("") == ModelParams()
    data = simulate(30, 2, 2, 10, seed=5)
    params, _ = fit_params(data.log, max_iter=5)
    path = f"{tmp_path}/params.json"
    save_params(params, path)
    assert load_params(path) == params


def test_a_missing_params_file_is_a_learner_error(tmp_path: Path) -> None:
    with pytest.raises(LearnerParamsError):
        load_params(f"{tmp_path}/absent.json")
