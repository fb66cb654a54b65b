"""The recommend function: functions-framework (ASGI mode) entry point, target `recommend`."""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from mastery.entrypoints.http import recommend as api
from mastery.web import LazyFunction

function = LazyFunction(api.create)


@functions_framework.aio.http
async def recommend(request: Request) -> Response:
    return await function(request)
