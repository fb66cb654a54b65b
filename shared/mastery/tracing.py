"""W3C trace context kept through a request or a delivered event, for its logs and what it sends.

Each transport binds the trace its caller sent (`traced`): HTTP requests from the `traceparent`
header, daprd's deliveries from the same header or gRPC metadata, the native consumer from the
record's Kafka headers. While bound, every log line carries `trace_id` and `span_id`, and the
dead letters and struggle alerts sent carry `traceparent` (and `tracestate`) as Kafka record
headers or Dapr binding metadata. Our work is a child span of the caller's: a new span id in the
caller's trace (a new trace when nothing valid came). With `OTEL_EXPORTER_OTLP_ENDPOINT` set,
those spans are also exported by OpenTelemetry (`mastery.telemetry`, imported only then).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import NamedTuple, Protocol

__all__ = [
    "TraceContext",
    "current_trace",
    "delivered_trace",
    "event_traces",
    "parse_traceparent",
    "set_span_exporter",
    "trace_headers",
    "traced",
    "traced_by_evidence",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_MAX_TRACESTATE = 512


class TraceContext(NamedTuple):
    """The trace a unit of work belongs to, and its own span in it."""

    trace_id: str
    span_id: str
    sampled: bool = True
    state: str | None = None

    @property
    def traceparent(self) -> str:
        """The `traceparent` of what this span sends on (this span is their parent)."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


class SpanExporter(Protocol):
    """Starts an exported span as a child of `parent` (a traceparent, or None for a root)."""

    def __call__(
        self, name: str, parent: str | None, state: str | None
    ) -> AbstractContextManager[TraceContext]: ...


_current: ContextVar[TraceContext | None] = ContextVar("trace", default=None)
_by_event: ContextVar[Mapping[str, TraceContext] | None] = ContextVar("event_traces", default=None)
_exporter: SpanExporter | None = None


def parse_traceparent(value: str | None) -> tuple[str, str, bool] | None:
    """(trace id, parent span id, sampled) of a valid W3C `traceparent`, else None.

    Version ff and all-zero ids are invalid; version 00 has nothing after the flags, a later
    version may (§3.2 of the W3C Trace Context recommendation).
    """
    if not value:
        return None
    value = value.strip()
    matched = _TRACEPARENT.match(value)
    if matched is None:
        return None
    version, trace_id, parent_id, flags = matched.groups()
    tail = value[matched.end() :]
    if version == "ff" or (version == "00" and tail) or (tail and not tail.startswith("-")):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return trace_id, parent_id, bool(int(flags, 16) & 1)


def current_trace() -> TraceContext | None:
    """The trace bound to the work being done now, if any."""
    return _current.get()


def trace_headers() -> list[tuple[str, str]]:
    """`traceparent` (and `tracestate`) to send on with a record published now."""
    trace = _current.get()
    if trace is None:
        return []
    headers = [(TRACEPARENT, trace.traceparent)]
    if trace.state:
        headers.append((TRACESTATE, trace.state))
    return headers


def _child_of(parent: str | None, state: str | None) -> TraceContext:
    parsed = parse_traceparent(parent)
    if parsed is None:
        current = _current.get()
        if current is not None:  # e.g. an event delivered within a traced request
            return TraceContext(
                current.trace_id, os.urandom(8).hex(), current.sampled, current.state
            )
        return TraceContext(os.urandom(16).hex(), os.urandom(8).hex())
    trace_id, _, sampled = parsed
    if state is not None and len(state) > _MAX_TRACESTATE:
        state = None
    return TraceContext(trace_id, os.urandom(8).hex(), sampled, state)


@contextmanager
def traced(name: str, parent: str | None, state: str | None = None) -> Iterator[TraceContext]:
    """Bind a new span, child of the `parent` traceparent (else of the bound trace, else a root)."""
    if _exporter is not None and parse_traceparent(parent) is None and _current.get() is not None:
        parent = _current.get().traceparent  # type: ignore[union-attr]
    with (
        _exporter(name, parent, state)
        if _exporter is not None
        else _no_export(_child_of(parent, state)) as trace
    ):
        token = _current.set(trace)
        try:
            yield trace
        finally:
            _current.reset(token)


@contextmanager
def _no_export(trace: TraceContext) -> Iterator[TraceContext]:
    yield trace


def delivered_trace(traceparent: str | None, state: str | None = None) -> TraceContext | None:
    """The span an event was delivered in: the bound one if it is in the event's trace (a
    delivery of one event), else the sender's own span (one event of a consumer's batch)."""
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return None
    current = _current.get()
    if current is not None and current.trace_id == parsed[0]:
        return current
    return TraceContext(parsed[0], parsed[1], parsed[2], state)


@contextmanager
def event_traces(traces: Mapping[str, TraceContext]) -> Iterator[None]:
    """Bind the trace each event of a batch came in (event id -> `delivered_trace`)."""
    token = _by_event.set(traces)
    try:
        yield
    finally:
        _by_event.reset(token)


@contextmanager
def traced_by_evidence(event_ids: Iterable[str]) -> Iterator[None]:
    """Bind the trace of the newest of `event_ids` delivered in this batch, if one was.

    A struggle alert is sent on in the trace of the event that completed its evidence.
    """
    known = _by_event.get()
    trace = None
    if known:
        trace = next((known[e] for e in reversed(list(event_ids)) if e in known), None)
    if trace is None or trace is _current.get():
        yield
        return
    token = _current.set(trace)
    try:
        yield
    finally:
        _current.reset(token)


def set_span_exporter(exporter: SpanExporter | None) -> None:
    """Export every span `traced` starts (`mastery.telemetry.configure`), or stop (None)."""
    global _exporter  # one exporter per process (OpenTelemetry's provider is one too)
    _exporter = exporter
