"""The kustomize base in deploy/agent builds and keeps its security settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fixtures.services import require_binary

pytestmark = pytest.mark.timeout(60)
BASE = Path(__file__).resolve().parents[3] / "deploy" / "agent"


def build(path: Path) -> list[dict]:
    require_binary("kubectl", "kubernetes-client")
    out = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=True
    )
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_base_is_least_privilege_and_hardened() -> None:
    objects = build(BASE)
    kinds = sorted(o["kind"] for o in objects)
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    assert {
        "Deployment",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Service",
        "ConfigMap",
        "Namespace",
    } <= set(kinds)
    deploy = next(o for o in objects if o["kind"] == "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    config = next(o for o in objects if o["metadata"]["name"] == "shipstep-agent-config")
    assert config["data"]["SHIPSTEP_ALLOW_NAMESPACES"] == "apps"
    for role in (o for o in objects if o["kind"] == "Role"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"]


def test_cluster_scope_component_is_opt_in(tmp_path: Path) -> None:
    overlay = BASE.parent / ".test-overlay"
    overlay.mkdir(exist_ok=True)
    try:
        (overlay / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources: [../agent]\ncomponents: [../agent/cluster-scope]\n"
        )
        objects = build(overlay)
    finally:
        (overlay / "kustomization.yaml").unlink()
        overlay.rmdir()
    assert any(o["kind"] == "ClusterRole" for o in objects)
    config = next(o for o in objects if o["metadata"]["name"] == "shipstep-agent-config")
    assert "SHIPSTEP_ALLOW_NAMESPACES" not in config["data"]
