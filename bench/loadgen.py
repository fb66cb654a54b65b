"""A fixed-concurrency HTTP load client: `wrk` when installed, else an asyncio httpx client.

Both report the same figures (requests/s, P50/P95/P99 in ms, errors = transport errors plus
non-2xx answers), so a benchmark compares ours and the bare baseline with one client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

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

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures."""
        return asdict(self)


def client_name() -> str:
    """Which client `run` will use here."""
    return "wrk" if shutil.which("wrk") else "httpx-asyncio"


def run(
    base_url: str,
    paths: Sequence[str],
    headers: Mapping[str, str],
    *,
    connections: int,
    seconds: float,
) -> LoadResult:
    """GET `paths` in turn on `base_url` over `connections` keep-alive connections for `seconds`."""
    if shutil.which("wrk"):
        return _wrk(base_url, paths, headers, connections, seconds)
    return asyncio.run(_httpx(base_url, paths, headers, connections, seconds))


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
    finally:
        Path(script.name).unlink(missing_ok=True)
    line = next(x for x in output.splitlines() if x.startswith("WRKJSON "))
    figures = json.loads(line.removeprefix("WRKJSON "))
    elapsed = figures["duration_us"] / 1e6
    return LoadResult(
        "wrk", figures["requests"], elapsed, figures["requests"] / elapsed,
        figures["p50_us"] / 1000, figures["p95_us"] / 1000, figures["p99_us"] / 1000,
        figures["errors"] + figures["non2xx"],
    )  # fmt: skip


async def _httpx(
    base_url: str,
    paths: Sequence[str],
    headers: Mapping[str, str],
    connections: int,
    seconds: float,
) -> LoadResult:
    turn = itertools.cycle(paths)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(headers=dict(headers), limits=limits, timeout=10.0) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get(base_url + next(turn))
                    ok = response.is_success
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return LoadResult("httpx-asyncio", len(latencies), elapsed, len(latencies) / elapsed,
                      pct(50), pct(95), pct(99), errors)  # fmt: skip
