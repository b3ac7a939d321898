"""The policy gate with real signatures: images pushed to the real local
registry and signed with a key made by `shipstep keygen`; the agent applies a
signed revision and refuses an unsigned or wrongly signed one, keeping the
previous revision applied."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from shipstep.agent.verifier import PolicyVerifier
from shipstep.cli import cli
from shipstep.cli._app import run_cli
from tests.fixtures.registry import Registry
from tests.integration.agent.harness import (
    configmap,
    deployment,
    docs,
    make_agent,
    make_config,
    new_repo,
)
from tests.integration.agent.test_agent import status, writes
from tests.integration.signing.conftest import push_image

pytestmark = pytest.mark.timeout(180)
PASSWORD = "agent test pass"


def shipstep(*args: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "CODEBUILD_BUILD_ID")}
    return run_cli(cli, ["--output", "json", *args], env)


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)  # read by keygen and sign
    out = {}
    for name in ("trusted", "other"):
        assert shipstep("keygen", "--output-prefix", str(tmp_path / name)) == 0
        out[name] = tmp_path / f"{name}.key"
    return out


def test_signed_applies_unsigned_and_wrongly_signed_refused(
    cluster: Any,
    registry: Registry,
    git_server: Any,
    keys: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signed, unsigned, wrong = (
        push_image(registry.host, f"agent-{n}") for n in ("signed", "unsigned", "wrong")
    )
    assert shipstep("sign", "--image", signed.pinned, "--key", str(keys["trusted"])) == 0
    assert shipstep("sign", "--image", wrong.pinned, "--key", str(keys["other"])) == 0
    capsys.readouterr()
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"version: 1\nrules:\n  - name: test\n    repositories: ['{registry.host}/sign-test/**']\n"
        f"    keys: ['{tmp_path / 'trusted.pub'}']\n"
    )
    repo = new_repo(
        git_server,
        tmp_path,
        {"manifests/web.yaml": docs(deployment("web", signed.pinned), configmap("cfg"))},
    )
    verifier = PolicyVerifier(policy)
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"), verifier)
    first = agent.reconcile()
    assert first.result == "applied", first.reason
    st = status(cluster)
    assert st["images"] == signed.pinned

    for image, why in ((unsigned, "has no "), (wrong, "sign-test/agent-wrong")):
        bad = repo.commit(
            {"manifests/web.yaml": docs(deployment("web", image.pinned), configmap("cfg"))}
        )
        cluster.requests.clear()
        outcome = agent.reconcile()
        st = status(cluster)
        assert st["revision"] == bad and st["result"] == "refused", st
        assert image.pinned in st["reason"] and "refused" in st["reason"] and why in st["reason"], (
            st["reason"]
        )
        assert st["lastAppliedRevision"] == first.revision and st["images"] == signed.pinned
        live = cluster.object("apps/v1", "Deployment", "web", "apps")
        assert live["spec"]["template"]["spec"]["containers"][0]["image"] == signed.pinned
        assert all("/namespaces/shipstep-system/" in w.path for w in writes(cluster))
        assert outcome.revision == first.revision
    assert agent.metrics.signature_failures._value.get() == 2

    # Signing the image afterwards lets the same revision through (refusals are not cached).
    assert shipstep("sign", "--image", wrong.pinned, "--key", str(keys["trusted"])) == 0
    agent.refused = None
    outcome = agent.reconcile()
    assert outcome.result == "applied", outcome.reason
    assert status(cluster)["images"] == wrong.pinned


def test_registry_unreachable_fails_closed(
    cluster: Any, git_server: Any, tmp_path: Path, keys: dict[str, Path]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"version: 1\nrules:\n  - name: all\n    repositories: ['**']\n    keys: ['{tmp_path / 'trusted.pub'}']\n"
    )
    image = "127.0.0.1:9/nothing/here@sha256:" + "c" * 64
    repo = new_repo(git_server, tmp_path, {"manifests/web.yaml": docs(deployment("web", image))})
    agent = make_agent(
        cluster.kubeconfig, make_config(repo.url, tmp_path / "w"), PolicyVerifier(policy)
    )
    outcome = agent.reconcile()
    assert outcome.result == "refused"
    assert "verification error" in outcome.reason
    assert cluster.object("apps/v1", "Deployment", "web", "apps") is None
