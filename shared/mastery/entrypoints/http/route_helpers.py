"""Route helpers every function shares: path ids, the empty query, a student read for a caller."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from mastery.domain.event_fields import Identifier
from mastery.entrypoints.core import Core
from mastery.entrypoints.http.access import authorize_student_in
from mastery.entrypoints.http.audited import read_audited, what_was_read
from mastery.entrypoints.http.memo import AnswerMemo, StudentVersion
from mastery.errors import NotFoundError
from mastery.web.problems import validation_problem
from mastery.web.routing import Call

__all__ = ["NoQuery", "path_id", "readable_version"]

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def path_id(call: Call, name: str) -> str:
    """A validated id from the path (422 when it is not a valid id)."""
    try:
        return _IDENTIFIER.validate_python(call.path_params[name])
    except ValidationError as exc:
        raise validation_problem(exc, location=f"path.{name}") from exc


class NoQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def readable_version(call: Call, core: Core, memo: AnswerMemo) -> StudentVersion:
    """The path's student as this request reads it, after checking the caller may (audited).

    A student with no record is 404 to teachers and admins; the student themselves gets the
    empty view. Shared by query, predict and recommend: answers are memoised per record
    version in `memo`.
    """
    student_id = path_id(call, "student_id")
    principal = call.require_principal()
    if principal.role == "student":
        authorize_student_in(principal, student_id, None)  # themselves only, no I/O otherwise
        return await memo.load(core.store, student_id)  # their own reads are not audited

    def allowed(version: StudentVersion) -> None:
        if not version.exists:
            raise NotFoundError("no such student")
        authorize_student_in(principal, student_id, version.enrolled_classes)

    return await read_audited(
        memo.load(core.store, student_id), core, principal, [student_id], what_was_read(call),
        check=allowed,
    )  # fmt: skip
