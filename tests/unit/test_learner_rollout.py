"""The `learner-model` flag: a candidate model for a stable share of students (OpenFeature)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.config import ConfigError, Settings
from mastery.domain.curriculum import CURRICULUM
from mastery.domain.knowledge import LearnerModel
from mastery.domain.learner import ModelParams, TopicParams
from mastery.entrypoints.envelopes import read_envelope
from mastery.services.ingest import IngestDeps, KafkaMetadata, handle_record
from mastery.services.learner_rollout import FLAG, LearnerModels, bucket
from mastery.services.students import load_student
from tests.factories import event, raw

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STABLE = LearnerModel()
CANDIDATE = LearnerModel(ModelParams(default=TopicParams(p_init=0.6, p_learn=0.3)))
STUDENTS = [f"student-{n}" for n in range(10_000)]


def share(models: LearnerModels) -> float:
    return sum(models.for_student(s) is CANDIDATE for s in STUDENTS) / len(STUDENTS)


def test_a_student_s_bucket_is_stable_and_spread() -> None:
    assert bucket(FLAG, "student-1") == bucket(FLAG, "student-1")
    buckets = [bucket(FLAG, s) for s in STUDENTS]
    assert min(buckets) >= 0
    assert max(buckets) < 10_000
    assert len(set(buckets)) > 6_000  # spread, not a handful of values


def test_the_candidate_reaches_its_share_and_raising_it_only_adds_students() -> None:
    ten, fifty = LearnerModels(STABLE, CANDIDATE, 10), LearnerModels(STABLE, CANDIDATE, 50)
    assert share(ten) == pytest.approx(0.10, abs=0.01)
    assert share(fifty) == pytest.approx(0.50, abs=0.015)
    moved = {s for s in STUDENTS if ten.for_student(s) is CANDIDATE}
    assert moved <= {s for s in STUDENTS if fifty.for_student(s) is CANDIDATE}
    assert share(LearnerModels(STABLE, CANDIDATE, 100)) == 1.0


def test_by_default_everyone_has_the_stable_model() -> None:
    assert share(LearnerModels(STABLE)) == 0.0
    assert share(LearnerModels(STABLE, CANDIDATE, 0)) == 0.0


def test_ingest_updates_each_student_with_the_model_the_flag_gives_them() -> None:
    models = LearnerModels(STABLE, CANDIDATE, 50)
    store = MemoryStateStore()
    deps = IngestDeps(store=store, dead_letters=MemorySink(), clock=lambda: NOW,
                      curriculum=CURRICULUM, read_envelope=read_envelope, learner=models)  # fmt: skip
    students = STUDENTS[:40]
    for student in students:
        quiz = event("quiz.completed", student, "data_structures.lists",
                     NOW - timedelta(hours=1), quiz_id="q", correct=3, total=4)  # fmt: skip
        asyncio.run(handle_record(raw(quiz), KafkaMetadata(), deps))
    fingerprints = {}
    for student in students:
        record, _ = asyncio.run(load_student(store, student))
        assert record is not None
        fingerprints[student] = record.learner_params
        assert record.learner_params == models.for_student(student).fingerprint
    assert set(fingerprints.values()) == {STABLE.fingerprint, CANDIDATE.fingerprint}


@pytest.mark.parametrize("value", ["-1", "101", "ten"])
def test_an_impossible_share_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({"LEARNER_CANDIDATE_PERCENT": value})


def test_the_share_and_candidate_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "LEARNER_CANDIDATE_PARAMS_PATH": "/params/candidate.json",
            "LEARNER_CANDIDATE_PERCENT": "10",
        }
    )
    assert (settings.learner_candidate_params_path, settings.learner_candidate_percent) == (
        "/params/candidate.json", 10.0,
    )  # fmt: skip
    assert json.dumps(settings.learner_candidate_percent) == "10.0"
