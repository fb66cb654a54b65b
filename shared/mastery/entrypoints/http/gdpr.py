"""The gdpr function: a student's export, their erasure, and the audit trail (admins)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import to_jsonable_python

from mastery.domain.daily import history
from mastery.domain.event_fields import Identifier
from mastery.domain.mastery import student_mastery
from mastery.entrypoints.core import Core, http_function
from mastery.entrypoints.http.audited import audit_policy, audit_reads, what_was_read
from mastery.entrypoints.http.route_helpers import NoQuery, path_id
from mastery.entrypoints.http.views import history_point, mastery_view
from mastery.errors import ForbiddenError, NotFoundError
from mastery.services.audit import AuditEntry, audit_entry, is_cursor, read_trail, retention_start
from mastery.services.gdpr import ErasureReport, erase_student, export_document
from mastery.services.students import load_student
from mastery.services.tombstones import Tombstone, tombstone_key
from mastery.web.auth import Principal
from mastery.web.function import HttpFunction
from mastery.web.routing import Call, Route

_STUDENT = "/v1/students/{student_id}"


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student_id: Identifier
    since: AwareDatetime | None = None
    """Default: as far back as entries can exist (the retention window)."""
    until: AwareDatetime | None = None
    """Default: now."""
    limit: Annotated[int, Field(ge=1, le=1000)] = 200
    cursor: Annotated[str, Field(max_length=50)] | None = None
    """`next_cursor` of the previous page."""

    @field_validator("cursor")
    @classmethod
    def _a_cursor(cls, value: str | None) -> str | None:
        if value is not None and not is_cursor(value):
            raise ValueError("not a cursor of this trail")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> AuditQuery:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("since is after until")
        return self


class AuditTrailView(BaseModel):
    student_id: str
    since: datetime
    until: datetime
    entries: list[AuditEntry]
    """Oldest first; erasures (kept in the tombstone) lead the first page."""
    next_cursor: str | None
    """Pass as `cursor` for the next page; None: this is the last."""


class ExportDocument(BaseModel):
    """Documents the export's top level; the answer is the sealed JSON document itself (so it
    is built when OpenAPI is first asked for, not at every start)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    format: str
    format_version: int
    exported_at: datetime
    student_id: str
    record: dict[str, Any]
    derived: dict[str, Any]
    audit_trail: list[AuditEntry]
    digest: dict[str, str]


def _is_self(principal: Principal, student_id: str) -> bool:
    return principal.role == "student" and principal.subject == student_id


def gdpr_routes(core: Core) -> list[Route]:
    """The routes of the gdpr function, bound to its core."""
    retention = core.settings.retention_days
    policy = audit_policy(core)

    async def export(call: Call) -> dict[str, Any]:
        principal = call.require_principal()
        student_id = path_id(call, "student_id")
        if principal.role != "admin" and not _is_self(principal, student_id):
            raise ForbiddenError("only the student or an admin may export")
        record, _ = await load_student(core.store, student_id)
        if record is None:
            raise NotFoundError("nothing is held about this student")
        now = core.clock()
        await audit_reads(core, principal, [student_id], what_was_read(call), "export")
        today = record.local_day(now)
        mastery = student_mastery(record, core.curriculum, today, core.rules)
        points = history(record, core.curriculum, today, retention, core.rules)
        derived = {
            "mastery": to_jsonable_python(mastery_view(mastery, core.curriculum)),
            "history": to_jsonable_python([history_point(p) for p in points]),
            "enrolled_classes": sorted(record.enrolled_classes()),
        }
        trail = await read_trail(
            core.store, student_id, retention_start(now, policy), now, policy=policy
        )
        return export_document(record, derived, trail.entries, now)

    async def erase(call: Call) -> ErasureReport:
        principal = call.require_principal()
        student_id = path_id(call, "student_id")
        allowed = principal.role == "admin" or (
            core.settings.gdpr_self_erasure and _is_self(principal, student_id)
        )
        if not allowed:
            raise ForbiddenError("not allowed to erase this student")
        entry = audit_entry(principal, student_id, "erase", what_was_read(call), core.clock())
        return await erase_student(core.store, student_id, entry, retention)

    async def audit_trail(call: Call) -> AuditTrailView:
        principal = call.require_principal()
        if principal.role != "admin":
            raise ForbiddenError("only admins may read the audit trail")
        query = call.query_as(AuditQuery)
        now = core.clock()
        # Nothing older than the retention window exists: never read further back than that.
        since = max(query.since or retention_start(now, policy), retention_start(now, policy))
        until = min(query.until or now, now + timedelta(days=1))

        async def record() -> int:  # issued after the trail's read: this read is not in it
            return await audit_reads(core, principal, [query.student_id], what_was_read(call))

        page, stored, _ = await asyncio.gather(
            read_trail(core.store, query.student_id, since, until,
                       policy=policy, after=query.cursor, limit=query.limit),
            core.store.read(tombstone_key(query.student_id)),
            record(),
        )  # fmt: skip
        entries = page.entries
        if stored is not None and query.cursor is None:
            erasures = Tombstone.model_validate_json(stored.data).entries()
            entries = [e for e in erasures if since <= e.at <= until] + entries
        return AuditTrailView(
            student_id=query.student_id, since=since, until=until, entries=entries,
            next_cursor=page.next_cursor,
        )  # fmt: skip

    return [
        Route("GET", f"{_STUDENT}/export", export,
              summary="Everything held about a student, as one sealed JSON document",
              query_params=NoQuery, response_model=ExportDocument, tags=("gdpr",)),
        Route("DELETE", _STUDENT, erase,
              summary="Erase every record of a student and leave a tombstone",
              query_params=NoQuery, response_model=ErasureReport, tags=("gdpr",)),
        Route("GET", "/v1/audit", audit_trail,
              summary="Who read, exported or erased a student's data, in a time range",
              query_params=AuditQuery, response_model=AuditTrailView, tags=("audit",)),
    ]  # fmt: skip


async def create(core: Core) -> HttpFunction:
    """The gdpr function, on `core` (`mastery.bootstrap.http_app`)."""
    return http_function("gdpr", gdpr_routes(core), core)
