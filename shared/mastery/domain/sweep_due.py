"""When a "stuck" sweep of a record version can next change anything (pure, no I/O).

Listing a class's alerts sweeps every member (`struggle_alerts.sweep`), which needs each record
parsed: ~0.1 ms a student, 30 a read, for records that mostly have nothing coming due. A sweep
at wall clock `now` derives at `as_of = max(as_of, now - grace)` and changes a record only if
(a) some exercise start not older than `stuck_after` before the record's clock falls due by
`as_of` (else `refresh` has no work), or (b) its oldest alert leaves the retention window. Both
are times fixed by the record, so a version can say up front until when sweeping it is a no-op.
"""

from __future__ import annotations

import bisect

from pydantic import BaseModel, Field

from mastery.domain.alerts import Alert
from mastery.domain.record import ClassMembership
from mastery.domain.struggle import StruggleRules
from mastery.domain.struggle_evidence import StruggleState

__all__ = ["AlertFacts", "quiet_until"]


class AlertFacts(BaseModel):
    """The part of a stored record the alert listing reads (parsing only it is ~3x cheaper)."""

    student_id: str
    classes: dict[str, ClassMembership] = {}
    alerts: list[Alert] = []
    struggle: StruggleState = Field(default_factory=StruggleState)

    def enrolled_classes(self) -> frozenset[str]:
        """Classes the student is in now (as `StudentRecord.enrolled_classes`)."""
        return frozenset(c for c, m in self.classes.items() if m.enrolled)


def quiet_until(struggle: StruggleState, alerts: list[Alert], rules: StruggleRules) -> int:
    """Sweeping at any wall-clock second before this changes nothing (0: it may now)."""
    clock = struggle.as_of
    horizon: int | None = None
    for evidence in struggle.topics.values():
        starts = evidence.starts
        first = bisect.bisect_left(starts, (clock - rules.stuck_after_s,))
        if first < len(starts):
            due = starts[first][0] + rules.stuck_after_s
            horizon = due if horizon is None else min(horizon, due)
    quiet: int | None = None
    if horizon is not None:
        if horizon <= clock:
            return 0
        quiet = horizon + rules.sweep_grace_s
    if alerts:
        oldest = min(alert.raised_at for alert in alerts)
        if oldest < clock - rules.alert_retention_s:
            return 0
        expires = oldest + rules.alert_retention_s + rules.sweep_grace_s
        quiet = expires if quiet is None else min(quiet, expires)
    return _FOREVER if quiet is None else quiet


_FOREVER = 2**62
"""Nothing can come due: only a new event (a new version) can give this record an alert."""
