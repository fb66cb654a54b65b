"""HttpFunction: routing, auth, limits, errors, logs and metrics in front of a function's routes."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from importlib import metadata
from time import perf_counter
from typing import Any
from urllib.parse import parse_qsl

import pydantic_core
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive

from mastery import metrics
from mastery.config import ConfigError, Settings
from mastery.observability import (
    HTTP_REQUEST_DURATION_SECONDS,
    HTTP_REQUESTS_TOTAL,
    reset_correlation_id,
    set_correlation_id,
)
from mastery.tracing import traced
from mastery.web.auth import JwtVerifier
from mastery.web.cors import CorsPolicy
from mastery.web.headers import correlation_id_from, secure
from mastery.web.openapi import OPERATIONS_TAG, build_openapi
from mastery.web.problems import ProblemError, problem_for, problem_response, validation_problem
from mastery.web.routing import Call, Route, RouteMatch, Router

__all__ = ["READINESS_TIMEOUT_SECONDS", "HttpFunction", "Readiness", "read_body"]

Readiness = Callable[[], Awaitable[dict[str, bool]]]
_UNMATCHED = "<unmatched>"
READINESS_TIMEOUT_SECONDS = 2.0
_JSON = "application/json"
_logger = logging.getLogger(__name__)
_access_logger = logging.getLogger("mastery.access")


class HttpFunction:
    """The ASGI-mode function body: `return await function(request)` from the entry point."""

    def __init__(
        self,
        name: str,
        routes: Sequence[Route],
        *,
        settings: Settings,
        readiness: Readiness,
        verifier: JwtVerifier | None,
    ) -> None:
        if verifier is None and any(route.auth for route in routes):
            raise ConfigError(f"{name} has authenticated routes but no JWT verifier")
        self.name = name
        self._readiness = readiness
        self._verifier = verifier
        self._max_body = settings.max_body_bytes
        self._metrics_authorization = (
            None if settings.metrics_token is None else f"Bearer {settings.metrics_token}".encode()
        )
        self._cors = CorsPolicy(settings.cors_allowed_origins)
        self._router = Router([*routes, *self._operational_routes()])
        self._openapi: bytes | None = None
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[str, Any] = {}

    def _operational_routes(self) -> list[Route]:
        ops = (OPERATIONS_TAG,)
        return [
            Route("GET", "/healthz", self._healthz, summary="Liveness", auth=False, tags=ops),
            Route("GET", "/readyz", self._readyz, summary="Readiness", auth=False, tags=ops),
            Route("GET", "/metrics", self._metrics, summary="Prometheus", auth=False, tags=ops),
            Route("GET", "/openapi.json", self._openapi_json, summary="API", auth=False, tags=ops),
        ]

    async def __call__(self, request: Request) -> Response:
        headers: dict[bytes, bytes] = dict(request.scope["headers"])
        correlation_id = correlation_id_from(headers)
        token = set_correlation_id(correlation_id)
        try:
            # The caller's trace continues here (`traceparent`): logs and records sent carry it.
            with traced(
                f"{self.name} {request.scope['method']}",
                _header(headers, b"traceparent"),
                _header(headers, b"tracestate"),
            ):
                return await self._answer(request, headers, correlation_id)
        finally:
            reset_correlation_id(token)

    async def _answer(
        self, request: Request, headers: dict[bytes, bytes], correlation_id: str
    ) -> Response:
        started = perf_counter()
        method: str = request.scope["method"]
        path: str = request.scope["path"]
        route, authenticated = _UNMATCHED, False
        try:
            try:
                preflight = self._cors.preflight(method, headers)
                if preflight is not None:
                    response, route = preflight, "<preflight>"
                else:
                    match = self._router.match(method, path)
                    route, authenticated = match.route.path_template, match.route.auth
                    response = await self._dispatch(request, match, headers, correlation_id)
            except Exception as exc:
                response = problem_response(problem_for(exc), path)
            self._cors.allow(response, headers)
            secure(response, correlation_id, authenticated=authenticated)
            self._observe(method, route, response.status_code, perf_counter() - started)
            return response
        except Exception:
            # Our own error path failed: functions-framework must still never see an exception.
            _logger.exception("error while answering an error")
            return secure(Response(status_code=500), correlation_id, authenticated=True)

    async def _dispatch(
        self, request: Request, match: RouteMatch, headers: dict[bytes, bytes], cid: str
    ) -> Response:
        route = match.route
        declared = _content_length(headers) if route.reads_body else None
        if declared is not None and declared > self._max_body:
            raise _too_large()
        principal = None
        if route.auth:
            assert self._verifier is not None  # checked in __init__
            authorization = headers.get(b"authorization")
            principal = await self._verifier.authenticate(
                None if authorization is None else authorization.decode("latin-1")
            )
        body = b""
        if route.reads_body and (declared or b"transfer-encoding" in headers):
            body, size = await read_body(request, self._max_body, drain=False)
            if size > self._max_body:
                raise _too_large()
            request = Request(request.scope, _replay(body, request.receive))
        query = None
        if route.query_params is not None:
            query = _validate_query(route.query_params, request, match.sequence_params)
        call = Call(request, principal, match.path_params, query, cid, body)
        result = await route.endpoint(call)
        if isinstance(result, Response):
            return result
        if isinstance(result, BaseModel):
            content = result.model_dump_json(by_alias=True).encode()
        else:
            content = pydantic_core.to_json(result)
        return Response(content, status_code=route.status_code, media_type=_JSON)

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = HTTP_REQUESTS_TOTAL.labels(self.name, route, method, str(status))
            self._counters[key] = counter
        counter.inc()
        histogram = self._histograms.get(route)
        if histogram is None:
            histogram = self._histograms[route] = HTTP_REQUEST_DURATION_SECONDS.labels(
                self.name, route
            )
        histogram.observe(seconds)
        if _access_logger.isEnabledFor(logging.INFO):
            # The route template, not the raw path: paths carry student ids (personal data).
            _access_logger.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "function": self.name,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )

    async def warm_up(self) -> None:
        """Run the readiness checks once, so their connections are open before a request."""
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
                await self._readiness()
        except Exception:
            _logger.warning("warm-up readiness check failed", exc_info=True)

    async def aclose(self) -> None:
        """Nothing of its own to close: its adapters belong to whoever assembled it."""

    async def _healthz(self, call: Call) -> dict[str, Any]:
        return {"status": "ok"}

    async def _readyz(self, call: Call) -> Response:
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
                checks = await self._readiness()
            ready = all(checks.values())
        except Exception:
            _logger.warning("readiness check failed", exc_info=True)
            checks, ready = {}, False
        body = pydantic_core.to_json({"ready": ready, "checks": checks})
        return Response(body, status_code=200 if ready else 503, media_type=_JSON)

    async def _metrics(self, call: Call) -> Response:
        expected = self._metrics_authorization
        if expected is not None:
            sent = call.request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(sent, expected):
                # The public route must not even show that the endpoint exists.
                raise ProblemError(404, "Not found", problem_type="not-found")
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    async def _openapi_json(self, call: Call) -> Response:
        if self._openapi is None:
            document = build_openapi(f"{self.name} function", _version(), self._router.routes)
            self._openapi = pydantic_core.to_json(document)
        return Response(self._openapi, media_type=_JSON)


async def read_body(request: Request, limit: int, *, drain: bool) -> tuple[bytes, int]:
    """The body (at most its first `limit` bytes) and how many bytes arrived.

    Content-Length can be absent (chunked) or wrong: what actually arrives is counted. Past the
    limit, reading stops, or with `drain` goes on to the end, dropping the bytes, to count them.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            if size < limit:
                chunks.append(chunk[: limit - size])
            size += len(chunk)
            if size > limit and not drain:
                break
    except ClientDisconnect:
        raise ProblemError(400, "Bad request", "The request body was cut short.") from None
    return b"".join(chunks), size


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


def _content_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise ProblemError(400, "Bad request", "Content-Length is not a number.")
    return int(raw)


def _too_large() -> ProblemError:
    return ProblemError(
        413, "Content too large", "The request body exceeds the limit.", problem_type="too-large"
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    # The endpoint reads the body we already buffered; later receives (disconnect) pass through.
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _validate_query(
    model: type[BaseModel], request: Request, sequences: frozenset[str]
) -> BaseModel:
    raw: bytes = request.scope["query_string"]
    if not raw:
        return _no_query(model)
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    data = {k: v if k in sequences or len(v) > 1 else v[0] for k, v in grouped.items()}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, "query") from None


@cache
def _no_query(model: type[BaseModel]) -> BaseModel:
    """The model of an empty query string, made once per model and shared: endpoints only read
    their query (most requests send none)."""
    try:
        return model.model_validate({})
    except ValidationError as exc:
        raise validation_problem(exc, "query") from None


def _version() -> str:
    try:
        return metadata.version("learnflow-mastery-engine")
    except metadata.PackageNotFoundError:
        return "0.0.0"
