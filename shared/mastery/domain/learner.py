"""Online learner model: a logistic model over practice features, with BKT's P(known) inside.

Per student and topic one small state (`LearnerState`): BKT-with-forgetting's P(known), the
answer count, the successes and two recency-weighted success proportions. Per student one more
(`StudentState`: the recent-success proportion over all topics); the rest of the student's
summary (`StudentSummary`: answers, successes, an ability residual) is derived from the topic
states. An answer costs one O(1) `update` of its topic and one `update_student`.

- P(next correct) = sigmoid(weights · features): the BKT logit, per-topic and overall practice
  counts, recent success in the topic and across topics, the student's ability across topics,
  idle time, and a per-topic easiness (`p_correct`).
- P(mastered) = BKT's P(known), decayed over idle days (`p_mastered`).

See docs/LEARNER_MODEL.md for the features, how the family was chosen and how it is fitted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Any, NamedTuple, TypeVar

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError

from mastery.errors import MasteryError

__all__ = [
    "FEATURES",
    "LearnerParamsError",
    "LearnerState",
    "ModelParams",
    "StoredLearnerState",
    "StudentState",
    "StudentSummary",
    "TopicParams",
    "Weights",
    "features",
    "logistic",
    "p_correct",
    "p_mastered",
    "replay",
    "summarize",
    "update",
    "update_student",
]

_SECONDS_PER_DAY = 86_400.0
# Keeps Bayes' rule and the BKT logit finite when a parameter pins a probability at 0 or 1.
_EPS = 1e-12
# Recency: each answer keeps this share of the topic's recent-success proportion (the rest is
# the new answer), fast and slow; both start at RECENT_START. Fixed, not fitted (see the docs).
FAST_DECAY = 0.5
SLOW_DECAY = 0.85
RECENT_START = 0.5
# The student's recent success across all topics keeps this share per answer: the latest answer
# weighs 0.1, the one before 0.09, ..., so no single earlier answer is singled out.
OVERALL_DECAY = 0.9
# Ability = residual / (answers + ABILITY_PRIOR): a student with few answers stays near 0.
ABILITY_PRIOR = 5.0
# Stored times must be plausible epoch seconds (0 to the year 3000).
_LATEST = 32_503_680_000.0


class LearnerParamsError(MasteryError, ValueError):
    """Learner parameters or a stored learner state are malformed."""


_PROBABILITIES = ("p_init", "p_learn", "p_guess", "p_slip", "p_forget", "forget_per_day")


@dataclass(frozen=True, slots=True)
class TopicParams:
    """One topic's parameters: BKT with forgetting (probabilities) and its logistic terms.

    `p_forget` is per answer; `forget_per_day` per idle day (0 until fitted from timed data).
    `intercept`, `successes` and `failures` are the topic's own logit offset and its additions
    to the shared weights of log(1 + successes) and log(1 + failures) in the topic;
    `base_rate` is the topic's mean correctness, against which ability is measured.
    """

    p_init: float = 0.3
    p_learn: float = 0.1
    p_guess: float = 0.2
    p_slip: float = 0.1
    p_forget: float = 0.02
    forget_per_day: float = 0.0
    intercept: float = 0.0
    successes: float = 0.0
    failures: float = 0.0
    base_rate: float = 0.5

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise LearnerParamsError(f"{name} must be a finite number, not {value!r}")
        for name in (*_PROBABILITIES, "base_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise LearnerParamsError(f"{name} must be a probability")
        if self.p_guess + self.p_slip >= 1.0:
            # Beyond this a correct answer would be evidence of *not* knowing the topic.
            raise LearnerParamsError("p_guess + p_slip must be below 1")

    def to_dict(self) -> dict[str, float]:
        """The parameters as a JSON-ready mapping."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TopicParams:
        """Parameters from a mapping; missing keys take the defaults, unknown keys are errors."""
        return _from_mapping(cls, data, "topic parameters")


@dataclass(frozen=True, slots=True)
class Weights:
    """The logistic weights shared by every topic, one per entry of FEATURES.

    The defaults (the BKT logit alone, weight 1) make P(next correct) BKT's own prediction.
    """

    intercept: float = 0.0
    bkt: float = 1.0
    successes: float = 0.0
    failures: float = 0.0
    recent_fast: float = 0.0
    recent_slow: float = 0.0
    total_successes: float = 0.0
    total_failures: float = 0.0
    ability: float = 0.0
    idle: float = 0.0
    recent_all: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise LearnerParamsError(f"weight {name} must be a finite number, not {value!r}")

    def to_dict(self) -> dict[str, float]:
        """The weights as a JSON-ready mapping."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Weights:
        """Weights from a mapping; missing keys take the defaults, unknown keys are errors."""
        return _from_mapping(cls, data, "weights")


FEATURES: tuple[str, ...] = tuple(f.name for f in fields(Weights))


_T = TypeVar("_T", TopicParams, Weights)


def _from_mapping(cls: type[_T], data: Mapping[str, Any], what: str) -> _T:
    if not isinstance(data, Mapping):
        raise LearnerParamsError(f"{what} must be an object")
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise LearnerParamsError(f"unknown {what}: {sorted(unknown)}")
    try:
        values = {key: float(value) for key, value in data.items()}
    except (TypeError, ValueError) as exc:
        raise LearnerParamsError(f"{what} must be numbers") from exc
    return cls(**values)


FAMILY = "bkt_logistic"
# Files of the earlier BKT-only family still load: their weights are the defaults (BKT alone).
_FAMILIES = (FAMILY, "bkt_forget")


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Per-topic parameters, the default for topics without fitted values, and the weights."""

    default: TopicParams = field(default_factory=TopicParams)
    topics: Mapping[str, TopicParams] = field(default_factory=dict)
    weights: Weights = field(default_factory=Weights)

    def for_topic(self, topic: str) -> TopicParams:
        """The parameters of `topic`, or the default."""
        return self.topics.get(topic, self.default)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (the params file format)."""
        return {
            "family": FAMILY,
            "weights": self.weights.to_dict(),
            "default": self.default.to_dict(),
            "topics": {name: p.to_dict() for name, p in sorted(self.topics.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelParams:
        """Parameters from the params file format."""
        family = data.get("family", FAMILY)
        if family not in _FAMILIES:
            raise LearnerParamsError(f"unsupported model family {family!r}")
        topics = data.get("topics", {})
        if not isinstance(topics, Mapping):
            raise LearnerParamsError("topics must be an object")
        return cls(
            default=TopicParams.from_dict(data.get("default", {})),
            topics={str(name): TopicParams.from_dict(p) for name, p in topics.items()},
            weights=Weights.from_dict(data.get("weights", {})),
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


_Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class LearnerState(NamedTuple):
    """One student's state in one topic, after the answers applied so far.

    A tuple of six numbers, so `json.dumps(state)` is the stored form: P(known) before the next
    answer, the latest answer's time (epoch seconds, sub-second), the answer count, the sum of
    the answers (successes; a quiz adds its fraction), and the fast and slow recent-success
    proportions. The annotations are the ranges pydantic checks whenever a record is parsed.
    """

    p_known: _Probability
    last_at: Annotated[float, Field(ge=0.0, le=_LATEST)]
    answers: Annotated[int, Field(ge=0)]
    successes: Annotated[float, Field(ge=0.0)]
    recent_fast: _Probability
    recent_slow: _Probability

    def to_list(self) -> list[float]:
        """The stored form."""
        return list(self)

    @classmethod
    def from_list(cls, values: Iterable[Any]) -> LearnerState:
        """A state from its stored form, validated like a parsed record's."""
        try:
            return _STATE.validate_python(tuple(values))
        except (ValidationError, TypeError) as exc:
            raise LearnerParamsError(f"malformed learner state {values!r}") from exc


def _consistent(state: LearnerState) -> LearnerState:
    # Sums of fractions may exceed the count by rounding, never by a whole answer.
    if state.successes > state.answers + 1e-6:
        raise ValueError("a learner state cannot have more successes than answers")
    return state


StoredLearnerState = Annotated[LearnerState, AfterValidator(_consistent)]
"""A learner state as records store it: ranges and consistency checked on every parse."""
# Built on first use (`from_list`), not at import: records validate their states themselves.
_STATE: TypeAdapter[LearnerState] = TypeAdapter(
    StoredLearnerState, config=ConfigDict(defer_build=True)
)


class StudentState(NamedTuple):
    """The student's state across topics: the recent-success proportion over all their answers
    (each keeps OVERALL_DECAY of it), and the newest answer's time and ordering key."""

    recent: _Probability
    last_at: Annotated[float, Field(ge=0.0, le=_LATEST)]
    last_key: Annotated[int, Field(ge=0)]


def update_student(
    state: StudentState | None, correct: float, at: float, key: int = 0
) -> StudentState:
    """Apply one graded answer (in time order) to the student's cross-topic state; O(1)."""
    if state is None:
        state = StudentState(RECENT_START, at, key)
    recent = state.recent * OVERALL_DECAY + correct * (1.0 - OVERALL_DECAY)
    return StudentState(recent, *max((at, key), (state.last_at, state.last_key)))


class StudentSummary(NamedTuple):
    """What the student has shown across all topics.

    `answers`, `successes` and `residual` are derived from the topic states; `residual` sums,
    over topics, successes minus answers times the topic's base rate: how much better than a
    typical student the student did on the topics they practised. `recent` is the student
    state's recent-success proportion.
    """

    answers: int = 0
    successes: float = 0.0
    residual: float = 0.0
    recent: float = RECENT_START


def summarize(
    states: Mapping[str, LearnerState], params: ModelParams, student: StudentState | None = None
) -> StudentSummary:
    """The student summary over `states` (topics in sorted order, so the sum is deterministic)."""
    answers, successes, residual = 0, 0.0, 0.0
    for topic in sorted(states):
        state = states[topic]
        answers += state.answers
        successes += state.successes
        residual += state.successes - state.answers * params.for_topic(topic).base_rate
    recent = student.recent if student is not None else RECENT_START
    return StudentSummary(answers, successes, residual, recent)


def _known_at(state: LearnerState | None, params: TopicParams, at: float) -> float:
    """P(known) at `at`: the stored prior, decayed over the idle days since the last answer."""
    if state is None:
        return params.p_init
    if params.forget_per_day == 0.0:
        return state.p_known
    idle_days = max(0.0, at - state.last_at) / _SECONDS_PER_DAY
    return state.p_known * math.pow(1.0 - params.forget_per_day, idle_days)


def update(
    state: LearnerState | None, params: TopicParams, correct: float, at: float
) -> LearnerState:
    """Apply one graded answer (`correct` in [0, 1]) at `at` (epoch seconds); O(1).

    BKT: Bayes' rule with the guess/slip emission, then one learn/forget transition. A fraction
    (a quiz with k of n right) is one observation carrying the per-item geometric mean of the
    evidence: the likelihood is P(right)^c * P(wrong)^(1-c), exact for 0 and 1. The counts and
    recent-success proportions move by the answer's value. Answers must arrive in time order;
    `mastery.domain.knowledge` replays a topic after a late one.
    """
    if not 0.0 <= correct <= 1.0:
        raise LearnerParamsError(f"correct must lie in [0, 1], not {correct!r}")
    if not 0.0 <= at <= _LATEST:
        raise LearnerParamsError(f"an answer time must be epoch seconds, not {at!r}")
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
    if state is None:
        state = LearnerState(0.0, at, 0, 0.0, RECENT_START, RECENT_START)
    return LearnerState(
        p_next,
        max(at, state.last_at),
        state.answers + 1,
        state.successes + correct,
        state.recent_fast * FAST_DECAY + correct * (1.0 - FAST_DECAY),
        state.recent_slow * SLOW_DECAY + correct * (1.0 - SLOW_DECAY),
    )


def replay(
    start: LearnerState | None, answers: Iterable[tuple[float, float]], params: TopicParams
) -> LearnerState | None:
    """Fold `update` over `(time, value)` answers, already in order, from `start`."""
    state = start
    for at, correct in answers:
        state = update(state, params, correct, at)
    return state


def p_mastered(state: LearnerState | None, params: TopicParams, at: float) -> float:
    """Probability that the student knows the topic at `at` (BKT's P(known))."""
    return _known_at(state, params, at)


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def features(
    state: LearnerState | None, summary: StudentSummary, params: TopicParams, at: float
) -> tuple[float, ...]:
    """The feature values before an answer at `at`, in the order of FEATURES."""
    known = _known_at(state, params, at)
    bkt = _logit(known * (1.0 - params.p_slip) + (1.0 - known) * params.p_guess)
    if state is None:
        answers, successes, fast, slow, idle = 0, 0.0, RECENT_START, RECENT_START, 0.0
    else:
        answers, successes = state.answers, state.successes
        fast, slow = state.recent_fast, state.recent_slow
        idle = math.log1p(max(0.0, at - state.last_at) / _SECONDS_PER_DAY)
    return (
        1.0,
        bkt,
        math.log1p(successes),
        math.log1p(answers - successes),
        fast,
        slow,
        math.log1p(summary.successes),
        math.log1p(summary.answers - summary.successes),
        summary.residual / (summary.answers + ABILITY_PRIOR),
        idle,
        summary.recent,
    )


def logistic(x: tuple[float, ...], params: TopicParams, weights: Weights) -> float:
    """sigmoid(weights · x) for features `x` of a topic with `params` (its own terms added)."""
    w = weights
    z = (
        w.intercept
        + params.intercept
        + w.bkt * x[1]
        + (w.successes + params.successes) * x[2]
        + (w.failures + params.failures) * x[3]
        + w.recent_fast * x[4]
        + w.recent_slow * x[5]
        + w.total_successes * x[6]
        + w.total_failures * x[7]
        + w.ability * x[8]
        + w.idle * x[9]
        + w.recent_all * x[10]
    )
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def p_correct(
    state: LearnerState | None, summary: StudentSummary, topic: str, params: ModelParams, at: float
) -> float:
    """Probability that the student's next answer in `topic` at `at` is correct."""
    own = params.for_topic(topic)
    return logistic(features(state, summary, own, at), own, params.weights)
