"""A functions-framework source file for in-process tests: it serves the handler handed to
`tests.asgi.asgi_app`, loaded through functions-framework's public `create_asgi_app`."""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from tests.asgi import take_pending

_handler = take_pending()


@functions_framework.aio.http
async def served(request: Request) -> Response:
    return await _handler(request)
