"""The harness scores what the engine answers: its predictions equal ingest's, answer by answer."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.events import parse_event
from mastery.domain.knowledge import LearnerModel, student_summary
from mastery.domain.learner import p_correct, p_mastered
from mastery.domain.record import StudentRecord
from mastery.entrypoints.envelopes import read_envelope
from mastery.learning import em, online
from mastery.learning.answers import from_columns
from mastery.learning.fit import fit_params
from mastery.learning.synthetic import simulate_irt
from mastery.services.ingest import IngestDeps, apply
from mastery.services.learner_rollout import LearnerModels
from mastery.services.students import student_key
from tests.factories import event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOPICS = CURRICULUM.topological_order()[:4]


def _answer_log() -> tuple[list[tuple[str, str, float, float]], list[str]]:
    """Quizzes of 4 questions by 5 students over 4 topics, at sub-second times, in order."""
    rng = random.Random(3)
    rows = []
    for student in range(5):
        at = (NOW - timedelta(days=60)).timestamp() + student
        for _ in range(40):
            at += rng.choice([0.25, 30.5, 3600.0, 86_400.0 * 1.5])
            rows.append((f"s{student}", rng.choice(TOPICS), rng.randint(0, 4) / 4, at))
    return rows, [f"evt-{i}" for i in range(len(rows))]


async def test_harness_predictions_equal_what_ingest_and_predict_compute() -> None:
    rows, ids = _answer_log()
    students, topics, values, times = zip(*rows, strict=True)
    log = from_columns(students, topics, values, range(len(rows)), times)
    params, _ = fit_params(log)
    assert params.weights.ability != 0.0  # the fitted model, not BKT's default weights
    harness = online.run(log, params)

    model = LearnerModel(params)
    store = MemoryStateStore()
    deps = IngestDeps(
        store, MemorySink(), lambda: NOW, CURRICULUM, read_envelope, learner=LearnerModels(model)
    )
    engine_correct, engine_mastered = [], []
    # The log's rows are sorted by (student, order); feed the events in that order.
    by_row = sorted(range(len(rows)), key=lambda r: (rows[r][0], r))
    for r in by_row:
        student, topic, value, at = rows[r]
        stored = await store.read(student_key(student))
        record = (
            StudentRecord.model_validate_json(stored.data)
            if stored
            else StudentRecord(student_id=student)
        )
        state = record.learner.get(topic)
        summary = student_summary(record, model)
        engine_correct.append(p_correct(state, summary, topic, params, at))
        engine_mastered.append(p_mastered(state, params.for_topic(topic), at))
        when = datetime.fromtimestamp(at, UTC)
        document = event("quiz.completed", student, topic, when, ids[r], quiz_id="q",
                         correct=int(value * 4), total=4)  # fmt: skip
        await apply(parse_event(document, NOW, CURRICULUM), deps)
    assert harness.p_correct.tolist() == engine_correct
    assert harness.p_mastered.tolist() == engine_mastered


def test_em_reaches_its_tolerance_past_the_old_sixty_iteration_cap() -> None:
    log = simulate_irt(150, 4, seed=1).log
    strict = em.fit(log, tol=1e-9, param_tol=0.0)
    # The likelihood still improves by more than 1e-9 per answer after 60 iterations: a
    # 60-iteration cap would have stopped with converged False.
    assert strict.converged
    assert len(strict.loglik) > 61
    assert np.diff(strict.loglik)[59] >= 1e-9
    # The parameter tolerance stops far earlier at practically the same likelihood.
    default = em.fit(log, tol=1e-9)
    assert default.converged
    assert len(default.loglik) < len(strict.loglik)
    assert abs(default.loglik[-1] - strict.loglik[-1]) < 1e-4
