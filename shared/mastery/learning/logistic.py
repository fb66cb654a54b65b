"""Fitting the learner model's logistic weights: shared weights plus per-topic terms, by Newton.

The design has every feature with one weight shared by all topics, and for each topic its own
intercept and its own additions to the weights of log(1 + successes) and log(1 + failures)
in the topic (PFA's per-skill rates, shrunk towards the shared ones by a ridge penalty). The
Hessian is assembled block by block with `np.bincount`, never as a dense per-topic design, so
110 topics cost a 340 x 340 solve per iteration whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mastery.domain.learner import FEATURES
from mastery.learning.answers import FloatArray, IntArray

# Columns of FEATURES that also get a per-topic weight, and the ridge on those weights
# (intercept: a topic's difficulty, weakly held; the two count rates: shrunk harder).
PER_TOPIC = (FEATURES.index("intercept"), FEATURES.index("successes"), FEATURES.index("failures"))
TOPIC_RIDGE = (1.0, 10.0, 10.0)
SHARED_RIDGE = 1e-3


@dataclass(frozen=True)
class LogisticFit:
    """Shared weights (one per feature), per-topic terms (topics x PER_TOPIC), the trace."""

    shared: FloatArray
    per_topic: FloatArray
    iterations: int
    converged: bool


def _sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def linear(x: FloatArray, skill: IntArray, shared: FloatArray, per_topic: FloatArray) -> FloatArray:
    """The logit of every row."""
    z: FloatArray = x @ shared + np.einsum("ij,ij->i", x[:, PER_TOPIC], per_topic[skill])
    return z


def _objective(
    x: FloatArray, skill: IntArray, y: FloatArray, shared: FloatArray, per_topic: FloatArray
) -> float:
    z = linear(x, skill, shared, per_topic)
    # log(1 + e^z) - y z, stably; plus the ridge terms.
    loss = float(np.sum(np.logaddexp(0.0, z) - y * z))
    return loss + 0.5 * (
        SHARED_RIDGE * float(shared @ shared)
        + float(np.sum(np.asarray(TOPIC_RIDGE) * per_topic**2))
    )


def fit(
    x: FloatArray,
    skill: IntArray,
    y: FloatArray,
    n_topics: int,
    *,
    columns: Sequence[int] | None = None,
    max_iter: int = 50,
    tol: float = 1e-7,
) -> LogisticFit:
    """Penalised maximum likelihood of the weights (labels `y` may be fractions).

    `columns` restricts the shared weights to those features (the others stay 0), which is how
    the harness fits the smaller candidate designs with the same code.
    """
    n_shared = x.shape[1]
    active = np.zeros(n_shared, dtype=bool)
    active[list(range(n_shared)) if columns is None else list(columns)] = True
    topic_active = active[list(PER_TOPIC)]
    xs = x[:, active]
    xt = x[:, PER_TOPIC][:, topic_active]
    g, t = xs.shape[1], xt.shape[1]
    shared, per_topic = np.zeros(g), np.zeros((n_topics, t))
    ridge_topic = np.asarray(TOPIC_RIDGE)[topic_active]
    size = g + n_topics * t
    converged, iterations = False, 0

    def full(sh: FloatArray, pt: FloatArray) -> tuple[FloatArray, FloatArray]:
        out_shared, out_topic = np.zeros(n_shared), np.zeros((n_topics, len(PER_TOPIC)))
        out_shared[active], out_topic[:, topic_active] = sh, pt
        return out_shared, out_topic

    current = _objective(x, skill, y, *full(shared, per_topic))
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        z = xs @ shared + np.einsum("ij,ij->i", xt, per_topic[skill])
        p = _sigmoid(z)
        w, r = p * (1.0 - p), y - p
        gradient = np.empty(size)
        gradient[:g] = xs.T @ r - SHARED_RIDGE * shared
        for j in range(t):
            gradient[g + j :: t] = (
                np.bincount(skill, weights=r * xt[:, j], minlength=n_topics)
                - ridge_topic[j] * per_topic[:, j]
            )
        hessian = np.zeros((size, size))
        hessian[:g, :g] = (xs * w[:, None]).T @ xs + SHARED_RIDGE * np.eye(g)
        for j in range(t):
            for i in range(g):
                block = np.bincount(skill, weights=w * xs[:, i] * xt[:, j], minlength=n_topics)
                hessian[i, g + j :: t] = hessian[g + j :: t, i] = block
            for i in range(j, t):
                block = np.bincount(skill, weights=w * xt[:, i] * xt[:, j], minlength=n_topics)
                if i == j:
                    block = block + ridge_topic[j]
                rows = np.arange(n_topics) * t + g
                hessian[rows + i, rows + j] = hessian[rows + j, rows + i] = block
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while True:  # Newton with step halving: the penalised loss must not rise
            new_shared = shared + scale * step[:g]
            new_topic = per_topic + scale * step[g:].reshape(n_topics, t)
            candidate = _objective(x, skill, y, *full(new_shared, new_topic))
            if candidate <= current or scale < 1e-4:
                break
            scale /= 2.0
        shared, per_topic = new_shared, new_topic
        improvement, current = current - candidate, candidate
        if improvement < tol * max(1.0, abs(current)):
            converged = True
            break
    out_shared, out_topic = full(shared, per_topic)
    return LogisticFit(out_shared, out_topic, iterations, converged)


def predict(x: FloatArray, skill: IntArray, fitted: LogisticFit) -> FloatArray:
    """P(correct) of every row under `fitted` (vectorised; the engine uses the online path)."""
    return _sigmoid(linear(x, skill, fitted.shared, fitted.per_topic))
