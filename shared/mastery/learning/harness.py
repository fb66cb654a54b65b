"""The evaluation harness: fit on training students, predict each test answer online, score.

Every model sees only the training students when fitting and, for a test answer, only the same
student's earlier answers; every one is scored with the same metrics on the same rows. Ours is
predicted by the online model itself (`mastery.learning.online`, the functions ingest runs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from mastery.domain.learner import FEATURES, ModelParams, TopicParams
from mastery.learning import baselines, bkt, candidates, em, logistic, online
from mastery.learning.answers import AnswerLog, FloatArray
from mastery.learning.fit import fit_params
from mastery.learning.metrics import score
from mastery.learning.synthetic import FAMILIES, generate

# A model maps (train, test) to P(correct) of every test row; a group of models sharing one
# fit maps it to several named predictions.
Model = Callable[[AnswerLog, AnswerLog], FloatArray | Mapping[str, FloatArray]]

OURS = "bkt_logistic (ours)"
# Smaller designs of the same logistic family, fitted on the same online features: what each
# group of features adds (Best-LR: counts; LKT-like: counts and recency; BKT and ability).
DESIGNS = {
    "best_lr (counts)": ("intercept", "successes", "failures", "total_successes",
                         "total_failures"),
    "lkt (counts, recency)": ("intercept", "successes", "failures", "total_successes",
                              "total_failures", "recent_fast", "recent_slow", "recent_all"),
    "bkt + ability": ("intercept", "bkt", "total_successes", "total_failures", "ability"),
}  # fmt: skip


def logistic_family(train: AnswerLog, test: AnswerLog) -> dict[str, FloatArray]:
    """Ours (fitted by `fit_params`, predicted online) and the smaller designs beside it."""
    params, report = fit_params(train)
    on_test = online.run(test, params)
    out = {OURS: on_test.p_correct}
    on_train = report.features
    for name, design in DESIGNS.items():
        columns = [FEATURES.index(f) for f in design]
        fitted = logistic.fit(on_train, train.skill, train.correct, len(train.skill_ids),
                              columns=columns)  # fmt: skip
        out[name] = logistic.predict(on_test.features, test.skill, fitted)
    return out


def bkt_forget(train: AnswerLog, test: AnswerLog) -> FloatArray:
    """BKT with forgetting alone (the earlier family), fitted per skill by EM on `train`."""
    fitted = em.fit(train, TopicParams())
    return bkt.predict(test, fitted.params)


def with_params(params: ModelParams) -> Model:
    """Ours with fixed `params` (a params file or a generating truth): no fitting."""

    def model(train: AnswerLog, test: AnswerLog) -> FloatArray:
        return online.run(test, params).p_correct

    return model


MODELS: Mapping[str, Model] = {
    "bkt_logistic (ours) and smaller designs": logistic_family,
    "bkt_forget": bkt_forget,
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
    """Split `log` by student, fit every model on the training students, score on the others."""
    train, test = split_by_student(log, test_fraction, seed)
    return evaluate_split(train, test, models=models)


def evaluate_split(
    train: AnswerLog, test: AnswerLog, *, models: Mapping[str, Model] = MODELS
) -> Report:
    """Fit every model on `train` and score it on `test` (both coded over the same skills)."""
    if len(train) == 0 or len(test) == 0:
        raise ValueError("the split left no training or no test answers")
    if train.skill_ids != test.skill_ids:
        raise ValueError("train and test must share one skill coding")
    results = []
    for name, model in models.items():
        started = time.perf_counter()
        predictions = model(train, test)
        elapsed = time.perf_counter() - started
        named = predictions if isinstance(predictions, Mapping) else {name: predictions}
        for label, values in named.items():
            results.append(Result(label, score(test.correct, values, test.skill), elapsed))
    return Report(
        train_rows=len(train),
        test_rows=len(test),
        test_students=int(np.unique(test.student).shape[0]),
        skills=int(np.unique(test.skill).shape[0]),
        results=tuple(results),
    )


def rank_families(
    students: int, skills: int, *, seed: int = 0, families: tuple[str, ...] = FAMILIES,
    models: Mapping[str, Model] = MODELS, test_fraction: float = 0.2,
) -> dict[str, Report]:  # fmt: skip
    """Every model on a log of every synthetic family (same sizes, same seed)."""
    reports = {}
    for family in families:
        log = generate(family, students, skills, seed).log
        reports[family] = evaluate(log, test_fraction=test_fraction, seed=seed, models=models)
    return reports


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
    for result in sorted(report.results, key=lambda r: -r.metrics["auc"]):
        cells = " | ".join(f"{result.metrics[k]:.4f}" for k in keys)
        lines.append(f"| {result.model} | {cells} | {result.seconds:.2f} |")
    return "\n".join(lines)
