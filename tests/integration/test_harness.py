"""The test harness's real services answer: the other tests rely on them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import docker
import requests

from tests.fixtures.git import GitServer, git
from tests.fixtures.images import ImageFactory
from tests.fixtures.registry import Registry


def test_busybox_image_runs(docker_client: docker.DockerClient, make_image: ImageFactory) -> None:
    tag = make_image(files={"hello.txt": "hello from scratch\n"})
    output = docker_client.containers.run(
        tag, ["cat", "/hello.txt"], remove=True, network_mode="none"
    )
    assert output == b"hello from scratch\n"


def test_registry_round_trip(registry: Registry) -> None:
    response = requests.get(f"{registry.url}/v2/", timeout=5)
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_auth_registry_refuses_anonymous(auth_registry: Registry) -> None:
    assert requests.get(f"{auth_registry.url}/v2/", timeout=5).status_code == 401
    ok = requests.get(f"{auth_registry.url}/v2/", headers=auth_registry.auth_header(), timeout=5)
    assert ok.status_code == 200


def test_moto_ecr(aws_endpoint: str) -> None:
    ecr = boto3.client("ecr", endpoint_url=aws_endpoint, region_name="eu-west-1")
    ecr.create_repository(repositoryName="harness/check")
    names = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
    assert "harness/check" in names


def test_git_daemon_clone_and_push(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("harness", {"README.md": "hi\n"})
    clone = tmp_path / "clone"
    git(tmp_path, "clone", git_server.url("harness"), str(clone))
    assert (clone / "README.md").read_text() == "hi\n"
    (clone / "new.txt").write_text("x")
    git(clone, "add", "new.txt")
    git(clone, "commit", "-m", "add")
    git(clone, "push", "origin", "main")
    log = subprocess.run(
        ["git", "--git-dir", str(git_server.root / "harness.git"), "log", "--format=%s"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert log.stdout.split() == ["add", "initial"]
