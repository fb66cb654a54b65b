"""The teacher side of struggle alerts (recommend function): list a class's, acknowledge one.

Listing sweeps first: a student who started an exercise and went silent has no further event
to notice the 10 minutes with, so each read derives the "stuck" alerts wall-clock time has made
due, stores them and publishes them (`mastery.services.alerts.sweep_students`) — for the members
whose record version has something coming due by now (`mastery.domain.sweep_due`); the others'
alerts are served from the memo.

At most `LISTINGS_IN_FLIGHT` listings of one process read their members at once; the others wait
their turn before reading. A listing holds the stored records of its ~30 members until it
answers; listings on one event loop share one core however many run at once, so more of them
mostly add memory, and the heap keeps the high-water of what was once in flight after they have
gone (docs/BENCHMARKS.md, "Soak").
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mastery.domain.alerts import Alert
from mastery.domain.record import StudentRecord
from mastery.domain.struggle import StruggleRules
from mastery.domain.sweep_due import AlertFacts, quiet_until
from mastery.entrypoints.core import Core
from mastery.entrypoints.http.access import authorize_class
from mastery.entrypoints.http.alert_views import AlertPage, AlertView, alert_view
from mastery.entrypoints.http.audited import read_audited, what_was_read
from mastery.entrypoints.http.memo import AnswerMemo, StudentVersion
from mastery.entrypoints.http.route_helpers import NoQuery, path_id
from mastery.errors import ForbiddenError, NotFoundError
from mastery.services.alerts import acknowledge, sweep_students
from mastery.services.students import load_roster, load_student
from mastery.web.auth import Principal
from mastery.web.problems import ProblemError
from mastery.web.routing import Call, Route

LISTINGS_IN_FLIGHT = 4
"""Class listings one process runs at once (the rest wait before reading their members)."""


class AlertQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "acknowledged", "all"] = "open"
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, Field(max_length=200)] | None = None


@dataclass(slots=True)
class _Watch:
    """What listing needs of one record version, and until when sweeping it is a no-op."""

    classes: frozenset[str]
    alerts: list[Alert]
    quiet_until: int


def _watch(version: StudentVersion, rules: StruggleRules) -> _Watch:
    assert version.data is not None  # load_many returns stored versions only
    facts = AlertFacts.model_validate_json(version.data)
    # An unpublished alert is re-sent by the sweep's publish step: such a version is never quiet.
    unpublished = any(not alert.published for alert in facts.alerts)
    quiet = 0 if unpublished else quiet_until(facts.struggle, facts.alerts, rules)
    return _Watch(facts.enrolled_classes(), facts.alerts, quiet)


def encode_cursor(alert: Alert) -> str:
    """An opaque position after `alert` in newest-first order."""
    return base64.urlsafe_b64encode(json.dumps([alert.raised_at, alert.id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The (raised_at, id) a cursor stands for; 422 when it is not one of ours."""
    try:
        raised_at, alert_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(raised_at, int) and isinstance(alert_id, str):
            return raised_at, alert_id
    except (ValueError, TypeError, binascii.Error):
        pass
    raise ProblemError(
        422, "Unprocessable request", "The cursor is not valid.", problem_type="validation-error"
    )


def authorize_ack(principal: Principal, record: StudentRecord | None) -> None:
    """Admins, and teachers of one of the student's classes, may acknowledge its alerts."""
    if principal.role == "admin":
        return
    if principal.role == "teacher" and record and record.enrolled_classes() & principal.classes:
        return
    raise ForbiddenError("not allowed to acknowledge this student's alerts")


def page(alerts: list[Alert], query: AlertQuery) -> tuple[list[Alert], str | None]:
    """Newest first, filtered by status, `limit` after the cursor; and the next cursor."""
    wanted = [a for a in alerts if query.status == "all" or a.open == (query.status == "open")]
    wanted.sort(key=lambda a: (a.raised_at, a.id), reverse=True)
    if query.cursor is not None:
        after = decode_cursor(query.cursor)
        wanted = [a for a in wanted if (a.raised_at, a.id) < after]
    chunk = wanted[: query.limit]
    more = len(wanted) > query.limit
    return chunk, encode_cursor(chunk[-1]) if more else None


def alert_routes(
    core: Core, rules: StruggleRules | None = None, memo: AnswerMemo | None = None
) -> list[Route]:
    """The teacher routes; alerts a listing sweeps due are published to `core.alerts`.

    Listing memoises per record version what it reads (`_Watch`), so a member whose version
    has nothing coming due is neither parsed nor swept again.
    """
    memo = memo or AnswerMemo()
    struggle = rules or StruggleRules()
    retention = core.settings.retention_days
    listing = asyncio.Semaphore(LISTINGS_IN_FLIGHT)

    async def list_class_alerts(call: Call) -> AlertPage:
        class_id = path_id(call, "class_id")
        authorize_class(call.require_principal(), class_id)
        query = call.query_as(AlertQuery)
        async with listing:
            listed = await class_alerts(call, class_id)
        chunk, cursor = page(listed, query)
        return AlertPage(
            class_id=class_id,
            alerts=[alert_view(a, core.curriculum) for a in chunk],
            next_cursor=cursor,
        )

    async def class_alerts(call: Call, class_id: str) -> list[Alert]:
        """The alerts of the class's members, each swept first when something may be due."""
        roster, _ = await load_roster(core.store, class_id)
        versions = await read_audited(
            memo.load_many(core.store, roster.members),
            core, call.require_principal(), roster.members, what_was_read(call),
        )  # fmt: skip
        now = int(core.clock().timestamp())
        listed: list[Alert] = []
        for version in versions:
            watch = version.answer(("alert_watch",), partial(_watch, version, struggle))
            if class_id not in watch.classes:
                continue
            if now < watch.quiet_until:
                listed += watch.alerts  # sweeping this version now would change nothing
                continue
            for record, etag in await sweep_students(
                core.store, core.alerts, [(version.record(), version.etag)],
                clock=core.clock, rules=struggle, retention_days=retention,
            ):  # fmt: skip
                listed += record.alerts
                if etag == version.etag:  # nothing written: until it re-arms, sweeping this
                    # version again gives `record` (its expired alerts dropped, not stored)
                    watch.alerts = record.alerts
                    watch.quiet_until = quiet_until(record.struggle, record.alerts, struggle)
        return listed

    async def acknowledge_alert(call: Call) -> AlertView:
        student_id = path_id(call, "student_id")
        alert_id = path_id(call, "alert_id")
        principal = call.require_principal()
        if principal.role == "student":
            authorize_ack(principal, None)  # students may not: refused before any I/O

        async def existing() -> tuple[StudentRecord, str | None]:
            record, etag = await load_student(core.store, student_id)
            if record is None:
                raise NotFoundError("no such student")
            return record, etag

        record, etag = await read_audited(
            existing(), core, principal, [student_id], what_was_read(call), "acknowledge",
            check=lambda read: authorize_ack(principal, read[0]),
        )  # fmt: skip
        alert = await acknowledge(
            core.store, record, etag, alert_id,
            by=call.require_principal().subject, clock=core.clock, retention_days=retention,
        )  # fmt: skip
        return alert_view(alert, core.curriculum)

    return [
        Route("GET", "/v1/classes/{class_id}/alerts", list_class_alerts,
              summary="Struggle alerts of a class's students, newest first, paginated",
              query_params=AlertQuery, response_model=AlertPage, tags=("alerts",)),
        Route("POST", "/v1/students/{student_id}/alerts/{alert_id}/ack", acknowledge_alert,
              summary="Acknowledge a struggle alert (idempotent; records who and when)",
              query_params=NoQuery, response_model=AlertView, tags=("alerts",)),
    ]  # fmt: skip
