"""The recommend function: functions-framework (ASGI mode) entry point, target `recommend`."""

from functools import partial

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from mastery.bootstrap import http_app
from mastery.web import LazyFunction

function = LazyFunction(partial(http_app, "recommend"))


@functions_framework.aio.http
async def recommend(request: Request) -> Response:
    return await function(request)
