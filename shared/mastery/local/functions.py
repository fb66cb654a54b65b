"""Start the six functions as their containers do (`mastery.serve`) on loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

FUNCTIONS = ("ingest", "query", "predict", "recommend", "gdpr", "agents")
ROOT = Path(__file__).resolve().parents[3]
LOCAL_AUTHORIZATION_SERVER = "https://auth.invalid"
"""What the agents function names as its authorization server locally: none (the run and the
benchmarks mint tokens themselves; `.invalid` never resolves)."""


@dataclass(frozen=True)
class RunningFunction:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# How a function is served: one uvicorn process (`mastery.serve`, the image's command), or
# functions-framework's own CLI (gunicorn + uvicorn workers), which the benchmarks compare.
SERVERS = ("serve", "functions-framework")


def _command(server: str) -> list[str]:
    if server == "functions-framework":
        executable = Path(sys.executable).with_name("functions-framework")
        return [str(executable), "--asgi", "--host", "127.0.0.1"]
    return [sys.executable, "-m", "mastery.serve"]


def start_function(
    name: str,
    port: int,
    env: Mapping[str, str],
    *,
    source: Path | None = None,
    server: str = "serve",
) -> RunningFunction:
    """Start one function the way its container does (FUNCTION_TARGET picks it).

    `source` serves another file's function the same way (the benchmarks' bare baselines);
    `server` is one of `SERVERS`.
    """
    process_env = {
        **os.environ,
        **env,
        "FUNCTION_TARGET": name,
        "FUNCTION_SOURCE": str(source or ROOT / "functions" / name / "main.py"),
        "PORT": str(port),
        "HOST": "127.0.0.1",
    }
    process = subprocess.Popen(  # noqa: S603 - our own executable and arguments
        _command(server), env=process_env, cwd=ROOT, start_new_session=True
    )
    return RunningFunction(name, port, process)


def start_ingest_consumer(env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start ingest in native consumer mode, as its KEDA Deployment without a sidecar does."""
    process_env = {**os.environ, **env, "FUNCTION_TARGET": "ingest", "INGEST_MODE": "kafka"}
    return subprocess.Popen(
        [sys.executable, "-m", "mastery.ingest_main"], env=process_env, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip


def wait_healthy(functions: list[RunningFunction], timeout: float = 30.0) -> None:
    """Wait until every function answers /healthz; raise if one exits or times out."""
    deadline = time.monotonic() + timeout
    pending = list(functions)
    while pending:
        function = pending[0]
        if function.process.poll() is not None:
            raise RuntimeError(f"{function.name} exited with {function.process.returncode}")
        try:
            if httpx.get(f"{function.url}/healthz", timeout=1.0).status_code == 200:
                pending.pop(0)
                continue
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{function.name} did not become healthy in {timeout:.0f} s")
        time.sleep(0.1)


def stop_all(functions: list[RunningFunction], timeout: float = 10.0) -> None:
    """SIGTERM every function, then SIGKILL the ones still running after `timeout`."""
    for function in functions:
        if function.process.poll() is None:
            function.process.terminate()
    deadline = time.monotonic() + timeout
    for function in functions:
        try:
            function.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            function.process.kill()
            function.process.wait()


@contextmanager
def running_functions(
    ports: Mapping[str, int], env: Mapping[str, str]
) -> Iterator[dict[str, RunningFunction]]:
    """Every named function serving on its port until the block ends."""
    started: list[RunningFunction] = []
    try:
        for name, port in ports.items():
            started.append(start_function(name, port, env))
        wait_healthy(started)
        yield {f.name: f for f in started}
    finally:
        stop_all(started)
