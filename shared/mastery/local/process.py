"""A private server as a child process: free loopback ports, start and stop, `with` lifecycle.

The Redis, S3 and Kafka servers (`mastery.local.servers`) build on `ManagedServer`, which
either starts a private process or, when the environment names an external server, checks it
and starts nothing.
"""

from __future__ import annotations

import functools
import logging
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Bind races (another process grabs the free port first) are retried with a new port.
_START_ATTEMPTS = 3


class LocalServerError(RuntimeError):
    """A local server could not be found, started or reached."""


def free_port(host: str = HOST) -> int:
    """Return a TCP port on `host` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def terminate(process: subprocess.Popen[Any], timeout: float) -> bool:
    """SIGTERM, then SIGKILL after `timeout` seconds; reaped either way. False if it was killed."""
    exited = True
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            exited = False
            process.kill()
    process.wait()  # reap, so no zombie is left behind
    return exited


def command_flags(options: Mapping[str, object]) -> list[str]:
    """`{"port": 1}` as `["--port", "1"]`, for a server's command line."""
    return [arg for name, value in options.items() for arg in (f"--{name}", str(value))]


class ChildProcess:
    """One server process, its log file, and a bounded wait until it answers."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(
        self,
        argv: Sequence[str],
        ready: Callable[[], bool],
        timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Start the process and wait until `ready()`; raise with the log's tail otherwise."""
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 - argv is built here, not from input
                list(argv),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=None if env is None else dict(env),
                cwd=self.log_path.parent,
                # Its own session: Ctrl-C in a terminal signals the whole foreground group,
                # and a server must outlive its clients until its owner stops it, in order.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise LocalServerError(f"{self.name} exited at start: {self.log_tail()}")
            if ready():
                log.info("%s ready (pid %d)", self.name, self.process.pid)
                return
            time.sleep(0.05)
        self.kill()
        raise LocalServerError(f"{self.name} did not answer within {timeout}s: {self.log_tail()}")

    def stop(self, timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        if self.process is None:
            return
        if not terminate(self.process, timeout):
            log.warning("%s ignored SIGTERM for %ss; killed it", self.name, timeout)
        self.process = None

    def kill(self) -> None:
        """SIGKILL, and reap the process."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()  # reap, so no zombie is left behind
            self.process = None

    def log_tail(self, lines: int = 20) -> str:
        """The last `lines` lines of the process's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class Lifecycle:
    """`with` starts the server(s) and closes them on the way out, even if starting failed."""

    def start(self) -> None:
        """Start the server(s)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the server(s) and remove what they left on disk."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ManagedServer(Lifecycle):
    """Shared lifecycle of a server that is either external (from env) or private.

    A subclass names its command line (`_argv`) and readiness probe (`_ready`), and may check
    an external server (`_check_external`), pass an environment (`_env`) or pick ports.
    """

    name = "server"

    def __init__(self, external: str | None, start_timeout: float) -> None:
        self.managed = external is None
        self.start_timeout = start_timeout
        self._port: int | None = None
        self._dir: Path | None = None
        self._child: ChildProcess | None = None

    @property
    def port(self) -> int:
        """The TCP port (after start for a private server)."""
        if self._port is None:
            raise LocalServerError(f"{self.name} has not been started")
        return self._port

    @property
    def started(self) -> bool:
        """Whether a port is known: an external server, or a private one started at least once."""
        return self._port is not None

    @property
    def data_dir(self) -> Path:
        """The private working directory (created on first start, removed by close())."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=f"mastery-{self.name}-"))
        return self._dir

    def start(self) -> None:
        """Start the private server; a restart reuses the same port. No-op for an external one."""
        if not self.managed:
            self._check_external()
            return
        if self._child is not None and self._child.running:
            return
        self._child = self._child or ChildProcess(self.name, self.data_dir / f"{self.name}.log")
        for attempt in range(1, _START_ATTEMPTS + 1):
            first_start = self._port is None
            port = self._port or self._free_port()
            try:
                ready = functools.partial(self._ready, port)
                self._child.start(self._argv(port), ready, self.start_timeout, self._env())
            except LocalServerError:
                if not first_start or attempt == _START_ATTEMPTS:
                    raise
                log.warning("%s could not start on port %d; trying another", self.name, port)
                continue
            self._port = port
            return

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the private server: SIGTERM, then SIGKILL after `timeout` seconds."""
        if self._child is not None:
            self._child.stop(timeout)

    def kill(self) -> None:
        """Kill the private server with SIGKILL (a crash, for fault tests)."""
        if not self.managed:
            raise LocalServerError(f"cannot kill an external {self.name}")
        if self._child is not None:
            self._child.kill()

    def close(self) -> None:
        """Stop the server and remove its working directory."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @property
    def running(self) -> bool:
        """Whether the private server process is alive (always True for an external one)."""
        return not self.managed or (self._child is not None and self._child.running)

    def _log_tail(self) -> str:
        return self._child.log_tail() if self._child is not None else "(not started)"

    def _argv(self, port: int) -> list[str]:
        raise NotImplementedError

    def _ready(self, port: int) -> bool:
        raise NotImplementedError

    def _env(self) -> Mapping[str, str] | None:
        return None

    def _free_port(self) -> int:
        return free_port()

    def _check_external(self) -> None:
        """Fail early, with a clear message, when the external server is unreachable."""
