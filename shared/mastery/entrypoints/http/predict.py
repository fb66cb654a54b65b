"""The predict function: per-topic and overall score forecasts, with the learner model's odds."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from mastery.domain.knowledge import use_model
from mastery.domain.outlook import student_outlook
from mastery.entrypoints.core import Core, http_function
from mastery.entrypoints.http.forecast_views import (
    ForecastResponse,
    PreparedForecast,
    prepare_forecast,
)
from mastery.entrypoints.http.memo import AnswerMemo
from mastery.entrypoints.http.route_helpers import readable_version
from mastery.web.function import HttpFunction
from mastery.web.routing import Call, Route


class ForecastQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    horizon_days: Annotated[int, Field(ge=1, le=30)] = 7


def predict_routes(core: Core, memo: AnswerMemo | None = None) -> list[Route]:
    """The routes of the predict function, bound to its core (answers memoised per version)."""
    memo = memo or AnswerMemo(whole_records=True)

    async def get_forecast(call: Call) -> Response:
        version = await readable_version(call, core, memo)
        horizon = call.query_as(ForecastQuery).horizon_days
        now = core.clock()
        today = version.local_day(now)
        model = core.learner.for_student(version.student_id)  # the `learner-model` flag

        def prepared() -> bytes | PreparedForecast:
            # The outlook (31 topic fits) is a function of the record version, the local day
            # and the horizon; the learner model's odds of the time too, unless it is timeless.
            record = version.record()
            use_model(record, model)  # the student moved to another model since their last event
            outlook = student_outlook(record, core.curriculum, today, core.rules, horizon,
                                      core.settings.forecast_stale_after_days)  # fmt: skip
            forecast = prepare_forecast(record, outlook, model)
            return forecast.body(model, now) if model.timeless else forecast

        answer = version.answer(("forecast", horizon, today, model.fingerprint), prepared)
        body = answer if isinstance(answer, bytes) else answer.body(model, now)
        return Response(body, media_type="application/json")

    return [
        Route("GET", "/v1/students/{student_id}/forecast", get_forecast,
              summary="Score forecast per topic and overall, with P(next correct) and P(mastered)",
              query_params=ForecastQuery, response_model=ForecastResponse, tags=("predict",)),
    ]  # fmt: skip


async def create(core: Core) -> HttpFunction:
    """The predict function, on `core` (`mastery.bootstrap.http_app`)."""
    return http_function("predict", predict_routes(core), core)
