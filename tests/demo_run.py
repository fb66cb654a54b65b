"""The run command (`make run`) as a child process: start it, read its banner, stop it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
BANNER_END = "Ctrl-C stops everything"
PORTS = 7  # six functions and the ingest consumer's health port


def free_range(size: int = PORTS) -> int:
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


@dataclass
class DemoRun:
    process: subprocess.Popen[str]
    base_port: int
    banner: str
    stderr: IO[str]

    def url(self, function_index: int) -> str:
        return f"http://127.0.0.1:{self.base_port + function_index}"

    def banner_value(self, pattern: str) -> str:
        found = re.search(pattern, self.banner, re.M)
        assert found is not None, f"{pattern!r} not in the banner:\n{self.banner}"
        return found.group(1)

    def errors(self) -> str:
        """Everything the run and its children wrote to stderr so far."""
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()

    def signal_group(self, signum: int) -> None:
        """What a terminal does on Ctrl-C: the signal to the whole process group."""
        os.killpg(self.process.pid, signum)

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def ports_closed(self, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(listening(self.base_port + i) for i in range(PORTS)):
                return True
            time.sleep(0.2)
        return False


def start_demo(env: dict[str, str] | None = None, timeout: float = 240.0) -> DemoRun:
    """Start the run command in a process group of its own; return once its banner is out."""
    base = free_range()
    run_env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "KAFKA_BROKERS"}}
    run_env.update(env or {})
    run_env["MASTERY_BASE_PORT"] = str(base)
    stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed with the run
    process = subprocess.Popen(
        [sys.executable, "-m", "mastery.local.run"], cwd=ROOT, env=run_env,
        stdout=subprocess.PIPE, stderr=stderr, text=True, process_group=0,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(BANNER_END):
            return DemoRun(process, base, "".join(lines), stderr)
    process.kill()
    process.wait()
    stderr.seek(0)
    raise AssertionError(f"no banner:\n{''.join(lines)}\n{stderr.read()[-3000:]}")
