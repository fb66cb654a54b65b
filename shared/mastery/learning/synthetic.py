"""Synthetic answer logs from known processes of three families, for tests and the harness.

    python -m mastery.learning.synthetic answers.csv --family irt --students 4000 --skills 12

- `bkt`: BKT with forgetting, per-skill parameters drawn from RANGES; each student practises
  every skill for a random number of answers (skills interleaved at random). The CSV carries
  the hidden state (`known`, before the answer); `--truth` writes the generating parameters.
- `bkt_ability`: the same, but each student has an ability that shifts their prior, guess,
  slip and learning rate on every skill (on the logit scale).
- `irt`: no hidden state at all. A logistic (IRT-style) process: student ability, skill
  difficulty, a student-skill aptitude, learning from right and wrong answers with
  skill-specific rates, and forgetting over real time (practice decays with a skill-specific
  half-life); students work in timed sessions, a skill until three right in a row (the
  skill-builder rule) or 15 answers. Ranges like fits to real tutoring logs (see IRT_RANGES).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mastery.domain.learner import ModelParams, TopicParams
from mastery.learning.answers import AnswerLog, BoolArray, FloatArray, from_columns
from mastery.learning.layout import time_major

# Ranges the per-skill truth is drawn from: typical of BKT fits reported on tutoring data.
RANGES = {
    "p_init": (0.05, 0.5),
    "p_learn": (0.05, 0.3),
    "p_guess": (0.05, 0.3),
    "p_slip": (0.03, 0.2),
    "p_forget": (0.0, 0.08),
}


# The IRT family's ranges. Difficulty centred so the mean correctness is near real logs'
# (about 0.65), with a wide spread between skills; abilities with a standard deviation of 1
# logit (typical of IRT fits); learning per log(1 + decayed practice); half-lives in days.
IRT_RANGES = {
    "difficulty": (-2.2, 0.8),
    "learn_right": (0.1, 0.6),
    "learn_wrong": (0.0, 0.25),
    "half_life_days": (1.0, 60.0),
}
ABILITY_SD = 1.0
APTITUDE_SD = 0.5
START = 1_700_000_000.0  # epoch seconds of the first session


@dataclass(frozen=True)
class Synthetic:
    """A simulated log, each row's order, and (BKT families) the hidden state and the truth."""

    log: AnswerLog
    order: FloatArray
    known: BoolArray | None = None
    truth: ModelParams | None = None


def draw_truth(n_skills: int, rng: np.random.Generator) -> ModelParams:
    """Per-skill parameters drawn uniformly from RANGES."""
    topics = {
        f"skill_{k:03d}": TopicParams(
            **{name: float(rng.uniform(lo, hi)) for name, (lo, hi) in RANGES.items()}
        )
        for k in range(n_skills)
    }
    return ModelParams(topics=topics)


def _shift(p: FloatArray, by: FloatArray) -> FloatArray:
    """`p` moved by `by` on the logit scale."""
    out: FloatArray = 1.0 / (1.0 + (1.0 - p) / p * np.exp(-by))
    return out


def simulate(
    n_students: int,
    n_skills: int,
    min_len: int = 5,
    max_len: int = 40,
    seed: int = 0,
    ability_sd: float = 0.0,
) -> Synthetic:
    """Simulate `n_students` students answering `n_skills` skills (seeded, reproducible).

    With `ability_sd > 0` each student's ability (normal, that standard deviation) raises
    their prior, guess and learning rate and lowers their slip on every skill.
    """
    rng = np.random.default_rng(seed)
    truth = draw_truth(n_skills, rng)
    skill_ids = tuple(truth.topics)
    table = {n: np.array([getattr(truth.topics[s], n) for s in skill_ids]) for n in RANGES}
    ability = rng.normal(0.0, ability_sd, n_students) if ability_sd > 0 else np.zeros(n_students)
    lengths = rng.integers(min_len, max_len + 1, size=n_students * n_skills)
    groups = np.repeat(np.arange(n_students * n_skills, dtype=np.int64), lengths)
    layout = time_major(groups)
    skill = groups[layout.rows] % n_skills
    shift = ability[groups[layout.rows] // n_skills]
    rates = {
        "p_init": _shift(table["p_init"][skill], shift),
        "p_guess": _shift(table["p_guess"][skill], shift),
        "p_slip": _shift(table["p_slip"][skill], -shift),
        "p_learn": _shift(table["p_learn"][skill], shift),
        "p_forget": table["p_forget"][skill],
    }
    n = groups.shape[0]
    hidden, correct = np.empty(n, dtype=bool), np.empty(n)
    state = rng.random(layout.step(0)[1]) < rates["p_init"][: layout.step(0)[1]]
    for t in range(layout.steps):
        a, b = layout.step(t)
        now = state[: b - a]
        hidden[a:b] = now
        draw = rng.random(b - a)
        correct[a:b] = np.where(now, draw >= rates["p_slip"][a:b], draw < rates["p_guess"][a:b])
        draw = rng.random(b - a)
        state = np.where(now, draw >= rates["p_forget"][a:b], draw < rates["p_learn"][a:b])
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
        np.zeros(n),
    )
    return Synthetic(log, order, known_rows[rows], truth)


def simulate_irt(n_students: int, n_skills: int, seed: int = 0) -> Synthetic:
    """The `irt` family: logistic answers with ability, difficulty, learning and forgetting.

    P(right) = sigmoid(ability + aptitude - difficulty + learn_right * log(1 + R)
    + learn_wrong * log(1 + W)), where R and W are the student's earlier right and wrong
    answers in the skill, each weighted by 2^(-days since it / half-life).
    """
    rng = np.random.default_rng(seed)
    skill = {n: rng.uniform(lo, hi, n_skills) for n, (lo, hi) in IRT_RANGES.items()}
    half_life = skill["half_life_days"] * 86_400.0
    students, skills, answers, times = [], [], [], []
    for u in range(n_students):
        ability = rng.normal(0.0, ABILITY_SD)
        aptitude = rng.normal(0.0, APTITUDE_SD, n_skills)
        right, wrong, last = np.zeros(n_skills), np.zeros(n_skills), np.zeros(n_skills)
        at = START + rng.uniform(0.0, 30 * 86_400.0)
        queue = list(rng.permutation(n_skills))
        for _ in range(int(rng.integers(n_skills, 3 * n_skills + 1))):  # sessions
            # Mostly the next new skill, sometimes a revisit of one already practised.
            practised = np.flatnonzero(last > 0)
            if queue and (practised.size == 0 or rng.random() < 0.6):
                k = int(queue.pop(0))
            else:
                k = int(rng.choice(practised))
            decay = 0.5 ** ((at - last[k]) / half_life[k]) if last[k] > 0 else 1.0
            right[k], wrong[k] = right[k] * decay, wrong[k] * decay
            streak = 0
            for _ in range(15):
                logit = (ability + aptitude[k] - skill["difficulty"][k]
                         + skill["learn_right"][k] * np.log1p(right[k])
                         + skill["learn_wrong"][k] * np.log1p(wrong[k]))  # fmt: skip
                ok = rng.random() < 1.0 / (1.0 + np.exp(-logit))
                students.append(u)
                skills.append(k)
                answers.append(float(ok))
                times.append(at)
                right[k] += ok
                wrong[k] += not ok
                last[k] = at
                at += rng.uniform(20.0, 120.0)
                streak = streak + 1 if ok else 0
                if streak == 3:
                    break
            at += rng.exponential(2.0 * 86_400.0)  # to the next session
    student_ids = [f"s{u:06d}" for u in students]
    skill_ids = [f"skill_{k:03d}" for k in skills]
    log = from_columns(student_ids, skill_ids, answers, times, times)
    order = np.concatenate([np.arange(c) for c in np.bincount(log.student)]).astype(np.float64)
    return Synthetic(log, order)


FAMILIES = ("bkt", "bkt_ability", "irt")


def generate(family: str, n_students: int, n_skills: int, seed: int = 0) -> Synthetic:
    """A log of `family` (one of FAMILIES) with the default sequence lengths."""
    if family == "bkt":
        return simulate(n_students, n_skills, seed=seed)
    if family == "bkt_ability":
        return simulate(n_students, n_skills, seed=seed, ability_sd=ABILITY_SD)
    if family == "irt":
        return simulate_irt(n_students, n_skills, seed=seed)
    raise ValueError(f"unknown family {family!r}; one of {FAMILIES}")


def write_csv(data: Synthetic, path: Path) -> None:
    """Write the harness columns, the timestamp, and `known` where the family has it."""
    log = data.log
    known = data.known.tolist() if data.known is not None else None
    lines = ["student_id,skill_id,correct,order,timestamp" + (",known" if known else "")]
    for row, (s, k, c, o, t) in enumerate(
        zip(log.student.tolist(), log.skill.tolist(), log.correct.tolist(),
            data.order.tolist(), log.time.tolist(), strict=True)
    ):  # fmt: skip
        line = f"{log.student_ids[s]},{log.skill_ids[k]},{int(c)},{int(o)},{t:.3f}"
        lines.append(line + (f",{int(known[row])}" if known else ""))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mastery.learning.synthetic")
    parser.add_argument("out", type=Path, help="CSV to write")
    parser.add_argument("--family", choices=FAMILIES, default="bkt")
    parser.add_argument("--students", type=int, default=4000)
    parser.add_argument("--skills", type=int, default=12)
    parser.add_argument("--min-len", type=int, default=5)
    parser.add_argument("--max-len", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--truth", type=Path, help="also write the generating params here (BKT families)"
    )
    args = parser.parse_args(argv)
    if args.family == "irt":
        data = simulate_irt(args.students, args.skills, args.seed)
    else:
        ability = ABILITY_SD if args.family == "bkt_ability" else 0.0
        data = simulate(args.students, args.skills, args.min_len, args.max_len, args.seed, ability)
    write_csv(data, args.out)
    if args.truth and data.truth is not None:
        args.truth.write_text(data.truth.to_json() + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {len(data.log)} answers to {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
