"""A student's recommendations: the recommend function's student-facing route."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mastery.api.query import readable_student, today_for
from mastery.bootstrap import Core
from mastery.domain.mastery import student_mastery
from mastery.domain.recommend import Kind, recommend
from mastery.http.routing import Call, Route

__all__ = ["RecommendationsView", "student_recommendation_routes"]


class RecommendationsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=50)] = 10


class RecommendationView(BaseModel):
    rank: int
    kind: Kind
    topic: str
    topic_name: str
    reason: str
    estimated_minutes: int
    alert_id: str | None
    """The struggle alert a remediation answers."""
    gap: float | None
    """How far the component is below its threshold (component gaps and streaks)."""


class RecommendationsView(BaseModel):
    student_id: str
    as_of: date
    total: int
    """Recommendations before `limit` cut the list."""
    recommendations: list[RecommendationView]


def student_recommendation_routes(core: Core) -> list[Route]:
    """`GET /v1/students/{student_id}/recommendations`, bound to the core."""

    async def get_recommendations(call: Call) -> RecommendationsView:
        record = await readable_student(call, core)
        limit = call.query_as(RecommendationsQuery).limit
        today = today_for(record, core)
        mastery = student_mastery(record, core.curriculum, today, core.rules)
        activity = {topic: e.last_activity for topic, e in record.topics.items()}
        now = int(core.clock().timestamp())
        found = recommend(mastery, record.alerts, activity, now, core.curriculum)
        views = [
            RecommendationView(
                rank=rank,
                kind=r.kind,
                topic=r.topic,
                topic_name=core.curriculum.topic(r.topic).name,
                reason=r.reason,
                estimated_minutes=r.estimated_minutes,
                alert_id=r.alert_id,
                gap=r.gap,
            )
            for rank, r in enumerate(found[:limit], start=1)
        ]
        return RecommendationsView(
            student_id=record.student_id, as_of=today, total=len(found), recommendations=views
        )

    return [
        Route("GET", "/v1/students/{student_id}/recommendations", get_recommendations,
              summary="A student's next actions, ordered and explained",
              query_params=RecommendationsQuery, response_model=RecommendationsView,
              tags=("recommend",)),
    ]  # fmt: skip
