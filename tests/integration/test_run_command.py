"""`make run` end to end: the banner appears, the printed token reads the class, SIGTERM cleans up."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def free_range(size: int) -> int:
    """A base port with `size` consecutive free loopback ports."""
    for base in range(20_000, 60_000, 97):
        sockets = []
        try:
            for port in range(base, base + size):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                sockets.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_run_command_serves_the_demo_class_and_stops_everything_on_sigterm() -> None:
    base = free_range(6)
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "KAFKA_BROKERS"}}
    env["MASTERY_BASE_PORT"] = str(base)
    run = subprocess.Popen(
        [sys.executable, "-m", "mastery.local.run"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert run.stdout is not None
    banner: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = run.stdout.readline()
            if not line:
                break
            banner.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        text = "".join(banner)
        assert "consumer lag 0" in text, text
        token = re.search(r"^TEACHER_TOKEN=(\S+)$", text, re.M)
        assert token is not None
        view = httpx.get(f"http://127.0.0.1:{base + 1}/v1/classes/class-7b/mastery",
                         headers={"Authorization": f"Bearer {token.group(1)}"})  # fmt: skip
        assert view.status_code == 200
        assert len(view.json()["students"]) == 30
        assert httpx.get(f"http://127.0.0.1:{base + 5}/readyz").status_code == 200
        dashboard = re.search(r"^  (http://\S+/dashboard/)#token=(\S+)$", text, re.M)
        assert dashboard is not None, text
        assert dashboard.group(2) == token.group(1)  # the demo teacher, in the fragment
        page = httpx.get(dashboard.group(1))
        assert page.status_code == 200
        assert "dashboard.js" in page.text
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(listening(base + i) for i in range(6)):
        time.sleep(0.2)
    assert not any(listening(base + i) for i in range(6))
