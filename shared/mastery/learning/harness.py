"""The evaluation harness: split by student, fit on train, predict each test answer online.

Every model sees only the training students when fitting and, for a test answer, only the same
student's earlier answers; every one is scored with the same metrics on the same rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from mastery.domain.learner import ModelParams, TopicParams
from mastery.learning import baselines, bkt, candidates, em
from mastery.learning.answers import AnswerLog, FloatArray
from mastery.learning.metrics import score

Model = Callable[[AnswerLog, AnswerLog], FloatArray]


def bkt_forget(train: AnswerLog, test: AnswerLog) -> FloatArray:
    """Ours: BKT with forgetting, fitted per skill by EM on `train`."""
    fitted = em.fit(train, TopicParams())
    return bkt.predict(test, fitted.params)


def bkt_with(params: ModelParams) -> Model:
    """BKT with fixed `params` (a params file or the generating truth): no fitting."""

    def model(train: AnswerLog, test: AnswerLog) -> FloatArray:
        return bkt.predict(test, bkt.SkillParams.from_model(params, test.skill_ids))

    return model


MODELS: Mapping[str, Model] = {
    "bkt_forget (ours)": bkt_forget,
    "elo": candidates.elo,
    "pfa": candidates.pfa,
    "constant (train mean)": baselines.constant,
    "skill mean": baselines.skill_mean,
    "trend line (seed)": baselines.trend_line,
}


@dataclass(frozen=True)
class Result:
    """One model's metrics on the test rows and how long it took (fit + predict)."""

    model: str
    metrics: Mapping[str, float]
    seconds: float


@dataclass(frozen=True)
class Report:
    """The harness outcome: sizes of the split and one Result per model."""

    train_rows: int
    test_rows: int
    test_students: int
    skills: int
    results: tuple[Result, ...]

    def by_model(self) -> dict[str, Mapping[str, float]]:
        """Metrics keyed by model name."""
        return {r.model: r.metrics for r in self.results}


def split_by_student(
    log: AnswerLog, test_fraction: float, seed: int
) -> tuple[AnswerLog, AnswerLog]:
    """A seeded split of the students present in `log` into train and test."""
    students = np.unique(log.student)
    shuffled = np.random.default_rng(seed).permutation(students)
    n_test = max(1, math.ceil(test_fraction * students.shape[0]))
    in_test = np.isin(log.student, shuffled[:n_test])
    return log.select(~in_test), log.select(in_test)


def evaluate(
    log: AnswerLog,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    models: Mapping[str, Model] = MODELS,
) -> Report:
    """Split `log`, fit every model on the training students and score it on the test ones."""
    train, test = split_by_student(log, test_fraction, seed)
    if len(train) == 0 or len(test) == 0:
        raise ValueError("the split left no training or no test answers")
    results = []
    for name, model in models.items():
        started = time.perf_counter()
        predictions = model(train, test)
        elapsed = time.perf_counter() - started
        results.append(Result(name, score(test.correct, predictions, test.skill), elapsed))
    return Report(
        train_rows=len(train),
        test_rows=len(test),
        test_students=int(np.unique(test.student).shape[0]),
        skills=int(np.unique(test.skill).shape[0]),
        results=tuple(results),
    )


def render(report: Report) -> str:
    """The report as a Markdown table (global metrics, then means over skills)."""
    lines = [
        f"train answers {report.train_rows}, test answers {report.test_rows} "
        f"({report.test_students} students, {report.skills} skills)",
        "",
        "| model | AUC | RMSE | log-loss | AUC (skill mean) | RMSE (skill mean) "
        "| log-loss (skill mean) | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = ("auc", "rmse", "log_loss", "auc_skill", "rmse_skill", "log_loss_skill")
    for result in report.results:
        cells = " | ".join(f"{result.metrics[k]:.4f}" for k in keys)
        lines.append(f"| {result.model} | {cells} | {result.seconds:.2f} |")
    return "\n".join(lines)
