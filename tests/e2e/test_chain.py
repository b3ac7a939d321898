"""The whole chain, end to end, against real parts where they can run here.

`shipstep run` builds hello-app with the real Docker engine and runs its
tests, publishes through the ECR code path (moto's control plane, the real
registry behind a proxy mirroring pushes into moto), signs with AWS KMS
(moto) and later with a key file, and bumps a real git config repository
behind the GitHub API stand-in. The pull request is merged through the stand-in
(a real merge in the bare repository); the agent applies the merged revision to the
Kubernetes API stand-in after verifying the signature against a policy;
`verify` passes. Then the failure paths: an unsigned image committed
straight to the config repository is refused by the agent (the signed
revision keeps running); a release whose rollout fails makes verify fail
and open a revert pull request; failing tests stop the chain before publish.

The ECR registry host does not resolve here: every registry client of the
test maps it to the proxy (`registry.endpoint` for `shipstep run`), the way
a VPC endpoint or a pull-through proxy would be configured.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from shipstep.agent.config import AgentConfig
from shipstep.agent.engine import Engine
from shipstep.agent.kube import Cluster, load_client
from shipstep.agent.loop import Agent, Outcome
from shipstep.agent.metrics import Metrics
from shipstep.agent.policy import Gate
from shipstep.agent.source import GitSource
from shipstep.agent.status import StatusWriter
from shipstep.agent.verifier import PolicyVerifier
from shipstep.cli import cli
from shipstep.cli._app import run_cli
from shipstep.cli._verify_support import REVERT_AUTHOR
from shipstep.cluster.access import ClusterOptions
from shipstep.forges.factory import make_forge
from shipstep.oci.auth import ChainCredentials, DockerConfig
from shipstep.oci.client import RegistryClient
from shipstep.oci.ecr import EcrCredentials
from shipstep.oci.reference import parse_reference
from shipstep.progress import RecordingReporter
from shipstep.signing.oci_source import OciSignatureSource
from shipstep.signing.policy import Policy
from shipstep.signing.policy import Verifier as PolicyImageVerifier
from shipstep.steps.publish import PublishInputs, publish
from shipstep.steps.verify.report import VerifyReport
from shipstep.steps.verify.revert import RevertOptions
from shipstep.steps.verify.rollout import Targets
from shipstep.steps.verify.run import VerifyInputs, run_verify
from shipstep.steps.verify.wait import WaitOptions
from tests.fixtures.chain import make_app, remove_images, write_config, write_key_pair
from tests.fixtures.git import GitServer, git
from tests.fixtures.github import TOKEN, bare_branch_exists, bare_merge, github_api
from tests.fixtures.registry_proxy import RegistryProxy, registry_proxy
from tests.github_standin.server import GitHubStandin

__all__ = ["github_api", "registry_proxy", "remove_images"]

pytestmark = pytest.mark.timeout(600)

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
REPOSITORY = f"{ECR_HOST}/hello-app"
FORGE_REPO = "acme/config"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class World:
    tmp: Path
    app: Path
    proxy: RegistryProxy
    github: GitHubStandin
    kube: Any
    config_url: str
    config_bare: Path
    policy: Path
    key: Path
    kms_key: str
    base_image: str
    remove_image: Callable[[str], None]

    @property
    def endpoints(self) -> dict[str, str]:
        return {ECR_HOST: self.proxy.url}

    def registry_client(self) -> RegistryClient:
        credentials = ChainCredentials([EcrCredentials(), DockerConfig()])
        return RegistryClient(credentials, endpoints=self.endpoints)

    def shipstep(self, *args: str) -> tuple[int, dict[str, Any], str]:
        """`shipstep --output json ARGS` in the app directory: (code, outputs, log)."""
        out, err = io.StringIO(), io.StringIO()
        cwd = Path.cwd()
        os.chdir(self.app)
        try:
            with redirect_stdout(out), redirect_stderr(err):
                code = run_cli(cli, ["--output", "json", *args], environ={})
        finally:
            os.chdir(cwd)
        return code, json.loads(out.getvalue() or "{}"), err.getvalue()

    def merge(self, number: int) -> str:
        """Merge pull request `number` through the GitHub stand-in, as a
        reviewer's merge button does; the merge commit."""
        response = requests.put(
            f"{self.github.url}/repos/{FORGE_REPO}/pulls/{number}/merge",
            json={"merge_method": "merge"},
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        sha = str(response.json()["sha"])
        assert git(self.config_bare, "rev-parse", "main").strip() == sha
        return sha

    def agent(self) -> Agent:
        config = AgentConfig(
            repo_url=self.config_url,
            paths=("clusters/local",),
            kustomize="kubectl",
            allowed_cluster_kinds=frozenset({"Namespace"}),
            policy_file=self.policy,
            workdir=self.tmp / "agent",
            interval_seconds=1.0,
        )
        cluster = Cluster(load_client(Path(self.kube.kubeconfig), None), backoff=0.05)
        verifier = PolicyVerifier(self.policy, client=self.registry_client())
        engine = Engine(cluster, config, Gate(verifier))
        return Agent(config, engine, GitSource(config), StatusWriter(cluster, config), Metrics())

    def verify(self, merge_commit: str, *, revert: bool) -> VerifyReport:
        inputs = VerifyInputs(
            targets=Targets.of("hello", ["hello-app"], None),
            cluster=ClusterOptions(kubeconfig=Path(self.kube.kubeconfig)),
            merge_commit=merge_commit,
            config_repo=self.config_url,
            wait=WaitOptions(timeout=90.0, poll_interval=0.5),
            report_file=self.tmp / "verify-report.json",
        )
        verifier = PolicyImageVerifier(
            Policy.load(self.policy), OciSignatureSource(self.registry_client())
        )
        forge = None
        if revert:
            forge = make_forge(
                "github",
                self.config_url,
                FORGE_REPO,
                TOKEN,
                self.github.url,
                None,
                REVERT_AUTHOR,
            )
        return run_verify(
            replace(
                inputs,
                revert=RevertOptions(report_url="https://ci.example/runs/2") if revert else None,
                status_context="shipstep/verify" if revert else None,
            ),
            verifier=verifier,
            reporter=RecordingReporter(),
            forge=forge,
        )

    def deployment_image(self) -> str:
        deployment = self.kube.object("apps/v1", "Deployment", "hello-app", "hello")
        assert deployment is not None, "hello-app is not deployed"
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


@pytest.fixture
def world(
    tmp_path: Path,
    aws_endpoint: str,
    registry_proxy: RegistryProxy,
    github_api: GitHubStandin,
    git_server: GitServer,
    kube: Any,
    busybox_image: str,
    remove_images: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    registry_proxy.ecr = (aws_endpoint, REGION)
    kms = boto3.client("kms", region_name=REGION, endpoint_url=aws_endpoint)
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    alias = f"alias/e2e-{tmp_path.name[-20:].replace('_', '-')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    kms_key = f"awskms:///{alias}"

    # The config repository: examples/config-repo, its image on the ECR host.
    files: dict[str, str | bytes] = {}
    for path in (EXAMPLES / "config-repo").rglob("*"):
        if path.is_file():
            text = path.read_text().replace("127.0.0.1:5000/hello-app", REPOSITORY)
            files[str(path.relative_to(EXAMPLES / "config-repo"))] = text
    name = f"config-{tmp_path.name[-12:]}"
    bare = git_server.create_repo(name, files)
    github_api.state.add_repo(
        FORGE_REPO, branch_exists=bare_branch_exists(bare), merge=bare_merge(bare)
    )
    url = git_server.url(name)

    app = make_app(tmp_path, busybox_image)
    key, public = write_key_pair(tmp_path / "keys")
    write_config(
        app,
        f"""
        registry:
          ecr: {{account: "{ACCOUNT}", region: {REGION}}}
          endpoint: {registry_proxy.url}
          repository: {{tag-immutability: true, scan-on-push: true}}
        signing:
          key: {kms_key}
        """,
    )
    # The config repository comes from flags, as a CI job would pass it.
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"version: 1\nrules:\n  - name: hello\n    repositories: [{REPOSITORY}]\n"
        f"    keys: [{kms_key}, {public}]\n"
    )
    kube.seed(namespace("shipstep-system"))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", github_api.url)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    yield World(
        tmp_path,
        app,
        registry_proxy,
        github_api,
        kube,
        url,
        bare,
        policy,
        key,
        kms_key,
        busybox_image,
        remove_images,
    )


def run_args(world: World, tag: str, *extra: str) -> list[str]:
    return [
        "run",
        "--tag",
        tag,
        "--config-repo",
        world.config_url,
        "--forge",
        "github",
        "--forge-repository",
        FORGE_REPO,
        "--path",
        "apps/hello-app/*.yaml",
        *extra,
    ]


def applied(outcome: Outcome) -> None:
    assert outcome.result == "applied", f"{outcome.result}: {outcome.reason}"


def test_ship_apply_verify_refuse_unsigned_and_revert_a_failed_rollout(world: World) -> None:
    world.remove_image(f"{REPOSITORY}:1.0.0")
    world.remove_image(f"{REPOSITORY}:1.1.0")
    world.remove_image(f"{REPOSITORY}:unsigned")

    # 1. The chain: build, test, publish (ECR path), sign (KMS), bump (GitHub).
    code, first, log = world.shipstep(*run_args(world, "1.0.0"))
    assert code == 0, log
    digest = first["digest"]
    assert first["image"] == f"{REPOSITORY}@{digest}"
    assert first["test-result"] == "passed"
    ecr = boto3.client("ecr", region_name=REGION)
    described = ecr.describe_images(repositoryName="hello-app", imageIds=[{"imageTag": "1.0.0"}])
    assert described["imageDetails"][0]["imageDigest"] == digest
    repository = ecr.describe_repositories(repositoryNames=["hello-app"])["repositories"][0]
    assert repository["imageTagMutability"].startswith("IMMUTABLE")
    pulls = world.github.state.repos[FORGE_REPO].pulls
    assert list(pulls) == [first["pr-number"]] == [1]
    assert pulls[1]["head"] == first["branch"] == "shipstep/bump/hello-app-local"
    assert digest in pulls[1]["body"]

    # Running it again after success changes nothing.
    code, again, log = world.shipstep(*run_args(world, "1.0.0"))
    assert code == 0, log
    assert again["digest"] == digest and again["bump-operation"] == "unchanged"

    # 2. Merge; 3. the agent verifies the signature and applies.
    merge = world.merge(1)
    agent = world.agent()
    applied(agent.reconcile())
    assert world.deployment_image() == f"{REPOSITORY}:1.0.0@{digest}"
    world.kube.settle()

    # 4. verify: the cluster runs exactly the signed digest.
    report = world.verify(merge, revert=False)
    assert report.succeeded, json.dumps(report.to_dict(), indent=1)
    kinds = {check.kind for check in report.checks}
    assert "signature" in kinds and len(kinds) >= 3, kinds

    # 5. An unsigned image committed straight to main is refused; 1.0.0 keeps running.
    unsigned = publish(
        PublishInputs(
            to=f"{REPOSITORY}:unsigned", image=world.base_image, registry_endpoints=world.endpoints
        )
    )
    assert unsigned.digest != digest
    work = world.tmp / "direct"
    git(world.tmp, "clone", "-q", world.config_url, str(work))
    deployment = work / "apps" / "hello-app" / "deployment.yaml"
    pinned = f"{REPOSITORY}:1.0.0@{digest}"
    assert pinned in deployment.read_text()
    deployment.write_text(deployment.read_text().replace(pinned, f"{REPOSITORY}@{unsigned.digest}"))
    identity = ("-c", "user.name=someone", "-c", "user.email=someone@example.invalid")
    git(work, *identity, "commit", "-qam", "hotfix straight to main")
    git(work, "push", "-q", "origin", "main")
    head = git(work, "rev-parse", "HEAD").strip()
    kept = agent.reconcile()
    # The refused head is reported; the signed revision stays applied.
    assert kept.revision == merge and kept.result == "unchanged", kept.reason
    status = world.kube.object("v1", "ConfigMap", "shipstep-status", "shipstep-system")
    assert status is not None
    assert status["data"]["result"] == "refused" and status["data"]["revision"] == head
    assert unsigned.digest in status["data"]["reason"]
    assert world.deployment_image() == pinned
    # Someone reverts the hotfix; the signed revision is current again.
    git(work, *identity, "revert", "--no-edit", "HEAD")
    git(work, "push", "-q", "origin", "main")
    restored_outcome = agent.reconcile()
    assert restored_outcome.result in ("applied", "unchanged"), restored_outcome.reason
    assert world.deployment_image() == pinned

    # 6. A new release, signed with a key file, whose rollout fails.
    index = world.app / "app" / "www" / "index.html"
    index.write_text(index.read_text().replace("Hello from hello-app", "Hello from hello-app 1.1"))
    test = world.app / "app" / "test.sh"
    test.write_text(test.read_text().replace("Hello from hello-app", "Hello from hello-app 1.1"))
    code, second, log = world.shipstep(
        *run_args(world, "1.1.0", "--signing-mode", "key", "--key", str(world.key))
    )
    assert code == 0, log
    assert second["digest"] != digest and second["bump-operation"] == "created"
    world.kube.knobs.rollout("fail", image=second["digest"], deadline=1.0)
    merge2 = world.merge(int(second["pr-number"]))
    applied(agent.reconcile())
    assert world.deployment_image() == f"{REPOSITORY}:1.1.0@{second['digest']}"

    failed = world.verify(merge2, revert=True)
    assert not failed.succeeded
    assert "health" in {check.kind for check in failed.failed}, failed.to_dict()
    assert failed.revert_pr_url, failed.notes
    reverts = [
        p for p in world.github.state.repos[FORGE_REPO].pulls.values() if "revert" in p["head"]
    ]
    assert len(reverts) == 1 and reverts[0]["state"] == "open"
    restored = git(
        world.config_bare, "show", f"{reverts[0]['head']}:apps/hello-app/deployment.yaml"
    )
    assert pinned in restored and second["digest"] not in restored
    statuses = world.github.state.repos[FORGE_REPO].statuses[failed.merge_commit or ""]
    assert [(s["state"], s["context"]) for s in statuses] == [("failure", "shipstep/verify")]
    assert statuses[0]["target_url"] == failed.revert_pr_url


def test_failing_tests_stop_the_chain_before_publish(world: World) -> None:
    world.remove_image(f"{REPOSITORY}:2.0.0")
    test = world.app / "app" / "test.sh"
    test.write_text(test.read_text().replace('grep -q "Hello from hello-app"', 'grep -q "Goodbye"'))

    code, outputs, log = world.shipstep(*run_args(world, "2.0.0"))

    assert code == 1, log
    assert outputs["result"] == "failed" and outputs["stopped-at"] == "build"
    assert outputs["test-result"] == "failed" and outputs["tests-failed"] == 1
    assert "digest" not in outputs
    ecr = boto3.client("ecr", region_name=REGION)
    absent = (ecr.exceptions.RepositoryNotFoundException, ecr.exceptions.ImageNotFoundException)
    with pytest.raises(absent):
        ecr.describe_images(repositoryName="hello-app", imageIds=[{"imageTag": "2.0.0"}])
    tag = parse_reference(f"{REPOSITORY}:2.0.0")
    assert world.registry_client().manifest_digest(tag) is None
    assert world.github.state.repos[FORGE_REPO].pulls == {}
    assert "[2/4] publish" not in log
