"""Evaluate the learner model against the other families and the baselines.

    python -m mastery.learning.evaluate answers.csv --seed 0 --test-fraction 0.2
    python -m mastery.learning.evaluate --train train.csv --test test.csv --params p.json --json
    python -m mastery.learning.evaluate --synthetic bkt,bkt_ability,irt --students 1000

`--json` without a file prints one JSON object (model -> metrics) on stdout and the table on
stderr; with a file it writes the object there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mastery.learner_params import load_params
from mastery.learning.answers import read_answers, read_split
from mastery.learning.cli import add_log_arguments, columns
from mastery.learning.harness import (
    MODELS,
    Model,
    Report,
    evaluate,
    evaluate_split,
    rank_families,
    render,
    with_params,
)
from mastery.learning.synthetic import FAMILIES


def _payload(report: Report) -> dict[str, dict[str, float]]:
    return {r.model: {**r.metrics, "seconds": r.seconds} for r in report.results}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mastery.learning.evaluate")
    add_log_arguments(parser, required=False)
    parser.add_argument("--train", type=Path, help="an explicit training file (with --test)")
    parser.add_argument("--test", type=Path, help="an explicit test file (with --train)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and generators")
    parser.add_argument(
        "--synthetic",
        help=f"rank every model on logs of these generator families ({', '.join(FAMILIES)})",
    )
    parser.add_argument("--students", type=int, default=1000, help="per synthetic log")
    parser.add_argument("--skills", type=int, default=12, help="per synthetic log")
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated subset of: {', '.join(MODELS)}"
    )
    parser.add_argument(
        "--params", type=Path, help="also score our model with this params file as is"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        help="write the metrics as one JSON object to this file (no file: stdout)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in MODELS]
    if unknown:
        parser.error(f"unknown models: {unknown}")
    models: dict[str, Model] = {name: MODELS[name] for name in chosen}
    if args.params:
        models[f"bkt_logistic ({args.params.name}, not fitted)"] = with_params(
            load_params(args.params)
        )
    sources = [bool(args.answers), bool(args.train or args.test), bool(args.synthetic)]
    if sum(sources) != 1 or bool(args.train) != bool(args.test):
        parser.error("give one answer log, or --train and --test, or --synthetic")
    text_out = sys.stderr if args.json == "-" else sys.stdout
    started = time.perf_counter()
    payload: Mapping[str, object]
    if args.synthetic:
        families = tuple(f.strip() for f in args.synthetic.split(",") if f.strip())
        if not families or any(f not in FAMILIES for f in families):
            parser.error(f"--synthetic takes families among {', '.join(FAMILIES)}")
        reports = rank_families(args.students, args.skills, seed=args.seed, families=families,
                                models=models, test_fraction=args.test_fraction)  # fmt: skip
        for family, report in reports.items():
            text_out.write(f"## {family}\n\n{render(report)}\n\n")
        payload = {family: _payload(report) for family, report in reports.items()}
    else:
        if args.train:
            train, test, dropped = read_split(
                args.train, args.test, columns(args.columns), args.encoding
            )
            report = evaluate_split(train, test, models=models)
        else:
            log, dropped = read_answers(args.answers, columns(args.columns), args.encoding)
            report = evaluate(log, test_fraction=args.test_fraction, seed=args.seed, models=models)
        text_out.write(render(report) + "\n\n")
        text_out.write(f"{dropped} rows dropped (no skill or no value)\n")
        payload = _payload(report)
    text_out.write(f"total {time.perf_counter() - started:.1f} s\n")
    if args.json:
        document = json.dumps(payload, indent=2)
        if args.json == "-":
            sys.stdout.write(document + "\n")
        else:
            Path(args.json).write_text(document + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
