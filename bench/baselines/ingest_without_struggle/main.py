"""Baseline for bench/struggle_cost.py: the ingest function with struggle detection off.

Target `ingest`. The same routes, state store, sinks, learner model and apply path as
`functions/ingest/main.py` (`mastery.entrypoints.http.ingest.create`), built the same way on the first
request; the one difference is `IngestDeps.struggle=None`: no evidence kept, no alerts derived,
stored or published. Served next to the real function, it is the "without detection" side of
the served comparison.
"""

import dataclasses

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from mastery.bootstrap import build_core, http_function, ingest_deps, open_sinks
from mastery.entrypoints.http.ingest import ingest_routes
from mastery.web import LazyFunction
from mastery.web.function import HttpFunction


async def _create() -> HttpFunction:
    core = build_core()
    dead_letters, alerts = await open_sinks(core.settings)
    deps = dataclasses.replace(ingest_deps(core, dead_letters, alerts), struggle=None)
    settings = core.settings
    routes = ingest_routes(deps, settings.app_api_token, settings.binding_max_record_bytes)
    return http_function("ingest", routes, core)


function = LazyFunction(_create)


@functions_framework.aio.http
async def ingest(request: Request) -> Response:
    return await function(request)
