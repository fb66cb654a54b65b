"""The predict function: functions-framework (ASGI mode) entry point, target `predict`."""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from mastery.entrypoints.http import predict as api
from mastery.web import LazyFunction

function = LazyFunction(api.create)


@functions_framework.aio.http
async def predict(request: Request) -> Response:
    return await function(request)
