"""OpenTelemetry span export: imported and configured only when an OTLP endpoint is configured.

`configure` installs an exporter in `mastery.tracing`: every span `traced` starts then is an
OpenTelemetry span (child of the caller's `traceparent`) sent in batches over OTLP/HTTP to
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); the SDK reads the rest
of its `OTEL_*` settings from the environment and flushes at exit. Without an endpoint nothing
here is imported, so the functions' cold start pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mastery.tracing import TRACEPARENT, TRACESTATE, TraceContext, set_span_exporter

__all__ = ["configure"]


def configure(service: str) -> TracerProvider:
    """Export every span of this process as `service` (the function's name)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracer = provider.get_tracer("mastery")
    propagator = TraceContextTextMapPropagator()

    @contextmanager
    def export(name: str, parent: str | None, state: str | None) -> Iterator[TraceContext]:
        carrier = {TRACEPARENT: parent} if parent else {}
        if parent and state:
            carrier[TRACESTATE] = state
        context = propagator.extract(carrier)
        with tracer.start_as_current_span(name, context=context, kind=SpanKind.SERVER) as span:
            ids = span.get_span_context()
            yield TraceContext(
                trace_id=format(ids.trace_id, "032x"),
                span_id=format(ids.span_id, "016x"),
                sampled=ids.trace_flags.sampled,
                state=ids.trace_state.to_header() or None,
            )

    set_span_exporter(export)
    trace.set_tracer_provider(provider)  # libraries' own spans (the MCP SDK's) join ours
    return provider
