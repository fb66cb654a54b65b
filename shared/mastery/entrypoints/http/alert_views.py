"""JSON views of struggle alerts (the teacher routes of the recommend function)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from mastery.domain.alerts import Alert, Trigger
from mastery.domain.curriculum import Curriculum


class AlertView(BaseModel):
    id: str
    student_id: str
    topic: str
    topic_name: str
    trigger: Trigger
    detail: str | None
    """The error type, the exercise id or the quiz score that fired it."""
    evidence: list[str]
    """Ids of the events that raised it."""
    raised_at: datetime
    """Event time at which the trigger fired."""
    status: Literal["open", "acknowledged"]
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class AlertPage(BaseModel):
    class_id: str
    alerts: list[AlertView]
    """Newest first."""
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last page."""


def _time(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def alert_view(alert: Alert, curriculum: Curriculum) -> AlertView:
    """One alert as teachers see it."""
    return AlertView(
        id=alert.id,
        student_id=alert.student_id,
        topic=alert.topic,
        topic_name=curriculum.topic(alert.topic).name,
        trigger=alert.trigger,
        detail=alert.detail,
        evidence=alert.evidence,
        raised_at=datetime.fromtimestamp(alert.raised_at, UTC),
        status="open" if alert.open else "acknowledged",
        acknowledged_at=_time(alert.acknowledged_at),
        acknowledged_by=alert.acknowledged_by,
    )
