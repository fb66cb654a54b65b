"""JSON views of mastery: the response models of the query API, and the answers made to them.

The models document the answers (OpenAPI); the answers are built as the plain JSON objects the
models describe, field for field in their order, and written by pydantic's serialiser without
building a model per topic: a student's mastery is ~100 nested objects, and constructing them
cost more than scoring the record (docs/BENCHMARKS.md). Tests hold each answer to its model:
validated by it and written back, it is the same bytes.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from pydantic_core import to_json

from mastery.domain.curriculum import Curriculum
from mastery.domain.daily import DailyScores
from mastery.domain.mastery import (
    LEVEL_COLOURS,
    Level,
    StudentMastery,
    TopicMastery,
    displayed_level,
    level_for,
    round_score,
)
from mastery.domain.scores import count as score_count
from mastery.entrypoints.http.documented import DocumentedModel


class Components(DocumentedModel):
    completion: float
    quiz: float
    quality: float
    consistency: float


class EvidenceCounts(DocumentedModel):
    exercises_passed: int
    exercise_attempts: int
    quizzes: int
    code_reviews: int
    code_runs: int
    failed_code_runs: int
    help_requests: int


class TopicView(DocumentedModel):
    topic: str
    name: str
    module: str
    score: int
    level: Level
    colour: str
    components: Components
    evidence: EvidenceCounts
    last_activity: datetime | None


class ModuleView(DocumentedModel):
    module: str
    name: str
    score: int
    level: Level
    colour: str


class MasteryView(DocumentedModel):
    student_id: str
    as_of: date
    score: int
    level: Level
    colour: str
    modules: list[ModuleView]
    topics: list[TopicView]


class HistoryPoint(DocumentedModel):
    date: date
    score: int
    level: Level
    topics: dict[str, int]
    """Only topics practised by that day (`mastery.domain.evidence`)."""


class HistoryView(DocumentedModel):
    student_id: str
    days: list[HistoryPoint]


class ClassStudentRow(DocumentedModel):
    student_id: str
    score: int
    level: Level
    topics: dict[str, int | None]
    """Every topic's score; null: not practised yet (`mastery.domain.evidence`)."""


class LevelBand(DocumentedModel):
    level: Level
    colour: str
    min_score: int
    max_score: int


class ClassView(DocumentedModel):
    class_id: str
    as_of: date
    topics: list[str]
    """Column order for a heat map."""
    levels: list[LevelBand]
    """The level and colour of each displayed score (a heat map's legend)."""
    students: list[ClassStudentRow]


def _round(value: float) -> float:
    return round(value, 4)


def topic_view(topic: TopicMastery, curriculum: Curriculum) -> dict[str, Any]:
    """One topic with its components and evidence counts (a `TopicView`)."""
    meta = curriculum.topic(topic.topic)
    evidence = topic.evidence
    components = topic.components
    score = round_score(topic.score)
    level = displayed_level(score)
    return {
        "topic": topic.topic,
        "name": meta.name,
        "module": meta.module,
        "score": score,
        "level": level,
        "colour": LEVEL_COLOURS[level],
        "components": {
            "completion": _round(components.completion),
            "quiz": _round(components.quiz),
            "quality": _round(components.quality),
            "consistency": _round(components.consistency),
        },
        "evidence": {
            "exercises_passed": len(evidence.passed) if evidence else 0,
            "exercise_attempts": evidence.attempts if evidence else 0,
            "quizzes": score_count(evidence.quiz_days, evidence.quizzes) if evidence else 0,
            "code_reviews": score_count(evidence.review_days, evidence.reviews) if evidence else 0,
            "code_runs": evidence.runs if evidence else 0,
            "failed_code_runs": evidence.failed_runs if evidence else 0,
            "help_requests": evidence.help_requests if evidence else 0,
        },
        "last_activity": (
            datetime.fromtimestamp(evidence.last_activity, UTC)
            if evidence and evidence.last_activity
            else None
        ),
    }


def mastery_view(mastery: StudentMastery, curriculum: Curriculum) -> dict[str, Any]:
    """Every topic and module, and the overall score (a `MasteryView`)."""
    names = {module.id: module.name for module in curriculum.modules}
    modules = []
    for module in mastery.modules:
        module_level = level_for(module.score)
        modules.append({
            "module": module.module,
            "name": names[module.module],
            "score": round_score(module.score),
            "level": module_level,
            "colour": LEVEL_COLOURS[module_level],
        })  # fmt: skip
    level = level_for(mastery.overall)
    return {
        "student_id": mastery.student_id,
        "as_of": mastery.as_of,
        "score": round_score(mastery.overall),
        "level": level,
        "colour": LEVEL_COLOURS[level],
        "modules": modules,
        "topics": [topic_view(t, curriculum) for m in mastery.modules for t in m.topics],
    }


@dataclass(frozen=True, slots=True, eq=False)
class RenderedMastery:
    """One scoring of a student, written for every answer made of it: the `MasteryView`, each
    topic's `TopicView` (the same bytes, a span of it) and the heat map's `ClassStudentRow`."""

    body: bytes
    starts: array[int]
    """Where each topic's object starts in `body`, in the view's order; then where one more would."""
    row: bytes

    def topic(self, position: int) -> bytes:
        """The `TopicView` of the view's `position`-th topic (`topic_positions`)."""
        return self.body[self.starts[position] : self.starts[position + 1] - 1]


def render_mastery(mastery: StudentMastery, curriculum: Curriculum) -> RenderedMastery:
    """`mastery`'s views as JSON (the topics last in a `MasteryView`: their spans are kept)."""
    view = mastery_view(mastery, curriculum)
    topics = [to_json(topic) for topic in view.pop("topics")]
    head = to_json(view)[:-1] + b',"topics":['
    starts = array("I", [len(head)])
    for topic in topics:
        starts.append(starts[-1] + len(topic) + 1)  # and the comma
    body = head + b",".join(topics) + b"]}"
    return RenderedMastery(body, starts, to_json(class_row(mastery)))


def topic_positions(curriculum: Curriculum) -> dict[str, int]:
    """Each topic's position among a `MasteryView`'s topics."""
    ordered = (topic for module in curriculum.modules for topic in module.topics)
    return {topic: position for position, topic in enumerate(ordered)}


def class_view(class_id: str, as_of: date, topics: list[str], rows: list[bytes]) -> bytes:
    """The `ClassView` of written `ClassStudentRow`s."""
    head = {"class_id": class_id, "as_of": as_of, "topics": topics, "levels": level_bands()}
    return to_json(head)[:-1] + b',"students":[' + b",".join(rows) + b"]}"


def history_point(mastery: StudentMastery) -> dict[str, Any]:
    """The overall and per-topic scores at the end of one day (a `HistoryPoint`)."""
    return {
        "date": mastery.as_of,
        "score": round_score(mastery.overall),
        "level": level_for(mastery.overall),
        "topics": {
            t.topic: round_score(t.score) for m in mastery.modules for t in m.topics if t.practised
        },
    }


def history_view(student_id: str, daily: DailyScores) -> dict[str, Any]:
    """The history answer straight from the daily scores, each day as `history_point` gives it
    (a `HistoryView`)."""
    return {
        "student_id": student_id,
        "days": [
            {
                "date": day,
                "score": round_score(overall),
                "level": level_for(overall),
                "topics": {
                    topic: round_score(score)
                    for topic, scores in daily.topics.items()
                    if (score := scores[i]) is not None
                },
            }
            for i, (day, overall) in enumerate(zip(daily.dates, daily.overall, strict=True))
        ],
    }


def class_row(mastery: StudentMastery) -> dict[str, Any]:
    """One heat-map row: the overall score and every topic's score, null when not practised
    (a `ClassStudentRow`)."""
    return {
        "student_id": mastery.student_id,
        "score": round_score(mastery.overall),
        "level": level_for(mastery.overall),
        "topics": {
            t.topic: round_score(t.score) if t.practised else None
            for m in mastery.modules
            for t in m.topics
        },
    }


@cache
def level_bands() -> list[LevelBand]:
    """The displayed scores 0–100 grouped by the level the rules give them, lowest first."""
    bands: list[LevelBand] = []
    for score in range(101):
        level = level_for(score)
        if bands and bands[-1].level == level:
            bands[-1].max_score = score
        else:
            bands.append(LevelBand(level=level, colour=LEVEL_COLOURS[level],
                                   min_score=score, max_score=score))  # fmt: skip
    return bands
