"""Route helpers every function shares: path ids, the empty query, a student read for a caller."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from mastery.bootstrap import Core
from mastery.domain.events import Identifier
from mastery.entrypoints.http.access import authorize_student_in
from mastery.entrypoints.http.audited import audit_reads, what_was_read
from mastery.entrypoints.http.memo import AnswerMemo, StudentVersion
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

    Shared by query, predict and recommend: answers are memoised per record version in `memo`.
    """
    student_id = path_id(call, "student_id")
    version = await memo.load(core.store, student_id)
    classes = version.enrolled_classes if version.exists else None
    authorize_student_in(call.require_principal(), student_id, classes)
    if version.exists:
        await audit_reads(core, call.require_principal(), [student_id], what_was_read(call))
    return version
