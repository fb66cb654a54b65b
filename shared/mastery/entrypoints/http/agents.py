"""The agents function: the engine's reads as MCP tools (official `mcp` SDK, Streamable HTTP).

Each tool is a typed front for one route of query, predict or recommend, and answers by calling
that route in process with the agent's own bearer token: the same JWT checks, access rules
(an agent acting for a teacher sees what that teacher may see), audit entries, memoised views
and problem mapping as the HTTP API — no rule is implemented twice. A refused or invalid call
(the route's 4xx) is a tool error (`isError`), never a protocol or HTTP failure.

As an OAuth resource server (MCP authorization spec, RFC 9728): `/mcp` needs a bearer token,
a request without a valid one gets 401 with `WWW-Authenticate: Bearer ... resource_metadata=`
pointing at `/.well-known/oauth-protected-resource/mcp`, which names the authorization server.

Stateless Streamable HTTP with JSON answers: any instance serves any call (scale to zero, no
sticky sessions). `/healthz`, `/readyz` and `/metrics` are the shared HTTP layer's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import pydantic_core
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mastery.config import ConfigError
from mastery.entrypoints.core import Core, http_function
from mastery.entrypoints.http.alert_views import AlertPage
from mastery.entrypoints.http.alerts import alert_routes
from mastery.entrypoints.http.forecast_views import ForecastResponse
from mastery.entrypoints.http.memo import AnswerMemo
from mastery.entrypoints.http.predict import predict_routes
from mastery.entrypoints.http.query import query_routes
from mastery.entrypoints.http.recommendations import (
    RecommendationsView,
    student_recommendation_routes,
)
from mastery.entrypoints.http.views import HistoryView, MasteryView, TopicView
from mastery.observability import (
    current_correlation_id,
    reset_correlation_id,
    set_correlation_id,
)
from mastery.tracing import trace_headers, traced
from mastery.web.auth import JwtVerifier
from mastery.web.function import HttpFunction
from mastery.web.headers import correlation_id_from
from mastery.web.problems import ProblemError

__all__ = ["AgentsFunction", "create"]

MCP_PATH = "/mcp"
_WELL_KNOWN = "/.well-known/"

StudentId = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$", description="The student's id")
]
ClassId = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$", description="The class's id")
]
TopicId = Annotated[str, Field(description="A curriculum topic id, e.g. control_flow.for_loops")]


class JwtTokens(TokenVerifier):
    """The SDK's bearer check, done by the HTTP API's verifier (same keys, claims, leeway)."""

    def __init__(self, verifier: JwtVerifier) -> None:
        self._verifier = verifier

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            principal = await self._verifier.verify(token)
        except ProblemError:
            return None
        return AccessToken(
            token=token, client_id=principal.subject, subject=principal.subject,
            scopes=[principal.role],
        )  # fmt: skip


Read = Callable[[str, dict[str, Any]], Awaitable[bytes]]


def _reader(routes: HttpFunction) -> Read:
    """GET `path` from the read routes in process, as the agent (its token, trace, request id)."""

    async def read(path: str, query: dict[str, Any]) -> bytes:
        access = get_access_token()
        if access is None:  # /mcp is behind the SDK's RequireAuthMiddleware
            raise ToolError("Unauthorized: a bearer token is required.")
        headers = [(b"authorization", f"Bearer {access.token}".encode())]
        headers += [(b"x-request-id", current_correlation_id().encode())]
        headers += [(name.encode(), value.encode()) for name, value in trace_headers()]
        params = urlencode({k: v for k, v in query.items() if v is not None})
        scope: Scope = {
            "type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
            "query_string": params.encode(), "headers": headers, "scheme": "http",
            "server": ("agents", 80), "root_path": "",
        }  # fmt: skip
        answer = await routes(Request(scope))
        if answer.status_code != 200:
            problem = pydantic_core.from_json(bytes(answer.body))
            detail = problem.get("detail")
            raise ToolError(problem["title"] + (f": {detail}" if detail else ""))
        return bytes(answer.body)

    return read


def mcp_server(read: Read, auth: AuthSettings, verifier: JwtVerifier) -> MCPServer:
    """The MCP server and its tools, each a typed front for one read route."""
    server = MCPServer(
        "learnflow-mastery",
        instructions="Read-only mastery data of LearnFlow students: mastery per topic, daily "
        "history, forecasts with P(next correct) and P(mastered), recommended next actions, and "
        "a class's struggle alerts. Calls run with the caller's token and role.",
        token_verifier=JwtTokens(verifier),
        auth=auth,
    )
    read_only = {"readOnlyHint": True, "openWorldHint": False}

    @server.tool(annotations=read_only)  # type: ignore[arg-type]
    async def get_student_mastery(student_id: StudentId) -> MasteryView:
        """A student's mastery: every topic (score 0-100, level, components), module, overall."""
        body = await read(f"/v1/students/{student_id}/mastery", {})
        return MasteryView.model_validate_json(body)

    @server.tool(annotations=read_only)  # type: ignore[arg-type]
    async def get_topic_mastery(student_id: StudentId, topic: TopicId) -> TopicView:
        """A student's mastery of one topic, with its components and evidence counts."""
        body = await read(f"/v1/students/{student_id}/topics/{topic}", {})
        return TopicView.model_validate_json(body)

    @server.tool(annotations=read_only)  # type: ignore[arg-type]
    async def get_student_history(
        student_id: StudentId, days: Annotated[int, Field(ge=1, le=90)] = 30
    ) -> HistoryView:
        """A student's daily overall and per-topic scores over the last `days` days."""
        body = await read(f"/v1/students/{student_id}/history", {"days": days})
        return HistoryView.model_validate_json(body)

    @server.tool(annotations=read_only)  # type: ignore[arg-type]
    async def get_student_forecast(
        student_id: StudentId, horizon_days: Annotated[int, Field(ge=1, le=30)] = 7
    ) -> ForecastResponse:
        """Forecast per topic and overall (90% interval, trend, days to the next level, at
        risk) with the learner model's P(next correct) and P(mastered) per topic."""
        body = await read(f"/v1/students/{student_id}/forecast", {"horizon_days": horizon_days})
        return ForecastResponse.model_validate_json(body)

    @server.tool(annotations=read_only)  # type: ignore[arg-type]
    async def get_student_recommendations(
        student_id: StudentId, limit: Annotated[int, Field(ge=1, le=50)] = 10
    ) -> RecommendationsView:
        """A student's next actions, ordered and explained (struggle remediation first)."""
        body = await read(f"/v1/students/{student_id}/recommendations", {"limit": limit})
        return RecommendationsView.model_validate_json(body)

    @server.tool(annotations=read_only)  # type: ignore[arg-type]
    async def list_class_alerts(
        class_id: ClassId,
        status: Literal["open", "acknowledged", "all"] = "open",
        limit: Annotated[int, Field(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Field(max_length=200)] = None,
    ) -> AlertPage:
        """Struggle alerts of a class's students, newest first; `next_cursor` pages on."""
        query = {"status": status, "limit": limit, "cursor": cursor}
        body = await read(f"/v1/classes/{class_id}/alerts", query)
        return AlertPage.model_validate_json(body)

    return server


class _Asgi(Response):
    """Hands the request to an ASGI app (functions-framework runs what a function returns)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        super().__init__()
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Bound here: functions-framework runs the returned response after the function returns.
        headers: dict[bytes, bytes] = dict(scope["headers"])
        token = set_correlation_id(correlation_id_from(headers))
        traceparent, state = headers.get(b"traceparent"), headers.get(b"tracestate")
        try:
            with traced(
                f"agents {scope['method']} {MCP_PATH}",
                None if traceparent is None else traceparent.decode("latin-1"),
                None if state is None else state.decode("latin-1"),
            ):
                await self._app(scope, receive, send)
        finally:
            reset_correlation_id(token)


class AgentsFunction:
    """`/mcp` and its protected-resource metadata to the MCP app; `/healthz`, `/readyz`,
    `/metrics` and `/openapi.json` to the shared HTTP layer (`operations`)."""

    def __init__(self, app: Starlette, operations: HttpFunction) -> None:
        self._app = app
        self._operations = operations
        self._running: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Run the MCP app's lifespan (its session manager) until `aclose()`."""
        started = asyncio.Event()

        async def hold() -> None:
            async with self._app.router.lifespan_context(self._app):
                started.set()
                await self._stopping.wait()

        self._running = asyncio.create_task(hold())
        await started.wait()

    async def aclose(self) -> None:
        """End the MCP app's lifespan."""
        if self._running is not None:
            self._stopping.set()
            await self._running
            self._running = None

    async def warm_up(self) -> None:
        """Open the state store's connections before the first request (`mastery.serve`)."""
        await self._operations.warm_up()

    async def __call__(self, request: Request) -> Response:
        path: str = request.scope["path"]
        if path == MCP_PATH or path.startswith(_WELL_KNOWN):
            return _Asgi(self._app)
        return await self._operations(request)


def auth_settings(core: Core) -> AuthSettings:
    """Where this resource is (`MCP_RESOURCE_URL`) and which authorization server issues its
    tokens (`MCP_AUTHORIZATION_SERVER`, else `JWT_ISSUER`)."""
    settings = core.settings
    issuer = settings.mcp_authorization_server or settings.jwt.issuer
    if issuer is None:
        raise ConfigError("set MCP_AUTHORIZATION_SERVER (or JWT_ISSUER) for the agents function")
    resource = settings.mcp_resource_url or f"http://127.0.0.1:{settings.port}{MCP_PATH}"
    # Validated from strings: the SDK then keeps a path-less URL exactly as configured.
    return AuthSettings.model_validate({
        "issuer_url": issuer,
        "resource_server_url": resource,
        "validate_token_resource": False,  # JwtVerifier checks `aud` itself (JWT_AUDIENCE)
    })  # fmt: skip


async def create(core: Core) -> AgentsFunction:
    """The agents function, on `core` (`mastery.bootstrap.http_app`)."""
    memo = AnswerMemo()  # one memo of record versions for every tool
    routes = http_function(
        "agents",
        [
            *query_routes(core, memo),
            *predict_routes(core, memo),
            *student_recommendation_routes(core, memo),
            *alert_routes(core, memo=memo),
        ],
        core,
    )
    server = mcp_server(_reader(routes), auth_settings(core), core.jwt_verifier)
    # Every call carries a bearer token (no cookies), so DNS rebinding gains an attacker
    # nothing; the Host check would only refuse the cluster's own host names.
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    # The read routes above answer the tools in process only; served are the operations.
    function = AgentsFunction(app, http_function("agents", [], core))
    await function.start()
    return function
