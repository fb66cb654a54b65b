"""A realistic demo stream: one class of students over a month of learning.

Strong, average and struggling students work through the curriculum in prerequisite order.
Strong students finish every exercise they start within minutes, fix a failed run at once, pass
every exercise a topic sets and take its quiz before moving on, so their early modules reach
Proficient or Mastered. Average students sometimes leave an exercise for another day. Struggling
students repeat the same error, run failing code again and again, abandon exercises, ask for
help and score low on quizzes: they carry most of the struggle alerts, and between them every
trigger fires. Seeded, so every run tells the same story.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mastery.domain.curriculum import CURRICULUM, Curriculum

__all__ = ["PROFILES", "Profile", "demo_events", "student_groups"]

ERRORS = ("TypeError", "NameError", "IndexError", "KeyError", "SyntaxError", "ValueError")
HELP = (
    "I don't understand why this loop never ends",
    "I'm stuck on this exercise",
    "i dont get what a list comprehension does",
    "Can you explain this differently? I'm lost",
    "I do not understand this error",
)


@dataclass(frozen=True)
class Profile:
    name: str
    active: float
    """Chance of studying on a given day."""
    skill: float
    """Chance of a clean run, a passed exercise, a right quiz answer."""
    finishes: bool
    """Whether every exercise started is passed in the same few minutes."""
    moves_on_at: float
    """Share of a topic's target exercises passed before the next topic."""


PROFILES = (
    Profile("strong", active=0.9, skill=0.92, finishes=True, moves_on_at=1.0),
    Profile("average", active=0.75, skill=0.72, finishes=False, moves_on_at=0.8),
    Profile("struggling", active=0.6, skill=0.35, finishes=False, moves_on_at=0.4),
)


def _profile_of(index: int) -> Profile:
    return PROFILES[index % len(PROFILES)]


def _student_id(prefix: str, index: int) -> str:
    return f"{prefix}{index + 1:02d}"


def student_groups(students: int, prefix: str = "student-") -> dict[str, str]:
    """Which profile each student of the demo class follows: student id -> profile name."""
    return {_student_id(prefix, n): _profile_of(n).name for n in range(students)}


def demo_events(
    class_id: str, students: int, days: int, now: datetime, seed: int = 42,
    curriculum: Curriculum = CURRICULUM, prefix: str = "student-",
) -> list[dict[str, Any]]:  # fmt: skip
    """Events of the whole class in time order, in our envelope shape."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible story, not secrets
    start = (now - timedelta(days=days - 1)).replace(hour=15, minute=0, second=0, microsecond=0)
    events: list[dict[str, Any]] = []
    for n in range(students):
        student_id = _student_id(prefix, n)
        events.append(_event(f"{student_id}-enrol", "class.enrolled", student_id, None,
                             start - timedelta(hours=1), {"class_id": class_id}))  # fmt: skip
        student = _Student(rng, student_id, _profile_of(n), curriculum, now, events)
        for day in range(days):
            if rng.random() <= student.profile.active:
                student.study(start + timedelta(days=day, minutes=rng.randint(0, 240)))
    events.sort(key=lambda e: e["occurred_at"])
    return events


def _event(
    event_id: str, type_: str, student_id: str, topic: str | None, at: datetime,
    data: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    document = {"id": event_id, "type": type_, "student_id": student_id,
                "occurred_at": at.isoformat(), "data": data}  # fmt: skip
    if topic is not None:
        document["topic"] = topic
    return document


class _Student:
    """One student's progress through the curriculum, one study session at a time."""

    def __init__(
        self, rng: random.Random, student_id: str, profile: Profile, curriculum: Curriculum,
        now: datetime, events: list[dict[str, Any]],
    ) -> None:  # fmt: skip
        self.rng, self.student_id, self.profile = rng, student_id, profile
        self.curriculum, self.now, self.events = curriculum, now, events
        self.order = curriculum.topological_order()
        self.topic_index, self.passed_here = 0, 0
        self.at = now

    def emit(self, type_: str, data: dict[str, Any], minutes: float) -> None:
        self.at += timedelta(minutes=minutes)
        event_id = f"{self.student_id}-{len(self.events)}"
        topic = self.order[self.topic_index]
        self.events.append(_event(event_id, type_, self.student_id, topic, self.at, data))

    def study(self, at: datetime) -> None:
        self.at = at
        for _ in range(self.rng.randint(2, 4)):
            if self.topic_index >= len(self.order) or self.at > self.now - timedelta(hours=1):
                return
            self.attempt()

    def attempt(self) -> None:
        rng, profile = self.rng, self.profile
        topic = self.order[self.topic_index]
        exercise = f"{topic}.ex{self.passed_here + 1}"  # a topic sets exercises 1, 2, …
        self.emit("exercise.started", {"exercise_id": exercise}, rng.uniform(1, 3))
        error = rng.choice(ERRORS)  # a struggling student keeps making the same mistake
        for _ in range(rng.randint(1, 2) if profile.finishes else rng.randint(1, 6)):
            ok = rng.random() < profile.skill
            failure = {} if ok else {"error_type": error}
            self.emit("code.executed", {"ok": ok, "exercise_id": exercise} | failure, 1)
        passed = profile.finishes or rng.random() < profile.skill
        if not passed and rng.random() < 0.5:
            if profile.name == "struggling" and rng.random() < 0.6:
                self.emit("help.requested", {"text": rng.choice(HELP)}, 2)
            self.at += timedelta(minutes=15)
            return  # abandoned for today: started, not passed
        difficulty = rng.choice(("easy", "medium", "medium", "hard"))
        self.emit("exercise.completed", {"exercise_id": exercise, "difficulty": difficulty,
                                         "passed": passed}, 2)  # fmt: skip
        if not passed:
            return
        self.passed_here += 1
        quality = min(100, max(0, round(rng.gauss(profile.skill * 100, 6))))
        self.emit("code.reviewed", {"submission_id": f"{exercise}.sub", "quality": quality}, 1)
        target = self.curriculum.topic(topic).target_exercises
        if self.passed_here >= max(2, round(target * profile.moves_on_at)):
            correct = sum(rng.random() < profile.skill for _ in range(10))
            self.emit("quiz.completed", {"quiz_id": f"{topic}.quiz", "correct": correct,
                                         "total": 10}, 4)  # fmt: skip
            self.topic_index, self.passed_here = self.topic_index + 1, 0
