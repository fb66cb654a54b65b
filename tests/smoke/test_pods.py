"""Smoke tier: every rendered pod of ours starts under its own constraints and serves.

For each overlay (local, production, production with the Redis Cluster switch, and the other
ingest modes), each Knative Service and the ingest Deployment is started the way the kubelet
would start it (tests/smoke/pods.py resolves it, tests/smoke/sandbox.py runs it: read-only root,
emptyDirs as tmpfs, the declared user, only the declared environment) against the test Redis,
broker, identity provider and a fake Dapr sidecar. Then its readiness and liveness probes are
called as declared, and one real request is made: an authenticated API call for an HTTP
function, a delivery with daprd's token for ingest, a record on the topic for the consumer.

Not reproduced here, and said where it matters: scheduling, image pulls, the queue-proxy and
activator (probes go straight to the container), a pod network namespace (ports are moved,
see pods.py), and daprd itself (a fake speaking its gRPC API).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from dapr.proto.runtime.v1 import appcallback_pb2 as appcallback_v1
from dapr.proto.runtime.v1 import appcallback_pb2_grpc as appcallback_service_v1

from mastery.local.process import free_port
from mastery.local.redis_server import RedisCluster
from mastery.local.servers import KafkaBroker, RedisServer
from tests.contract._manifests import Manifest, find, render, render_with_components
from tests.smoke import image, pods, sandbox
from tests.smoke.platform import Jwks, documented_secrets, jwks, sidecar

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(sandbox.available()), reason=str(sandbox.available())),
]

# The one authenticated request per HTTP function: (role, path).
HTTP_FUNCTIONS = {
    "query": ("student", "/v1/students/{student}/mastery"),
    "predict": ("student", "/v1/students/{student}/forecast"),
    "recommend": ("student", "/v1/students/{student}/recommendations"),
    "gdpr": ("admin", "/v1/audit?student_id={student}"),
    "agents": ("student", "/mcp"),  # an MCP tools/call (POST), below
}
CLUSTER = "deploy/components/redis-cluster"
# name -> (overlay, extra components, workloads started)
VARIANTS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "local": ("local", (), (*HTTP_FUNCTIONS, "ingest")),
    "production": ("production", (), (*HTTP_FUNCTIONS, "ingest")),
    "production+redis-cluster": ("production", (CLUSTER,), (*HTTP_FUNCTIONS, "ingest")),
    "production+ingest-grpc": ("production", ("deploy/components/ingest-grpc",), ("ingest",)),
    "local+ingest-native-kafka": ("local", ("deploy/components/ingest-native-kafka",), ("ingest",)),
}
CASES = [f"{variant}/{name}" for variant, (_, _, names) in VARIANTS.items() for name in names]
STARTED_AT_ONCE = 6
READY_WITHIN_S = 60.0
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Outcome:
    error: str | None
    log: str


def _workload(rendered: list[Manifest], name: str) -> Manifest:
    kind = "Deployment" if name == "ingest" else "Service"
    return find(rendered, kind, name)


def _event(student: str) -> bytes:
    return json.dumps({
        "id": f"smoke-{uuid.uuid4().hex}", "type": "exercise.completed", "student_id": student,
        "topic": "control_flow.for_loops", "occurred_at": datetime.now(UTC).isoformat(),
        "data": {"exercise_id": "ex-1", "difficulty": "medium", "passed": True, "score": 1.0},
    }).encode()  # fmt: skip


def _checked_process(pid: int, container: pods.Container) -> None:
    """The process runs as declared: its user, its environment alone, its read-only root."""
    status = Path(f"/proc/{pid}/status").read_text()
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert int(uid) == container.uid, f"runs as uid {uid}"
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    names = {item.split(b"=", 1)[0].decode() for item in environ if item}
    # The image's /bin/sh exports PWD, as it does in the container.
    assert names - set(container.env) - {"PWD"} == set(), "undeclared environment"
    mounts = [line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()]
    root = next(m for m in mounts if m[4] == "/")
    assert ("ro" in root[5].split(",")) == container.read_only_root, root
    for path in container.tmpfs:
        assert any(m[4] == path and "tmpfs" in m for m in mounts), f"no tmpfs at {path}"


@dataclass
class Pod:
    case: str
    container: pods.Container
    redis_url: str
    redis_cluster: bool

    @property
    def function(self) -> str:
        return self.case.rsplit("/", 1)[1]

    async def applied(self, student: str) -> None:
        """Wait until the student's record exists: ingest applied the event."""
        url = self.redis_url
        store = (
            aioredis.RedisCluster.from_url(url)
            if self.redis_cluster
            else aioredis.Redis.from_url(url)
        )
        try:
            deadline = time.monotonic() + 30
            while not await store.exists(f"student:{{{student}}}"):
                assert time.monotonic() < deadline, f"the event of {student} was never applied"
                await asyncio.sleep(0.2)
        finally:
            await store.aclose()


async def _request(pod: Pod, client: httpx.AsyncClient, provider: Jwks) -> None:
    """One real request: an authenticated API call, or one learning event delivered."""
    env = pod.container.env
    student = f"smoke-{uuid.uuid4().hex[:12]}"
    port = pod.container.ports[8080]
    mode = env.get("INGEST_MODE", "http")
    kafka = {"__topic": env["KAFKA_TOPIC"], "__partition": "0", "__offset": "0", "__key": student}
    if pod.function in HTTP_FUNCTIONS:
        role, path = HTTP_FUNCTIONS[pod.function]
        token = provider.token(student, role, env)
        url = f"http://127.0.0.1:{port}{path.format(student=student)}"
        headers = {"Authorization": f"Bearer {token}"}
        if pod.function == "agents":
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "get_student_mastery", "arguments": {"student_id": student}}}  # fmt: skip
            headers["Accept"] = "application/json, text/event-stream"
            response = await client.post(url, json=call, headers=headers)
            assert response.status_code == 200, f"POST {url}: {response.text}"
            assert response.json()["result"]["isError"] is False, response.text
            return
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text}"
        return
    if mode == "http":
        headers = {"dapr-api-token": env["APP_API_TOKEN"], "Content-Type": "application/json"}
        url = f"http://127.0.0.1:{port}/learning-events"
        response = await client.post(url, content=_event(student), headers={**headers, **kafka})
        assert response.status_code == 200, f"POST {url}: {response.status_code} {response.text}"
        assert response.json() == {"outcome": "applied"}
    elif mode == "grpc":
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = appcallback_service_v1.AppCallbackStub(channel)
            request = appcallback_v1.BindingEventRequest(
                name="learning-events", data=_event(student), metadata=kafka
            )
            token = (("dapr-api-token", env["APP_API_TOKEN"]),)
            await stub.OnBindingEvent(request, metadata=token, timeout=10)
    else:
        producer = AIOKafkaProducer(bootstrap_servers=env["KAFKA_BROKERS"])
        await producer.start()
        try:
            await producer.send_and_wait(env["KAFKA_TOPIC"], _event(student), key=student.encode())
        finally:
            await producer.stop()
    await pod.applied(student)


async def _probe(client: httpx.AsyncClient, probe: pods.Probe | None, what: str) -> httpx.Response:
    assert probe is not None, f"no {what} probe"
    url = f"http://127.0.0.1:{probe.port}{probe.path}"
    return await client.get(url, timeout=probe.timeout_seconds)


async def _scraped(client: httpx.AsyncClient, pod: Pod) -> None:
    """Prometheus's scrape, where the annotations point it; the token keeps others out."""
    annotations, container = pod.container.annotations, pod.container
    assert annotations.get("prometheus.io/scrape") == "true", "not scraped"
    port = container.ports[int(annotations["prometheus.io/port"])]
    url = f"http://127.0.0.1:{port}{annotations['prometheus.io/path']}"
    bearer = {"Authorization": f"Bearer {container.env['METRICS_TOKEN']}"}
    scraped = await client.get(url, headers=bearer)
    assert scraped.status_code == 200, f"scrape {url}: {scraped.status_code}"
    assert scraped.headers["content-type"].startswith("text/plain")
    anonymous = await client.get(url)
    assert anonymous.status_code == 404, f"{url} without the token: {anonymous.status_code}"


async def _ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes], pod: Pod) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    last = "no answer"
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise AssertionError(f"the container exited with status {code} before it was ready")
        try:
            response = await _probe(client, pod.container.readiness, "readiness")
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text}"
        except httpx.TransportError as exc:
            last = repr(exc)
        await asyncio.sleep(0.25)
    raise AssertionError(f"readiness never passed in {READY_WITHIN_S}s: {last}")


async def _run(pod: Pod, provider: Jwks, logs: Path, gate: asyncio.Semaphore) -> Outcome:
    log_path = logs / (pod.case.replace("/", "__") + ".log")
    # A connection per request, as the kubelet probes: a kept-alive one can be closed by the
    # server's idle timeout (gunicorn's 2 s) just as the next request goes out on a slow machine.
    # Requests may take as long as query's and predict's Knative timeoutSeconds (30).
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with gate, httpx.AsyncClient(limits=fresh, timeout=REQUEST_TIMEOUT_S) as client:
        with log_path.open("wb") as log:
            process = sandbox.start(pod.container, log)
            try:
                await _ready(client, process, pod)
                _checked_process(process.pid, pod.container)
                live = await _probe(client, pod.container.liveness, "liveness")
                assert live.status_code == 200, f"liveness: {live.status_code} {live.text}"
                await _scraped(client, pod)
                await _request(pod, client, provider)
                error = None
            except Exception as exc:  # reported per pod, with its log
                error = f"{type(exc).__name__}: {exc}"
            finally:
                await asyncio.to_thread(sandbox.stop, process)
    return Outcome(error, log_path.read_text(errors="replace"))


@pytest.fixture(scope="module")
async def outcomes(
    redis_server: RedisServer, kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, Outcome]]:
    the_image = image.load()
    await kafka_broker.acreate_topics(["learning.events", "learning.events.dlq", "struggle.alerts"])
    with RedisCluster() as cluster, jwks() as provider:
        async with sidecar(redis_server.url) as dapr:
            started: list[Pod] = []
            for variant, (overlay, components, names) in VARIANTS.items():
                workdir = tmp_path_factory.mktemp(variant.replace("+", "-"))
                rendered = (render_with_components(overlay, components, workdir) if components
                            else render(f"deploy/overlays/{overlay}"))  # fmt: skip
                on_cluster = CLUSTER in components
                redis_url = cluster.url if on_cluster else redis_server.url
                for name in names:
                    container = pods.resolve(
                        _workload(rendered, name),
                        rendered,
                        the_image,
                        # Production's Secrets are created out of band, as DEPLOY.md says.
                        secrets=documented_secrets() if overlay == "production" else {},
                        endpoints={
                            "REDIS_URL": redis_url,
                            "KAFKA_BROKERS": kafka_broker.brokers,
                            "JWT_JWKS_URL": provider.url,
                        },
                        free_port=free_port,
                        sidecar_env=dapr.env,
                    )
                    started.append(Pod(f"{variant}/{name}", container, redis_url, on_cluster))
            logs = tmp_path_factory.mktemp("pod-logs")
            gate = asyncio.Semaphore(STARTED_AT_ONCE)
            results = await asyncio.gather(*(_run(pod, provider, logs, gate) for pod in started))
            yield {pod.case: outcome for pod, outcome in zip(started, results, strict=True)}


@pytest.mark.parametrize("case", CASES)
def test_pod_starts_under_its_constraints_and_serves(
    case: str, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[case]
    assert outcome.error is None, (
        f"{case}: {outcome.error}\n--- container log ---\n{outcome.log[-3000:]}"
    )
