"""The demo class in numbers, read back through the engine's own routes (the run banner).

Students by overall level, practised topics by level, open struggle alerts by trigger and by
group of students: what a teacher would check first to see whether the class looks real.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import get_args

import httpx

from mastery.domain.alerts import Trigger
from mastery.domain.mastery import LEVEL_FLOORS, level_for
from mastery.local.demo import student_groups
from mastery.web.auth import mint_token

__all__ = ["ClassSummary", "demo_class_text", "read_class_summary"]

TRIGGERS: tuple[str, ...] = get_args(Trigger)


@dataclass(frozen=True)
class ClassSummary:
    class_id: str
    students: Counter[str]
    """Students per overall level."""
    topics: Counter[str]
    """Practised topics of all the students, per level."""
    alerts: Counter[str]
    """Open struggle alerts per trigger."""
    alerts_by_group: Counter[str]
    """Open struggle alerts per group of students."""

    def lines(self) -> list[str]:
        """The summary as the banner prints it."""

        def counts(counter: Counter[str], keys: tuple[str, ...]) -> str:
            return ", ".join(f"{key} {counter[key]}" for key in keys)

        levels = tuple(LEVEL_FLOORS)
        groups = tuple(self.alerts_by_group)
        return [
            f"Class {self.class_id}: {sum(self.students.values())} students, "
            f"{sum(self.alerts.values())} open struggle alerts.",
            f"  students by overall level:  {counts(self.students, levels)}",
            f"  practised topics by level:  {counts(self.topics, levels)}",
            f"  open alerts by trigger:     {counts(self.alerts, TRIGGERS)}",
            f"  open alerts by group:       {counts(self.alerts_by_group, groups)}",
        ]


async def read_class_summary(
    query: httpx.AsyncClient, recommend: httpx.AsyncClient, class_id: str,
    headers: Mapping[str, str], groups: Mapping[str, str],
) -> ClassSummary:  # fmt: skip
    """Read the class view and every open alert of `class_id` (`groups`: student -> group)."""
    view = await query.get(f"/v1/classes/{class_id}/mastery", headers=headers)
    view.raise_for_status()
    rows = view.json()["students"]
    alerts: list[dict[str, str]] = []
    cursor: str | None = None
    while True:
        params = {"status": "open", "limit": "200"} | ({"cursor": cursor} if cursor else {})
        page = await recommend.get(f"/v1/classes/{class_id}/alerts", params=params, headers=headers)
        page.raise_for_status()
        alerts += page.json()["alerts"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    by_group: Counter[str] = Counter({group: 0 for group in dict.fromkeys(groups.values())})
    by_group.update(groups.get(alert["student_id"], "other") for alert in alerts)
    return ClassSummary(
        class_id=class_id,
        students=Counter(row["level"] for row in rows),
        topics=Counter(
            level_for(score)
            for row in rows
            for score in row["topics"].values()
            if score is not None
        ),
        alerts=Counter(alert["trigger"] for alert in alerts),
        alerts_by_group=by_group,
    )


async def demo_class_text(
    query_url: str, recommend_url: str, secret: str, class_id: str, students: int
) -> str:
    """The banner's lines about the demo class, read as one of its teachers."""
    token = mint_token(secret, "demo-summary", "teacher", (class_id,), ttl=timedelta(minutes=5))
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=query_url, timeout=30.0) as query,
        httpx.AsyncClient(base_url=recommend_url, timeout=30.0) as recommend,
    ):
        summary = await read_class_summary(
            query, recommend, class_id, headers, student_groups(students)
        )
    return "\n".join(summary.lines())
