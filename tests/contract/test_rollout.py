"""The gradual-rollout patches of docs/DEPLOY.md (`deploy/rollout/*.json`), applied offline by
`kubectl patch --local` to every Knative Service the production overlay renders: each step
validates against the Knative CRD schema and keeps the traffic block sound."""

from __future__ import annotations

import json
import string
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.contract._manifests import ROOT, kubectl, of_kind, render, validate

ROLLOUT = ROOT / "deploy" / "rollout"
RELEASE, STABLE_RELEASE = "r2", "r1"


def patched(service: dict[str, Any], step: str, tmp_path: Path) -> dict[str, Any]:
    """`envsubst < deploy/rollout/<step>.json | kubectl patch --local ... --type json`."""
    name = service["metadata"]["name"]
    values = {"FUNCTION": name, "RELEASE": RELEASE, "STABLE": f"{name}-{STABLE_RELEASE}",
              "IMAGE": f"registry.example/mastery-engine:{RELEASE}"}  # fmt: skip
    patch = string.Template((ROLLOUT / f"{step}.json").read_text()).substitute(values)
    source, patch_file = tmp_path / f"{name}.json", tmp_path / f"{name}-{step}.json"
    source.write_text(json.dumps(service))
    patch_file.write_text(patch)
    result = subprocess.run(
        [kubectl(), "patch", "--local", "-f", str(source), "--type", "json",
         "--patch-file", str(patch_file), "-o", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{step} on {name}: {result.stderr}"
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def traffic(service: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(t["tag"], t["revisionName"], t["percent"]) for t in service["spec"]["traffic"]]


def services() -> list[dict[str, Any]]:
    return of_kind(render("deploy/overlays/production"), "Service")


@pytest.mark.parametrize("name", [s["metadata"]["name"] for s in services()])
def test_a_canary_goes_10_then_50_then_100_percent(name: str, tmp_path: Path) -> None:
    [service] = [s for s in services() if s["metadata"]["name"] == name]
    stable, candidate = f"{name}-{STABLE_RELEASE}", f"{name}-{RELEASE}"
    steps = {}
    current = service
    for step in ("canary-start", "canary-50", "promote"):
        current = steps[step] = patched(current, step, tmp_path)
        assert validate(current) == [], step
        assert sum(p for _, _, p in traffic(current)) == 100
    start = steps["canary-start"]
    assert start["spec"]["template"]["metadata"]["name"] == candidate  # named per release
    assert start["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{RELEASE}")
    assert traffic(start) == [("stable", stable, 90), ("candidate", candidate, 10)]
    assert traffic(steps["canary-50"]) == [("stable", stable, 50), ("candidate", candidate, 50)]
    assert traffic(steps["promote"]) == [("stable", candidate, 100)]
    # Only the revision name, image and traffic change: the rest of the Service stays as rendered.
    for step in steps.values():
        kept = json.loads(json.dumps(step))
        kept["spec"].pop("traffic")
        kept["spec"]["template"]["metadata"].pop("name")
        kept["spec"]["template"]["spec"]["containers"][0].pop("image")
        original = json.loads(json.dumps(service))
        original["spec"]["template"]["spec"]["containers"][0].pop("image")
        assert kept == original


@pytest.mark.parametrize("name", [s["metadata"]["name"] for s in services()])
def test_a_rollback_is_one_patch_from_any_canary_step(name: str, tmp_path: Path) -> None:
    [service] = [s for s in services() if s["metadata"]["name"] == name]
    started = patched(service, "canary-start", tmp_path)
    for before in (started, patched(started, "canary-50", tmp_path)):
        rolled_back = patched(before, "rollback", tmp_path)
        assert validate(rolled_back) == []
        assert traffic(rolled_back) == [("stable", f"{name}-{STABLE_RELEASE}", 100)]


def test_a_step_meant_for_another_service_changes_nothing(tmp_path: Path) -> None:
    """The patches' `test` operations: a canary step of `predict` applied to `query` fails."""
    query = next(s for s in services() if s["metadata"]["name"] == "query")
    started = patched(query, "canary-start", tmp_path)
    started["metadata"]["name"] = "predict"  # query's canary, patched as if it were predict's
    with pytest.raises(AssertionError, match="canary-50 on predict"):
        patched(started, "canary-50", tmp_path)
