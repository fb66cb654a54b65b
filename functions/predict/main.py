"""The predict function: functions-framework (ASGI mode) entry point, target `predict`."""

from functools import partial

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from mastery.bootstrap import http_app
from mastery.web import LazyFunction

function = LazyFunction(partial(http_app, "predict"))


@functions_framework.aio.http
async def predict(request: Request) -> Response:
    return await function(request)
