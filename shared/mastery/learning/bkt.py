"""BKT with forgetting over whole answer logs: the online forward pass and EM fitting, in numpy.

The forward pass is the same arithmetic as `mastery.domain.learner.update` (a test holds them
equal), run for every (student, skill) sequence at once in the time-major layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mastery.domain.learner import ModelParams, TopicParams
from mastery.learning.answers import AnswerLog, FloatArray, IntArray
from mastery.learning.layout import TimeMajor, time_major

_EPS = 1e-12
_NAMES = ("p_init", "p_learn", "p_guess", "p_slip", "p_forget")
# Keep fitted guess and slip below 0.5 so "known" keeps meaning "answers correctly";
# without it EM can land on the mirrored solution.
BOUNDS = {
    "p_init": (1e-3, 1 - 1e-3),
    "p_learn": (1e-4, 0.99),
    "p_guess": (1e-3, 0.45),
    "p_slip": (1e-3, 0.45),
    "p_forget": (0.0, 0.5),
}


@dataclass(frozen=True)
class SkillParams:
    """One array per BKT parameter, indexed by skill code."""

    p_init: FloatArray
    p_learn: FloatArray
    p_guess: FloatArray
    p_slip: FloatArray
    p_forget: FloatArray

    @classmethod
    def from_model(cls, params: ModelParams, skill_ids: tuple[str, ...]) -> SkillParams:
        """Arrays for `skill_ids` from a ModelParams (the default for unknown skills)."""
        per_skill = [params.for_topic(skill) for skill in skill_ids]
        return cls(
            *(np.array([getattr(p, n) for p in per_skill], dtype=np.float64) for n in _NAMES)
        )

    def to_model(self, skill_ids: tuple[str, ...], default: TopicParams) -> ModelParams:
        """A ModelParams naming each skill (per-day forgetting is kept from `default`)."""
        topics = {
            skill: TopicParams(
                **{n: float(getattr(self, n)[k]) for n in _NAMES},
                forget_per_day=default.forget_per_day,
            )
            for k, skill in enumerate(skill_ids)
        }
        return ModelParams(default=default, topics=topics)


@dataclass(frozen=True)
class ForwardPass:
    """Per time-major row: P(known) before the answer, after it, and the answer's likelihood."""

    prior: FloatArray
    filtered: FloatArray
    likelihood: FloatArray


def _emissions(correct: FloatArray, guess: FloatArray, slip: FloatArray) -> tuple[FloatArray, ...]:
    if np.all((correct == 0.0) | (correct == 1.0)):
        return (
            np.where(correct == 1.0, 1.0 - slip, slip),
            np.where(correct == 1.0, guess, 1.0 - guess),
        )
    # Fractional answers: geometric mixture of the two likelihoods, as in learner.update.
    return (
        (1.0 - slip) ** correct * slip ** (1.0 - correct),
        guess**correct * (1.0 - guess) ** (1.0 - correct),
    )


def forward(
    layout: TimeMajor, correct: FloatArray, skill: IntArray, params: SkillParams
) -> ForwardPass:
    """Filter every sequence; `correct` and `skill` are in time-major order."""
    # The same clipping as learner.update, so a params file with a 0 or 1 stays finite.
    guess = np.clip(params.p_guess[skill], _EPS, 1.0 - _EPS)
    slip = np.clip(params.p_slip[skill], _EPS, 1.0 - _EPS)
    like_known, like_unknown = _emissions(correct, guess, slip)
    learn, forget = params.p_learn[skill], params.p_forget[skill]
    n = correct.shape[0]
    prior, filtered, likelihood = np.empty(n), np.empty(n), np.empty(n)
    p = params.p_init[skill[: layout.bounds[1]]] if layout.steps else np.empty(0)
    for t in range(layout.steps):
        a, b = layout.step(t)
        pk = p[: b - a]
        evidence = pk * like_known[a:b]
        total = evidence + (1.0 - pk) * like_unknown[a:b]
        post = evidence / total
        prior[a:b], filtered[a:b], likelihood[a:b] = pk, post, total
        p = post * (1.0 - forget[a:b]) + (1.0 - post) * learn[a:b]
    return ForwardPass(prior, filtered, likelihood)


def predict(log: AnswerLog, params: SkillParams) -> FloatArray:
    """P(correct) for every row of `log` from the same student's earlier rows in that skill."""
    layout = time_major(log.group)
    skill = log.skill[layout.rows]
    known = forward(layout, log.correct[layout.rows], skill, params).prior
    out = np.empty(len(log))
    out[layout.rows] = known * (1.0 - params.p_slip[skill]) + (1.0 - known) * params.p_guess[skill]
    return out


def predict_known(log: AnswerLog, params: SkillParams) -> FloatArray:
    """P(known) before every row of `log` (what `p_mastered` reports at that moment)."""
    layout = time_major(log.group)
    fwd = forward(layout, log.correct[layout.rows], log.skill[layout.rows], params)
    out = np.empty(len(log))
    out[layout.rows] = fwd.prior
    return out
