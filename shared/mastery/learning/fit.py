"""Fit the learner model from an answer log and write the params file.

python -m mastery.learning.fit answers.csv --out learner_params.json
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mastery.domain.learner import FEATURES, ModelParams, TopicParams, Weights
from mastery.learner_params import load_params, save_params
from mastery.learning import em, logistic, online
from mastery.learning.answers import AnswerLog, FloatArray, read_answers
from mastery.learning.bkt import BOUNDS
from mastery.learning.cli import add_log_arguments, columns


@dataclass(frozen=True)
class FitReport:
    """How the fit went: EM (BKT) and Newton (the logistic weights), and the features used."""

    em: em.FitResult
    logistic: logistic.LogisticFit
    features: FloatArray
    """The online features of every row of the fitted log (the weights do not change them)."""


def bkt_params(log: AnswerLog, result: em.FitResult, start: TopicParams) -> ModelParams:
    """BKT's fitted params per skill, each with its base rate; the default is their mean.

    The default (for topics the log lacks) is the answer-weighted mean of the skills' BKT
    parameters and the overall rate; the weights are BKT's alone until the logistic fit.
    """
    weights = result.answers / max(1.0, float(result.answers.sum()))
    n_skills = len(log.skill_ids)
    rates = (np.bincount(log.skill, weights=log.correct, minlength=n_skills) + 1.0) / (
        result.answers + 2.0
    )
    default = replace(
        start,
        **{name: float(np.dot(weights, getattr(result.params, name))) for name in BOUNDS},
        base_rate=float(np.clip(log.correct.mean(), 0.0, 1.0)) if len(log) else 0.5,
    )
    fitted = result.params.to_model(log.skill_ids, default)
    topics = {
        skill: replace(params, base_rate=float(rates[k]))
        for k, (skill, params) in enumerate(fitted.topics.items())
    }
    return ModelParams(default=default, topics=topics)


def with_weights(params: ModelParams, fitted: logistic.LogisticFit) -> ModelParams:
    """`params` with the fitted shared weights and each topic's own terms."""
    own = dict(zip(("intercept", "successes", "failures"), fitted.per_topic.T, strict=True))
    topics = {
        skill: replace(p, **{name: float(values[k]) for name, values in own.items()})
        for k, (skill, p) in enumerate(params.topics.items())
    }
    weights = Weights(**dict(zip(FEATURES, map(float, fitted.shared), strict=True)))
    return ModelParams(default=params.default, topics=topics, weights=weights)


def fit_params(
    log: AnswerLog,
    start: TopicParams | None = None,
    *,
    max_iter: int = em.MAX_ITER,
    tol: float = em.TOL,
) -> tuple[ModelParams, FitReport]:
    """Fit every skill of `log`: BKT by EM, then the logistic weights over the online features.

    The features are computed by the online model itself (`mastery.learning.online`), so the
    weights are fitted on exactly the numbers the engine computes.
    """
    start = start or TopicParams()
    result = em.fit(log, start, max_iter=max_iter, tol=tol)
    params = bkt_params(log, result, start)
    features = online.run(log, params).features
    weights = logistic.fit(features, log.skill, log.correct, len(log.skill_ids))
    return with_weights(params, weights), FitReport(result, weights, features)


def _differences(fitted: ModelParams, reference: ModelParams) -> str:
    """Largest absolute difference per parameter over the skills both files name."""
    both = sorted(set(fitted.topics) & set(reference.topics))
    if not both:
        return "no skill in common with the reference"
    parts = []
    for name in BOUNDS:
        gaps = [
            abs(getattr(fitted.topics[s], name) - getattr(reference.topics[s], name)) for s in both
        ]
        parts.append(f"{name} {max(gaps):.3f}")
    return f"largest |fitted - reference| over {len(both)} skills: " + ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mastery.learning.fit")
    add_log_arguments(parser)
    parser.add_argument("--out", required=True, help="params file (JSON) to write")
    parser.add_argument("--max-iter", type=int, default=em.MAX_ITER)
    parser.add_argument("--tol", type=float, default=em.TOL)
    parser.add_argument("--compare", help="a params file to report the largest differences from")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    log, dropped = read_answers(args.answers, columns(args.columns), args.encoding)
    if len(log) == 0:
        sys.stderr.write("no answers to fit\n")
        return 1
    params, report = fit_params(log, max_iter=args.max_iter, tol=args.tol)
    save_params(params, args.out)
    result = report.em
    sys.stdout.write(
        f"fitted {len(params.topics)} skills on {len(log)} answers ({dropped} dropped): "
        f"BKT by EM in {len(result.loglik)} iterations (converged: {result.converged}), "
        f"log-likelihood per answer {result.loglik[-1]:.4f}; logistic weights by Newton in "
        f"{report.logistic.iterations} iterations (converged: {report.logistic.converged}); "
        f"{time.perf_counter() - started:.1f} s; wrote {args.out}\n"
    )
    if args.compare:
        sys.stdout.write(_differences(params, load_params(args.compare)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
