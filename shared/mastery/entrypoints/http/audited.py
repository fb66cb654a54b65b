"""Recording accesses to students' data by anyone but the student (every function's routes).

Call `read_audited` (or `audit_reads`) with the ids of the students whose data the answer holds:
the append is issued concurrently with the read, one round trip per request whatever their
number (a class heat map). If the trail cannot be written the request fails (503) rather than
going unrecorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

from mastery.bootstrap import Core
from mastery.services.audit import Action, AuditPolicy, record_access
from mastery.web.auth import Principal
from mastery.web.routing import Call

__all__ = ["audit_policy", "audit_reads", "read_audited", "what_was_read"]

T = TypeVar("T")


def what_was_read(call: Call) -> str:
    """The `what` of an audit entry: method and path (ids included, not the query string)."""
    return f"{call.request.method} {call.request.url.path}"


def audit_policy(core: Core) -> AuditPolicy:
    """Retention and coalescing window from the function's settings."""
    return AuditPolicy(core.settings.retention_days, core.settings.audit_window_seconds)


async def audit_reads(
    core: Core,
    principal: Principal,
    student_ids: Iterable[str],
    what: str,
    action: Action = "read",
) -> None:
    """Record that `principal` accessed the data of `student_ids` (their own are not)."""
    await record_access(
        core.store, principal, student_ids, what, core.clock,
        action=action, policy=audit_policy(core),
    )  # fmt: skip


async def read_audited(
    read: Awaitable[T],
    core: Core,
    principal: Principal,
    student_ids: Iterable[str],
    what: str,
    action: Action = "read",
) -> T:
    """`read`'s result, once the access is recorded too (the append runs alongside the read)."""
    recording = asyncio.ensure_future(audit_reads(core, principal, student_ids, what, action))
    try:
        result = await read
    except BaseException:
        recording.cancel()
        raise
    await recording
    return result
