"""Baselines the harness computes itself: constant, per-skill mean, and the seed's trend line."""

from __future__ import annotations

import numpy as np

from mastery.learning.answers import AnswerLog, FloatArray
from mastery.learning.layout import history


def constant(train: AnswerLog, test: AnswerLog) -> FloatArray:
    """The training mean, for every test answer."""
    return np.full(len(test), float(train.correct.mean()))


def skill_mean(train: AnswerLog, test: AnswerLog) -> FloatArray:
    """The training mean of each skill (the global mean for a skill unseen in training)."""
    n_skills = len(train.skill_ids)
    totals = np.bincount(train.skill, weights=train.correct, minlength=n_skills)
    counts = np.bincount(train.skill, minlength=n_skills)
    means = np.where(counts > 0, totals / np.maximum(counts, 1), train.correct.mean())
    out: FloatArray = means[test.skill]
    return out


def trend_line(train: AnswerLog, test: AnswerLog) -> FloatArray:
    """The seed's forecast: a least-squares line over the student's earlier answers in the skill.

    The line is fitted to (i, answer_i), i = 0..n-1, evaluated at i = n and clipped to [0, 1];
    one earlier answer gives a flat line, none gives the training mean.
    """
    n, sum_y, sum_xy = history(test.group, test.correct)
    sum_x = n * (n - 1) / 2
    sum_xx = (n - 1) * n * (2 * n - 1) / 6
    denominator = n * sum_xx - sum_x**2
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(denominator > 0, (n * sum_xy - sum_x * sum_y) / denominator, 0.0)
        intercept = np.where(n > 0, (sum_y - slope * sum_x) / n, float(train.correct.mean()))
    out: FloatArray = np.clip(intercept + slope * n, 0.0, 1.0)
    return out
