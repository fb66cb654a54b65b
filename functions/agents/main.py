"""The agents function (MCP tools): functions-framework (ASGI mode) entry point, target `agents`."""

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from mastery.bootstrap import http_app
from mastery.web import LazyFunction, asgi_http

function = LazyFunction(partial(http_app, "agents"))


@asgi_http
async def agents(request: Request) -> Response:
    return await function(request)
