"""Answer logs: one row per graded answer, as numpy arrays sorted by student and order.

Columns: student, skill, correct (0-1) and order, plus an optional clock (`timestamp`, epoch
seconds or ISO 8601, UTC when no offset is given) that the learner model's idle-time feature
reads; without one every answer is at 0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

COLUMNS = ("student_id", "skill_id", "correct", "order")
TIME_COLUMN = "timestamp"
# Names ASSISTments files use for the same columns, tried when the header lacks ours.
ALIASES = {"student_id": "user_id", "order": "order_id"}


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
    time: FloatArray
    """Epoch seconds of each answer (all 0 when the log has no clock)."""

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
            self.time[rows],
        )


def from_columns(
    students: Sequence[str] | npt.NDArray[np.str_],
    skills: Sequence[str] | npt.NDArray[np.str_],
    correct: Sequence[float] | FloatArray,
    order: Sequence[float] | FloatArray,
    time: Sequence[float] | FloatArray | None = None,
) -> AnswerLog:
    """An answer log from parallel columns, in any row order (`time`: epoch seconds, or none)."""
    student_ids, student = np.unique(np.asarray(students, dtype=str), return_inverse=True)
    skill_ids, skill = np.unique(np.asarray(skills, dtype=str), return_inverse=True)
    values = np.asarray(correct, dtype=np.float64)
    if values.size and (values.min() < 0.0 or values.max() > 1.0 or np.isnan(values).any()):
        raise AnswerLogError("correct must lie in [0, 1]")
    clock = np.zeros(values.shape[0]) if time is None else np.asarray(time, dtype=np.float64)
    if clock.size and not (np.isfinite(clock).all() and clock.min() >= 0.0):
        raise AnswerLogError("timestamps must be epoch seconds")
    # lexsort is stable, so rows with equal order keep their file order.
    rows = np.lexsort((np.asarray(order, dtype=np.float64), student))
    return AnswerLog(
        student.astype(np.int64)[rows],
        skill.astype(np.int64)[rows],
        values[rows],
        tuple(str(s) for s in student_ids),
        tuple(str(s) for s in skill_ids),
        clock[rows],
    )


def _positions(header: list[str], columns: Sequence[str], path: str | Path) -> list[int]:
    """Where each wanted column is; ASSISTments names stand in for the default ones."""
    positions = []
    for name in columns:
        if name not in header and ALIASES.get(name) in header:
            name = ALIASES[name]
        if name not in header:
            raise AnswerLogError(f"{path} lacks column {name!r}")
        positions.append(header.index(name))
    return positions


Row = tuple[str, ...]


def _read_rows(path: str | Path, columns: Sequence[str], encoding: str) -> tuple[list[Row], int]:
    """The kept rows (student, skill, correct, order[, timestamp]) and how many were dropped.

    A file that is not valid in `encoding` is read as latin-1, which decodes any byte: public
    logs (ASSISTments) carry other encodings in text columns the harness never reads.
    """
    try:
        text = Path(path).read_text(encoding=encoding)
    except UnicodeDecodeError:
        text = Path(path).read_text(encoding="latin-1")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise AnswerLogError(f"{path} is empty")
    at = _positions(header, columns, path)
    if TIME_COLUMN in header:
        at.append(header.index(TIME_COLUMN))
    raw = [tuple(r[i] for i in at) for r in reader if r]
    kept = [r for r in raw if r[1] != "" and r[2] != ""]
    return kept, len(raw) - len(kept)


def _clock(values: Sequence[str]) -> FloatArray:
    """Epoch seconds from numbers or ISO 8601 times (naive ones taken as UTC)."""
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        pass
    seconds = []
    for value in values:
        at = datetime.fromisoformat(value)
        seconds.append((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp())
    return np.array(seconds, dtype=np.float64)


def _from_rows(rows: list[Row], path: str | Path) -> AnswerLog:
    if not rows:
        return from_columns([], [], [], [])
    timed = all(len(r) == 5 for r in rows)
    students, skills, correct, order = (list(c) for c in zip(*(r[:4] for r in rows), strict=True))
    try:
        values = np.array(correct, dtype=np.float64)
        orders = np.array(order, dtype=np.float64)
        times = _clock([r[4] for r in rows]) if timed else None
    except ValueError as exc:
        raise AnswerLogError(f"{path} has a non-numeric correct, order or timestamp") from exc
    return from_columns(students, skills, values, orders, times)


def read_answers(
    path: str | Path, columns: Sequence[str] = COLUMNS, encoding: str = "utf-8"
) -> tuple[AnswerLog, int]:
    """Read a CSV answer log; `columns` names its student, skill, correct and order columns.

    ASSISTments names (`user_id`, `order_id`) stand in for missing default names. A `timestamp`
    column (epoch seconds), when present, is read as the answers' clock. Rows with an empty
    skill or correct value are dropped; returns the log and how many were.
    """
    rows, dropped = _read_rows(path, columns, encoding)
    return _from_rows(rows, path), dropped


def read_split(
    train: str | Path, test: str | Path, columns: Sequence[str] = COLUMNS, encoding: str = "utf-8"
) -> tuple[AnswerLog, AnswerLog, int]:
    """A training and a test file as two logs over one skill coding; and the rows dropped.

    Students of the two files are kept apart (a test student's history is its test rows only),
    even where the files reuse an id.
    """
    train_rows, train_dropped = _read_rows(train, columns, encoding)
    test_rows, test_dropped = _read_rows(test, columns, encoding)
    if bool(train_rows) and bool(test_rows) and (len(train_rows[0]) != len(test_rows[0])):
        raise AnswerLogError("both files need a timestamp column, or neither")
    both = [("train " + r[0], *r[1:]) for r in train_rows]
    both += [("test " + r[0], *r[1:]) for r in test_rows]
    log = _from_rows(both, f"{train} + {test}")
    is_test = np.array([log.student_ids[s].startswith("test ") for s in log.student], dtype=bool)
    return log.select(~is_test), log.select(is_test), train_dropped + test_dropped
