"""A student's recommendations: the recommend function's student-facing route."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mastery.domain.mastery import student_mastery
from mastery.domain.recommend import Kind, Prepared, prepare
from mastery.entrypoints.core import Core
from mastery.entrypoints.http.memo import AnswerMemo, StudentVersion
from mastery.entrypoints.http.route_helpers import readable_version
from mastery.web.routing import Call, Route

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
    """How far the component is below its aim (component gaps and streaks)."""


class RecommendationsView(BaseModel):
    student_id: str
    as_of: date
    total: int
    """Recommendations before `limit` cut the list."""
    recommendations: list[RecommendationView]


def student_recommendation_routes(core: Core, memo: AnswerMemo | None = None) -> list[Route]:
    """`GET /v1/students/{student_id}/recommendations`, bound to the core.

    The recommendations of a record version and day are memoised without the time they depend
    on (`mastery.domain.recommend.Prepared`: strings and numbers, no part of the parsed record,
    which would keep its evidence alive in the memo); the time is applied per request.
    """
    memo = memo or AnswerMemo(whole_records=True)

    def prepared(version: StudentVersion, today: date) -> Prepared:
        record = version.record()
        mastery = student_mastery(record, core.curriculum, today, core.rules)
        return prepare(mastery, record.alerts, core.curriculum)

    async def get_recommendations(call: Call) -> RecommendationsView:
        version = await readable_version(call, core, memo)
        limit = call.query_as(RecommendationsQuery).limit
        clock = core.clock()
        today = version.local_day(clock)
        found = version.answer(("recommend", today), lambda: prepared(version, today)).at(
            int(clock.timestamp())
        )
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
            student_id=version.student_id, as_of=today, total=len(found), recommendations=views
        )

    return [
        Route("GET", "/v1/students/{student_id}/recommendations", get_recommendations,
              summary="A student's next actions, ordered and explained",
              query_params=RecommendationsQuery, response_model=RecommendationsView,
              tags=("recommend",)),
    ]  # fmt: skip
