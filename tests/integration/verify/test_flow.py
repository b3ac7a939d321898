"""The whole step: a real config repository (git daemon), the agent's status
ConfigMap, the Kubernetes stand-in, the CLI with its report and outputs, and
the revert pull request through the GitHub stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from shipstep.cli import cli
from shipstep.cli._app import run_cli
from shipstep.errors import InputError
from shipstep.forges.github import GitHubForge
from shipstep.forges.local import LocalForge
from shipstep.steps.verify.agent_status import AgentStatusCheck
from shipstep.steps.verify.expected import images_added_by
from shipstep.steps.verify.gitrepo import ConfigRepo
from shipstep.steps.verify.report import Status
from tests.fixtures.git import GitServer, git
from tests.fixtures.github import TOKEN, bare_branch_exists, bare_commit_exists
from tests.fixtures.http_checks import PromAnswer, Prometheus, Route, WebApp, vector
from tests.github_standin.server import GitHubStandin
from tests.integration.verify.cluster_helpers import (
    NAMESPACE,
    NEW,
    OLD,
    REPO,
    deployment,
    namespace,
    running,
    set_image,
)
from tests.kube_standin.standin import KubeStandin

pytestmark = pytest.mark.timeout(120)

MANIFEST = """\
# the web front end
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: app
          image: {image}  # {{"$imagepolicy": "shop:web"}}
"""


def config_repo(
    git_server: GitServer, tmp_path: Path, name: str
) -> tuple[str, Path, dict[str, str]]:
    """A config repo whose main has: initial (OLD), a bump merged with --no-ff
    (NEW), then an unrelated later commit. Returns url, bare path, commits."""
    bare = git_server.create_repo(
        name, {"apps/web/deployment.yaml": MANIFEST.format(image=f"{REPO}:1.4.2@{OLD}")}
    )
    work = tmp_path / f"work-{name}"
    git(tmp_path, "clone", str(bare), str(work))
    commits = {"initial": git(work, "rev-parse", "HEAD")}
    git(work, "checkout", "-b", "shipstep/bump/web")
    (work / "apps/web/deployment.yaml").write_text(MANIFEST.format(image=f"{REPO}:1.4.3@{NEW}"))
    git(work, "commit", "-am", "Bump web to 1.4.3")
    git(work, "checkout", "main")
    git(
        work,
        "merge",
        "--no-ff",
        "-m",
        "Merge pull request #7 from acme/shipstep/bump/web",
        "shipstep/bump/web",
    )
    commits["merge"] = git(work, "rev-parse", "HEAD")
    (work / "README.md").write_text("later change\n")
    git(work, "add", "README.md")
    git(work, "commit", "-m", "docs")
    commits["later"] = git(work, "rev-parse", "HEAD")
    git(work, "push", "origin", "main")
    return git_server.url(name), bare, commits


def agent_status(
    revision: str, result: str = "applied", last: str | None = None, reason: str = ""
) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "shipstep-status", "namespace": "shipstep-system"},
        "data": {
            "revision": revision,
            "result": result,
            "reason": reason,
            "lastAppliedRevision": revision if last is None else last,
            "images": "",
        },
    }


def test_agent_status_containment(git_server: GitServer, tmp_path: Path) -> None:
    url, _bare, c = config_repo(git_server, tmp_path, "status")
    with ConfigRepo(url).clone() as repo:
        check = AgentStatusCheck(repo, c["merge"], "shipstep-system", "shipstep-status")
        assert check.evaluate(None).status is Status.PENDING
        exact = check.evaluate(agent_status(c["merge"]))
        assert (exact.status, exact.summary) == (
            Status.PASSED,
            "the agent applied the merge commit",
        )
        later = check.evaluate(agent_status(c["later"]))
        assert later.status is Status.PASSED
        assert (
            later.summary
            == f"the agent applied {c['later'][:12]}, which contains {c['merge'][:12]}"
        )
        before = check.evaluate(agent_status(c["initial"]))
        assert before.status is Status.PENDING
        assert "does not contain" in before.summary
        refused = check.evaluate(
            agent_status(
                c["merge"],
                "refused",
                last=c["initial"],
                reason="apps/web/deployment.yaml:13: image not signed",
            )
        )
        assert refused.status is Status.FAILED
        assert refused.summary == (
            f"the agent refused revision {c['merge'][:12]}: apps/web/deployment.yaml:13: image not signed"
        )
        unknown = check.evaluate(agent_status("f" * 40))
        assert unknown.status is Status.PENDING
        assert "a commit the config repository does not have" in unknown.summary


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run_cli(cli, argv, {})
    out, err = capsys.readouterr()
    return code, out, err


def base_args(kube: KubeStandin, report: Path) -> list[str]:
    return [
        "--output",
        "json",
        "verify",
        "--namespace",
        NAMESPACE,
        "--workload",
        "web",
        "--kubeconfig",
        str(kube.kubeconfig),
        "--skip-signatures",
        "--timeout",
        "20",
        "--poll-interval",
        "0.2",
        "--report-file",
        str(report),
    ]


def github_args(github_api: GitHubStandin) -> list[str]:
    """The forge flags for acme/config on the GitHub stand-in."""
    return [
        "--forge",
        "github",
        "--forge-repository",
        "acme/config",
        "--api-url",
        github_api.url,
        "--token",
        TOKEN,
    ]


def test_cli_passes_with_images_read_from_the_merge_commit(
    kube: KubeStandin, git_server: GitServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _bare, c = config_repo(git_server, tmp_path, "pass")
    kube.seed(namespace(NAMESPACE), namespace("shipstep-system"), deployment(NEW))
    kube.wait(lambda: running(kube, NEW), what="pods")
    kube.seed(agent_status(c["later"]))
    report = tmp_path / "report.json"
    code, out, err = run(
        [*base_args(kube, report), "--merge-commit", c["merge"][:10], "--config-repo", url], capsys
    )
    assert code == 0, err
    outputs = json.loads(out)
    assert outputs["result"] == "passed"
    assert outputs["revert-pr-url"] is None
    document = json.loads(outputs["report"])
    assert document == json.loads(report.read_text())
    assert document["expectedImages"] == [f"{REPO}:1.4.3@{NEW}"]
    assert document["mergeCommit"] == c["merge"]
    kinds = [(check["kind"], check["status"]) for check in document["checks"]]
    assert kinds == [
        ("signature", "skipped"),
        ("agent", "passed"),
        ("health", "passed"),
        ("images", "passed"),
    ]


def test_cli_fails_and_opens_a_revert_pr_restoring_the_previous_image(
    kube: KubeStandin,
    git_server: GitServer,
    github_api: GitHubStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, bare, c = config_repo(git_server, tmp_path, "revert")
    github_api.state.add_repo("acme/config", branch_exists=bare_branch_exists(bare))
    kube.seed(namespace(NAMESPACE), namespace("shipstep-system"), deployment(OLD))
    kube.wait(lambda: running(kube, OLD), what="old pods")
    kube.knobs.rollout("fail", image=NEW, deadline=0.3)
    set_image(kube, NEW)
    kube.seed(agent_status(c["merge"]))
    report = tmp_path / "report.json"
    argv = [
        *base_args(kube, report),
        "--merge-commit",
        c["merge"],
        "--config-repo",
        url,
        "--revert-on-failure",
        *github_args(github_api),
        "--revert-label",
        "rollback",
        "--report-url",
        "https://ci.example/run/42",
        "--auto-merge",
    ]
    code, out, err = run(argv, capsys)
    assert code == 1, err
    outputs = json.loads(out)
    assert outputs["result"] == "failed"
    assert outputs["revert-pr-url"] == "https://github.example/acme/config/pull/1"
    document = json.loads(outputs["report"])
    health = next(ch for ch in document["checks"] if ch["kind"] == "health")
    assert health["status"] == "failed" and "Progress deadline exceeded" in health["summary"]
    assert document["revertOperation"] == "created"
    assert TOKEN not in out + err

    pr = github_api.state.repos["acme/config"].pulls[1]
    assert pr["head"] == f"shipstep/revert/{c['merge'][:12]}"
    assert pr["base"] == "main"
    assert pr["labels"] == ["rollback"]
    assert pr["auto_merge"] is not None, document["notes"]
    assert "https://ci.example/run/42" in pr["body"]
    assert "**health: deployment/web**: Progress deadline exceeded" in pr["body"]
    # The branch is a real revert: its diff against main restores the old image.
    diff = git(bare, "diff", "main", pr["head"])
    assert f"-          image: {REPO}:1.4.3@{NEW}" in diff
    assert f"+          image: {REPO}:1.4.2@{OLD}" in diff
    changed = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert len(changed) == 2  # exactly the image line, nothing else
    assert git(bare, "log", "-1", "--format=%s", pr["head"]) == (
        'Revert "Merge pull request #7 from acme/shipstep/bump/web"'
    )

    [status] = github_api.state.repos["acme/config"].statuses[c["merge"]]
    assert (status["state"], status["context"]) == ("failure", "shipstep/verify")
    assert status["target_url"] == outputs["revert-pr-url"]
    assert status["description"].startswith("verify failed: health: deployment/web")
    assert document["commitStatus"] == f"failure (shipstep/verify) on {c['merge'][:12]}"

    # Idempotent: a second failing run finds the open PR.
    code, out, _ = run(argv, capsys)
    assert code == 1
    assert json.loads(json.loads(out)["report"])["revertOperation"] == "unchanged"
    assert len(github_api.state.repos["acme/config"].pulls) == 1


def test_no_revert_when_the_cluster_cannot_be_read(
    kube: KubeStandin,
    git_server: GitServer,
    github_api: GitHubStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, bare, c = config_repo(git_server, tmp_path, "norevert")
    github_api.state.add_repo("acme/config", branch_exists=bare_branch_exists(bare))
    kube.knobs.token = "rotated"
    code, out, _err = run(
        [
            *base_args(kube, tmp_path / "r.json"),
            "--merge-commit",
            c["merge"],
            "--config-repo",
            url,
            "--revert-on-failure",
            *github_args(github_api),
        ],
        capsys,
    )
    assert code == 1
    document = json.loads(json.loads(out)["report"])
    access = next(ch for ch in document["checks"] if ch["kind"] == "cluster")
    assert "401 Unauthorized" in access["summary"]
    assert document["conclusive"] is False
    assert document["revertPullRequest"] is None
    assert github_api.state.repos["acme/config"].pulls == {}
    # The verdict on the commit is "error": the rollout itself was not judged.
    [status] = github_api.state.repos["acme/config"].statuses[c["merge"]]
    assert (status["state"], status["context"]) == ("error", "shipstep/verify")
    assert "cluster: access" in status["description"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--merge-commit", "abc1234"], "--merge-commit and --pr need the config repository"),
        (["--pr", "7"], "--merge-commit and --pr need the config repository"),
        (
            ["--pr", "7", "--merge-commit", "abc1234", "--config-repo", "/nonexistent"],
            "Both --merge-commit and --pr name the config commit",
        ),
        (
            ["--image", f"{REPO}@{NEW}", "--commit-status"],
            "--commit-status needs the config commit",
        ),
        (["--image", f"{REPO}@{NEW}", "--pr", "0"], "Invalid value for '--pr'"),
        (
            [
                *("--merge-commit", "abc1234", "--config-repo", "/x"),
                *("--commit-status", "--status-context", " "),
            ],
            "--status-context is empty",
        ),
        (["--image", f"{REPO}:1.4.3"], "has no digest"),
        (["--image", f"{REPO}@{NEW}", "--smoke", "localhost:8080"], "is not an http(s) URL"),
        (
            ["--image", f"{REPO}@{NEW}", "--prometheus-check", "up == 1"],
            "--prometheus-check needs --prometheus-url",
        ),
        (
            ["--image", f"{REPO}@{NEW}", "--revert-on-failure"],
            "--revert-on-failure needs the merge commit",
        ),
        (
            ["--image", f"{REPO}@{NEW}", "--eks-cluster", "prod", "--in-cluster"],
            "Choose one way to reach the cluster",
        ),
    ],
)
def test_bad_input_exits_2_before_doing_anything(
    kube: KubeStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    report = tmp_path / "report.json"
    code, _out, err = run([*base_args(kube, report), *extra], capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not report.exists()
    assert kube.requests.all() == []


def test_policy_is_required_unless_skipped(
    kube: KubeStandin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a for a in base_args(kube, tmp_path / "r.json") if a != "--skip-signatures"]
    code, _out, err = run([*argv, "--image", f"{REPO}@{NEW}"], capsys)
    assert code == 2
    assert "No signature policy" in err


def test_gates_run_after_the_rollout_and_each_is_reported(
    kube: KubeStandin,
    web_app: WebApp,
    prometheus: Prometheus,
    aws_endpoint: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kube.seed(namespace(NAMESPACE), deployment(NEW))
    kube.wait(lambda: running(kube, NEW), what="pods")
    web_app.routes["/healthz"] = Route(200, "ok 1.4.3")
    prometheus.answers["job:errors:ratio5m"] = PromAnswer(result=vector(({"job": "web"}, "0.2")))
    cw = boto3.client("cloudwatch", region_name="eu-west-1")
    cw.put_metric_alarm(
        AlarmName="web-5xx",
        MetricName="5xx",
        Namespace="App",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName="web-5xx", StateValue="OK", StateReason="fine")
    report = tmp_path / "report.json"
    code, out, err = run(
        [
            *base_args(kube, report),
            "--image",
            f"{REPO}@{NEW}",
            "--smoke",
            f"{web_app.url}/healthz status=200 body=1\\.4\\.3",
            "--smoke",
            f"{web_app.url}/missing",
            "--smoke-attempts",
            "2",
            "--prometheus-url",
            prometheus.url,
            "--prometheus-check",
            "job:errors:ratio5m < 0.05",
            "--cloudwatch-alarm",
            "web-5xx",
            "--region",
            "eu-west-1",
        ],
        capsys,
    )
    assert code == 1, err
    checks = {(c["kind"], c["name"]): c for c in json.loads(json.loads(out)["report"])["checks"]}
    assert checks[("smoke", f"{web_app.url}/healthz")]["status"] == "passed"
    assert (
        checks[("smoke", f"{web_app.url}/missing")]["summary"]
        == "status 404, expected 200 (after 2 attempts)"
    )
    assert (
        checks[("prometheus", "job:errors:ratio5m < 0.05")]["summary"]
        == '1 of 1 samples fail: {job="web"} = 0.2'
    )
    assert checks[("cloudwatch", "web-5xx")]["status"] == "passed"
    assert checks[("health", "deployment/web")]["status"] == "passed"


def test_refused_auto_merge_keeps_the_revert_pr(
    kube: KubeStandin,
    git_server: GitServer,
    github_api: GitHubStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, bare, c = config_repo(git_server, tmp_path, "noautomerge")
    github_api.state.add_repo(
        "acme/config", branch_exists=bare_branch_exists(bare), allow_auto_merge=False
    )
    kube.seed(namespace(NAMESPACE), namespace("shipstep-system"), deployment(OLD))
    kube.settle()
    kube.seed(agent_status(c["merge"]))
    code, out, err = run(
        [
            *base_args(kube, tmp_path / "r.json"),
            "--timeout",
            "1",
            "--merge-commit",
            c["merge"],
            "--config-repo",
            url,
            "--revert-on-failure",
            *github_args(github_api),
            "--auto-merge",
        ],
        capsys,
    )
    assert code == 1, err
    document = json.loads(json.loads(out)["report"])
    # The agent applied the merge commit, but the template still has the old image.
    images = next(ch for ch in document["checks"] if ch["kind"] == "images")
    assert images["summary"] == "the Deployment's template is not the expected one"
    assert document["revertPullRequest"] == "https://github.example/acme/config/pull/1"
    assert any(note.startswith("Auto-merge not enabled:") for note in document["notes"])


KUSTOMIZATION = """\
resources: [deployment.yaml]
images:
  - name: web
    newName: {repo}
    newTag: "{tag}"
    digest: {digest}
  - name: sidecar
    newName: registry.example/shop/sidecar
    digest: sha256:{sidecar}
"""


def test_images_read_from_a_kustomization_bump(git_server: GitServer, tmp_path: Path) -> None:
    sidecar = "e" * 64
    bare = git_server.create_repo(
        "kustomize",
        {
            "apps/web/kustomization.yaml": KUSTOMIZATION.format(
                repo=REPO, tag="1.4.2", digest=OLD, sidecar=sidecar
            )
        },
    )
    work = tmp_path / "work"
    git(tmp_path, "clone", str(bare), str(work))
    git(work, "checkout", "-b", "bump")
    (work / "apps/web/kustomization.yaml").write_text(
        KUSTOMIZATION.format(repo=REPO, tag="1.4.3", digest=NEW, sidecar=sidecar)
    )
    git(work, "commit", "-am", "bump")
    git(work, "checkout", "main")
    git(work, "merge", "--no-ff", "-m", "merge", "bump")
    git(work, "push", "origin", "main")
    with ConfigRepo(git_server.url("kustomize")).clone() as repo:
        merge = repo.git("rev-parse", "origin/main")
        # Only the entry whose digest changed; the unchanged sidecar is not expected.
        assert [str(r) for r in images_added_by(repo, merge)] == [f"{REPO}@{NEW}"]
        first = repo.git("rev-list", "--max-parents=0", "origin/main")
        with pytest.raises(InputError, match="adds no digest-pinned image reference"):
            images_added_by(repo, first)


def merged_pr(github_api: GitHubStandin, bare: Path, merge_commit: str | None) -> int:
    """Pull request #1 of acme/config, merged as `merge_commit` (None: still open)."""
    # The bump branch lives in the work clone only: every branch "exists".
    repo = github_api.state.add_repo("acme/config", commit_exists=bare_commit_exists(bare))  # type: ignore[arg-type]
    github_api.state.add_token(TOKEN)
    forge = GitHubForge("acme/config", TOKEN, api_url=github_api.url)
    pr = forge.create_pull_request(
        head="shipstep/bump/web", base="main", title="Bump web", body="", draft=False
    )
    if merge_commit:  # as GitHub records a merge
        repo.pulls[pr.number].update(
            state="closed",
            merged=True,
            merged_at="2026-12-04T12:00:00Z",
            merge_commit_sha=merge_commit,
        )
    return pr.number


def test_pr_number_reads_the_merge_commit_and_sets_a_success_status(
    kube: KubeStandin,
    git_server: GitServer,
    github_api: GitHubStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, bare, c = config_repo(git_server, tmp_path, "bypr")
    number = merged_pr(github_api, bare, c["merge"])
    kube.seed(namespace(NAMESPACE), namespace("shipstep-system"), deployment(NEW))
    kube.wait(lambda: running(kube, NEW), what="pods")
    kube.seed(agent_status(c["merge"]))
    argv = [
        *base_args(kube, tmp_path / "r.json"),
        "--pr",
        str(number),
        "--config-repo",
        url,
        *github_args(github_api),
        "--report-url",
        "https://ci.example/run/43",
    ]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    document = json.loads(json.loads(out)["report"])
    assert document["mergeCommit"] == c["merge"]
    assert document["expectedImages"] == [f"{REPO}:1.4.3@{NEW}"]
    [status] = github_api.state.repos["acme/config"].statuses[c["merge"]]
    assert (status["state"], status["context"], status["target_url"]) == (
        "success",
        "shipstep/verify",
        "https://ci.example/run/43",
    )
    assert status["description"] == "verify passed: 4 checks"

    # --no-commit-status leaves the commit alone.
    code, _out, err = run([*argv, "--no-commit-status", "--status-context", "other"], capsys)
    assert code == 0, err
    assert len(github_api.state.repos["acme/config"].statuses[c["merge"]]) == 1


def test_pr_not_merged_is_bad_input_and_changes_nothing(
    kube: KubeStandin,
    git_server: GitServer,
    github_api: GitHubStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, bare, _c = config_repo(git_server, tmp_path, "openpr")
    number = merged_pr(github_api, bare, None)
    report = tmp_path / "r.json"
    argv = [
        *base_args(kube, report),
        "--pr",
        str(number),
        "--config-repo",
        url,
        "--revert-on-failure",
        *github_args(github_api),
    ]
    code, _out, err = run(argv, capsys)
    assert code == 2, err
    assert f"Pull request #{number}" in err and "is open, not merged" in err
    assert "Traceback" not in err and TOKEN not in err
    assert not report.exists()
    assert github_api.state.repos["acme/config"].statuses == {}
    assert kube.requests.all() == []

    argv[argv.index("--pr") + 1] = "99"
    code, _out, err = run(argv, capsys)
    assert code == 1 and "GitHub answered 404" in err and "Traceback" not in err


def test_local_forge_pr_and_status(
    kube: KubeStandin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "config.git"
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(tmp_path, "clone", "-q", str(bare), str(work))
    deployment_file = work / "apps/web/deployment.yaml"
    deployment_file.parent.mkdir(parents=True)
    deployment_file.write_text(MANIFEST.format(image=f"{REPO}:1.4.2@{OLD}"))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "initial")
    git(work, "checkout", "-q", "-b", "shipstep/bump/web")
    deployment_file.write_text(MANIFEST.format(image=f"{REPO}:1.4.3@{NEW}"))
    git(work, "commit", "-q", "-am", "Bump web to 1.4.3")
    git(work, "push", "-q", "origin", "main", "shipstep/bump/web")
    forge = LocalForge(bare)
    pr = forge.create_pull_request(
        head="shipstep/bump/web", base="main", title="Bump web", body="", draft=False
    )
    merge = forge.merge(pr.number)
    kube.seed(namespace(NAMESPACE), namespace("shipstep-system"), deployment(OLD))
    kube.wait(lambda: running(kube, OLD), what="old pods")
    kube.seed(agent_status(merge.commit))  # applied, but the pods never move to NEW
    kube.knobs.rollout("fail", image=NEW, deadline=0.3)
    set_image(kube, NEW)
    code, out, err = run(
        [
            *base_args(kube, tmp_path / "r.json"),
            "--pr",
            str(pr.number),
            "--config-repo",
            str(bare),
            "--revert-on-failure",
        ],
        capsys,
    )
    assert code == 1, err
    outputs = json.loads(out)
    revert = forge.open_pull_requests("main")
    assert [p.url for p in revert] == [outputs["revert-pr-url"]]
    status = forge.commit_statuses(merge.commit)["shipstep/verify"]
    assert status.state == "failure" and status.target_url == outputs["revert-pr-url"]
