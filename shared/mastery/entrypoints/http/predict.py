"""The predict function: per-topic and overall score forecasts, with the learner model's odds."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from mastery.domain.knowledge import use_model
from mastery.domain.outlook import student_outlook
from mastery.entrypoints.core import Core, http_function
from mastery.entrypoints.http.forecast_views import ForecastResponse, forecast_response
from mastery.entrypoints.http.memo import AnswerMemo
from mastery.entrypoints.http.route_helpers import readable_version
from mastery.web.function import HttpFunction
from mastery.web.routing import Call, Route


class ForecastQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    horizon_days: Annotated[int, Field(ge=1, le=30)] = 7


def predict_routes(core: Core, memo: AnswerMemo | None = None) -> list[Route]:
    """The routes of the predict function, bound to its core (outlooks memoised per version)."""
    memo = memo or AnswerMemo()

    async def get_forecast(call: Call) -> dict[str, Any]:
        version = await readable_version(call, core, memo)
        horizon = call.query_as(ForecastQuery).horizon_days
        now = core.clock()
        today = version.local_day(now)
        # The outlook (31 topic fits, ~7 ms) is a function of the record version, the local day
        # and the horizon; the learner model's odds depend on `now`, so they are not memoised.
        outlook = version.answer(("outlook", horizon, today), lambda: student_outlook(
            version.record(), core.curriculum, today, core.rules, horizon,
            core.settings.forecast_stale_after_days))  # fmt: skip
        model = core.learner.for_student(version.student_id)  # the `learner-model` flag
        record = version.record()  # parsed for this request: replaying it changes no memo
        use_model(record, model)  # the student moved to another model since their last event
        return forecast_response(record, outlook, model, now)

    return [
        Route("GET", "/v1/students/{student_id}/forecast", get_forecast,
              summary="Score forecast per topic and overall, with P(next correct) and P(mastered)",
              query_params=ForecastQuery, response_model=ForecastResponse, tags=("predict",)),
    ]  # fmt: skip


async def create(core: Core) -> HttpFunction:
    """The predict function, on `core` (`mastery.bootstrap.http_app`)."""
    return http_function("predict", predict_routes(core), core)
