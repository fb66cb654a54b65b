"""Evaluate the learner model against the other families and the baselines on an answer log.

python -m mastery.learning.evaluate answers.csv --seed 0 --test-fraction 0.2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mastery.learning.answers import read_answers
from mastery.learning.cli import add_log_arguments, columns
from mastery.learning.harness import MODELS, bkt_with, evaluate, render
from mastery.learning.params_io import load_params


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mastery.learning.evaluate")
    add_log_arguments(parser)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0, help="seed of the student split")
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated subset of: {', '.join(MODELS)}"
    )
    parser.add_argument(
        "--params", type=Path, help="also score BKT with this params file as is (e.g. the truth)"
    )
    parser.add_argument("--json", type=Path, help="also write the metrics here")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in MODELS]
    if unknown:
        parser.error(f"unknown models: {unknown}")
    started = time.perf_counter()
    log, dropped = read_answers(args.answers, columns(args.columns), args.encoding)
    read_seconds = time.perf_counter() - started
    models = {name: MODELS[name] for name in chosen}
    if args.params:
        models[f"bkt_forget ({args.params.name}, not fitted)"] = bkt_with(load_params(args.params))
    report = evaluate(log, test_fraction=args.test_fraction, seed=args.seed, models=models)
    total = time.perf_counter() - started
    sys.stdout.write(render(report) + "\n\n")
    sys.stdout.write(
        f"{len(log)} answers read ({dropped} dropped) in {read_seconds:.1f} s; "
        f"total {total:.1f} s\n"
    )
    if args.json:
        payload = {r.model: {**r.metrics, "seconds": r.seconds} for r in report.results}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
