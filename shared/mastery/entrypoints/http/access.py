"""Who may read what: students themselves, teachers of their classes, admins everything.

Roles and class ids come only from the verified token, never from the request.
"""

from __future__ import annotations

from collections.abc import Callable

from mastery.errors import ForbiddenError
from mastery.web.auth import Principal


def reads_every_student(principal: Principal) -> bool:
    """Whether `principal` may read any student's data: nothing read can refuse them."""
    return principal.role == "admin"


def authorize_student_in(
    principal: Principal, student_id: str, classes: Callable[[], frozenset[str]] | None
) -> None:
    """Allow reading `student_id`'s data, or raise ForbiddenError.

    `classes` gives the student's classes (None: no record); it is called only for a teacher.
    """
    if reads_every_student(principal):
        return
    if principal.role == "student" and principal.subject == student_id:
        return
    if principal.role == "teacher" and classes is not None and classes() & principal.classes:
        return
    raise ForbiddenError("not allowed to read this student")


def authorize_class(principal: Principal, class_id: str) -> None:
    """Allow reading a class, or raise ForbiddenError."""
    if principal.role == "admin":
        return
    if principal.role == "teacher" and class_id in principal.classes:
        return
    raise ForbiddenError("not allowed to read this class")
