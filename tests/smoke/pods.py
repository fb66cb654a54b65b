"""A rendered workload's container, resolved the way the kubelet and the platform start it.

From a Knative Service or a Deployment of a rendered overlay: the command (the manifest's
`command`/`args` over the image's ENTRYPOINT/CMD, `$(VAR)` expanded), the environment (the
image's ENV, then `envFrom`, then `env`, ConfigMap and Secret references resolved from the
rendered objects, then what the platform injects), the user, the read-only root, the emptyDir
mounts and the probes.

One machine cannot reproduce everything a cluster does, and where it differs it is said here:
- Every pod of a cluster has its own network namespace; here all share the host's, so each
  declared containerPort moves to a free port, and so does any `*PORT` variable that names it
  (Knative's injected PORT, or ingest's PORT and HEALTH_PORT).
- Addresses only a cluster resolves are pointed at the test's servers: REDIS_URL,
  KAFKA_BROKERS and JWT_JWKS_URL (`endpoints`).
- No queue-proxy, no scheduling, no image pull: probes are sent straight to the container port.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tests.contract._manifests import Manifest, environment, expand
from tests.smoke.image import Image


@dataclass(frozen=True)
class Probe:
    path: str
    port: int
    timeout_seconds: float


@dataclass
class Container:
    """One container of a rendered workload, ready to start on this machine."""

    workload: str
    argv: list[str]
    env: dict[str, str]
    uid: int
    gid: int
    workdir: str
    read_only_root: bool
    no_new_privileges: bool
    tmpfs: dict[str, str] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)
    readiness: Probe | None = None
    liveness: Probe | None = None
    annotations: dict[str, str] = field(default_factory=dict)


def _probe(spec: Manifest | None, container: Manifest, ports: dict[int, int]) -> Probe | None:
    if spec is None:
        return None
    get = spec["httpGet"]
    declared = get.get("port")
    by_name = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if declared is None:  # Knative: the one container port
        number = container["ports"][0]["containerPort"]
    else:
        number = by_name[declared] if isinstance(declared, str) else int(declared)
    return Probe(get["path"], ports[number], float(spec.get("timeoutSeconds", 1)))


def resolve(
    workload: Manifest,
    rendered: list[Manifest],
    image: Image,
    *,
    secrets: Mapping[str, dict[str, str]],
    endpoints: Mapping[str, str],
    free_port: Callable[[], int],
    sidecar_env: Mapping[str, str] = {},
) -> Container:
    """The first container of `workload` (a Knative Service or a Deployment) as it would start."""
    knative = workload["kind"] == "Service" and workload["apiVersion"].startswith("serving.knative")
    name = workload["metadata"]["name"]
    template = workload["spec"]["template"]
    pod, container = template["spec"], template["spec"]["containers"][0]
    annotations = dict(template.get("metadata", {}).get("annotations", {}))
    env = environment(container, rendered, secrets=secrets, base=image.env)
    ports = {p["containerPort"]: free_port() for p in container.get("ports", [])}
    if knative:
        # Knative injects these; PORT is the container port (moved, see the module docstring).
        env.update(PORT=str(container["ports"][0]["containerPort"]), K_SERVICE=name,
                   K_CONFIGURATION=name, K_REVISION=f"{name}-00001")  # fmt: skip
    if annotations.get("dapr.io/enabled") == "true":
        env.update(APP_PROTOCOL=annotations.get("dapr.io/app-protocol", "http"), **sidecar_env)
    env.setdefault("HOSTNAME", f"{name}-smoke")
    env.setdefault("HOME", image.home)
    for key, value in env.items():
        if key.endswith("PORT") and value.isdigit() and int(value) in ports:
            env[key] = str(ports[int(value)])
    env.update({k: v for k, v in endpoints.items() if env.get(k)})
    env = {k: image.host_path(v) if k == "PATH" else v for k, v in env.items()}

    entrypoint, cmd = image.entrypoint, image.cmd
    if "command" in container:
        entrypoint, cmd = container["command"], []
    if "args" in container:
        cmd = container["args"]
    argv = [expand(part, env) for part in [*entrypoint, *cmd]]

    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    uid, gid = image.uid_gid
    uid, gid = int(security.get("runAsUser", uid)), int(security.get("runAsGroup", gid))
    if security.get("runAsNonRoot"):
        assert uid != 0, f"{name}: runAsNonRoot with user 0 never starts"
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    tmpfs = {}
    for volume in pod.get("volumes", []):
        if volume["name"] not in mounts:
            continue
        if "emptyDir" not in volume:
            raise AssertionError(f"{name}: volume {volume['name']} is not an emptyDir")
        tmpfs[mounts[volume["name"]]] = str(volume["emptyDir"].get("sizeLimit", "64Mi"))
    return Container(
        workload=name,
        argv=argv,
        env=env,
        uid=uid,
        gid=gid,
        workdir=image.host_path(container.get("workingDir", image.workdir)),
        read_only_root=bool(security.get("readOnlyRootFilesystem")),
        no_new_privileges=security.get("allowPrivilegeEscalation") is False,
        tmpfs=tmpfs,
        ports=ports,
        readiness=_probe(container.get("readinessProbe"), container, ports),
        liveness=_probe(container.get("livenessProbe"), container, ports),
        annotations=annotations,
    )
