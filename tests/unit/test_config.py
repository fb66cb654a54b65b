"""Settings come from the environment names in docs/CONTRACTS.md, with clear errors."""

from __future__ import annotations

import pytest

from mastery.config import ConfigError, Settings


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.state_backend == "redis"
    assert settings.kafka.topic == "learning.events"
    assert settings.kafka.consumer_group == "mastery-ingest"
    assert settings.jwt.algorithms == ("HS256",)
    assert settings.retention_days == 90


def test_every_setting_is_read_from_its_variable() -> None:
    settings = Settings.from_env({
        "FUNCTION_TARGET": "query", "LOG_LEVEL": "debug", "STATE_BACKEND": "dapr",
        "REDIS_URL": "redis://r:1/2", "REDIS_CLUSTER": "true", "DAPR_STATE_STORE": "s",
        "SINK_BACKEND": "dapr", "DAPR_DEAD_LETTER_BINDING": "dl", "DAPR_ALERT_BINDING": "al",
        "KAFKA_BROKERS": "k:9", "KAFKA_TOPIC": "t", "KAFKA_DEAD_LETTER_TOPIC": "d",
        "KAFKA_ALERT_TOPIC": "a", "KAFKA_CONSUMER_GROUP": "g", "INGEST_MODE": "grpc",
        "APP_API_TOKEN": "tok", "JWT_ALGORITHMS": "RS256, ES256", "JWT_PUBLIC_KEY": "pem",
        "JWT_JWKS_URL": "https://j", "JWT_ISSUER": "iss", "JWT_AUDIENCE": "aud",
        "JWT_LEEWAY_SECONDS": "5", "RETENTION_DAYS": "30", "GDPR_SELF_ERASURE": "yes",
        "MAX_BODY_BYTES": "100", "BINDING_MAX_RECORD_BYTES": "2000000",
        "FORECAST_STALE_AFTER_DAYS": "21",
    })  # fmt: skip
    assert settings.function == "query"
    assert settings.log_level == "DEBUG"
    assert (settings.state_backend, settings.redis_url, settings.redis_cluster) == (
        "dapr",
        "redis://r:1/2",
        True,
    )
    assert (settings.dapr_state_store, settings.sink_backend) == ("s", "dapr")
    assert (settings.dapr_dead_letter_binding, settings.dapr_alert_binding) == ("dl", "al")
    assert settings.kafka.brokers == "k:9"
    assert (settings.kafka.topic, settings.kafka.dead_letter_topic, settings.kafka.alert_topic) == (
        "t",
        "d",
        "a",
    )
    assert settings.kafka.consumer_group == "g"
    assert (settings.ingest_mode, settings.app_api_token) == ("grpc", "tok")
    assert settings.jwt.algorithms == ("RS256", "ES256")
    assert (settings.jwt.public_key, settings.jwt.jwks_url) == ("pem", "https://j")
    assert (settings.jwt.issuer, settings.jwt.audience, settings.jwt.leeway_seconds) == (
        "iss",
        "aud",
        5,
    )
    assert (settings.retention_days, settings.gdpr_self_erasure, settings.max_body_bytes) == (
        30,
        True,
        100,
    )
    assert settings.binding_max_record_bytes == 2_000_000
    assert settings.forecast_stale_after_days == 21


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STATE_BACKEND": "postgres"}, "STATE_BACKEND must be one of redis, dapr"),
        ({"INGEST_MODE": "ftp"}, "INGEST_MODE must be one of"),
        ({"RETENTION_DAYS": "ninety"}, "not a number"),
        ({"INGEST_LATE_WINDOW_HOURS": "0"}, "a positive number of hours"),
        ({"INGEST_LATE_WINDOW_HOURS": "inf"}, "a positive number of hours"),
    ],
)
def test_bad_values_are_config_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
