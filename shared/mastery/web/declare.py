"""Declare a function's entry point as functions-framework's ASGI mode declares it.

`@asgi_http` on `async def <target>(request) -> Response` in `functions/<name>/main.py` is
functions-framework's `@functions_framework.aio.http` wherever functions-framework loads the
file: its CLI and its `create_asgi_app` import functions-framework before they load a source,
so the declaration is registered there and the CLI serves the function in ASGI mode, with or
without `--asgi`. `mastery.serve` loads the file without importing functions-framework, whose
package imports Flask, Werkzeug, Jinja2 and Click for its WSGI mode (about a third of a bare
hello's start-up, docs/BENCHMARKS.md), and serves the same function the same way itself.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["asgi_http"]

Handler = TypeVar("Handler", bound=Callable[[Request], Awaitable[Response]])


def asgi_http(handler: Handler) -> Handler:
    """`functions_framework.aio.http(handler)` when functions-framework is loading the file,
    else `handler` itself (`mastery.serve` serves it)."""
    if "functions_framework" not in sys.modules:
        return handler
    from functions_framework.aio import http

    return http(handler)  # type: ignore[return-value]  # its wrapper only awaits `handler`
