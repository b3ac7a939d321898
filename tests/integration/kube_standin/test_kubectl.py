"""The real `kubectl` against the stand-in: a second, independent client."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fixtures.kube import KubeStandin
from tests.fixtures.services import require_binary
from tests.integration.kube_standin.helpers import APPLY, DIGEST_A, deployment

pytestmark = pytest.mark.timeout(120)


def kubectl(kube: KubeStandin, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = require_binary("kubectl", "kubectl")
    env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig), "HOME": str(kube.kubeconfig.parent)}
    return subprocess.run(
        [binary, *args], env=env, capture_output=True, text=True, timeout=60, check=check
    )


def test_kubectl_server_side_apply_rollout_and_delete(kube: KubeStandin, tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(
        yaml.safe_dump(deployment(image=f"registry.example/shop/web:1.0@{DIGEST_A}"))
    )
    applied = kubectl(
        kube,
        "apply",
        "--server-side",
        "--validate=false",
        "--field-manager=shipstep",
        "-f",
        str(manifest),
    )
    assert applied.stdout.strip() == "deployment.apps/web serverside-applied"
    assert (
        kube.requests.count("PATCH", "/apis/apps/v1/namespaces/default/deployments/web", APPLY) == 1
    )
    rollout = kubectl(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    assert 'deployment "web" successfully rolled out' in rollout.stdout
    live = json.loads(
        kubectl(kube, "get", "deployment", "web", "-o", "json", "--show-managed-fields").stdout
    )
    assert live["status"]["readyReplicas"] == 2
    managers = {(m["manager"], m["operation"]) for m in live["metadata"]["managedFields"]}
    assert ("shipstep", "Apply") in managers
    pods = json.loads(kubectl(kube, "get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    assert {p["status"]["containerStatuses"][0]["imageID"] for p in pods} == {
        f"registry.example/shop/web@{DIGEST_A}"
    }
    unchanged = kubectl(
        kube, "diff", "--server-side", "--field-manager=shipstep", "-f", str(manifest), check=False
    )
    assert (unchanged.returncode, unchanged.stdout) == (0, "")
    kubectl(kube, "scale", "deployment/web", "--replicas=5")  # the /scale subresource
    refused = kubectl(
        kube,
        "apply",
        "--server-side",
        "--validate=false",
        "--field-manager=shipstep",
        "-f",
        str(manifest),
        check=False,
    )
    assert refused.returncode != 0
    assert "conflict" in refused.stderr.lower() and ".spec.replicas" in refused.stderr
    kubectl(kube, "delete", "-f", str(manifest))
    kube.settle()
    assert kube.objects("v1", "Pod", "default") == []
