"""The ingest function's HTTP side: the Dapr Kafka input binding target (DESIGN §4).

daprd POSTs each record's raw value to `/learning-events` with the Kafka metadata in `__*`
headers. 200 is the only ack: poison is dead-lettered and acked; a transient fault answers
503 (via the problem mapping) so the binding retries the same record. The route never answers
413: its limit is the broker's record limit (`BINDING_MAX_RECORD_BYTES`), and a record over it
is dead-lettered as `too_large` and acked, so it cannot hold its partition.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from mastery.entrypoints.core import Core, http_function, ingest_deps
from mastery.entrypoints.dapr_delivery import API_TOKEN_HEADER, api_token_accepted, binding_metadata
from mastery.services.ingest import IngestDeps, handle_record, handle_too_large
from mastery.web.function import HttpFunction, read_body
from mastery.web.problems import ProblemError
from mastery.web.routing import Call, Route

BINDING_PATH = "/learning-events"


def ingest_routes(deps: IngestDeps, api_token: str | None, max_record_bytes: int) -> list[Route]:
    """The binding routes, checking `dapr-api-token` when `APP_API_TOKEN` is set."""

    def check_token(call: Call) -> None:
        sent = call.request.headers.get(API_TOKEN_HEADER, "")
        if not api_token_accepted(sent, api_token):
            raise ProblemError(401, "Unauthorized", "missing or wrong dapr-api-token")

    async def receive(call: Call) -> Response:
        check_token(call)
        meta = binding_metadata(call.request.headers)
        body, size = await read_body(call.request, max_record_bytes, drain=True)
        if size > max_record_bytes:
            outcome = await handle_too_large(body, size, meta, deps)
        else:
            outcome = await handle_record(body, meta, deps)
        return JSONResponse({"outcome": outcome.value})

    async def probe(call: Call) -> Response:
        check_token(call)
        return Response(status_code=200)

    return [
        Route("POST", BINDING_PATH, receive, auth=False, tags=("binding",), reads_body=False,
              problems=frozenset({401}), summary="Apply one Kafka record delivered by the Dapr input binding"),
        Route("OPTIONS", BINDING_PATH, probe, auth=False, tags=("binding",),
              problems=frozenset({401}), summary="Dapr's binding probe: 200 subscribes the app to the binding"),
    ]  # fmt: skip


async def create(core: Core) -> HttpFunction:
    """The ingest function in Dapr HTTP-binding mode, on `core` (`mastery.bootstrap.http_app`)."""
    deps = ingest_deps(core)
    settings = core.settings
    routes = ingest_routes(deps, settings.app_api_token, settings.binding_max_record_bytes)
    return http_function("ingest", routes, core)
