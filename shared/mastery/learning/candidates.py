"""The other model families the harness measures against BKT: Elo-style ratings and PFA.

Both are fitted on the training students only and predict each test answer from the same
student's earlier answers, like the BKT forward pass.
"""

from __future__ import annotations

import numpy as np

from mastery.learning.answers import AnswerLog, FloatArray, IntArray
from mastery.learning.layout import history, time_major

_ELO_SCALES = (0.1, 0.2, 0.4, 0.8, 1.6)
_ELO_DECAY = 0.05  # the step size shrinks as 1 / (1 + decay * answers seen)


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out


def _elo_pass(log: AnswerLog, difficulty: FloatArray, scale: float) -> FloatArray:
    """Elo predictions: P = sigmoid(student ability + student-skill ability - skill difficulty)."""
    layout = time_major(log.student)
    # Compact (student, skill) codes: the product of the id counts can be huge and sparse.
    codes, dense = np.unique(log.group, return_inverse=True)
    n_groups = codes.shape[0]
    group, skill, correct = (a[layout.rows] for a in (dense, log.skill, log.correct))
    ability = np.zeros(layout.step(0)[1] if layout.steps else 0)
    seen = np.zeros_like(ability)
    local = np.zeros(n_groups)
    local_seen = np.zeros(n_groups)
    pred = np.empty(correct.shape[0])
    for t in range(layout.steps):
        a, b = layout.step(t)
        g = group[a:b]  # one row per student in a step, so these indices are distinct
        p = _sigmoid(ability[: b - a] + local[g] - difficulty[skill[a:b]])
        pred[a:b] = p
        error = correct[a:b] - p
        ability[: b - a] += scale / (1.0 + _ELO_DECAY * seen[: b - a]) * error
        seen[: b - a] += 1.0
        local[g] += scale / (1.0 + _ELO_DECAY * local_seen[g]) * error
        local_seen[g] += 1.0
    out = np.empty_like(pred)
    out[layout.rows] = pred
    return out


def _log_likelihood(labels: FloatArray, p: FloatArray) -> float:
    p = np.clip(p, 1e-9, 1.0 - 1e-9)
    return float(np.sum(labels * np.log(p) + (1.0 - labels) * np.log(1.0 - p)))


def elo(train: AnswerLog, test: AnswerLog) -> FloatArray:
    """Fit skill difficulties and the step size on `train`; predict `test` online."""
    n_skills = len(train.skill_ids)
    counts = np.bincount(train.skill, minlength=n_skills) + 2.0
    rate = (np.bincount(train.skill, weights=train.correct, minlength=n_skills) + 1.0) / counts
    best: tuple[float, FloatArray, float] = (-np.inf, np.zeros(n_skills), _ELO_SCALES[0])
    for scale in _ELO_SCALES:
        difficulty = -np.log(rate / (1.0 - rate))
        for _ in range(2):
            # One Newton step per skill on the mean residual, keeping the ratings as they ran.
            p = _elo_pass(train, difficulty, scale)
            residual = np.bincount(train.skill, weights=p - train.correct, minlength=n_skills)
            curvature = np.bincount(train.skill, weights=p * (1 - p), minlength=n_skills) + 1.0
            difficulty = difficulty + residual / curvature
        fit = _log_likelihood(train.correct, _elo_pass(train, difficulty, scale))
        if fit > best[0]:
            best = (fit, difficulty, scale)
    return _elo_pass(test, best[1], best[2])


def _pfa_features(log: AnswerLog) -> tuple[FloatArray, IntArray]:
    count, successes, _ = history(log.group, log.correct)
    design = np.stack([np.ones_like(count), successes, count - successes], axis=1)
    return design, log.skill


def pfa(train: AnswerLog, test: AnswerLog, ridge: float = 1e-2, iterations: int = 25) -> FloatArray:
    """Performance Factors Analysis: logit P = b_k + g_k * successes + r_k * failures.

    Fitted per skill by Newton's method (all skills at once) with a small ridge penalty.
    """
    n_skills = len(train.skill_ids)
    x, skill = _pfa_features(train)
    y = train.correct
    weights = np.zeros((n_skills, 3))
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    for _ in range(iterations):
        p = _sigmoid(np.einsum("ij,ij->i", x, weights[skill]))
        # Per-skill sums with bincount: np.add.at over 3x3 blocks is an order slower.
        gradient = np.stack(
            [np.bincount(skill, weights=x[:, i] * (y - p), minlength=n_skills) for i in range(3)],
            axis=1,
        )
        curvature = p * (1.0 - p)
        hessian = np.zeros((n_skills, 3, 3))
        for i, j in pairs:
            entry = np.bincount(skill, weights=curvature * x[:, i] * x[:, j], minlength=n_skills)
            hessian[:, i, j] = hessian[:, j, i] = entry
        hessian += ridge * np.eye(3)
        step = np.linalg.solve(hessian, (gradient - ridge * weights)[:, :, None])[:, :, 0]
        weights = weights + step
    x_test, skill_test = _pfa_features(test)
    return _sigmoid(np.einsum("ij,ij->i", x_test, weights[skill_test]))
