"""Who may read what: students themselves, teachers of their classes, admins everything.

Roles and class ids come only from the verified token, never from the request.
"""

from __future__ import annotations

from collections.abc import Callable

from mastery.domain.record import StudentRecord
from mastery.errors import ForbiddenError
from mastery.http.auth import Principal


def authorize_student(principal: Principal, student_id: str, record: StudentRecord | None) -> None:
    """Allow reading `student_id`'s data, or raise ForbiddenError."""
    classes = None if record is None else record.enrolled_classes
    authorize_student_in(principal, student_id, classes)


def authorize_student_in(
    principal: Principal, student_id: str, classes: Callable[[], frozenset[str]] | None
) -> None:
    """`authorize_student` given the student's classes (None: no record); read only if needed."""
    if principal.role == "admin":
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
