"""The two envelopes a learning event arrives in, read into the event document (DESIGN §2).

A Kafka record's value is one JSON object in either of two shapes that mean the same event:
our record envelope, whose fields are the event document's own, or a CloudEvent 1.0 in
structured JSON (what Dapr pub/sub producers emit), told apart by its `specversion`. Whichever
transport delivered the record (the HTTP or gRPC binding, the native consumer), the composition
root gives `read_envelope` to the ingest service, which dead-letters what it rejects. Only the
shape is read here: the domain (`mastery.domain.events.parse_event`) receives the event document
and validates its fields, so a field is named the same in a rejection whichever envelope it
came in.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

from pydantic_core import from_json

from mastery.errors import PoisonEventError


class RecordEnvelope(TypedDict, total=False):
    """Our envelope: the event document itself. Fields as the format has them, not yet
    validated."""

    id: str
    type: str
    student_id: str
    topic: str | None
    """Absent for roster events."""
    occurred_at: str
    data: dict[str, Any]


class CloudEventEnvelope(TypedDict, total=False):
    """A CloudEvent 1.0 in structured JSON: `subject` is the student, `time` when it occurred,
    `data` holds the topic beside the type's fields. Not yet validated."""

    specversion: str
    id: str
    source: str
    type: str
    subject: str
    time: str
    datacontenttype: str
    data: dict[str, Any]


def read_envelope(value: bytes | str) -> RecordEnvelope:
    """The event document of one Kafka record value (UTF-8 JSON); PoisonEventError when it is
    neither envelope."""
    try:  # pydantic-core's parser: a third of json.loads's CPU for an event
        envelope = from_json(value)
    except ValueError as exc:
        raise PoisonEventError("not valid JSON") from exc
    if not isinstance(envelope, dict):
        raise PoisonEventError("event must be a JSON object")
    if "specversion" in envelope:
        return _from_cloudevent(cast(CloudEventEnvelope, envelope))
    return cast(RecordEnvelope, envelope)


def _from_cloudevent(envelope: CloudEventEnvelope) -> RecordEnvelope:
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise PoisonEventError("cloudevent data must be a JSON object")
    # Absent fields stay present as None, as they always were: the domain then says "should be
    # a valid string", not "field required".
    return cast(
        RecordEnvelope,
        {
            "id": envelope.get("id"),
            "type": envelope.get("type"),
            "student_id": envelope.get("subject"),
            "topic": data.get("topic"),
            "occurred_at": envelope.get("time"),
            "data": data,
        },
    )
