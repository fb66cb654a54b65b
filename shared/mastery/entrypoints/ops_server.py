"""/healthz, /readyz and /metrics for the ingest modes functions-framework does not serve.

In `INGEST_MODE=kafka` (native consumer) and `INGEST_MODE=grpc` (AppCallback server) nothing
answers HTTP, yet the pod needs liveness and readiness probes and Prometheus needs /metrics.
This serves exactly the operational routes every HTTP function has (the same `HttpFunction`,
no other route) with uvicorn, inside the process's own event loop, on `HEALTH_PORT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.requests import Request

from mastery.adapters.breaker import CircuitBreaker
from mastery.web.function import HttpFunction

if TYPE_CHECKING:
    from mastery.adapters.dapr import Sidecar
    from mastery.services.ingest import IngestDeps

log = logging.getLogger(__name__)
START_TIMEOUT_S = 10.0
ANY_HOST = "0.0.0.0"  # noqa: S104 - the kubelet's probes and Prometheus reach the pod's IP


def breakers_closed(*dependencies: Any) -> dict[str, bool]:
    """Readiness checks: each guarded dependency's breaker is not open (by dependency name)."""
    breakers = [getattr(d, "breaker", None) for d in dependencies]
    return {b.dependency: not b.is_open for b in breakers if isinstance(b, CircuitBreaker)}


async def ingest_readiness(deps: IngestDeps, sidecar: Sidecar | None = None) -> dict[str, bool]:
    """Every ingest mode's readiness: the state store answers, no sink's breaker is open, and
    the Dapr sidecar, if the adapters use one, has answered."""
    checks = {
        "state_store": await deps.store.ping(),
        **breakers_closed(deps.dead_letters, deps.alerts),
    }
    if sidecar is not None:
        checks["sidecar"] = await sidecar.ready()
    return checks


class OpsServer:
    """`function`'s operational routes on `port`, started and stopped with the consumer or the
    gRPC server (`mastery.bootstrap.ops_server` builds it)."""

    def __init__(self, function: HttpFunction, port: int, host: str = ANY_HOST) -> None:
        self._function = function
        config = uvicorn.Config(
            self._asgi, host=host, port=port, lifespan="off", interface="asgi3", access_log=False,
            log_level="warning", log_config=None,
        )  # fmt: skip
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        response = await self._function(Request(scope, receive))
        await response(scope, receive, send)

    async def start(self) -> None:
        """Listen (bounded wait); raises if the port cannot be bound."""
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(START_TIMEOUT_S):
            while not self._server.started:
                if self._task.done():
                    self._task.result()  # uvicorn exits (SystemExit) when it cannot bind
                    raise RuntimeError("the ops server stopped while starting")
                await asyncio.sleep(0.01)
        log.info("health and metrics on port %d", self._server.config.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            self._task = None


class _QuietServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: the consumer's own handlers stop it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
