"""Answer logs: one row per graded answer, as numpy arrays sorted by student and order."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

COLUMNS = ("student_id", "skill_id", "correct", "order")


class AnswerLogError(ValueError):
    """An answer log cannot be read (missing column, bad value)."""


@dataclass(frozen=True)
class AnswerLog:
    """Answers sorted by (student, order); students and skills are codes into the id tuples."""

    student: IntArray
    skill: IntArray
    correct: FloatArray
    student_ids: tuple[str, ...]
    skill_ids: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.correct.shape[0])

    @property
    def group(self) -> IntArray:
        """One code per (student, skill) pair: the sequence a per-skill model sees."""
        return self.student * len(self.skill_ids) + self.skill

    def select(self, rows: BoolArray | IntArray) -> AnswerLog:
        """The log restricted to `rows` (a mask or sorted indices); codes keep their meaning."""
        return AnswerLog(
            self.student[rows],
            self.skill[rows],
            self.correct[rows],
            self.student_ids,
            self.skill_ids,
        )


def from_columns(
    students: Sequence[str] | npt.NDArray[np.str_],
    skills: Sequence[str] | npt.NDArray[np.str_],
    correct: Sequence[float] | FloatArray,
    order: Sequence[float] | FloatArray,
) -> AnswerLog:
    """An answer log from parallel columns, in any row order."""
    student_ids, student = np.unique(np.asarray(students, dtype=str), return_inverse=True)
    skill_ids, skill = np.unique(np.asarray(skills, dtype=str), return_inverse=True)
    values = np.asarray(correct, dtype=np.float64)
    if values.size and (values.min() < 0.0 or values.max() > 1.0 or np.isnan(values).any()):
        raise AnswerLogError("correct must lie in [0, 1]")
    # lexsort is stable, so rows with equal order keep their file order.
    rows = np.lexsort((np.asarray(order, dtype=np.float64), student))
    return AnswerLog(
        student.astype(np.int64)[rows],
        skill.astype(np.int64)[rows],
        values[rows],
        tuple(str(s) for s in student_ids),
        tuple(str(s) for s in skill_ids),
    )


def read_answers(
    path: str | Path, columns: Sequence[str] = COLUMNS, encoding: str = "utf-8"
) -> tuple[AnswerLog, int]:
    """Read a CSV answer log; `columns` names its student, skill, correct and order columns.

    Rows with an empty skill or correct value are dropped; returns the log and how many were.
    """
    with Path(path).open(newline="", encoding=encoding) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise AnswerLogError(f"{path} is empty")
        missing = [name for name in columns if name not in header]
        if missing:
            raise AnswerLogError(f"{path} lacks columns {missing}")
        at = [header.index(name) for name in columns]
        raw = [(r[at[0]], r[at[1]], r[at[2]], r[at[3]]) for r in reader if r]
    kept = [r for r in raw if r[1] != "" and r[2] != ""]
    if not kept:
        return from_columns([], [], [], []), len(raw)
    students, skills, correct, order = zip(*kept, strict=True)
    try:
        values = np.array(correct, dtype=np.float64)
        orders = np.array(order, dtype=np.float64)
    except ValueError as exc:
        raise AnswerLogError(f"{path} has a non-numeric correct or order value") from exc
    return from_columns(students, skills, values, orders), len(raw) - len(kept)
