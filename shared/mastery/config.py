"""Settings of every function, read from the environment in one place (docs/CONTRACTS.md)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal, NamedTuple, get_args

StateBackend = Literal["redis", "dapr"]
SinkBackend = Literal["kafka", "dapr"]
IngestMode = Literal["http", "grpc", "kafka"]


class ConfigError(ValueError):
    """A setting is missing or has a value the engine cannot use."""


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _percent(value: str) -> float:
    share = float(value)
    if not 0.0 <= share <= 100.0:
        raise ConfigError(f"LEARNER_CANDIDATE_PERCENT must be within 0-100, not {value!r}")
    return share


def _hours(name: str, value: str) -> float:
    hours = float(value)
    if not 0.0 < hours < float("inf"):
        raise ConfigError(f"{name} must be a positive number of hours, not {value!r}")
    return hours


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _origin(name: str, value: str) -> str:
    # An origin exactly as a browser sends it: scheme, host, optional port; no path, no slash.
    if value and not _ORIGIN.fullmatch(value):
        raise ConfigError(f"{name} must be an origin like https://host:port, not {value!r}")
    return value


def _origins(value: str) -> tuple[str, ...]:
    return tuple(
        _origin("CORS_ALLOWED_ORIGINS", item.strip()) for item in value.split(",") if item.strip()
    )


class JwtSettings(NamedTuple):
    """How bearer tokens are verified."""

    algorithms: tuple[str, ...] = ("HS256",)
    secret: str | None = None
    public_key: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30
    jwks_refresh_seconds: float = 300.0
    """A JWKS key set older than this is fetched again before use: a removed key's bound."""
    jwks_min_fetch_interval_seconds: float = 1.0
    """Unknown `kid`s cause at most one JWKS fetch per this interval."""
    jwks_timeout_seconds: float = 5.0

    def __repr__(self) -> str:  # not its fields: secrets stay out of logs and tracebacks
        return object.__repr__(self)


class KafkaSettings(NamedTuple):
    """Where the learning events, dead letters and alerts live."""

    brokers: str = "127.0.0.1:9092"
    topic: str = "learning.events"
    dead_letter_topic: str = "learning.events.dlq"
    alert_topic: str = "struggle.alerts"
    consumer_group: str = "mastery-ingest"
    session_timeout_ms: int = 10_000
    """Consumer mode: how long a silent (crashed) member keeps its partitions."""
    max_batch: int = 2_000
    """Consumer mode: most records applied (and committed) at once."""


class Settings(NamedTuple):
    """Everything a function needs to build its adapters."""

    function: str = ""
    log_level: str = "INFO"
    state_backend: StateBackend = "redis"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False
    dapr_state_store: str = "mastery-state"
    sink_backend: SinkBackend = "kafka"
    dapr_dead_letter_binding: str = "dead-letters"
    dapr_alert_binding: str = "struggle-alerts"
    kafka: KafkaSettings = KafkaSettings()
    ingest_mode: IngestMode = "http"
    app_api_token: str | None = None
    port: int = 8080
    jwt: JwtSettings = JwtSettings()
    retention_days: int = 90
    audit_window_seconds: int = 600
    """Repeated reads by one caller through one route within this coalesce into one entry."""
    late_window_hours: float = 168
    """Ingest applies an event at most this far behind its student's newest one (and dedupes by
    id within it); later ones are dead-lettered as late (`mastery.domain.record`). Fractions
    are allowed (0.25 = 15 minutes: what lets a one-hour soak reach the window's bound)."""
    gdpr_self_erasure: bool = False
    max_body_bytes: int = 65536
    binding_max_record_bytes: int = 1_048_588
    """The Dapr binding route's body limit: the broker's record limit (Kafka's default
    `message.max.bytes`), not the public routes' `max_body_bytes`."""
    forecast_stale_after_days: int = 14
    """Predict: a topic whose newest evidence is older than this is `stale`, without a trend."""
    learner_params_path: str | None = None
    learner_candidate_params_path: str | None = None
    """A candidate learner model (params file) for a share of the students (flag `learner-model`)."""
    learner_candidate_percent: float = 0.0
    """The candidate's share of students, 0-100 (`mastery.services.learner_rollout`)."""
    """Learner-model params file (`python -m mastery.learning.fit`); None: built-in defaults."""
    cors_allowed_origins: tuple[str, ...] = ()
    """Browser origins that may call the function (the dashboard's, when it is elsewhere)."""
    dashboard_predict_url: str = ""
    """Where the dashboard calls predict ("": the dashboard's own origin)."""
    dashboard_recommend_url: str = ""
    """Where the dashboard calls recommend ("": the dashboard's own origin)."""
    mcp_resource_url: str | None = None
    """The agents function's public MCP endpoint URL (its OAuth protected-resource identifier)."""
    mcp_authorization_server: str | None = None
    """The authorization server that issues the agents' tokens (else `JWT_ISSUER`)."""
    otlp_endpoint: str | None = None
    """`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`): export spans there (OpenTelemetry)."""
    health_port: int | None = None
    """Ingest's /healthz, /readyz, /metrics port in the kafka and grpc modes (see `ops_port`)."""
    metrics_token: str | None = None
    """When set, /metrics answers only a request bearing it (the scraper); others get 404."""

    def __repr__(self) -> str:  # not its fields: secrets stay out of logs and tracebacks
        return object.__repr__(self)

    @property
    def ops_port(self) -> int:
        """`HEALTH_PORT`, else `PORT` in kafka mode (nothing else listens) and `PORT` + 1 in
        grpc mode (the AppCallback server has `PORT`)."""
        if self.health_port is not None:
            return self.health_port
        return self.port + 1 if self.ingest_mode == "grpc" else self.port

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `env` (the process environment by default)."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        defaults = cls()
        kafka_defaults = KafkaSettings()
        jwt_defaults = JwtSettings()
        try:
            return cls(
                function=get("FUNCTION_TARGET") or "",
                log_level=(get("LOG_LEVEL") or defaults.log_level).upper(),
                state_backend=_choice(  # type: ignore[arg-type]
                    "STATE_BACKEND", get("STATE_BACKEND") or "redis", ("redis", "dapr")
                ),
                redis_url=get("REDIS_URL") or defaults.redis_url,
                redis_cluster=_flag(get("REDIS_CLUSTER") or "false"),
                dapr_state_store=get("DAPR_STATE_STORE") or defaults.dapr_state_store,
                sink_backend=_choice(  # type: ignore[arg-type]
                    "SINK_BACKEND", get("SINK_BACKEND") or "kafka", ("kafka", "dapr")
                ),
                dapr_dead_letter_binding=get("DAPR_DEAD_LETTER_BINDING")
                or defaults.dapr_dead_letter_binding,
                dapr_alert_binding=get("DAPR_ALERT_BINDING") or defaults.dapr_alert_binding,
                kafka=KafkaSettings(
                    brokers=get("KAFKA_BROKERS") or kafka_defaults.brokers,
                    topic=get("KAFKA_TOPIC") or kafka_defaults.topic,
                    dead_letter_topic=get("KAFKA_DEAD_LETTER_TOPIC")
                    or kafka_defaults.dead_letter_topic,
                    alert_topic=get("KAFKA_ALERT_TOPIC") or kafka_defaults.alert_topic,
                    consumer_group=get("KAFKA_CONSUMER_GROUP") or kafka_defaults.consumer_group,
                    session_timeout_ms=int(
                        get("KAFKA_SESSION_TIMEOUT_MS") or kafka_defaults.session_timeout_ms
                    ),
                    max_batch=int(get("KAFKA_MAX_BATCH") or kafka_defaults.max_batch),
                ),
                ingest_mode=_choice(  # type: ignore[arg-type]
                    "INGEST_MODE", get("INGEST_MODE") or "http", get_args(IngestMode)
                ),
                app_api_token=get("APP_API_TOKEN"),
                port=int(get("PORT") or defaults.port),
                jwt=JwtSettings(
                    algorithms=tuple(
                        a.strip()
                        for a in (get("JWT_ALGORITHMS") or "HS256").split(",")
                        if a.strip()
                    ),
                    secret=get("JWT_SECRET"),
                    public_key=get("JWT_PUBLIC_KEY"),
                    jwks_url=get("JWT_JWKS_URL"),
                    issuer=get("JWT_ISSUER"),
                    audience=get("JWT_AUDIENCE"),
                    leeway_seconds=int(get("JWT_LEEWAY_SECONDS") or jwt_defaults.leeway_seconds),
                    jwks_refresh_seconds=float(
                        get("JWT_JWKS_REFRESH_SECONDS") or jwt_defaults.jwks_refresh_seconds
                    ),
                    jwks_min_fetch_interval_seconds=float(
                        get("JWT_JWKS_MIN_FETCH_INTERVAL_SECONDS")
                        or jwt_defaults.jwks_min_fetch_interval_seconds
                    ),
                    jwks_timeout_seconds=float(
                        get("JWT_JWKS_TIMEOUT_SECONDS") or jwt_defaults.jwks_timeout_seconds
                    ),
                ),
                retention_days=int(get("RETENTION_DAYS") or defaults.retention_days),
                audit_window_seconds=int(
                    get("AUDIT_COALESCE_SECONDS") or defaults.audit_window_seconds
                ),
                late_window_hours=_hours(
                    "INGEST_LATE_WINDOW_HOURS",
                    get("INGEST_LATE_WINDOW_HOURS") or str(defaults.late_window_hours),
                ),
                gdpr_self_erasure=_flag(get("GDPR_SELF_ERASURE") or "false"),
                max_body_bytes=int(get("MAX_BODY_BYTES") or defaults.max_body_bytes),
                binding_max_record_bytes=int(
                    get("BINDING_MAX_RECORD_BYTES") or defaults.binding_max_record_bytes
                ),
                forecast_stale_after_days=int(
                    get("FORECAST_STALE_AFTER_DAYS") or defaults.forecast_stale_after_days
                ),
                learner_params_path=get("LEARNER_PARAMS_PATH"),
                cors_allowed_origins=_origins(get("CORS_ALLOWED_ORIGINS") or ""),
                dashboard_predict_url=_origin(
                    "DASHBOARD_PREDICT_URL", get("DASHBOARD_PREDICT_URL") or ""
                ),
                dashboard_recommend_url=_origin(
                    "DASHBOARD_RECOMMEND_URL", get("DASHBOARD_RECOMMEND_URL") or ""
                ),
                learner_candidate_params_path=get("LEARNER_CANDIDATE_PARAMS_PATH"),
                learner_candidate_percent=_percent(get("LEARNER_CANDIDATE_PERCENT") or "0"),
                mcp_resource_url=get("MCP_RESOURCE_URL"),
                mcp_authorization_server=get("MCP_AUTHORIZATION_SERVER"),
                otlp_endpoint=get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                or get("OTEL_EXPORTER_OTLP_ENDPOINT"),
                health_port=int(port) if (port := get("HEALTH_PORT")) else None,
                metrics_token=get("METRICS_TOKEN"),
            )
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"a numeric setting is not a number: {exc}") from exc
