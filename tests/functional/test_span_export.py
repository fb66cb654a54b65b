"""OpenTelemetry spans: exported to the configured OTLP endpoint, continuing the caller's trace;
without an endpoint OpenTelemetry is not even imported."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.config import JwtSettings, Settings
from mastery.entrypoints.core import Core
from mastery.entrypoints.http import query
from mastery.telemetry import configure
from mastery.tracing import set_span_exporter
from mastery.web.auth import mint_token
from tests.asgi import serve

SECRET = "span-export-test-secret-of-32-bytes!!"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def collector() -> Iterator[tuple[str, list[bytes]]]:
    """A minimal OTLP/HTTP receiver: keeps the bodies POSTed to /v1/traces."""
    received: list[bytes] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/traces", received
    server.shutdown()


async def test_a_read_is_exported_as_a_child_span_of_the_callers_trace(
    collector: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, received = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
    provider = configure("query")
    try:
        core = Core(settings=Settings(jwt=JwtSettings(secret=SECRET)), store=MemoryStateStore(),
                    dead_letters=MemorySink(), alerts=MemorySink())  # fmt: skip
        token = mint_token(SECRET, "s1", "student")
        async with serve(await query.create(core)) as client:
            answer = await client.get(
                "/v1/students/s1/mastery",
                headers={"Authorization": f"Bearer {token}",
                         "traceparent": f"00-{TRACE}-{CALLER_SPAN}-01"},
            )  # fmt: skip
        assert answer.status_code == 200
        assert provider.force_flush(5_000)
    finally:
        set_span_exporter(None)
        provider.shutdown()
    spans = []
    for body in received:
        request = ExportTraceServiceRequest.FromString(body)
        spans += [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
    [span] = spans
    assert (span.trace_id.hex(), span.parent_span_id.hex(), span.name) == (
        TRACE, CALLER_SPAN, "query GET",
    )  # fmt: skip


def test_without_an_endpoint_opentelemetry_is_not_imported() -> None:
    script = (
        "import asyncio, sys\n"
        "from mastery.entrypoints.http import query\n"
        "from mastery.bootstrap import open_core\n"
        "from mastery.config import Settings\n"
        "settings = Settings.from_env({'JWT_SECRET': 'x' * 32})\n"
        "async def build():\n"
        "    await query.create(await open_core(settings, lazy_sinks=True))\n"
        "asyncio.run(build())\n"
        "loaded = {m.split('.')[0] for m, module in sys.modules.items() if module is not None}\n"
        "print(sorted(loaded & {'opentelemetry', 'mcp'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, timeout=60)  # fmt: skip
    assert result.stdout.strip() == "[]"
