"""A fixed-concurrency HTTP load client: `wrk`, checked first against a no-op server.

A benchmark must measure the server, not the client: a Python client tops out far below what
the functions serve (an asyncio httpx client measured 341 req/s against a function that served
2,397 with wrk). So there is no Python fallback: without `wrk` the benchmark stops with the
command that installs it, and `ceiling()` measures what the client itself can drive against a
server that does nothing, to report beside the results.
"""

from __future__ import annotations

import json
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

INSTALL = "apt-get install -y wrk"
_NOOP_SERVER = Path(__file__).with_name("noop_server.py")

# wrk prints these from its `done` hook; its own summary has no P95.
_WRK_SCRIPT = """
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,'
    .. '"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """What one fixed-concurrency run measured."""

    client: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    client_cpu_cores: float
    """The client's own CPU over the run (user + system seconds ÷ seconds): far below 1, the
    single-threaded client was waiting for the server, not the other way round."""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures."""
        return asdict(self)


class ClientMissingError(RuntimeError):
    """No load generator that can saturate the server is installed."""


def require_client() -> str:
    """The name of the load generator; ClientMissingError with the install command if absent."""
    if shutil.which("wrk") is None:
        raise ClientMissingError(f"the benchmark needs wrk to load the server: run `{INSTALL}`")
    return "wrk"


def run(
    base_url: str,
    paths: Sequence[str],
    headers: Mapping[str, str],
    *,
    connections: int,
    seconds: float,
) -> LoadResult:
    """GET `paths` in turn on `base_url` over `connections` keep-alive connections for `seconds`."""
    require_client()
    return _wrk(base_url, paths, headers, connections, seconds)


def ceiling(connections: int, seconds: float) -> LoadResult:
    """What the client drives against a no-op HTTP server (one process, one fixed answer)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(_NOOP_SERVER), str(port)])  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the no-op server did not start") from None
                time.sleep(0.05)
        return run(f"http://127.0.0.1:{port}", ["/"], {}, connections=connections, seconds=seconds)
    finally:
        server.terminate()
        server.wait()


def _wrk(
    base_url: str,
    paths: Sequence[str],
    headers: Mapping[str, str],
    connections: int,
    seconds: float,
) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n")
        script.write(_WRK_SCRIPT)
    try:
        before = _children_cpu_seconds()
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", script.name]
        for name, value in headers.items():
            argv += ["-H", f"{name}: {value}"]
        output = subprocess.run(  # noqa: S603 - wrk from PATH with our own arguments
            [*argv, base_url + paths[0]],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
        client_cpu = _children_cpu_seconds() - before
    finally:
        Path(script.name).unlink(missing_ok=True)
    line = next(x for x in output.splitlines() if x.startswith("WRKJSON "))
    figures = json.loads(line.removeprefix("WRKJSON "))
    elapsed = figures["duration_us"] / 1e6
    return LoadResult(
        "wrk", figures["requests"], elapsed, figures["requests"] / elapsed,
        figures["p50_us"] / 1000, figures["p95_us"] / 1000, figures["p99_us"] / 1000,
        figures["errors"] + figures["non2xx"], client_cpu / elapsed,
    )  # fmt: skip


def _children_cpu_seconds() -> float:
    """CPU used by this process's finished children (here: each wrk run once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
