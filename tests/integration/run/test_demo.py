"""scripts/demo, the README's first command after set-up, on a copy of the
repository: it starts its own registry, makes the key pair and the config
repository, runs the chain to a pull request, merges it, and the agent
applies it (to the Kubernetes API stand-in here). A second run changes
nothing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.fixtures.chain import ROOT
from tests.fixtures.git import git
from tests.fixtures.services import free_port

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "shipstep"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "demo", root / "scripts" / "demo")
    shutil.copytree(
        ROOT / "examples", root / "examples", ignore=shutil.ignore_patterns(".shipstep")
    )
    (root / ".gitignore").write_text(".shipstep/\n")
    # A clone of the repository: the commit gives the tag and the build time.
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "shipstep")
    yield root
    pid = root / "examples" / "hello-app" / ".shipstep" / "registry" / "pid"
    if pid.exists():  # the registry the demo started
        os.kill(int(pid.read_text()), signal.SIGTERM)


def demo(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / "scripts" / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )


@pytest.fixture
def registry(docker_client: docker.DockerClient) -> Iterator[str]:
    """The address the demo starts its registry on; its images are removed after."""
    address = f"127.0.0.1:{free_port()}"
    yield address
    for image in docker_client.images.list(name=f"{address}/hello-app"):
        with contextlib.suppress(docker.errors.DockerException):
            docker_client.images.remove(image.id, force=True)


def test_demo_ends_at_a_pull_request_and_the_agent_applies_the_merge(
    checkout: Path, registry: str, kube: Any
) -> None:
    kube.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shipstep-system"}})
    env = {
        **os.environ,
        "SHIPSTEP_PYTHON": sys.executable,
        "SHIPSTEP_DEMO_REGISTRY": registry,
        "KUBECONFIG": str(kube.kubeconfig),
        "SHIPSTEP_DEMO_APPLY": "1",
    }
    env.pop("COSIGN_PASSWORD", None)

    first = demo(checkout, env)

    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    state = checkout / "examples" / "hello-app" / ".shipstep"
    outputs = json.loads((state / "run.json").read_text())
    assert outputs["result"] == "passed" and outputs["bump-operation"] == "created"
    assert outputs["image"].startswith(f"{registry}/hello-app@sha256:")
    assert (
        (state / "cosign.key").read_text().startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY")
    )
    record = json.loads((state / "config-repo.git" / "shipstep-pulls" / "1.json").read_text())
    assert record["state"] == "merged" and record["head"] == "shipstep/bump/hello-app-local"
    deployment = git(state / "config-repo.git", "show", "main:apps/hello-app/deployment.yaml")
    revision = git(checkout, "rev-parse", "HEAD").strip()
    reference = f"{registry}/hello-app:{revision[:12]}@{outputs['digest']}"
    assert reference in deployment
    applied = kube.object("apps/v1", "Deployment", "hello-app", "hello")
    assert applied is not None
    image = applied["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == reference

    second = demo(checkout, env)

    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    again = json.loads((state / "run.json").read_text())
    assert again["digest"] == outputs["digest"]
    assert again["bump-operation"] == "unchanged"
    assert sorted(p.name for p in (state / "config-repo.git" / "shipstep-pulls").glob("*")) == [
        "1.json"
    ]
    assert again["pr-url"] == ""
    assert "already merged" not in second.stdout  # nothing new to merge


def test_demo_without_a_cluster_ends_at_the_agents_plan(
    checkout: Path, registry: str, tmp_path: Path
) -> None:
    """The README's first command on a laptop: no KUBECONFIG, not in a Pod."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "COSIGN_PASSWORD")
        and not k.startswith("SHIPSTEP_")
    }
    env.update(HOME=str(home), SHIPSTEP_PYTHON=sys.executable, SHIPSTEP_DEMO_REGISTRY=registry)

    first = demo(checkout, env)

    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    state = checkout / "examples" / "hello-app" / ".shipstep"
    outputs = json.loads((state / "run.json").read_text())
    bare = state / "config-repo.git"
    record = json.loads((bare / "shipstep-pulls" / "1.json").read_text())
    merge = git(bare, "rev-parse", "main")
    assert record["state"] == "merged" and record["merge_commit"] == merge
    assert git(bare, "log", "-1", "--format=%s", merge) == (
        "Merge pull request #1 from shipstep/bump/hello-app-local"
    )
    assert f"merged, main is now {merge}" in first.stdout
    revision = git(checkout, "rev-parse", "HEAD").strip()
    image = f"{registry}/hello-app:{revision[:12]}@{outputs['digest']}"
    tail = first.stdout[first.stdout.index("== demo: shipstep agent --once --dry-run") :]
    lines = tail.splitlines()
    assert lines[1] == f"revision {merge}: plan (dry run, nothing written)"
    assert lines[2].startswith("note: no cluster to compare with")
    assert "  Deployment.apps hello/hello-app  (clusters/local (kustomize):24)" in lines
    assert f"  verified  {image}: rule demo: signed by cosign.pub" in lines
    assert lines[-4:] == [
        "plan:",
        "  would apply Namespace hello",
        "  would apply Service hello/hello-app",
        "  would apply Deployment.apps hello/hello-app",
    ]
    assert "Cannot load Kubernetes credentials" not in first.stderr

    second = demo(checkout, env)

    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert json.loads((state / "run.json").read_text())["bump-operation"] == "unchanged"
    assert git(bare, "rev-parse", "main") == merge
    assert "no pull request to merge" in second.stdout
    again = second.stdout[second.stdout.index("== demo: shipstep agent --once --dry-run") :]
    assert again.splitlines()[1:] == lines[1:]
