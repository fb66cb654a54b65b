"""Mastery from evidence: the four components, the weighted score, levels, modules, overall.

The rules are DESIGN §1; the normalisation of each component is ours and lives in
`MasteryRules` so it can be configured and is documented in one place.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Literal, NamedTuple, Protocol

from pydantic import BaseModel

from mastery.domain.curriculum import Curriculum
from mastery.domain.evidence import practised
from mastery.domain.record import ClassMembership, Days, TopicEvidence
from mastery.domain.scores import decaying_average

Level = Literal["Beginner", "Learning", "Proficient", "Mastered"]
LEVEL_COLOURS: dict[Level, str] = {
    "Beginner": "red",
    "Learning": "yellow",
    "Proficient": "green",
    "Mastered": "blue",
}
LEVEL_FLOORS: dict[Level, int] = {"Beginner": 0, "Learning": 41, "Proficient": 71, "Mastered": 91}
"""The lowest displayed (rounded) score of each level."""
SCORE_DECIMALS = 9
"""Scores are rounded to this many decimals before the half-up rule: floating point makes
40.5 into 40.49999999999999 (error ~1e-14), which must still be 41."""


class ScoredRecord(Protocol):
    """What scoring a student reads of their record: a whole `StudentRecord`, or `MasteryFacts`."""

    @property
    def student_id(self) -> str: ...

    @property
    def utc_offset_minutes(self) -> int: ...

    @property
    def active_days(self) -> list[int]: ...

    @property
    def topics(self) -> dict[str, TopicEvidence]: ...


class MasteryFacts(BaseModel):
    """The part of a stored record that scores and class membership read, parsed alone: the
    same fields as `StudentRecord`'s, of the same types, without the dedupe set, alerts,
    struggle evidence and learner states (a heat-map row parses ~half the record's bytes)."""

    student_id: str
    utc_offset_minutes: int = 0
    active_days: Days = []
    classes: dict[str, ClassMembership] = {}
    topics: dict[str, TopicEvidence] = {}

    def enrolled_classes(self) -> frozenset[str]:
        """Classes the student is in now (as `StudentRecord.enrolled_classes`)."""
        return frozenset(c for c, m in self.classes.items() if m.enrolled)


@dataclass(frozen=True)
class MasteryRules:
    """Weights and normalisation constants (DESIGN §1)."""

    weights: tuple[float, float, float, float] = (0.40, 0.30, 0.20, 0.10)
    difficulty_weight: dict[str, float] = field(
        default_factory=lambda: {"easy": 0.8, "medium": 1.0, "hard": 1.2}
    )
    streak_days_for_full: int = 7
    idle_day_decay: float = 0.9


class Components(NamedTuple):
    completion: float
    quiz: float
    quality: float
    consistency: float


class TopicMastery(NamedTuple):
    topic: str
    score: float
    """0–100, unrounded; `display_score` is what users see."""
    components: Components
    evidence: TopicEvidence | None

    @property
    def practised(self) -> bool:
        """Whether the topic has evidence (`mastery.domain.evidence`)."""
        return practised(self.evidence)

    @property
    def display_score(self) -> int:
        return round_score(self.score)

    @property
    def level(self) -> Level:
        return level_for(self.score)


class ModuleMastery(NamedTuple):
    module: str
    score: float
    topics: tuple[TopicMastery, ...]


@dataclass(frozen=True)
class StudentMastery:
    student_id: str
    as_of: date
    overall: float
    modules: tuple[ModuleMastery, ...]

    def topic(self, topic_id: str) -> TopicMastery:
        """The mastery of one topic (KeyError when the curriculum has none)."""
        return self._topics[topic_id]

    @cached_property
    def _topics(self) -> dict[str, TopicMastery]:
        """Every topic by id: recommendations look ~100 up per student."""
        return {topic.topic: topic for module in self.modules for topic in module.topics}


def round_score(score: float) -> int:
    """Round the exact score half up (never banker's rounding: 40.5 is 41, Learning).

    The float is first rounded to `SCORE_DECIMALS`, which removes the arithmetic's error and
    keeps every score the rules can produce on the right side of a .5 boundary.
    """
    return math.floor(round(score, SCORE_DECIMALS) + 0.5)


def level_for(score: float) -> Level:
    """The level band of a 0–100 score, on the score rounded to an integer."""
    return displayed_level(round_score(score))


def displayed_level(displayed: int) -> Level:
    """The level band of a displayed (rounded) score."""
    for level, floor in _FLOORS_DOWN:
        if displayed >= floor:
            return level
    raise ValueError(f"a score below every level: {displayed}")


_FLOORS_DOWN = tuple(reversed(LEVEL_FLOORS.items()))


def at_least(score: float, level: Level) -> bool:
    """Whether `score` shows as `level` or a higher one."""
    return round_score(score) >= LEVEL_FLOORS[level]


def consistency(active_days: list[int], as_of: date, rules: MasteryRules) -> float:
    """Current streak / 7 (capped at 1), times 0.9 for every idle day since the last activity."""
    return consistencies(active_days, [as_of], rules)[0]


def consistencies(
    active_days: list[int], dates: Sequence[date], rules: MasteryRules
) -> list[float]:
    """`consistency` as of each of `dates`, the sorted `active_days` walked once."""
    streaks: list[int] = []  # the streak ending at each active day
    for index, day in enumerate(active_days):
        streaks.append(streaks[-1] + 1 if index and active_days[index - 1] == day - 1 else 1)
    found = []
    for as_of in dates:
        ordinal = as_of.toordinal()
        last = bisect.bisect_right(active_days, ordinal) - 1
        if last < 0:
            found.append(0.0)
            continue
        streak, idle = streaks[last], ordinal - active_days[last]
        found.append(
            float(min(1.0, streak / rules.streak_days_for_full) * rules.idle_day_decay**idle)
        )
    return found


def topic_mastery(
    topic_id: str,
    evidence: TopicEvidence | None,
    target_exercises: int,
    streak: float,
    rules: MasteryRules,
) -> TopicMastery:
    """Score one topic; a topic without evidence (activity alone) scores 0."""
    if evidence is None or not practised(evidence):
        return TopicMastery(topic_id, 0.0, Components(0.0, 0.0, 0.0, 0.0), evidence)
    done = sum(rules.difficulty_weight[difficulty] for difficulty, _ in evidence.passed.values())
    quiz = decaying_average(evidence.quiz_days, evidence.quizzes)
    quality = decaying_average(evidence.review_days, evidence.reviews)
    return weighted_topic(topic_id, evidence, done, quiz, quality, target_exercises, streak, rules)


def weighted_topic(
    topic_id: str,
    evidence: TopicEvidence,
    done: float,
    quiz: float,
    quality: float,
    target_exercises: int,
    streak: float,
    rules: MasteryRules,
) -> TopicMastery:
    """A topic's score from its summed passes, quiz and quality averages and the streak."""
    completion = min(1.0, done / target_exercises)
    score = weighted_score(completion, quiz, quality, streak, rules)
    return TopicMastery(topic_id, score, Components(completion, quiz, quality, streak), evidence)


def weighted_score(
    completion: float, quiz: float, quality: float, streak: float, rules: MasteryRules
) -> float:
    """The 0–100 topic score of its four components (the one place the weights are applied)."""
    w_completion, w_quiz, w_quality, w_consistency = rules.weights
    return 100 * (
        w_completion * completion + w_quiz * quiz + w_quality * quality + w_consistency * streak
    )


def student_mastery(
    record: ScoredRecord, curriculum: Curriculum, as_of: date, rules: MasteryRules
) -> StudentMastery:
    """Every topic, module and the overall score of one student as of a local calendar day."""
    streak = consistency(record.active_days, as_of, rules)
    modules = []
    for module in curriculum.modules:
        topics = tuple(
            topic_mastery(
                topic_id,
                record.topics.get(topic_id),
                curriculum.topic(topic_id).target_exercises,
                streak,
                rules,
            )
            for topic_id in module.topics
        )
        modules.append(ModuleMastery(module.id, sum(t.score for t in topics) / len(topics), topics))
    overall = sum(m.score for m in modules) / len(modules)
    return StudentMastery(record.student_id, as_of, overall, tuple(modules))
