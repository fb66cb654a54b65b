"""The composition root: the one place adapters are opened, and each way the engine runs assembled.

Every adapter — the state store, the dead-letter and alert sinks, the clock, the JWT verifier,
the Dapr sidecar — is built here from the settings (`open_core`), or passed in (tests pass fakes
to `Core` directly or as `open_core`'s overrides). On that core this module assembles:

- an HTTP function by name (`http_app`): what `functions/<name>/main.py` serves through a
  `mastery.web.LazyFunction` (`mastery.serve` builds it at start-up, before the port is bound,
  and closes it on shutdown; functions-framework's own CLI builds it on the first request);
- the ingest function's native Kafka consumer (`consumer_app`) and its gRPC AppCallback server
  (`grpc_app`), each with the ops server (`ops_server`: health, readiness, metrics).

Each assembled application closes the adapters it was built on when it closes (or stops).
Importing this module connects nothing.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from mastery.config import ConfigError, Settings
from mastery.domain.knowledge import LearnerModel
from mastery.entrypoints.core import Core, http_function, ingest_deps, utc_now
from mastery.errors import SinkUnavailableError
from mastery.ports import Clock, EventSink, StateStore
from mastery.services.learner_rollout import LearnerModels
from mastery.web.auth import JwtVerifier
from mastery.web.function import Readiness

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from mastery.adapters.dapr import Sidecar
    from mastery.entrypoints.grpc_binding import GrpcApp
    from mastery.entrypoints.kafka_consumer import ConsumerApp
    from mastery.entrypoints.ops_server import OpsServer
    from mastery.web.lazy import Handler


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
    settings: Settings, sidecar: Sidecar | None = None, *, lazy: bool = False
) -> tuple[EventSink, EventSink]:
    """The dead-letter and alert sinks: Dapr output bindings, or a native Kafka producer.

    `lazy`: each Kafka sink connects on its first publish (the HTTP functions, which publish
    only a poison record's dead letter or a struggle alert). Its breaker is outside: a broker
    that cannot be reached fails the publish, and counts, as one that stops answering does.
    """
    if settings.sink_backend == "dapr":
        from mastery.adapters.dapr import DaprBindingSink

        sidecar = sidecar or sidecar_for(settings)
        assert sidecar is not None  # sink_backend is dapr
        return (
            _guarded("dead_letters", DaprBindingSink(sidecar, settings.dapr_dead_letter_binding)),
            _guarded("alerts", DaprBindingSink(sidecar, settings.dapr_alert_binding)),
        )
    kafka = settings.kafka
    if lazy:
        from mastery.adapters.lazy_sink import LazySink

        return (
            _guarded(
                "dead_letters",
                LazySink(partial(_kafka_sink, kafka.brokers, kafka.dead_letter_topic)),
            ),
            _guarded("alerts", LazySink(partial(_kafka_sink, kafka.brokers, kafka.alert_topic))),
        )
    from mastery.adapters.kafka_sink import KafkaSink

    producer = await _kafka_producer(kafka.brokers)
    return (
        _guarded("dead_letters", KafkaSink(producer, kafka.dead_letter_topic, owner=True)),
        _guarded("alerts", KafkaSink(producer, kafka.alert_topic)),
    )


def _guarded(name: str, sink: EventSink) -> EventSink:
    from mastery.adapters.breaker import CircuitBreaker
    from mastery.adapters.guarded import GuardedSink

    return GuardedSink(sink, CircuitBreaker(name))


async def _kafka_producer(brokers: str) -> Any:
    from aiokafka import AIOKafkaProducer

    # acks=all without idempotence: Tansu does not implement InitProducerId; a retried send may
    # duplicate a dead letter or an alert, which their consumers dedupe by the record's content.
    producer = AIOKafkaProducer(bootstrap_servers=brokers, acks="all")
    try:
        await producer.start()
    except BaseException:
        await producer.stop()  # a producer that could not start still holds its client
        raise
    return producer


async def _kafka_sink(brokers: str, topic: str) -> EventSink:
    from aiokafka.errors import KafkaError

    from mastery.adapters.kafka_sink import KafkaSink

    try:
        producer = await _kafka_producer(brokers)
    except KafkaError as exc:  # as a publish the broker refuses: the breaker counts it
        raise SinkUnavailableError(f"topic {topic} unavailable: no broker at {brokers}") from exc
    return KafkaSink(producer, topic, owner=True)


async def open_core(
    settings: Settings | None = None,
    *,
    cached: bool = False,
    lazy_sinks: bool = False,
    store: StateStore | None = None,
    dead_letters: EventSink | None = None,
    alerts: EventSink | None = None,
    clock: Clock = utc_now,
    verifier: JwtVerifier | None = None,
) -> Core:
    """The core from the settings (the environment by default), logging configured.

    Each adapter passed in is used as it is; the others are opened here. `cached` puts the L1
    read cache in front of the store (the read-only functions); `lazy_sinks` connects the Kafka
    sinks on their first publish (the HTTP functions).
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
    store = store or open_store(settings, cached=cached, sidecar=sidecar)
    if dead_letters is None or alerts is None:
        opened = await open_sinks(settings, sidecar, lazy=lazy_sinks)
        dead_letters, alerts = dead_letters or opened[0], alerts or opened[1]
    return Core(
        settings=settings, store=store, dead_letters=dead_letters, alerts=alerts, clock=clock,
        learner=learner, sidecar=sidecar, verifier=verifier,
    )  # fmt: skip


def _export_spans(service: str) -> None:
    try:  # OpenTelemetry's import cost is paid only here, when an endpoint is configured
        from mastery.telemetry import configure
    except ImportError as exc:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
            "(install the project's `tracing` extra)"
        ) from exc
    configure(service)


class HttpFunctionKind(NamedTuple):
    """How the composition root assembles one HTTP function (`functions/<name>/main.py`)."""

    module: str
    """The entry point whose `create(core)` builds its routes."""
    cached: bool = False
    """Reads through the L1 cache (the read-only functions)."""


HTTP_FUNCTIONS = {
    "ingest": HttpFunctionKind("mastery.entrypoints.http.ingest"),
    "query": HttpFunctionKind("mastery.entrypoints.http.query", cached=True),
    "predict": HttpFunctionKind("mastery.entrypoints.http.predict", cached=True),
    "recommend": HttpFunctionKind("mastery.entrypoints.http.recommend"),
    "gdpr": HttpFunctionKind("mastery.entrypoints.http.gdpr"),
    "agents": HttpFunctionKind("mastery.entrypoints.http.agents", cached=True),
}


class HttpApp:
    """An assembled HTTP function: serves requests; `aclose()` closes its adapters too."""

    def __init__(self, function: Handler, core: Core) -> None:
        self._function = function
        self._core = core

    async def __call__(self, request: Request) -> Response:
        return await self._function(request)

    async def warm_up(self) -> None:
        await self._function.warm_up()

    async def aclose(self) -> None:
        await self._function.aclose()
        await self._core.aclose()


async def http_app(name: str, core: Core | None = None) -> HttpApp:
    """The HTTP function `name`, on `core` or else on adapters opened from the environment."""
    kind = HTTP_FUNCTIONS[name]
    # Imported first: how the store is opened depends on what it loaded (the MCP SDK loads
    # OpenTelemetry's API: see `_keep_opentelemetry_out`).
    module = importlib.import_module(kind.module)
    core = core or await open_core(cached=kind.cached, lazy_sinks=True)
    try:
        function = await module.create(core)
    except BaseException:
        await core.aclose()
        raise
    return HttpApp(function, core)


def ops_server(core: Core, readiness: Readiness) -> OpsServer:
    """/healthz, /readyz and /metrics on `HEALTH_PORT`, for the modes no HTTP function serves."""
    from mastery.entrypoints.ops_server import OpsServer

    function = http_function(core.settings.function or "ingest", [], core, readiness)
    return OpsServer(function, core.settings.ops_port)


async def consumer_app(settings: Settings, core: Core | None = None) -> ConsumerApp:
    """Ingest's native consumer (`INGEST_MODE=kafka`) with its ops server, ready to `run()`."""
    from aiokafka import AIOKafkaConsumer

    from mastery.entrypoints.kafka_consumer import BatchConsumer, ConsumerApp, group_timeouts

    core = core or await open_core(settings)
    kafka = settings.kafka
    consumer = AIOKafkaConsumer(
        kafka.topic,
        bootstrap_servers=kafka.brokers,
        group_id=kafka.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **group_timeouts(kafka.session_timeout_ms),
    )
    batches = BatchConsumer(consumer, ingest_deps(core), max_batch=kafka.max_batch)
    return ConsumerApp(consumer, batches, ops_server(core, batches.readiness), core.aclose)


def grpc_app(settings: Settings) -> GrpcApp:
    """Ingest's AppCallback server (`INGEST_MODE=grpc`) with its ops server, ready to `serve()`.

    The adapters are asyncio: they are opened on the event loop every callback runs on.
    """
    from mastery.entrypoints.grpc_binding import GrpcApp, LoopThread, binding_app
    from mastery.entrypoints.ops_server import ingest_readiness

    loop = LoopThread()
    try:
        core = loop.run(open_core(settings))
    except BaseException:
        loop.close()
        raise
    deps = ingest_deps(core)
    readiness = partial(ingest_readiness, deps, core.sidecar)
    return GrpcApp(
        binding_app(deps, loop, settings.app_api_token),
        loop,
        ops_server(core, readiness),
        readiness,
        settings.port,
        core.aclose,
    )


def _serve_http_ingest(settings: Settings) -> None:
    from mastery import serve

    os.environ["FUNCTION_TARGET"] = "ingest"  # functions/ingest/main.py: http_app("ingest")
    serve.main()


async def _consume(settings: Settings) -> None:
    await (await consumer_app(settings)).run()


INGEST_MODES: dict[str, Callable[[Settings], None]] = {
    "http": _serve_http_ingest,
    "kafka": lambda settings: asyncio.run(_consume(settings)),
    "grpc": lambda settings: grpc_app(settings).serve(),
}
"""How `mastery-ingest` runs each `INGEST_MODE`, until SIGTERM."""
