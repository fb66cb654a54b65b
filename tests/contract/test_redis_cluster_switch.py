"""The Redis Cluster switch (deploy/components/redis-cluster) renders a valid, consistent bundle.

Listing the component in an overlay must flip both sides together — Dapr's `redisType: cluster`
on the one state store and REDIS_CLUSTER=true for every function — and leave every manifest
valid against the upstream schemas and the state.redis metadata list.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from mastery.config import Settings
from tests.contract._manifests import (
    OVERLAYS,
    ROOT,
    Manifest,
    component_metadata_errors,
    find,
    kubectl,
    validate,
)
from tests.contract.test_manifests import FUNCTIONS, _env, _workloads

SWITCH = ROOT / "deploy" / "components" / "redis-cluster"


def _render_with_switch(overlay: str, workdir: Path) -> list[Manifest]:
    # kustomize accepts only relative paths to other kustomizations.
    up = Path(os.path.relpath(ROOT, workdir))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [str(up / "deploy" / "overlays" / overlay)],
        "components": [str(up / SWITCH.relative_to(ROOT))],
    }
    (workdir / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    command = [kubectl(), "kustomize", str(workdir)]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cluster_switch_flips_dapr_and_every_function_together(
    overlay: str, tmp_path: Path
) -> None:
    manifests = _render_with_switch(overlay, tmp_path)
    problems = {f"{m['kind']} {m['metadata']['name']}": e for m in manifests if (e := validate(m))}
    assert problems == {}
    store = find(manifests, "Component", "mastery-state")
    assert component_metadata_errors(store) == []
    metadata = {m["name"]: m.get("value") for m in store["spec"]["metadata"]}
    assert metadata["redisType"] == "cluster"
    workloads = _workloads(manifests)
    for function in FUNCTIONS:
        env = _env(manifests, workloads[function].container)
        assert Settings.from_env(env).redis_cluster, function


def test_state_component_documents_the_switch() -> None:
    text = (ROOT / "dapr" / "components" / "mastery-state.yaml").read_text(encoding="utf-8")
    assert "deploy/components/redis-cluster" in text
