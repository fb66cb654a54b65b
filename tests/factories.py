"""Builders of wire-format learning events for tests and the demo stream's tests."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

_ids = itertools.count(1)


def event(
    type_: str,
    student_id: str,
    topic: str | None,
    at: datetime,
    event_id: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """One event in our envelope shape."""
    document: dict[str, Any] = {
        "id": event_id or f"evt-{next(_ids)}",
        "type": type_,
        "student_id": student_id,
        "occurred_at": at.isoformat(),
        "data": data,
    }
    if topic is not None:
        document["topic"] = topic
    return document


def raw(document: dict[str, Any]) -> bytes:
    """The Kafka record value of an event."""
    return json.dumps(document).encode()
