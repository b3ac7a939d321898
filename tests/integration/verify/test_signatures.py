"""Signatures of the expected digests against the policy file, with the sign
step's verifier and the real local registry: a signed digest passes, an
unsigned one and one signed by another key fail with the verifier's reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipstep.cli import cli
from shipstep.cli._app import run_cli
from tests.fixtures.registry import Registry
from tests.integration.signing.conftest import Pushed, push_image
from tests.integration.verify.cluster_helpers import NAMESPACE, namespace
from tests.kube_standin.standin import KubeStandin

pytestmark = pytest.mark.timeout(120)


def cli_run(
    argv: list[str], capsys: pytest.CaptureFixture[str], env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(cli, ["--output", "json", *argv], env or {})
    out, err = capsys.readouterr()
    return code, out, err


def keys(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    prefix = tmp_path / name
    code, _, err = cli_run(
        ["keygen", "--output-prefix", str(prefix)], capsys, {"COSIGN_PASSWORD": "pw"}
    )
    assert code == 0, err
    return prefix.with_suffix(".key"), prefix.with_suffix(".pub")


def workload(image: Pushed, name: str) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "app", "image": f"{image.tag_ref}@{image.digest}"}]
                },
            },
        },
    }


def test_signatures_against_the_policy(
    registry: Registry,
    kube: KubeStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    private, public = keys(tmp_path, "release", capsys)
    other_private, _ = keys(tmp_path, "intruder", capsys)
    signed, unsigned, foreign = (push_image(registry.host) for _ in range(3))
    for image, key in ((signed, private), (foreign, other_private)):
        code, _, err = cli_run(
            ["sign", "--image", image.pinned, "--key", str(key)], capsys, {"COSIGN_PASSWORD": "pw"}
        )
        assert code == 0, err
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"version: 1\nrules:\n  - name: shop\n    repositories: ['{registry.host}/sign-test/*']\n"
        f"    keys: ['{public}']\n"
    )
    kube.seed(
        namespace(NAMESPACE),
        workload(signed, "signed"),
        workload(unsigned, "unsigned"),
        workload(foreign, "foreign"),
    )
    kube.settle()
    base = [
        "verify",
        "-n",
        NAMESPACE,
        "--kubeconfig",
        str(kube.kubeconfig),
        "--policy",
        str(policy),
        "--timeout",
        "15",
        "--report-file",
        str(tmp_path / "report.json"),
    ]

    code, out, err = cli_run([*base, "--workload", "signed", "--image", signed.pinned], capsys)
    assert code == 0, err
    checks = json.loads(json.loads(out)["report"])["checks"]
    assert checks[0]["kind"] == "signature" and checks[0]["status"] == "passed"
    assert checks[0]["summary"] == f"classic signature by {public} (policy rule shop)"

    code, out, err = cli_run(
        [
            *base,
            "--workload",
            "unsigned",
            "--workload",
            "foreign",
            "--image",
            unsigned.pinned,
            "--image",
            foreign.pinned,
        ],
        capsys,
    )
    assert code == 1, err
    checks = json.loads(json.loads(out)["report"])["checks"]
    by_image = {c["name"]: c for c in checks if c["kind"] == "signature"}
    assert by_image[unsigned.pinned]["status"] == "failed"
    assert by_image[unsigned.pinned]["summary"].startswith(
        f"does not verify against the policy (rule shop): {unsigned.pinned} has no "
    )
    assert by_image[foreign.pinned]["status"] == "failed"
    assert by_image[foreign.pinned]["summary"].startswith(
        "does not verify against the policy (rule shop): classic "
    )
    # The rollout itself is fine: only the signatures fail, each reported.
    assert {c["kind"]: c["status"] for c in checks if c["kind"] != "signature"} == {
        "health": "passed",
        "images": "passed",
    }


def test_unreadable_registry_fails_closed(
    kube: KubeStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    from tests.fixtures.services import free_port

    host = f"127.0.0.1:{free_port()}"
    _, public = keys(tmp_path, "k", capsys)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"version: 1\nrules:\n  - name: all\n    repositories: ['**']\n    keys: ['{public}']\n"
    )
    kube.seed(namespace(NAMESPACE))
    image = f"{host}/shop/web@sha256:{'c' * 64}"
    code, out, err = cli_run(
        [
            "verify",
            "-n",
            NAMESPACE,
            "--workload",
            "web",
            "--kubeconfig",
            str(kube.kubeconfig),
            "--policy",
            str(policy),
            "--image",
            image,
            "--timeout",
            "1",
            "--report-file",
            str(tmp_path / "r.json"),
        ],
        capsys,
    )
    assert code == 1, err
    signature = json.loads(json.loads(out)["report"])["checks"][0]
    assert signature["status"] == "failed"
    assert signature["summary"].startswith("signatures could not be read")
