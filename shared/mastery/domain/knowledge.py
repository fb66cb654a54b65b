"""The learner model inside the student's record: its parameters, and the states read from it.

The record keeps each topic's graded answers of the late-arrival window and the checkpoint state
they start from, and the stored state of a topic is always `replay` of those answers from that
checkpoint (`mastery.domain.knowledge_events` keeps it so as events are applied). A record whose
states another model computed is brought up to this one by `use_model`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

from mastery.domain.learner import ModelParams, StudentSummary, TopicParams, replay, summarize
from mastery.domain.record import StudentRecord

__all__ = ["LearnerModel", "replay_topic", "student_summary", "use_model"]


@dataclass(frozen=True)
class LearnerModel:
    """The parameters ingest and predict use, with a fingerprint to notice a new params file."""

    params: ModelParams = field(default_factory=ModelParams)

    @cached_property
    def fingerprint(self) -> str:
        """A short digest of the parameters; stored with the states computed from them."""
        return hashlib.sha256(self.params.to_json().encode()).hexdigest()[:16]

    @cached_property
    def timeless(self) -> bool:
        """Whether P(next correct) and P(mastered) of a state stay the same as time passes: no
        topic forgets per idle day and idle time has no weight (`mastery.domain.learner`: the
        only two places the time asked enters); the built-in defaults are timeless."""
        params = self.params
        forgets = any(p.forget_per_day != 0.0 for p in (params.default, *params.topics.values()))
        return params.weights.idle == 0.0 and not forgets

    def for_topic(self, topic: str) -> TopicParams:
        """The parameters of one topic."""
        return self.params.for_topic(topic)


def student_summary(record: StudentRecord, model: LearnerModel) -> StudentSummary:
    """The student's summary across topics, which P(next correct) reads beside a topic's state."""
    return summarize(record.learner, model.params, record.learner_student.state)


def replay_topic(record: StudentRecord, topic: str, model: LearnerModel) -> None:
    """Recompute one topic's state from its checkpoint and listed answers (a topic whose
    answers were all folded keeps its state: it is its checkpoint)."""
    log = record.answers.get(topic)
    if log is None:
        return
    state = replay(log.start, log.moments(), model.for_topic(topic))
    if state is None:
        record.answers.pop(topic, None)
        record.learner.pop(topic, None)
    else:
        record.learner[topic] = state


def use_model(record: StudentRecord, model: LearnerModel) -> None:
    """Make the record's learner states `model`'s: recomputed from the answers if another
    model (other parameters, another family) computed them (the checkpoints keep what they
    hold: their answers are gone)."""
    if record.learner_params != model.fingerprint:
        record.learner_params = model.fingerprint
        for name in list(record.answers):
            replay_topic(record, name, model)
