"""`shipstep publish` as users run it: flags, action inputs, outputs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipstep.cli import cli
from shipstep.cli._app import run_cli
from tests.fixtures.images import ImageFactory
from tests.fixtures.registry import Registry, RegistryFactory
from tests.fixtures.registry_proxy import RegistryProxy
from tests.integration.publish.helpers import ECR_HOST, unique

pytestmark = pytest.mark.timeout(120)


def run(
    capsys: pytest.CaptureFixture[str], argv: list[str], env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    code = run_cli(cli, argv, env or {})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "reg.io/App:1", "--image", "x"], "Invalid destination (--to) 'reg.io/App:1'"),
        (["--to", "reg.io/app:1", "--from", "reg.io/a@sha256:12"], "Invalid source (--from)"),
        (["--to", "reg.io/app@sha256:" + "a" * 64, "--image", "x"], "has a digest"),
        (["--to", "reg.io/app:1"], "exactly one of --image"),
        (
            ["--to", "reg.io/app:1", "--image", "x", "--from", "reg.io/b:1"],
            "exactly one of --image",
        ),
        (["--to", "reg.io/app:1", "--image", "x", "--tag", "bad tag"], "Invalid tag"),
        (
            ["--to", "reg.io/app:1", "--image", "x", "--scan-gate", "HIGH"],
            "needs an Amazon ECR destination",
        ),
        (
            ["--to", f"{ECR_HOST}/app:1", "--image", "x", "--scan-gate", "SEVERE"],
            "Invalid scan-gate severity",
        ),
        (["--to", "reg.io/app:1", "--image", "x", "--registry-endpoint", "reg.io"], "HOST=URL"),
        (["--to", "reg.io/app:1", "--image", "x", "--with-signatures"], "--from copies only"),
        (["--to", "reg.io/app:1", "--image", "x", "--username", "u"], "go together"),
        (
            ["--to", f"{ECR_HOST}/a:1", "--image", "x", "--immutable-exclusion", "v1/*"],
            "Invalid --immutable-exclusion",
        ),
    ],
)
def test_bad_input_exits_2_without_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, ["publish", *argv])
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err


def test_bad_lifecycle_policy_points_at_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text('{"rules": [\n  {,}\n]}')
    code, _, err = run(
        capsys,
        ["publish", "--image", "x", "--to", f"{ECR_HOST}/a:1", "--lifecycle-policy", str(policy)],
    )
    assert code == 2
    assert f"{policy}:2: The lifecycle policy" in err
    policy.write_text('{"no": "rules"}')
    code, _, err = run(
        capsys,
        ["publish", "--image", "x", "--to", f"{ECR_HOST}/a:1", "--lifecycle-policy", str(policy)],
    )
    assert code == 2 and "no 'rules' list" in err


def test_unknown_local_image(
    capsys: pytest.CaptureFixture[str], registry: Registry, docker_host: str
) -> None:
    code, _, err = run(
        capsys,
        ["publish", "--image", "shipstep-test/never-built:nope", "--to", f"{registry.host}/a:1"],
    )
    assert code == 2
    assert "The Docker engine has no image 'shipstep-test/never-built:nope'" in err


def test_json_outputs(
    capsys: pytest.CaptureFixture[str], registry: Registry, make_image: ImageFactory
) -> None:
    repo = unique()
    code, out, err = run(
        capsys,
        [
            "--output",
            "json",
            "publish",
            "--image",
            make_image(),
            "--to",
            f"{registry.host}/{repo}:1",
            "--tag",
            "2",
        ],
    )
    assert code == 0, err
    outputs = json.loads(out)
    assert outputs["registry"] == registry.host
    assert outputs["repository"] == repo
    assert outputs["image"] == f"{registry.host}/{repo}@{outputs['digest']}"
    assert outputs["tags"] == ["1", "2"]
    assert outputs["operation"] == "pushed"


def test_github_action_inputs_and_ecr_endpoint_env(
    capsys: pytest.CaptureFixture[str],
    registry_proxy: RegistryProxy,
    aws_endpoint: str,
    make_image: ImageFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ECR path driven by action inputs; the control plane found through AWS_ENDPOINT_URL_ECR."""
    registry_proxy.ecr = (aws_endpoint, "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", aws_endpoint)
    output = tmp_path / "output"
    repo = unique("action")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "INPUT_IMAGE": make_image(),
        "INPUT_TO": f"{ECR_HOST}/{repo}:v1",
        "INPUT_TAG": "latest\nstable\n",
        "INPUT_REGISTRY-ENDPOINT": f"{ECR_HOST}={registry_proxy.url}",
        "INPUT_TAG-IMMUTABILITY": "false",
    }
    code, out, err = run(capsys, ["publish"], env)
    assert code == 0, err
    written = output.read_text()
    assert "operation<<" in written and "pushed" in written
    assert f"{ECR_HOST}/{repo}@sha256:" in written
    assert "tags<<" in written and "v1\nlatest\nstable" in written
    assert f"ECR repository {repo}: created" in out
    assert "### publish: pushed" in (tmp_path / "summary").read_text()


def test_ecr_token_is_masked_in_github_logs(
    capsys: pytest.CaptureFixture[str],
    make_registry: RegistryFactory,
    aws_endpoint: str,
    make_image: ImageFactory,
    tmp_path: Path,
) -> None:
    upstream = make_registry(username="AWS", password="123456789012-auth-token")
    proxy = RegistryProxy(upstream)
    proxy.ecr = (aws_endpoint, "eu-west-1")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "INPUT_IMAGE": make_image(),
        "INPUT_TO": f"{ECR_HOST}/{unique('masked')}:1",
        "INPUT_REGISTRY-ENDPOINT": f"{ECR_HOST}={proxy.url}",
        "INPUT_DOCKER-CONFIG": str(tmp_path / "none.json"),
    }
    try:
        code, out, err = run(capsys, ["publish"], env)
    finally:
        proxy.stop()
    assert code == 0, err
    assert "::add-mask::123456789012-auth-token" in out + err
    lines = (out + err).splitlines()
    assert all(
        "123456789012-auth-token" not in line or line.startswith("::add-mask::") for line in lines
    )


def test_registry_credentials_spelled_as_in_sign_and_verify(
    capsys: pytest.CaptureFixture[str],
    auth_registry: Registry,
    make_image: ImageFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = make_image(files={"spelling.txt": "registry-username"})
    argv = ["--output", "json", "publish", "--image", image]
    argv += ["--to", f"{auth_registry.host}/{unique()}:1"]
    argv += ["--registry-username", auth_registry.username, "--docker-config", "/nonexistent"]
    monkeypatch.setenv("SHIPSTEP_REGISTRY_PASSWORD", auth_registry.password)
    code, out, err = run(capsys, argv)
    assert code == 0, err
    assert json.loads(out)["operation"] == "pushed"
    assert auth_registry.password not in out + err
