"""The ingest function: functions-framework (ASGI mode) entry point, target `ingest`."""

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from mastery.bootstrap import http_app
from mastery.web import LazyFunction, asgi_http

function = LazyFunction(partial(http_app, "ingest"))


@asgi_http
async def ingest(request: Request) -> Response:
    return await function(request)
