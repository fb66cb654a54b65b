"""Baseline for bench/struggle_cost.py: the ingest function with struggle detection off.

Target `ingest`. The same routes, state store, sinks, learner model and apply path as
`functions/ingest/main.py` (`mastery.bootstrap.http_app("ingest")`), built the same way on the first
request; the one difference is `IngestDeps.struggle=None`: no evidence kept, no alerts derived,
stored or published. Served next to the real function, it is the "without detection" side of
the served comparison.
"""

import dataclasses

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from mastery.bootstrap import HttpApp, http_function, ingest_deps, open_core
from mastery.entrypoints.http.ingest import ingest_routes
from mastery.web import LazyFunction


async def _create() -> HttpApp:
    core = await open_core()
    deps = dataclasses.replace(ingest_deps(core), struggle=None)
    settings = core.settings
    routes = ingest_routes(deps, settings.app_api_token, settings.binding_max_record_bytes)
    return HttpApp(http_function("ingest", routes, core), core)


function = LazyFunction(_create)


@functions_framework.aio.http
async def ingest(request: Request) -> Response:
    return await function(request)
