"""JSON views of mastery (the response models of the query API)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache

from pydantic import BaseModel

from mastery.domain.curriculum import Curriculum
from mastery.domain.daily import DailyScores
from mastery.domain.mastery import (
    LEVEL_COLOURS,
    Level,
    StudentMastery,
    TopicMastery,
    level_for,
    round_score,
)


class Components(BaseModel):
    completion: float
    quiz: float
    quality: float
    consistency: float


class EvidenceCounts(BaseModel):
    exercises_passed: int
    exercise_attempts: int
    quizzes: int
    code_reviews: int
    code_runs: int
    failed_code_runs: int
    help_requests: int


class TopicView(BaseModel):
    topic: str
    name: str
    module: str
    score: int
    level: Level
    colour: str
    components: Components
    evidence: EvidenceCounts
    last_activity: datetime | None


class ModuleView(BaseModel):
    module: str
    name: str
    score: int
    level: Level
    colour: str


class MasteryView(BaseModel):
    student_id: str
    as_of: date
    score: int
    level: Level
    colour: str
    modules: list[ModuleView]
    topics: list[TopicView]


class HistoryPoint(BaseModel):
    date: date
    score: int
    level: Level
    topics: dict[str, int]
    """Only topics practised by that day (`mastery.domain.evidence`)."""


class HistoryView(BaseModel):
    student_id: str
    days: list[HistoryPoint]


class ClassStudentRow(BaseModel):
    student_id: str
    score: int
    level: Level
    topics: dict[str, int | None]
    """Every topic's score; null: not practised yet (`mastery.domain.evidence`)."""


class LevelBand(BaseModel):
    level: Level
    colour: str
    min_score: int
    max_score: int


class ClassView(BaseModel):
    class_id: str
    as_of: date
    topics: list[str]
    """Column order for a heat map."""
    levels: list[LevelBand]
    """The level and colour of each displayed score (a heat map's legend)."""
    students: list[ClassStudentRow]


def _round(value: float) -> float:
    return round(value, 4)


def topic_view(topic: TopicMastery, curriculum: Curriculum) -> TopicView:
    """One topic with its components and evidence counts."""
    meta = curriculum.topic(topic.topic)
    evidence = topic.evidence
    components = topic.components
    return TopicView(
        topic=topic.topic,
        name=meta.name,
        module=meta.module,
        score=topic.display_score,
        level=topic.level,
        colour=LEVEL_COLOURS[topic.level],
        components=Components(
            completion=_round(components.completion),
            quiz=_round(components.quiz),
            quality=_round(components.quality),
            consistency=_round(components.consistency),
        ),
        evidence=EvidenceCounts(
            exercises_passed=len(evidence.passed) if evidence else 0,
            exercise_attempts=evidence.attempts if evidence else 0,
            quizzes=len(evidence.quizzes) if evidence else 0,
            code_reviews=len(evidence.reviews) if evidence else 0,
            code_runs=evidence.runs if evidence else 0,
            failed_code_runs=evidence.failed_runs if evidence else 0,
            help_requests=evidence.help_requests if evidence else 0,
        ),
        last_activity=(
            datetime.fromtimestamp(evidence.last_activity, UTC)
            if evidence and evidence.last_activity
            else None
        ),
    )


def mastery_view(mastery: StudentMastery, curriculum: Curriculum) -> MasteryView:
    """Every topic and module, and the overall score."""
    level = level_for(mastery.overall)
    modules = []
    for module in mastery.modules:
        module_level = level_for(module.score)
        modules.append(
            ModuleView(
                module=module.module,
                name=next(m.name for m in curriculum.modules if m.id == module.module),
                score=round_score(module.score),
                level=module_level,
                colour=LEVEL_COLOURS[module_level],
            )
        )
    return MasteryView(
        student_id=mastery.student_id,
        as_of=mastery.as_of,
        score=round_score(mastery.overall),
        level=level,
        colour=LEVEL_COLOURS[level],
        modules=modules,
        topics=[topic_view(t, curriculum) for m in mastery.modules for t in m.topics],
    )


def history_point(mastery: StudentMastery) -> HistoryPoint:
    """The overall and per-topic scores at the end of one day."""
    return HistoryPoint(
        date=mastery.as_of,
        score=round_score(mastery.overall),
        level=level_for(mastery.overall),
        topics={t.topic: t.display_score for m in mastery.modules for t in m.topics if t.practised},
    )


def history_view(student_id: str, daily: DailyScores) -> HistoryView:
    """The history answer straight from the daily scores (each day as `history_point` gives it)."""
    return HistoryView(
        student_id=student_id,
        days=[
            HistoryPoint(
                date=day,
                score=round_score(overall),
                level=level_for(overall),
                topics={
                    topic: round_score(score)
                    for topic, scores in daily.topics.items()
                    if (score := scores[i]) is not None
                },
            )
            for i, (day, overall) in enumerate(zip(daily.dates, daily.overall, strict=True))
        ],
    )


def class_row(mastery: StudentMastery) -> ClassStudentRow:
    """One heat-map row: the overall score and every topic's score (null: not practised)."""
    return ClassStudentRow(
        student_id=mastery.student_id,
        score=round_score(mastery.overall),
        level=level_for(mastery.overall),
        topics={
            t.topic: t.display_score if t.practised else None
            for m in mastery.modules
            for t in m.topics
        },
    )


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
