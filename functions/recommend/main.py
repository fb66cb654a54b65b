"""The recommend function: functions-framework (ASGI mode) entry point, target `recommend`."""

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from mastery.bootstrap import http_app
from mastery.web import LazyFunction, asgi_http

function = LazyFunction(partial(http_app, "recommend"))


@asgi_http
async def recommend(request: Request) -> Response:
    return await function(request)
