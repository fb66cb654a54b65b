"""The engine's one exception tree.

Every error the engine raises on purpose derives from `MasteryError`. Adapters wrap the
library errors they catch (`raise StateUnavailableError(...) from exc`), so callers never
depend on redis, dapr or kafka exception types. The HTTP layer maps this tree to status codes
in exactly one place (`mastery.web.problems`):

- `DependencyUnavailableError` (`StateUnavailableError`, `SinkUnavailableError`) → 503 with
  `Retry-After`
- `ConflictError` → 409
- `NotFoundError` → 404, `ForbiddenError` → 403
- `PoisonEventError` → 422
- `mastery.web.problems.ProblemError` → its own status
- anything else → 500, logged, never described to the client
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "DependencyUnavailableError",
    "ForbiddenError",
    "MasteryError",
    "NotFoundError",
    "PoisonEventError",
    "SinkUnavailableError",
    "StateUnavailableError",
]


class MasteryError(Exception):
    """Root of every error the engine raises on purpose."""


class DependencyUnavailableError(MasteryError):
    """A dependency (state store, JWKS endpoint, broker) is unreachable; retrying may help."""

    def __init__(self, message: str = "", *, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class StateUnavailableError(DependencyUnavailableError):
    """The state store cannot be reached or timed out; nothing was written."""


class SinkUnavailableError(DependencyUnavailableError):
    """An output topic (dead letters, alerts) cannot be reached; the event is not acknowledged."""


class ConflictError(MasteryError):
    """An optimistic write lost to a concurrent one (ETag mismatch) and was not applied."""


class NotFoundError(MasteryError):
    """The requested resource (student, topic, record) does not exist."""


class ForbiddenError(MasteryError):
    """The caller is authenticated but may not act on this resource."""


class PoisonEventError(MasteryError):
    """An event that can never be applied; it belongs in the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
