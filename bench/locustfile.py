"""Locust user classes for the load test (run by bench/load.py, which writes the plan).

Students (most users) read their own mastery, topics, history and whatever per-student routes
predict and recommend answer; teachers read their class views, their students and their alerts.
Routes, identities and tokens come from the plan file `LOAD_PLAN` names, so routes added to the
functions join the mix without changing this file (bench/load.py probes them first).
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

from locust import FastHttpUser, between, task

_PLAN: dict[str, Any] = json.loads(open(os.environ["LOAD_PLAN"]).read())  # noqa: SIM115
_TOPICS: list[str] = _PLAN["topics"]


def _pick(routes: list[dict[str, Any]]) -> dict[str, Any]:
    return random.choices(routes, weights=[r["weight"] for r in routes])[0]  # noqa: S311


def _fill(template: str, values: dict[str, str]) -> str:
    return template.format(topic_id=random.choice(_TOPICS), **values)  # noqa: S311


class StudentUser(FastHttpUser):  # type: ignore[misc]
    """A student with the dashboard open: reads their own data every few seconds."""

    weight = _PLAN["student_weight"]
    wait_time = between(*_PLAN["student_think_s"])

    def on_start(self) -> None:
        me = random.choice(_PLAN["students"])  # noqa: S311
        self.values = {"student_id": me["id"]}
        self.auth = {"Authorization": f"Bearer {me['token']}"}

    @task
    def read_own(self) -> None:
        route = _pick(_PLAN["student_routes"])
        self.client.get(_fill(route["url"], self.values), name=route["name"], headers=self.auth)


class TeacherUser(FastHttpUser):  # type: ignore[misc]
    """A teacher watching their classes: heat maps, one student now and then, alerts."""

    weight = _PLAN["teacher_weight"]
    wait_time = between(*_PLAN["teacher_think_s"])

    def on_start(self) -> None:
        me = random.choice(_PLAN["teachers"])  # noqa: S311
        self.me = me
        self.auth = {"Authorization": f"Bearer {me['token']}"}

    @task
    def watch_classes(self) -> None:
        route = _pick(_PLAN["teacher_routes"])
        class_id = random.choice(self.me["classes"])  # noqa: S311
        values = {"class_id": class_id, "teacher_id": self.me["id"],
                  "student_id": random.choice(_PLAN["classes"][class_id])}  # noqa: S311  # fmt: skip
        self.client.get(_fill(route["url"], values), name=route["name"], headers=self.auth)
