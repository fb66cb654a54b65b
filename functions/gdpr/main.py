"""The gdpr function: functions-framework (ASGI mode) entry point, target `gdpr`."""

from functools import partial

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from mastery.bootstrap import http_app
from mastery.web import LazyFunction

function = LazyFunction(partial(http_app, "gdpr"))


@functions_framework.aio.http
async def gdpr(request: Request) -> Response:
    return await function(request)
