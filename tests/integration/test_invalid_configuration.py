"""A served function with a configuration no retry can mend exits non-zero with one clear line."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mastery.local.functions import ROOT
from mastery.local.servers import free_port


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"JWT_SECRET": "x" * 31}, "JWT_SECRET must be at least 32 bytes for HS256"),
        (
            {"JWT_SECRET": "x" * 32, "JWT_ALGORITHMS": "HS256,HS512"},
            "JWT_SECRET must be at least 64 bytes for HS512",
        ),
    ],
    ids=["hs256-short", "hs512-short"],
)
def test_an_invalid_key_configuration_stops_the_process(env: dict[str, str], reason: str) -> None:
    port = free_port()
    command = [str(Path(sys.executable).with_name("functions-framework")), "--asgi"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env, "FUNCTION_TARGET": "query",
             "FUNCTION_SOURCE": str(ROOT / "functions" / "query" / "main.py")},
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        while process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0)
        code = process.wait(timeout=10)
        output = process.stdout.read().decode() if process.stdout else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code != 0
    assert f"invalid configuration, exiting: {reason}" in output
    assert "Traceback" not in output
