"""Online learner model: Bayesian Knowledge Tracing with forgetting, one state per student and topic.

The hidden state is binary (the topic is known or not). Each graded answer is one observation:
Bayes' rule with the guess/slip emission, then one learn/forget transition. The state is the
probability of "known" before the next answer, so an update is O(1) and a handful of floats.
See docs/LEARNER_MODEL.md for why this family and how the parameters are fitted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from mastery.errors import MasteryError

__all__ = [
    "LearnerParamsError",
    "LearnerState",
    "ModelParams",
    "TopicParams",
    "p_correct",
    "p_mastered",
    "replay",
    "update",
]

_SECONDS_PER_DAY = 86_400.0
# Keeps Bayes' rule finite when a parameter file pins a probability at exactly 0 or 1.
_EPS = 1e-12


class LearnerParamsError(MasteryError, ValueError):
    """Learner parameters or a stored learner state are malformed."""


@dataclass(frozen=True, slots=True)
class TopicParams:
    """BKT-with-forgetting parameters of one topic (all probabilities).

    `p_forget` is per answer (fitted from answer logs); `forget_per_day` is per idle day and
    defaults to 0 because answer logs without a clock cannot identify it.
    """

    p_init: float = 0.3
    p_learn: float = 0.1
    p_guess: float = 0.2
    p_slip: float = 0.1
    p_forget: float = 0.02
    forget_per_day: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise LearnerParamsError(f"{name} must be a probability, not {value!r}")
        if self.p_guess + self.p_slip >= 1.0:
            # Beyond this a correct answer would be evidence of *not* knowing the topic.
            raise LearnerParamsError("p_guess + p_slip must be below 1")

    def to_dict(self) -> dict[str, float]:
        """The parameters as a JSON-ready mapping."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TopicParams:
        """Parameters from a mapping; missing keys take the defaults, unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise LearnerParamsError("topic parameters must be an object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise LearnerParamsError(f"unknown learner parameters: {sorted(unknown)}")
        try:
            values = {key: float(value) for key, value in data.items()}
        except (TypeError, ValueError) as exc:
            raise LearnerParamsError("learner parameters must be numbers") from exc
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Per-topic parameters plus the default used for topics without fitted values."""

    default: TopicParams = field(default_factory=TopicParams)
    topics: Mapping[str, TopicParams] = field(default_factory=dict)

    def for_topic(self, topic: str) -> TopicParams:
        """The parameters of `topic`, or the default."""
        return self.topics.get(topic, self.default)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (the params file format)."""
        return {
            "family": "bkt_forget",
            "default": self.default.to_dict(),
            "topics": {name: p.to_dict() for name, p in sorted(self.topics.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelParams:
        """Parameters from the params file format."""
        family = data.get("family", "bkt_forget")
        if family != "bkt_forget":
            raise LearnerParamsError(f"unsupported model family {family!r}")
        topics = data.get("topics", {})
        if not isinstance(topics, Mapping):
            raise LearnerParamsError("topics must be an object")
        return cls(
            default=TopicParams.from_dict(data.get("default", {})),
            topics={str(name): TopicParams.from_dict(p) for name, p in topics.items()},
        )

    def to_json(self) -> str:
        """The params file text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelParams:
        """Parameters from params file text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LearnerParamsError("params are not valid JSON") from exc
        if not isinstance(data, Mapping):
            raise LearnerParamsError("params must be a JSON object")
        return cls.from_dict(data)


class LearnerState(NamedTuple):
    """P(known) before the next answer, the last answer's time (epoch s) and the answer count.

    A tuple of three numbers, so `json.dumps(state)` is already the stored form.
    """

    p_known: float
    last_at: float
    answers: int

    @property
    def at(self) -> datetime:
        """When the last applied answer occurred (UTC)."""
        return datetime.fromtimestamp(self.last_at, UTC)

    def to_list(self) -> list[float]:
        """The stored form: `[p_known, last_at_epoch_seconds, answers]`."""
        return [self.p_known, self.last_at, self.answers]

    @classmethod
    def from_list(cls, values: Iterable[Any]) -> LearnerState:
        """A state from its stored form, validated."""
        items = list(values)
        if len(items) != 3:
            raise LearnerParamsError("a learner state is [p_known, last_at, answers]")
        try:
            p_known, last_at, answers = float(items[0]), float(items[1]), int(items[2])
        except (TypeError, ValueError) as exc:
            raise LearnerParamsError(f"malformed learner state {items!r}") from exc
        if not 0.0 <= p_known <= 1.0 or answers < 0 or not math.isfinite(last_at):
            raise LearnerParamsError(f"malformed learner state {items!r}")
        return cls(p_known, last_at, answers)


def _known_at(state: LearnerState | None, params: TopicParams, at: datetime) -> float:
    """P(known) at `at`: the stored prior, decayed over the idle days since the last answer."""
    if state is None:
        return params.p_init
    if params.forget_per_day == 0.0:
        return state.p_known
    idle_days = max(0.0, at.timestamp() - state.last_at) / _SECONDS_PER_DAY
    return state.p_known * math.pow(1.0 - params.forget_per_day, idle_days)


def update(
    state: LearnerState | None, params: TopicParams, correct: float, at: datetime
) -> LearnerState:
    """Apply one graded answer (`correct` in [0, 1]) at `at`; O(1).

    A fraction (a quiz with k of n right) is one observation carrying the per-item geometric
    mean of the evidence: the likelihood is P(right)^c * P(wrong)^(1-c), exact for 0 and 1.
    Answers must arrive in time order; use `replay` after a late one.
    """
    if not 0.0 <= correct <= 1.0:
        raise LearnerParamsError(f"correct must lie in [0, 1], not {correct!r}")
    if at.tzinfo is None:
        raise LearnerParamsError("answer times must carry a time zone")
    prior = _known_at(state, params, at)
    slip = min(max(params.p_slip, _EPS), 1.0 - _EPS)
    guess = min(max(params.p_guess, _EPS), 1.0 - _EPS)
    if correct == 1.0:
        like_known, like_unknown = 1.0 - slip, guess
    elif correct == 0.0:
        like_known, like_unknown = slip, 1.0 - guess
    else:
        like_known = math.pow(1.0 - slip, correct) * math.pow(slip, 1.0 - correct)
        like_unknown = math.pow(guess, correct) * math.pow(1.0 - guess, 1.0 - correct)
    evidence_known = prior * like_known
    posterior = evidence_known / (evidence_known + (1.0 - prior) * like_unknown)
    p_next = posterior * (1.0 - params.p_forget) + (1.0 - posterior) * params.p_learn
    stamp = at.timestamp()
    if state is None:
        return LearnerState(p_next, stamp, 1)
    return LearnerState(p_next, max(stamp, state.last_at), state.answers + 1)


def p_mastered(state: LearnerState | None, params: TopicParams, at: datetime) -> float:
    """Probability that the student knows the topic at `at`."""
    return _known_at(state, params, at)


def p_correct(state: LearnerState | None, params: TopicParams, at: datetime) -> float:
    """Probability that the student's next answer at `at` is correct."""
    known = _known_at(state, params, at)
    return known * (1.0 - params.p_slip) + (1.0 - known) * params.p_guess


def replay(answers: Iterable[tuple[datetime, float]], params: TopicParams) -> LearnerState | None:
    """Fold `update` over `answers` in time order; None when there are none.

    Ties in time are broken by the answer value, so any delivery order gives the same state.
    """
    state: LearnerState | None = None
    for at, correct in sorted(answers, key=lambda answer: (answer[0], answer[1])):
        state = update(state, params, correct, at)
    return state
