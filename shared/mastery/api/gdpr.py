"""The gdpr function: so far only health, readiness, metrics and OpenAPI."""

from __future__ import annotations

from mastery.bootstrap import Core, build_core, http_function
from mastery.http.function import HttpFunction


async def create(core: Core | None = None) -> HttpFunction:
    """The gdpr function (built on its first request by functions/gdpr/main.py)."""
    core = core or build_core()
    return http_function("gdpr", [], core)
