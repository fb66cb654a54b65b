"""The ingest function's gRPC side (`INGEST_MODE=grpc`): Dapr's AppCallback for `app-protocol: grpc`.

daprd calls `ListInputBindings` (we name `learning-events`), then `OnBindingEvent(name, data,
metadata)` per record, with the same `__key`/`__topic`/`__partition`/`__offset`/`__timestamp`
metadata the HTTP route gets as headers. Same semantics as the HTTP route, through the same
`handle_record`: poison is dead-lettered and the call succeeds; a transient fault raises, which
the AppCallback server turns into a gRPC error, so the binding retries the record.

`dapr.ext.grpc.App` runs a synchronous grpc server on a thread pool, while our adapters are
asyncio: every callback hands its work to one event loop running in a background thread. That
loop also serves /healthz, /readyz and /metrics on `HEALTH_PORT` (`mastery.entrypoints.ops_server`),
and the same readiness answers daprd's gRPC app health check.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from dapr.clients.grpc._request import BindingRequest
from dapr.ext.grpc import App

from mastery.entrypoints.dapr_delivery import API_TOKEN_HEADER, api_token_accepted, binding_metadata
from mastery.entrypoints.ops_server import OpsServer
from mastery.errors import MasteryError
from mastery.services.ingest import IngestDeps, KafkaMetadata, handle_record
from mastery.tracing import TRACEPARENT, TRACESTATE, traced

log = logging.getLogger(__name__)
BINDING_NAME = "learning-events"
T = TypeVar("T")


class InvalidApiTokenError(MasteryError):
    """daprd's `dapr-api-token` is missing or is not `APP_API_TOKEN`."""


class NotReadyError(MasteryError):
    """A readiness check failed (daprd's app health check then pauses the binding)."""


class LoopThread:
    """An asyncio event loop in a daemon thread; `run` executes a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """The coroutine's result (or exception), from the calling thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def binding_app(deps: IngestDeps, loop: LoopThread, api_token: str | None) -> App:
    """The AppCallback server with the `learning-events` binding registered."""
    app = App()

    def on_event(request: BindingRequest) -> None:
        # `metadata` here is the gRPC call's metadata (name -> list of values).
        sent = (request.metadata.get(API_TOKEN_HEADER) or [""])[0]
        if not api_token_accepted(str(sent), api_token):
            raise InvalidApiTokenError("missing or wrong dapr-api-token")
        meta = binding_metadata(request.binding_metadata)
        traceparent = _first(request.metadata, TRACEPARENT)  # daprd's span, when it traces
        if traceparent is not None:
            meta = replace(
                meta, traceparent=traceparent, tracestate=_first(request.metadata, TRACESTATE)
            )
        loop.run(deliver(request.data, meta))

    async def deliver(data: bytes, meta: KafkaMetadata) -> None:
        # Bound here, on the loop's thread: logs and records sent carry the delivery's trace.
        with traced("ingest OnBindingEvent", meta.traceparent, meta.tracestate):
            await handle_record(data, meta, deps)

    app.binding(BINDING_NAME)(on_event)
    return app


def _first(metadata: Mapping[str, Sequence[bytes | str]], name: str) -> str | None:
    values = metadata.get(name)
    if not values:
        return None
    value = values[0]
    return value.decode("latin-1") if isinstance(value, bytes) else value


class GrpcApp:
    """The gRPC mode assembled (`mastery.bootstrap.grpc_app`): `serve()` until SIGTERM."""

    def __init__(
        self,
        app: App,
        loop: LoopThread,
        ops: OpsServer,
        readiness: Callable[[], Coroutine[Any, Any, dict[str, bool]]],
        port: int,
        close: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self._app = app
        self._loop = loop
        self._ops = ops
        self._readiness = readiness
        self._port = port
        self._close = close

    def serve(self) -> None:
        """Serve on `port` until SIGTERM/SIGINT; then close every adapter (`close`) and the loop."""
        loop = self._loop

        def health_check() -> None:
            if not all(loop.run(self._readiness()).values()):
                raise NotReadyError("not ready")

        self._app.register_health_check(health_check)  # type: ignore[no-untyped-call]
        try:
            loop.run(self._ops.start())
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self._app.stop())
            log.info("AppCallback server on port %d, binding %s", self._port, BINDING_NAME)
            try:
                self._app.run(self._port)
            finally:
                loop.run(self._ops.stop())
        finally:
            loop.run(self._close())
            loop.close()
