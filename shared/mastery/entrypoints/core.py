"""What every entry point is built on: the `Core` of adapters and rules, and the helpers that
turn it into an HTTP function or ingest's dependencies.

The composition root (`mastery.bootstrap`) opens the adapters and builds the `Core`; tests
build one from fakes. Nothing here connects anything: a core given no JWT verifier builds one
from its settings when a function first has an authenticated route (the verifier fetches a
key set only when it verifies a token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from mastery.config import Settings
from mastery.domain.curriculum import CURRICULUM, Curriculum
from mastery.domain.knowledge import LearnerModel
from mastery.domain.mastery import MasteryRules
from mastery.ports import Clock, EventSink, StateStore
from mastery.services.learner_rollout import LearnerModels
from mastery.web.auth import JwtVerifier
from mastery.web.function import HttpFunction, Readiness
from mastery.web.routing import Route

if TYPE_CHECKING:
    from mastery.adapters.dapr import Sidecar
    from mastery.services.ingest import IngestDeps


def utc_now() -> datetime:
    """The system clock, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, eq=False, repr=False)
class Core:
    """Every adapter a function runs on, and the rules it applies."""

    settings: Settings
    store: StateStore
    dead_letters: EventSink
    alerts: EventSink
    clock: Clock = utc_now
    curriculum: Curriculum = CURRICULUM
    rules: MasteryRules = field(default_factory=MasteryRules)
    learner: LearnerModels = field(default_factory=lambda: LearnerModels(LearnerModel()))
    """The learner model each student gets (the `learner-model` flag)."""
    sidecar: Sidecar | None = None
    """The Dapr sidecar, when the state store or the sinks go through it."""
    verifier: JwtVerifier | None = None
    """Checks bearer tokens; None: one is built from `settings.jwt` when a route first needs it."""

    @cached_property
    def jwt_verifier(self) -> JwtVerifier:
        """The verifier every authenticated route of this core shares."""
        return self.verifier or JwtVerifier(self.settings.jwt)

    async def aclose(self) -> None:
        """Close every adapter: the sinks first (they flush), then the store and the sidecar."""
        await self.alerts.aclose()
        await self.dead_letters.aclose()
        await self.store.aclose()
        if self.sidecar is not None:
            await self.sidecar.aclose()


def ingest_deps(core: Core) -> IngestDeps:
    """What applying events needs (every ingest mode): the core's store, sinks and rules."""
    from mastery.entrypoints.envelopes import read_envelope
    from mastery.services.ingest import IngestDeps

    return IngestDeps(
        store=core.store,
        dead_letters=core.dead_letters,
        clock=core.clock,
        curriculum=core.curriculum,
        read_envelope=read_envelope,
        retention_days=core.settings.retention_days,
        late_window=timedelta(hours=core.settings.late_window_hours),
        learner=core.learner,
        alerts=core.alerts,
    )


def http_function(
    name: str, routes: list[Route], core: Core, readiness: Readiness | None = None
) -> HttpFunction:
    """An HTTP function: its routes plus health, readiness, metrics and OpenAPI.

    Ready, unless `readiness` says otherwise: the state store answers and the sidecar, if any.
    """

    async def store_ready() -> dict[str, bool]:
        checks = {"state_store": await core.store.ping()}
        if core.sidecar is not None:
            checks["sidecar"] = await core.sidecar.ready()
        return checks

    verifier = core.jwt_verifier if any(r.auth for r in routes) else None
    return HttpFunction(
        name, routes, settings=core.settings, readiness=readiness or store_ready, verifier=verifier
    )
