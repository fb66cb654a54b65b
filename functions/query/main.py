"""The query function: functions-framework (ASGI mode) entry point, target `query`."""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from mastery.entrypoints.http import query as api
from mastery.web import LazyFunction

function = LazyFunction(api.create)


@functions_framework.aio.http
async def query(request: Request) -> Response:
    return await function(request)
