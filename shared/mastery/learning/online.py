"""The online learner model run over a whole answer log, answer by answer, as ingest runs it.

Each row is predicted from the same student's earlier rows with the functions ingest and
predict call (`mastery.domain.learner`: `summarize`, `features`, `logistic`, `p_mastered`,
then `update` and `update_student`), so the harness scores exactly what the engine would have answered; a test
holds the two equal through `mastery.domain.knowledge_events.track_answer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mastery.domain.learner import (
    FEATURES,
    LearnerState,
    ModelParams,
    StudentState,
    features,
    logistic,
    p_mastered,
    summarize,
    update,
    update_student,
)
from mastery.learning.answers import AnswerLog, FloatArray


@dataclass(frozen=True)
class OnlinePass:
    """Per row, before its answer: the features, P(next correct) and P(mastered)."""

    features: FloatArray
    p_correct: FloatArray
    p_mastered: FloatArray


def run(log: AnswerLog, params: ModelParams) -> OnlinePass:
    """Fold the online model over `log` (rows in (student, order) order, like an event stream)."""
    n = len(log)
    x = np.empty((n, len(FEATURES)))
    predicted, mastered = np.empty(n), np.empty(n)
    own = [params.for_topic(skill) for skill in log.skill_ids]
    students, skills = log.student.tolist(), log.skill.tolist()
    correct, times = log.correct.tolist(), log.time.tolist()
    states: dict[str, LearnerState] = {}
    student: StudentState | None = None
    current = -1
    for row in range(n):
        if students[row] != current:
            current, states, student = students[row], {}, None
        k, at = skills[row], times[row]
        topic = log.skill_ids[k]
        state = states.get(topic)
        values = features(state, summarize(states, params, student), own[k], at)
        x[row] = values
        predicted[row] = logistic(values, own[k], params.weights)
        mastered[row] = p_mastered(state, own[k], at)
        states[topic] = update(state, own[k], correct[row], at)
        student = update_student(student, correct[row], at)
    return OnlinePass(x, predicted, mastered)
