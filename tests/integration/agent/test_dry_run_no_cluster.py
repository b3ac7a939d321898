"""`shipstep agent --once --dry-run` with no cluster at all (no kubeconfig,
not in a Pod): a real git config repository, images signed in the real
registry, the plan printed; refusals and an explicit bad kubeconfig are still
errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from shipstep.cli import cli
from shipstep.cli._app import run_cli
from tests.fixtures.git import git
from tests.fixtures.registry import Registry
from tests.integration.agent.harness import configmap, deployment, docs, namespace, new_repo
from tests.integration.signing.conftest import push_image

pytestmark = pytest.mark.timeout(180)
PASSWORD = "dry run pass"
NOTE = "no cluster to compare with"


@pytest.fixture
def no_cluster_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment in which no cluster credentials can be found."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)  # read by keygen and sign
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITHUB_ACTIONS", "CODEBUILD_BUILD_ID") and not k.startswith("SHIPSTEP_")
    }


def shipstep(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(cli, list(args), env)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def signed(
    registry: Registry,
    tmp_path: Path,
    no_cluster_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    """A key pair, a policy trusting it for the test repositories, one
    image signed with it and one left unsigned."""
    code, _, err = shipstep(
        no_cluster_env, capsys, "keygen", "--output-prefix", str(tmp_path / "k")
    )
    assert code == 0, err
    good, bare = push_image(registry.host, "dry-signed"), push_image(registry.host, "dry-unsigned")
    code, _, err = shipstep(
        no_cluster_env, capsys, "sign", "--image", good.pinned, "--key", str(tmp_path / "k.key")
    )
    assert code == 0, err
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"version: 1\nrules:\n  - name: dry\n    repositories: ['{registry.host}/sign-test/**']\n"
        f"    keys: ['{tmp_path / 'k.pub'}']\n"
    )
    return {"signed": good.pinned, "unsigned": bare.pinned, "policy": policy}


def agent_args(url: str, policy: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "agent",
        "--once",
        "--dry-run",
        "--repo-url",
        url,
        "--path",
        "manifests",
        "--default-namespace",
        "apps",
        "--allow-cluster-kind",
        "Namespace",
        "--allow-cluster-kind",
        "apiextensions.k8s.io/CustomResourceDefinition",
        "--policy",
        str(policy),
        "--workdir",
        str(tmp_path / "work"),
        *extra,
    ]


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets"},
        "versions": [{"name": "v1", "served": True, "storage": True}],
    },
}
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}}


def test_plan_without_a_cluster(
    git_server: Any,
    signed: dict[str, Any],
    no_cluster_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = new_repo(
        git_server,
        tmp_path,
        {
            "manifests/ns.yaml": docs(namespace("apps")),
            "manifests/web.yaml": docs(deployment("web", signed["signed"]), configmap("cfg")),
            "manifests/widgets.yaml": docs(CRD, WIDGET),
        },
    )
    args = agent_args(repo.url, signed["policy"], tmp_path)
    code, out, err = shipstep(no_cluster_env, capsys, *args)
    assert code == 0, out + err
    head = git(repo.work, "rev-parse", "HEAD")
    lines = out.splitlines()
    assert lines[0] == f"revision {head}: plan (dry run, nothing written)", out
    assert NOTE in lines[1] and "--kubeconfig" in lines[1]
    assert "objects (5 rendered):" in lines
    for shown in (
        "  Namespace apps  (manifests/ns.yaml:1)",
        "  Deployment.apps apps/web  (manifests/web.yaml:1)",
        "  ConfigMap apps/cfg  (manifests/web.yaml:",
        "  CustomResourceDefinition.apiextensions.k8s.io widgets.example.com  (manifests/widgets.yaml:1)",
        "  Widget.example.com apps/w1  (manifests/widgets.yaml:",
    ):
        assert any(line.startswith(shown) for line in lines), (shown, out)
    assert "images (1):" in lines
    verdict = next(line for line in lines if signed["signed"] in line)
    assert verdict.startswith("  verified  ") and "rule dry" in verdict, verdict
    plan = lines[lines.index("plan:") + 1 :]
    assert sorted(plan) == sorted(
        [
            "  would apply Namespace apps",
            "  would apply Deployment.apps apps/web",
            "  would apply ConfigMap apps/cfg",
            "  would apply CustomResourceDefinition.apiextensions.k8s.io widgets.example.com",
            "  would apply Widget.example.com apps/w1",
        ]
    ), out
    assert "Cannot load Kubernetes credentials" not in err

    # The same as JSON: a dry run, nothing counted as written, the note in `reason`.
    code, out, err = shipstep(no_cluster_env, capsys, "--output", "json", *args)
    assert code == 0, err
    result = json.loads(out)
    assert result["result"] == "dry-run" and NOTE in result["reason"]
    assert result["created"] == 0 and result["pruned"] == 0 and result["drift"] == 0
    assert result["revision"] == head


def test_refused_revision_without_a_cluster_exits_1_with_the_reason(
    git_server: Any,
    signed: dict[str, Any],
    no_cluster_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = new_repo(
        git_server,
        tmp_path,
        {"manifests/web.yaml": docs(deployment("web", signed["unsigned"]), configmap("cfg"))},
    )
    code, out, err = shipstep(
        no_cluster_env, capsys, *agent_args(repo.url, signed["policy"], tmp_path)
    )
    assert code == 1, out + err
    assert ": refused" in out.splitlines()[0] and NOTE in out
    assert f"manifests/web.yaml:1: Deployment.apps apps/web: image {signed['unsigned']}" in out
    assert "refused: " in out and "has no " in out, out
    assert "Traceback" not in out + err

    # A kind no API server serves is refused too (kinds come from the catalogue).
    old = {
        "apiVersion": "extensions/v1beta1",
        "kind": "Ingress",
        "metadata": {"name": "old"},
    }
    repo = new_repo(git_server, tmp_path, {"manifests/old.yaml": docs(old)})
    code, out, _ = shipstep(
        no_cluster_env, capsys, *agent_args(repo.url, signed["policy"], tmp_path)
    )
    assert code == 1
    assert "manifests/old.yaml:1: kind Ingress (extensions/v1beta1) is not known" in out, out


def test_explicit_cluster_settings_that_fail_are_still_errors(
    git_server: Any,
    signed: dict[str, Any],
    no_cluster_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = new_repo(git_server, tmp_path, {"manifests/cm.yaml": docs(configmap("cfg"))})
    args = agent_args(repo.url, signed["policy"], tmp_path)
    bad = tmp_path / "kubeconfig"
    bad.write_text("this: is: not a kubeconfig\n")
    code, out, err = shipstep(no_cluster_env, capsys, *args, "--kubeconfig", str(bad))
    assert code == 1 and "Cannot load Kubernetes credentials" in err and "--kubeconfig" in err
    assert "Traceback" not in err and "would apply" not in out
    code, _, err = shipstep(
        no_cluster_env, capsys, *args, "--kubeconfig", str(tmp_path / "missing")
    )
    assert code == 2 and "does not exist" in err
    # SHIPSTEP_KUBECONFIG is the same explicit setting.
    with monkeypatch.context() as patch:
        patch.setenv("SHIPSTEP_KUBECONFIG", str(bad))
        code, _, err = shipstep(no_cluster_env, capsys, *args)
    assert code == 1 and "Cannot load Kubernetes credentials" in err
    # In a Pod whose credentials cannot be read, a dry run does not pretend there is no cluster.
    with monkeypatch.context() as patch:
        patch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
        patch.setenv("KUBERNETES_SERVICE_PORT", "443")
        code, _, err = shipstep(no_cluster_env, capsys, *args)
    assert code == 1 and "Cannot load Kubernetes credentials" in err
    # Without --dry-run, no cluster is an error as before.
    once = [a for a in args if a != "--dry-run"]
    code, out, err = shipstep(no_cluster_env, capsys, *once)
    assert code == 1 and "Cannot load Kubernetes credentials" in err
