"""The query function: functions-framework (ASGI mode) entry point, target `query`."""

from functools import partial

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from mastery.bootstrap import http_app
from mastery.web import LazyFunction

function = LazyFunction(partial(http_app, "query"))


@functions_framework.aio.http
async def query(request: Request) -> Response:
    return await function(request)
