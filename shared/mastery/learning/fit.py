"""Fit per-topic learner parameters from an answer log and write the params file.

python -m mastery.learning.fit answers.csv --out learner_params.json
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from mastery.domain.learner import ModelParams, TopicParams
from mastery.learning import em
from mastery.learning.answers import AnswerLog, read_answers
from mastery.learning.bkt import BOUNDS
from mastery.learning.cli import add_log_arguments, columns
from mastery.learning.params_io import load_params, save_params


def fit_params(
    log: AnswerLog,
    start: TopicParams | None = None,
    *,
    max_iter: int = em.MAX_ITER,
    tol: float = em.TOL,
) -> tuple[ModelParams, em.FitResult]:
    """Fitted params for every skill of `log`; the default is their answer-weighted mean."""
    start = start or TopicParams()
    result = em.fit(log, start, max_iter=max_iter, tol=tol)
    weights = result.answers / max(1.0, float(result.answers.sum()))
    default = TopicParams(
        **{name: float(np.dot(weights, getattr(result.params, name))) for name in BOUNDS},
        forget_per_day=start.forget_per_day,
    )
    return result.params.to_model(log.skill_ids, default), result


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
    params, result = fit_params(log, max_iter=args.max_iter, tol=args.tol)
    save_params(params, args.out)
    sys.stdout.write(
        f"fitted {len(params.topics)} skills on {len(log)} answers ({dropped} dropped) in "
        f"{len(result.loglik)} EM iterations (converged: {result.converged}), "
        f"log-likelihood per answer {result.loglik[-1]:.4f}, "
        f"{time.perf_counter() - started:.1f} s; wrote {args.out}\n"
    )
    if args.compare:
        sys.stdout.write(_differences(params, load_params(args.compare)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
