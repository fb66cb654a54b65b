"""Which learner model serves a student: the `learner-model` flag, evaluated per student.

Behaviour that changes results reaches students gradually: a candidate model (its family and
parameters: one params file, `LEARNER_CANDIDATE_PARAMS_PATH`) serves `LEARNER_CANDIDATE_PERCENT`
of the students (default 0: everyone has the stable `LEARNER_PARAMS_PATH`). A student's bucket
(0-9999) is a SHA-256 of the flag key and the student id: the same in every function, process
and release, so ingest (which updates a student's learner state) and predict (which reads it)
pick the same model, and raising the share only moves students from stable to candidate. A
student who switches is replayed under the new model from their stored answers (the record
keeps the model's fingerprint), so nothing is lost either way.

The flag is evaluated through OpenFeature (an in-memory provider with this fractional
evaluator), so a flag service's provider (flagd, a vendor's) can take over without touching
the callers; decisions are memoised per student (the settings are fixed for a process, and an
evaluation through the SDK costs ~0.1 ms, too much for every event).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from cachetools import LRUCache

from mastery.domain.knowledge import LearnerModel

if TYPE_CHECKING:
    from openfeature.client import OpenFeatureClient

__all__ = ["FLAG", "LearnerModels", "bucket"]

FLAG = "learner-model"
STABLE, CANDIDATE = "stable", "candidate"
_BUCKETS = 10_000


def bucket(flag: str, student_id: str) -> int:
    """The student's stable bucket for `flag`, 0-9999."""
    digest = hashlib.sha256(f"{flag}:{student_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS


def _flag_client(percent: float) -> OpenFeatureClient:
    """An OpenFeature client whose provider splits `FLAG` by the students' buckets."""
    # Imported here: a process without a candidate never pays for the SDK.
    from openfeature import api
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

    cut = round(percent * _BUCKETS / 100)

    def evaluate(flag: Any, context: Any) -> FlagResolutionDetails[str]:
        key = context.targeting_key
        if not key:
            return FlagResolutionDetails(STABLE, variant=STABLE, reason=Reason.DEFAULT)
        variant = CANDIDATE if bucket(FLAG, key) < cut else STABLE
        return FlagResolutionDetails(variant, variant=variant, reason=Reason.SPLIT)

    variants = {STABLE: STABLE, CANDIDATE: CANDIDATE}
    flag = InMemoryFlag(STABLE, variants, context_evaluator=evaluate)
    # OpenFeature keeps providers per domain, process-wide: one domain per share, so models
    # built with other shares (tests, a reload) never change each other's answers.
    domain = f"mastery/{FLAG}/{percent:g}"
    api.set_provider(InMemoryProvider({FLAG: flag}), domain=domain)
    return api.get_client(domain=domain)


class LearnerModels:
    """The stable learner model, and the candidate a share of students get (flag `learner-model`)."""

    def __init__(
        self,
        stable: LearnerModel,
        candidate: LearnerModel | None = None,
        percent: float = 0.0,
        *,
        memo_size: int = 100_000,
    ) -> None:
        if not 0.0 <= percent <= 100.0:
            raise ValueError("the candidate's share must be within 0-100 %")
        self.stable = stable
        self.candidate = candidate
        self._memo: LRUCache[str, LearnerModel] = LRUCache(memo_size)
        self.percent = percent if candidate is not None else 0.0
        self._client = _flag_client(percent) if candidate is not None and percent > 0 else None

    def for_student(self, student_id: str) -> LearnerModel:
        """The model that serves `student_id`."""
        if self._client is None or self.candidate is None:
            return self.stable
        chosen = self._memo.get(student_id)
        if chosen is None:
            from openfeature.evaluation_context import EvaluationContext

            context = EvaluationContext(targeting_key=student_id)
            variant = self._client.get_string_value(FLAG, STABLE, context)
            chosen = self.candidate if variant == CANDIDATE else self.stable
            self._memo[student_id] = chosen
        return chosen
