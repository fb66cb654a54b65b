"""The recommend function: so far only health, readiness, metrics and OpenAPI."""

from __future__ import annotations

from mastery.entrypoints.core import Core, http_function
from mastery.entrypoints.http.alerts import alert_routes
from mastery.entrypoints.http.memo import AnswerMemo
from mastery.entrypoints.http.recommendations import student_recommendation_routes
from mastery.web.function import HttpFunction


async def create(core: Core) -> HttpFunction:
    """The recommend function, on `core` (`mastery.bootstrap.http_app`)."""
    memo = AnswerMemo(whole_records=True)  # one memo of record versions for both route sets
    return http_function(
        "recommend",
        [*student_recommendation_routes(core, memo), *alert_routes(core, memo=memo)],
        core,
    )
