"""The query function: functions-framework (ASGI mode) entry point, target `query`."""

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from mastery.bootstrap import http_app
from mastery.web import LazyFunction, asgi_http

function = LazyFunction(partial(http_app, "query"))


@asgi_http
async def query(request: Request) -> Response:
    return await function(request)
