"""A realistic demo stream: one class of students over a month of learning.

Strong, average and struggling students work through the curriculum in prerequisite order;
each active day they start and finish exercises, run code (with typical errors), take quizzes,
get code reviews and, when struggling, ask for help. Seeded, so every run tells the same story.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mastery.domain.curriculum import CURRICULUM, Curriculum

ERRORS = ("TypeError", "NameError", "IndexError", "KeyError", "SyntaxError", "ValueError")
HELP = (
    "I don't understand why this loop never ends",
    "I'm stuck on this exercise",
    "i dont get what a list comprehension does",
    "Can you explain this differently? I'm lost",
    "what does this error mean?",
)


@dataclass(frozen=True)
class Profile:
    name: str
    active: float
    """Chance of studying on a given day."""
    skill: float
    """Chance of passing an exercise / answering a quiz item."""


PROFILES = (
    Profile("strong", 0.9, 0.9),
    Profile("average", 0.75, 0.7),
    Profile("struggling", 0.55, 0.4),
)


def demo_events(
    class_id: str, students: int, days: int, now: datetime, seed: int = 42,
    curriculum: Curriculum = CURRICULUM, prefix: str = "student-",
) -> list[dict[str, Any]]:  # fmt: skip
    """Events of the whole class in time order, in our envelope shape."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible story, not secrets
    order = curriculum.topological_order()
    start = (now - timedelta(days=days - 1)).replace(hour=15, minute=0, second=0, microsecond=0)
    events: list[dict[str, Any]] = []
    for n in range(students):
        student_id = f"{prefix}{n + 1:02d}"
        profile = PROFILES[n % len(PROFILES)]
        events.append(_event(f"{student_id}-enrol", "class.enrolled", student_id, None,
                             start - timedelta(hours=1), {"class_id": class_id}))  # fmt: skip
        _student(rng, student_id, profile, order, start, days, now, events, curriculum)
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


class _Session:
    """One student's study session: events a few minutes apart, never after `now`."""

    def __init__(
        self, student_id: str, at: datetime, now: datetime, events: list[dict[str, Any]]
    ) -> None:
        self.student_id, self.at, self.now, self.events = student_id, at, now, events

    def emit(self, type_: str, topic: str, data: dict[str, Any], minutes: int) -> None:
        self.at += timedelta(minutes=minutes)
        event_id = f"{self.student_id}-{len(self.events)}"
        self.events.append(
            _event(event_id, type_, self.student_id, topic, min(self.at, self.now), data)
        )


def _student(
    rng: random.Random, student_id: str, profile: Profile, order: list[str], start: datetime,
    days: int, now: datetime, events: list[dict[str, Any]], curriculum: Curriculum,
) -> None:  # fmt: skip
    topic_index, passed_here = 0, 0
    for day in range(days):
        if rng.random() > profile.active or topic_index >= len(order):
            continue
        session = _Session(
            student_id, start + timedelta(days=day, minutes=rng.randint(0, 240)), now, events
        )
        for _ in range(rng.randint(2, 4)):
            if topic_index >= len(order) or session.at > now:
                break
            topic = order[topic_index]
            exercise = f"{topic}.ex{passed_here + 1}"
            session.emit("exercise.started", topic, {"exercise_id": exercise}, 1)
            for _ in range(rng.randint(1, 3)):
                ok = rng.random() < profile.skill
                failure = {} if ok else {"error_type": rng.choice(ERRORS)}
                session.emit(
                    "code.executed", topic, {"ok": ok, "exercise_id": exercise} | failure, 2
                )
            passed = rng.random() < profile.skill
            difficulty = rng.choice(("easy", "medium", "medium", "hard"))
            session.emit("exercise.completed", topic, {"exercise_id": exercise, "difficulty": difficulty,
                                                       "passed": passed, "score": round(rng.random(), 2)}, 5)  # fmt: skip
            if passed:
                passed_here += 1
                quality = min(100, max(0, round(rng.gauss(profile.skill * 100, 10))))
                session.emit(
                    "code.reviewed",
                    topic,
                    {"submission_id": f"{exercise}.sub", "quality": quality},
                    1,
                )
            elif profile.name == "struggling" and rng.random() < 0.3:
                session.emit("help.requested", topic, {"text": rng.choice(HELP)}, 1)
            if passed_here and passed_here % 3 == 0 and rng.random() < 0.6:
                correct = sum(rng.random() < profile.skill for _ in range(5))
                session.emit("quiz.completed", topic, {"quiz_id": f"{topic}.quiz{passed_here}",
                                                       "correct": correct, "total": 5}, 4)  # fmt: skip
            if passed_here >= max(3, int(curriculum.topic(topic).target_exercises * 0.8)):
                topic_index, passed_here = topic_index + 1, 0
