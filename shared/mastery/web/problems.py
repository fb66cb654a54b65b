"""RFC 9457 problem details: the one place where exceptions become HTTP statuses."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic_core
from pydantic import ValidationError
from starlette.responses import Response

from mastery.errors import (
    ConflictError,
    DependencyUnavailableError,
    ForbiddenError,
    MasteryError,
    NotFoundError,
    PoisonEventError,
)
from mastery.observability import current_correlation_id

__all__ = [
    "PROBLEM_JSON",
    "ProblemError",
    "problem_for",
    "problem_response",
    "validation_problem",
]

PROBLEM_JSON = "application/problem+json"
_TYPE_PREFIX = "urn:learnflow:problem:"
_logger = logging.getLogger(__name__)

# Messages of these pydantic error types come from our own validators' exception text.
_CUSTOM_ERROR_TYPES = frozenset({"value_error", "assertion_error"})


class ProblemError(MasteryError):
    """An error that already knows its HTTP status and the words a client may see."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        problem_type: str = "about:blank",
        errors: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(title if detail is None else f"{title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.problem_type = problem_type
        self.errors = list(errors) if errors is not None else None


def validation_problem(exc: ValidationError, location: str | None = None) -> ProblemError:
    """422 naming each offending field and what is wrong with it, never the input or internals."""
    errors: list[dict[str, Any]] = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = [str(part) for part in error["loc"]]
        if location is not None:
            loc.insert(0, location)
        custom = error["type"] in _CUSTOM_ERROR_TYPES
        errors.append(
            {
                "field": ".".join(loc),
                "type": error["type"],
                "message": "Value is not valid." if custom else error["msg"],
            }
        )
    return ProblemError(
        422,
        "Unprocessable request",
        "One or more fields are invalid.",
        problem_type="validation-error",
        errors=errors,
    )


def problem_for(exc: BaseException) -> ProblemError:
    """Map any exception to the problem a client may see; unexpected ones are logged here."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, ValidationError):
        return validation_problem(exc)
    if isinstance(exc, DependencyUnavailableError):
        _logger.warning("dependency unavailable: %s", exc)
        return ProblemError(
            503,
            "Service unavailable",
            "A dependency is temporarily unavailable; retry later.",
            headers={"Retry-After": str(exc.retry_after_seconds)},
            problem_type="dependency-unavailable",
        )
    if isinstance(exc, ConflictError):
        return ProblemError(
            409,
            "Conflict",
            "A concurrent update won; retry the request.",
            headers={"Retry-After": "1"},
            problem_type="conflict",
        )
    if isinstance(exc, NotFoundError):
        return ProblemError(404, "Not found", problem_type="not-found")
    if isinstance(exc, ForbiddenError):
        return ProblemError(403, "Forbidden", problem_type="forbidden")
    if isinstance(exc, PoisonEventError):
        return ProblemError(422, "Unprocessable event", problem_type="poison-event")
    _logger.error("unhandled error", exc_info=exc)
    return ProblemError(500, "Internal server error", problem_type="internal-error")


def _type_uri(problem_type: str) -> str:
    # Slugs become stable URNs; a full URI (or "about:blank") passes through unchanged.
    return problem_type if ":" in problem_type else f"{_TYPE_PREFIX}{problem_type}"


def problem_response(problem: ProblemError, instance: str) -> Response:
    """Render `problem` as application/problem+json; `instance` is the request path."""
    body: dict[str, Any] = {
        "type": _type_uri(problem.problem_type),
        "title": problem.title,
        "status": problem.status,
    }
    if problem.detail is not None:
        body["detail"] = problem.detail
    body["instance"] = instance
    body["correlation_id"] = current_correlation_id()
    if problem.errors is not None:
        body["errors"] = problem.errors
    return Response(
        pydantic_core.to_json(body),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )
