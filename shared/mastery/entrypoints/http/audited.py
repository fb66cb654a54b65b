"""Recording accesses to students' data by anyone but the student (every function's routes).

Call `read_audited` (or `audit_reads`) with the ids of the students whose data the answer holds:
one round trip per request whatever their number (a class heat map), issued concurrently with
the read unless what is read may still refuse the caller. If the trail cannot be written the
request fails (503) rather than going unrecorded.

A refused request (403, or 404 for a student with no record) discloses nothing of the student
and leaves no entry in their trail: the access log and `http_requests_total` count it, by route
and status.
"""

from __future__ import annotations

from asyncio import Future
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from mastery.entrypoints.core import Core
from mastery.entrypoints.http.access import reads_every_student
from mastery.services.audit import Action, AuditPolicy, record_access
from mastery.web.auth import Principal
from mastery.web.routing import Call

__all__ = ["audit_policy", "audit_reads", "read_audited", "what_was_read"]

T = TypeVar("T")


def what_was_read(call: Call) -> str:
    """The `what` of an audit entry: method and path (ids included, not the query string)."""
    scope = call.request.scope  # not `request.url`, which parses the whole URL per request
    return f"{scope['method']} {scope['path']}"


def audit_policy(core: Core) -> AuditPolicy:
    """Retention and coalescing window from the function's settings."""
    return AuditPolicy(core.settings.retention_days, core.settings.audit_window_seconds)


def audit_reads(
    core: Core,
    principal: Principal,
    student_ids: Iterable[str],
    what: str,
    action: Action = "read",
) -> Future[int]:
    """Record that `principal` accessed the data of `student_ids` (their own are not): issued
    now, durable once the answer is in."""
    return record_access(
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
    *,
    check: Callable[[T], None] | None = None,
) -> T:
    """`read`'s result, once `check` has let the caller have it and the access is recorded.

    `check` raises (ForbiddenError, NotFoundError) when what was read may not be given to the
    caller: then nothing is recorded. When nothing read can refuse the caller (no `check`, or
    an admin), the append runs alongside the read; otherwise it follows the check.
    """
    if check is not None and not reads_every_student(principal):
        result = await read
        check(result)
        await audit_reads(core, principal, student_ids, what, action)
        return result
    recording = audit_reads(core, principal, student_ids, what, action)  # joins the next round trip
    try:
        result = await read
        if check is not None:
            check(result)  # an admin is refused only a student with no record: none recorded
    except BaseException:
        recording.cancel()
        raise
    await recording
    return result
