"""The Redis Cluster switch (deploy/components/redis-cluster) renders a valid, consistent bundle.

Listing the component in an overlay must flip both sides together — Dapr's `redisType: cluster`
on the one state store and REDIS_CLUSTER=true for every function — and leave every manifest
valid against the upstream schemas and the state.redis metadata list.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mastery.config import Settings
from tests.contract._manifests import (
    OVERLAYS,
    ROOT,
    component_metadata_errors,
    find,
    render_with_components,
    validate,
)
from tests.contract.test_manifests import FUNCTIONS, _env, _workloads

SWITCH = "deploy/components/redis-cluster"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cluster_switch_flips_dapr_and_every_function_together(
    overlay: str, tmp_path: Path
) -> None:
    manifests = render_with_components(overlay, [SWITCH], tmp_path)
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
    assert SWITCH in text
