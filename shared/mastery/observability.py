"""JSON logs that carry the correlation id (and the trace, `mastery.tracing`), and the Prometheus metrics every function exports."""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar, Token
from typing import Any, TextIO

import pydantic_core

from mastery.metrics import Counter, Histogram
from mastery.tracing import current_trace

__all__ = [
    "EVENTS_TOTAL",
    "HTTP_REQUESTS_TOTAL",
    "HTTP_REQUEST_DURATION_SECONDS",
    "JsonFormatter",
    "configure_logging",
    "current_correlation_id",
    "json_log_handler",
    "reset_correlation_id",
    "set_correlation_id",
]

# Module-level metric objects are the accepted exception to "no globals": `mastery.metrics`
# registers each name once per process in its default registry.
HTTP_REQUESTS_TOTAL = Counter(
    "http_requests_total",
    "HTTP requests answered, by function, route template, method and status.",
    ["function", "route", "method", "status"],
)
HTTP_REQUEST_DURATION_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by function and route template.",
    ["function", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
EVENTS_TOTAL = Counter(
    "events_total",
    "Learning events handled, by outcome (applied, duplicate, dead_lettered, erased) and type.",
    ["outcome", "type"],
)

NO_CORRELATION_ID = "-"
_correlation_id: ContextVar[str] = ContextVar("correlation_id", default=NO_CORRELATION_ID)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "correlation_id", "taskName"}
)


def current_correlation_id() -> str:
    """The correlation id of the request being served, or "-" outside one."""
    return _correlation_id.get()


def set_correlation_id(value: str) -> Token[str]:
    """Bind `value` as the correlation id of the current context; reset with the token."""
    return _correlation_id.set(value)


def reset_correlation_id(token: Token[str]) -> None:
    """Restore the correlation id that was bound before `set_correlation_id`."""
    _correlation_id.reset(token)


class _CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = _correlation_id.get()
        trace = current_trace()
        if trace is not None and not hasattr(record, "trace_id"):
            record.trace_id, record.span_id = trace.trace_id, trace.span_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, correlation id, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        attributes = record.__dict__
        entry: dict[str, Any] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
            "correlation_id": attributes.get("correlation_id") or _correlation_id.get(),
        }
        for key in sorted(attributes.keys() - _STANDARD_ATTRS):
            if not key.startswith("_"):
                entry[key] = attributes[key]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # pydantic-core's encoder is several times faster than json.dumps on this hot path.
        return pydantic_core.to_json(entry, fallback=str).decode()


def _utc_iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class _MasteryHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler `configure_logging` installed, so a second call replaces it."""


def json_log_handler(service: str, stream: TextIO) -> logging.Handler:
    """A handler writing JSON lines with the correlation id and the bound trace to `stream`."""
    handler = _MasteryHandler(stream)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(_CorrelationIdFilter())
    return handler


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record to stdout as JSON with `service` and the correlation id.

    Idempotent: calling it again replaces the handler it installed before.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _MasteryHandler)]:
        root.removeHandler(handler)
    root.addHandler(json_log_handler(service, sys.stdout))
    root.setLevel(level.upper())
    # uvicorn installs its own plain-text handlers; route its records through ours instead, and
    # silence its access log because HttpFunction writes a richer one.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
