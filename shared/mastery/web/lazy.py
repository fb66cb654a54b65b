"""Build an HttpFunction at start-up (`mastery.serve`), or else on its first request."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import NoReturn, Protocol

from starlette.requests import Request
from starlette.responses import Response

from mastery.config import ConfigError
from mastery.observability import reset_correlation_id, set_correlation_id
from mastery.web.headers import correlation_id_from, secure
from mastery.web.problems import ProblemError, problem_response

__all__ = ["Handler", "LazyFunction"]


class Handler(Protocol):
    """What serves a function's requests: an `HttpFunction`, or the agents function."""

    async def __call__(self, request: Request) -> Response: ...

    async def warm_up(self) -> None: ...

    async def aclose(self) -> None: ...


_logger = logging.getLogger(__name__)
# gunicorn's "App failed to load" code: its master stops instead of restarting the worker.
EXIT_INVALID_CONFIGURATION = 4


class LazyFunction:
    """Calls `factory` once and serves every request with its result.

    Construct it at module level in `functions/<name>/main.py` as `function` (doing so performs
    no I/O). `mastery.serve` awaits `prepare()` before binding the port, and `aclose()` once the
    last request has been answered; functions-framework's
    own CLI has no start-up hook, so there the first request builds it. If the factory fails,
    the request gets a 503 problem and the next request tries again, except for
    an invalid configuration, which no retry can mend: the process logs it and exits non-zero,
    so the orchestrator shows a crash instead of a pod answering 503 for ever.
    """

    def __init__(self, factory: Callable[[], Awaitable[Handler]]) -> None:
        self._factory = factory
        self._function: Handler | None = None
        self._lock = asyncio.Lock()

    async def prepare(self) -> None:
        """Build the function and open its state-store connection now, not on a request.

        An invalid configuration exits as on a request; any other failure is logged and left
        for the first request to retry (and answer 503).
        """
        async with self._lock:
            if self._function is None:
                try:
                    self._function = await self._factory()
                except ConfigError as exc:
                    _exit_invalid(exc)
                except Exception:
                    _logger.exception("could not build the function at start-up")
                    return
        await self._function.warm_up()

    async def aclose(self) -> None:
        """Close the function, if it was built (`mastery.serve`, on shutdown)."""
        async with self._lock:
            function, self._function = self._function, None
        if function is not None:
            await function.aclose()

    async def __call__(self, request: Request) -> Response:
        function = self._function
        if function is None:
            async with self._lock:
                if self._function is None:
                    return await self._build(request)
                function = self._function
        return await function(request)

    async def _build(self, request: Request) -> Response:
        correlation_id = correlation_id_from(dict(request.scope["headers"]))
        token = set_correlation_id(correlation_id)
        try:
            self._function = function = await self._factory()
        except ConfigError as exc:
            _exit_invalid(exc)
        except Exception:
            _logger.exception("could not build the function")
            problem = ProblemError(
                503,
                "Service unavailable",
                "The function is starting; retry later.",
                headers={"Retry-After": "5"},
                problem_type="starting",
            )
            response = problem_response(problem, request.scope["path"])
            return secure(response, correlation_id, authenticated=True)
        finally:
            reset_correlation_id(token)
        return await function(request)


def _exit_invalid(exc: ConfigError) -> NoReturn:
    _logger.critical("invalid configuration, exiting: %s", exc)
    logging.shutdown()
    os._exit(EXIT_INVALID_CONFIGURATION)
