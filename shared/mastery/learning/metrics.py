"""AUC, RMSE and log-loss, globally and averaged over skills."""

from __future__ import annotations

import math

import numpy as np

from mastery.learning.answers import FloatArray, IntArray

# Log-loss needs probabilities strictly inside (0, 1); the trend line predicts 0 and 1 exactly.
LOGLOSS_CLIP = 1e-3


def auc(labels: FloatArray, scores: FloatArray) -> float:
    """Area under the ROC curve (ties count half); NaN when one class is absent.

    Answers are positive when `correct >= 0.5`.
    """
    positive = labels >= 0.5
    n_pos = int(positive.sum())
    n_neg = positive.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    mid_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = float(mid_rank[inverse][positive].sum())
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def rmse(labels: FloatArray, scores: FloatArray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((labels - scores) ** 2)))


def log_loss(labels: FloatArray, scores: FloatArray) -> float:
    """Mean negative log-likelihood, with scores clipped to [LOGLOSS_CLIP, 1 - LOGLOSS_CLIP]."""
    p = np.clip(scores, LOGLOSS_CLIP, 1.0 - LOGLOSS_CLIP)
    return float(-np.mean(labels * np.log(p) + (1.0 - labels) * np.log(1.0 - p)))


METRICS = {"auc": auc, "rmse": rmse, "log_loss": log_loss}


def score(labels: FloatArray, scores: FloatArray, skill: IntArray) -> dict[str, float]:
    """Every metric globally, and its unweighted mean over skills (`<metric>_skill`).

    Skills whose test answers are all of one class have no AUC and are left out of its mean.
    """
    out = {name: metric(labels, scores) for name, metric in METRICS.items()}
    rows = np.argsort(skill, kind="stable")
    _, starts = np.unique(skill[rows], return_index=True)
    blocks = np.split(rows, starts[1:])
    for name, metric in METRICS.items():
        values = [metric(labels[block], scores[block]) for block in blocks]
        finite = [v for v in values if not math.isnan(v)]
        out[f"{name}_skill"] = float(np.mean(finite)) if finite else math.nan
    return out
