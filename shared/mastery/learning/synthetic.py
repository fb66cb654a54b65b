"""Synthetic answer logs from a known BKT-with-forgetting process, for tests and the harness.

    python -m mastery.learning.synthetic answers.csv --students 4000 --skills 12 --truth truth.json

Each student practises every skill for a random number of answers (skills interleaved at
random); the CSV carries the hidden state (`known`, before the answer) next to the harness
columns, and `--truth` writes the generating parameters as a params file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mastery.domain.learner import ModelParams, TopicParams
from mastery.learning.answers import AnswerLog, BoolArray, FloatArray
from mastery.learning.layout import time_major

# Ranges the per-skill truth is drawn from: typical of BKT fits reported on tutoring data.
RANGES = {
    "p_init": (0.05, 0.5),
    "p_learn": (0.05, 0.3),
    "p_guess": (0.05, 0.3),
    "p_slip": (0.03, 0.2),
    "p_forget": (0.0, 0.08),
}


@dataclass(frozen=True)
class Synthetic:
    """A simulated log, the hidden state before each row, each row's order, and the truth."""

    log: AnswerLog
    known: BoolArray
    order: FloatArray
    truth: ModelParams


def draw_truth(n_skills: int, rng: np.random.Generator) -> ModelParams:
    """Per-skill parameters drawn uniformly from RANGES."""
    topics = {
        f"skill_{k:03d}": TopicParams(
            **{name: float(rng.uniform(lo, hi)) for name, (lo, hi) in RANGES.items()}
        )
        for k in range(n_skills)
    }
    return ModelParams(topics=topics)


def simulate(
    n_students: int, n_skills: int, min_len: int = 5, max_len: int = 40, seed: int = 0
) -> Synthetic:
    """Simulate `n_students` students answering `n_skills` skills (seeded, reproducible)."""
    rng = np.random.default_rng(seed)
    truth = draw_truth(n_skills, rng)
    skill_ids = tuple(truth.topics)
    table = {n: np.array([getattr(truth.topics[s], n) for s in skill_ids]) for n in RANGES}
    lengths = rng.integers(min_len, max_len + 1, size=n_students * n_skills)
    groups = np.repeat(np.arange(n_students * n_skills, dtype=np.int64), lengths)
    layout = time_major(groups)
    skill = groups[layout.rows] % n_skills
    n = groups.shape[0]
    hidden, correct = np.empty(n, dtype=bool), np.empty(n)
    state = rng.random(layout.step(0)[1]) < table["p_init"][skill[: layout.step(0)[1]]]
    for t in range(layout.steps):
        a, b = layout.step(t)
        now, k = state[: b - a], skill[a:b]
        hidden[a:b] = now
        draw = rng.random(b - a)
        correct[a:b] = np.where(now, draw >= table["p_slip"][k], draw < table["p_guess"][k])
        draw = rng.random(b - a)
        state = np.where(now, draw >= table["p_forget"][k], draw < table["p_learn"][k])
    known_rows, correct_rows = np.empty(n, dtype=bool), np.empty(n)
    known_rows[layout.rows], correct_rows[layout.rows] = hidden, correct
    # Interleave a student's skills at random while keeping each skill's answers in order.
    keys = rng.random(n)
    keys = keys[np.lexsort((keys, groups))]
    student = groups // n_skills
    rows = np.lexsort((keys, student))
    per_student = lengths.reshape(n_students, n_skills).sum(axis=1)
    first_row = np.cumsum(per_student) - per_student
    order = (np.arange(n) - first_row[student[rows]]).astype(np.float64)
    log = AnswerLog(
        student[rows],
        (groups % n_skills)[rows],
        correct_rows[rows],
        tuple(f"s{i:06d}" for i in range(n_students)),
        skill_ids,
    )
    return Synthetic(log, known_rows[rows], order, truth)


def write_csv(data: Synthetic, path: Path) -> None:
    """Write the harness columns plus `known`."""
    log = data.log
    lines = ["student_id,skill_id,correct,order,known"]
    lines += [
        f"{log.student_ids[s]},{log.skill_ids[k]},{int(c)},{int(o)},{int(h)}"
        for s, k, c, o, h in zip(
            log.student.tolist(),
            log.skill.tolist(),
            log.correct.tolist(),
            data.order.tolist(),
            data.known.tolist(),
            strict=True,
        )
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mastery.learning.synthetic")
    parser.add_argument("out", type=Path, help="CSV to write")
    parser.add_argument("--students", type=int, default=4000)
    parser.add_argument("--skills", type=int, default=12)
    parser.add_argument("--min-len", type=int, default=5)
    parser.add_argument("--max-len", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truth", type=Path, help="also write the generating params here")
    args = parser.parse_args(argv)
    data = simulate(args.students, args.skills, args.min_len, args.max_len, args.seed)
    write_csv(data, args.out)
    if args.truth:
        args.truth.write_text(data.truth.to_json() + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {len(data.log)} answers to {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
