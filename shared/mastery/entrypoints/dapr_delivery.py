"""What daprd sends with each Kafka binding delivery, read once for its HTTP and gRPC forms.

The record's origin rides in `__topic`/`__partition`/`__offset`/`__key`/`__timestamp` (HTTP
headers, or the gRPC event's binding metadata); with `APP_API_TOKEN` set, daprd proves itself
with a `dapr-api-token` header or gRPC metadata entry. The W3C `traceparent`/`tracestate`
come as HTTP headers (daprd's span, itself continuing the record's headers) or, over gRPC, as
call metadata and binding metadata (the record's Kafka headers).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from mastery.services.ingest import KafkaMetadata
from mastery.tracing import TRACEPARENT, TRACESTATE

API_TOKEN_HEADER = "dapr-api-token"  # noqa: S105 - a header name, not a secret


def binding_metadata(metadata: Mapping[str, str]) -> KafkaMetadata:
    """The record's origin, from the metadata the Kafka binding sends with it."""
    return KafkaMetadata(
        topic=metadata.get("__topic"),
        partition=metadata.get("__partition"),
        offset=metadata.get("__offset"),
        key=metadata.get("__key"),
        timestamp=metadata.get("__timestamp"),
        traceparent=metadata.get(TRACEPARENT),
        tracestate=metadata.get(TRACESTATE),
    )


def api_token_accepted(sent: str, expected: str | None) -> bool:
    """Whether a delivery may proceed: no token is configured, or `sent` is it (constant time)."""
    return expected is None or hmac.compare_digest(sent.encode(), expected.encode())
