"""Recording reads of students' data by anyone but the student (query, predict, recommend).

Call `audit_reads` after authorizing and before answering, with the ids of the students whose
data the answer holds: one pipelined append per request whatever their number (a class heat
map). If the trail cannot be written the read fails (503) rather than going unrecorded.
"""

from __future__ import annotations

from collections.abc import Iterable

from mastery.bootstrap import Core
from mastery.services.audit import audit_entry, record_entries
from mastery.web.auth import Principal
from mastery.web.routing import Call

__all__ = ["audit_reads", "what_was_read"]


def what_was_read(call: Call) -> str:
    """The `what` of an audit entry: method and path (ids included, not the query string)."""
    return f"{call.request.method} {call.request.url.path}"


async def audit_reads(
    core: Core, principal: Principal, student_ids: Iterable[str], what: str
) -> None:
    """Record that `principal` read the data of `student_ids` (their own reads are not)."""
    now = core.clock()
    actor = (principal.subject, principal.role)
    entries = [
        audit_entry(actor, student_id, "read", what, now)
        for student_id in student_ids
        if not (principal.role == "student" and principal.subject == student_id)
    ]
    if entries:
        await record_entries(core.store, entries, core.settings.retention_days)
