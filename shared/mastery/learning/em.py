"""Per-skill EM (Baum-Welch) for BKT with forgetting, all skills in one vectorised pass.

E-step: the forward filter, then a backward smoother on the two-state chain. M-step: expected
counts per skill, with a few pseudo-counts at the default parameters (a Beta prior) so a
skill with little data stays near the defaults instead of an extreme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mastery.domain.learner import TopicParams
from mastery.learning.answers import AnswerLog, FloatArray
from mastery.learning.bkt import BOUNDS, ForwardPass, SkillParams, forward
from mastery.learning.layout import TimeMajor, time_major

_TINY = 1e-12
MAX_ITER = 500
TOL = 1e-6
PARAM_TOL = 1e-4


@dataclass(frozen=True)
class FitResult:
    """Fitted arrays, answers per skill, the log-likelihood trace and whether EM converged."""

    params: SkillParams
    answers: FloatArray
    loglik: tuple[float, ...]
    converged: bool


def _smooth(
    layout: TimeMajor, fwd: ForwardPass, learn: FloatArray, forget: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """P(known | whole sequence) per row, and expected learn / forget transitions after it."""
    n = fwd.prior.shape[0]
    gamma, learned, forgot = fwd.filtered.copy(), np.zeros(n), np.zeros(n)
    for t in range(layout.steps - 2, -1, -1):
        a, _ = layout.step(t)
        c, d = layout.step(t + 1)
        m = d - c  # sequences that go on to step t+1 are the first m of step t
        known = fwd.filtered[a : a + m]
        prior_next = np.clip(fwd.prior[c:d], _TINY, 1.0 - _TINY)
        ratio_known = gamma[c:d] / prior_next
        ratio_unknown = (1.0 - gamma[c:d]) / (1.0 - prior_next)
        f, lrn = forget[a : a + m], learn[a : a + m]
        forgot[a : a + m] = known * f * ratio_unknown
        learned[a : a + m] = (1.0 - known) * lrn * ratio_known
        gamma[a : a + m] = known * (1.0 - f) * ratio_known + forgot[a : a + m]
    return gamma, learned, forgot


def _largest_change(before: SkillParams, after: SkillParams) -> float:
    return max(float(np.max(np.abs(getattr(after, n) - getattr(before, n)), initial=0.0))
               for n in BOUNDS)  # fmt: skip


def fit(
    log: AnswerLog,
    start: TopicParams | None = None,
    *,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
    param_tol: float = PARAM_TOL,
    prior_strength: float = 2.0,
) -> FitResult:
    """Fit per-skill parameters to `log` by EM from `start` (default TopicParams()).

    Converged when the mean log-likelihood per answer improves by less than `tol`, or when no
    parameter of any skill moves by more than `param_tol` in an iteration (EM creeps along a
    flat ridge on real data: the likelihood then changes in the 7th decimal for hundreds of
    iterations while no parameter moves by a visible amount); `max_iter` is a safety cap.
    """
    start = start or TopicParams()
    n_skills = len(log.skill_ids)
    layout = time_major(log.group)
    correct = log.correct[layout.rows]
    skill = log.skill[layout.rows]
    first, has_next = layout.is_first(), layout.has_next()

    def per_skill(values: FloatArray) -> FloatArray:
        return np.bincount(skill, weights=values, minlength=n_skills).astype(np.float64)

    def estimate(numerator: FloatArray, denominator: FloatArray, name: str) -> FloatArray:
        centre = getattr(start, name)
        value = (per_skill(numerator) + prior_strength * centre) / (
            per_skill(denominator) + prior_strength
        )
        clipped: FloatArray = np.clip(value, *BOUNDS[name])
        return clipped

    params = SkillParams(*(np.full(n_skills, getattr(start, n)) for n in BOUNDS))
    trace: list[float] = []
    converged = False
    for _ in range(max_iter):
        fwd = forward(layout, correct, skill, params)
        trace.append(float(np.log(fwd.likelihood).sum()) / max(1, correct.shape[0]))
        if len(trace) > 1 and trace[-1] - trace[-2] < tol:
            converged = True
            break
        gamma, learned, forgot = _smooth(layout, fwd, params.p_learn[skill], params.p_forget[skill])
        unknown = 1.0 - gamma
        previous = params
        params = SkillParams(
            p_init=estimate(gamma * first, first.astype(np.float64), "p_init"),
            p_learn=estimate(learned, unknown * has_next, "p_learn"),
            p_guess=estimate(unknown * correct, unknown, "p_guess"),
            p_slip=estimate(gamma * (1.0 - correct), gamma, "p_slip"),
            p_forget=estimate(forgot, gamma * has_next, "p_forget"),
        )
        if _largest_change(previous, params) < param_tol:
            trace.append(float(np.log(forward(layout, correct, skill, params).likelihood).sum())
                         / max(1, correct.shape[0]))  # fmt: skip
            converged = True
            break
    return FitResult(params, per_skill(np.ones_like(correct)), tuple(trace), converged)
