"""The composition root: build each adapter once from the settings, and hand fakes to tests.

Each HTTP entry point wraps its factory in a `mastery.web.LazyFunction`: `mastery.serve` builds
it at start-up, before the port is bound (functions-framework's own CLI, which has no start-up
hook, on the first request); importing never connects anything.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mastery.config import ConfigError, Settings
from mastery.domain.curriculum import CURRICULUM, Curriculum
from mastery.domain.knowledge import LearnerModel
from mastery.domain.mastery import MasteryRules
from mastery.ports import Clock, EventSink, StateStore
from mastery.services.learner_rollout import LearnerModels
from mastery.web.auth import JwtVerifier
from mastery.web.function import HttpFunction
from mastery.web.routing import Route

if TYPE_CHECKING:
    from mastery.adapters.dapr import Sidecar
    from mastery.services.ingest import IngestDeps


def utc_now() -> datetime:
    """The system clock, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Core:
    """What every function shares: settings, the state store, the clock and the rules."""

    settings: Settings
    store: StateStore
    clock: Clock = utc_now
    curriculum: Curriculum = CURRICULUM
    rules: MasteryRules = field(default_factory=MasteryRules)
    learner: LearnerModels = field(default_factory=lambda: LearnerModels(LearnerModel()))
    """The learner model each student gets (the `learner-model` flag)."""
    sidecar: Sidecar | None = None
    """The Dapr sidecar, when the state store or the sinks go through it."""


def sidecar_for(settings: Settings) -> Sidecar | None:
    """One Dapr client holder for the process, if any adapter goes through the sidecar."""
    if "dapr" not in (settings.state_backend, settings.sink_backend):
        return None
    from mastery.adapters.dapr import Sidecar  # the Dapr SDK and grpc: only with a sidecar

    return Sidecar()


def open_store(
    settings: Settings, *, cached: bool = False, sidecar: Sidecar | None = None
) -> StateStore:
    """The state store the settings name, behind a circuit breaker (and the L1 read cache).

    No I/O until first use.
    """
    from mastery.adapters.breaker import CircuitBreaker
    from mastery.adapters.guarded import GuardedStateStore

    inner: StateStore
    if settings.state_backend == "dapr":
        from mastery.adapters.dapr import DaprStateStore
        from mastery.adapters.redis_logs import RedisLogs
        from mastery.adapters.redis_store import connect

        sidecar = sidecar or sidecar_for(settings)
        assert sidecar is not None  # state_backend is dapr
        # The state API cannot hold the audit trail's streams: the same Redis, directly.
        logs = RedisLogs(connect(settings.redis_url, cluster=settings.redis_cluster))
        inner = DaprStateStore(sidecar, settings.dapr_state_store, logs)
    else:
        if settings.otlp_endpoint is None:
            _keep_opentelemetry_out()
        from mastery.adapters.redis_store import RedisStateStore, connect

        inner = RedisStateStore(connect(settings.redis_url, cluster=settings.redis_cluster))
    store: StateStore = GuardedStateStore(inner, CircuitBreaker("state_store"))
    if cached:
        from mastery.adapters.cache import CachedStateStore

        store = CachedStateStore(store)
    return store


def _keep_opentelemetry_out() -> None:
    # redis-py 8 imports OpenTelemetry's metrics SDK whenever it is installed, for metrics of its
    # own that are off unless enabled (we never do): ~20-55 ms of every cold start. Without an
    # exporter configured, mark the package absent before redis is imported (redis then runs
    # without them, as it does where OpenTelemetry is not installed) — or, where the API is in
    # use already (the MCP SDK propagates trace context with it), just the SDK.
    blocked = "opentelemetry.sdk" if "opentelemetry" in sys.modules else "opentelemetry"
    sys.modules.setdefault(blocked, None)  # type: ignore[arg-type]


async def open_sinks(
    settings: Settings, sidecar: Sidecar | None = None
) -> tuple[EventSink, EventSink]:
    """The dead-letter and alert sinks: Dapr output bindings, or a native Kafka producer."""
    from mastery.adapters.breaker import CircuitBreaker
    from mastery.adapters.guarded import GuardedSink

    dead_letters: EventSink
    alerts: EventSink
    if settings.sink_backend == "dapr":
        from mastery.adapters.dapr import DaprBindingSink

        sidecar = sidecar or sidecar_for(settings)
        assert sidecar is not None  # sink_backend is dapr
        dead_letters = DaprBindingSink(sidecar, settings.dapr_dead_letter_binding)
        alerts = DaprBindingSink(sidecar, settings.dapr_alert_binding)
    else:
        dead_letters, alerts = await _kafka_sinks(settings)
    return (
        GuardedSink(dead_letters, CircuitBreaker("dead_letters")),
        GuardedSink(alerts, CircuitBreaker("alerts")),
    )


async def _kafka_sinks(settings: Settings) -> tuple[EventSink, EventSink]:
    from aiokafka import AIOKafkaProducer

    from mastery.adapters.kafka_sink import KafkaSink

    # acks=all without idempotence: Tansu does not implement InitProducerId; a retried send may
    # duplicate a dead letter or an alert, which their consumers dedupe by the record's content.
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.brokers, acks="all")
    await producer.start()
    return (
        KafkaSink(producer, settings.kafka.dead_letter_topic, owner=True),
        KafkaSink(producer, settings.kafka.alert_topic),
    )


def ingest_deps(core: Core, dead_letters: EventSink, alerts: EventSink | None) -> IngestDeps:
    """What applying events needs (every ingest mode): the core's store and rules, the sinks."""
    from mastery.entrypoints.envelopes import read_envelope
    from mastery.services.ingest import IngestDeps

    return IngestDeps(
        store=core.store,
        dead_letters=dead_letters,
        clock=core.clock,
        curriculum=core.curriculum,
        read_envelope=read_envelope,
        retention_days=core.settings.retention_days,
        late_window=timedelta(hours=core.settings.late_window_hours),
        learner=core.learner,
        alerts=alerts,
    )


def build_core(settings: Settings | None = None, *, cached: bool = False) -> Core:
    """The shared core from the settings (the environment by default), logging configured.

    `cached` puts the L1 read cache in front of the store (the read-only functions).
    """
    from mastery.observability import configure_logging

    settings = settings or Settings.from_env()
    configure_logging(settings.function or "mastery", settings.log_level)
    if settings.otlp_endpoint is not None:
        _export_spans(settings.function or "mastery")
    from mastery.learner_params import load_params

    candidate = settings.learner_candidate_params_path
    learner = LearnerModels(
        LearnerModel(load_params(settings.learner_params_path)),
        LearnerModel(load_params(candidate)) if candidate else None,
        settings.learner_candidate_percent,
    )
    sidecar = sidecar_for(settings)
    store = open_store(settings, cached=cached, sidecar=sidecar)
    return Core(settings=settings, store=store, learner=learner, sidecar=sidecar)


def _export_spans(service: str) -> None:
    try:  # OpenTelemetry's import cost is paid only here, when an endpoint is configured
        from mastery.telemetry import configure
    except ImportError as exc:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
            "(install the project's `tracing` extra)"
        ) from exc
    configure(service)


def http_function(name: str, routes: list[Route], core: Core) -> HttpFunction:
    """An HTTP function: its routes plus health, readiness, metrics and OpenAPI."""

    async def readiness() -> dict[str, bool]:
        checks = {"state_store": await core.store.ping()}
        if core.sidecar is not None:
            checks["sidecar"] = await core.sidecar.ready()
        return checks

    verifier = JwtVerifier(core.settings.jwt) if any(r.auth for r in routes) else None
    return HttpFunction(
        name, routes, settings=core.settings, readiness=readiness, verifier=verifier
    )
