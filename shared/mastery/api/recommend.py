"""The recommend function: so far only health, readiness, metrics and OpenAPI."""

from __future__ import annotations

from mastery.api.alerts import alert_routes
from mastery.api.memo import AnswerMemo
from mastery.api.recommendations import student_recommendation_routes
from mastery.bootstrap import Core, build_core, http_function
from mastery.http.function import HttpFunction


async def create(core: Core | None = None) -> HttpFunction:
    """The recommend function (built on its first request by functions/recommend/main.py)."""
    core = core or build_core()
    memo = AnswerMemo()  # one memo of record versions for both route sets
    return http_function(
        "recommend",
        [*student_recommendation_routes(core, memo), *alert_routes(core, memo=memo)],
        core,
    )
