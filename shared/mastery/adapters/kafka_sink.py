"""An `EventSink` on a native Kafka producer (aiokafka), for running without Dapr.

Each record carries the publishing work's trace context as `traceparent`/`tracestate` headers.
"""

from __future__ import annotations

from typing import Any

from aiokafka.errors import KafkaError

from mastery.errors import SinkUnavailableError
from mastery.tracing import trace_headers


def _headers() -> list[tuple[str, bytes]] | None:
    # The trace of the work that publishes: `traceparent` (and `tracestate`) record headers.
    return [(name, value.encode()) for name, value in trace_headers()] or None


class KafkaSink:
    """Publishes keyed records to one topic; waits for the broker's ack (acks=all)."""

    def __init__(self, producer: Any, topic: str, *, owner: bool = False) -> None:
        self._producer = producer
        self._topic = topic
        self._owner = owner  # sinks can share one producer; its owner stops it

    async def publish(self, key: str, value: bytes) -> None:
        try:
            await self._producer.send_and_wait(
                self._topic, value=value, key=key.encode(), headers=_headers()
            )
        except KafkaError as exc:
            raise SinkUnavailableError(f"topic {self._topic} unavailable") from exc

    async def aclose(self) -> None:
        if self._owner:
            await self._producer.stop()
