"""The agents function (MCP tools): functions-framework (ASGI mode) entry point, target `agents`."""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from mastery.entrypoints.http import agents as api
from mastery.web import LazyFunction

_function = LazyFunction(api.create)


@functions_framework.aio.http
async def agents(request: Request) -> Response:
    return await _function(request)
