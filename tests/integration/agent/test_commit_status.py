"""The agent's verdict on each config commit as a commit status: through the
CLI on the GitHub stand-in (applied, refused, once per change), and a forge
that fails never fails the reconcile."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from shipstep.agent.notify import CommitStatusNotifier
from shipstep.forges.github import GitHubForge
from tests.fixtures.git import git
from tests.fixtures.github import TOKEN, bare_commit_exists
from tests.github_standin.server import GitHubStandin
from tests.integration.agent.harness import configmap, docs, make_agent, make_config, new_repo
from tests.integration.agent.test_agent import FOUR
from tests.integration.agent.test_cli import agent_cli, common

pytestmark = pytest.mark.timeout(120)


def statuses(github_api: GitHubStandin, commit: str) -> list[tuple[str, str, str]]:
    return [
        (s["state"], s["context"], s["description"])
        for s in github_api.state.repos["acme/config"].statuses.get(commit, [])
    ]


def test_cli_sets_success_then_failure_once_per_change(
    cluster: Any,
    git_server: Any,
    github_api: GitHubStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = new_repo(git_server, tmp_path, FOUR)
    bare = git_server.root / f"{repo.name}.git"
    github_api.state.add_repo("acme/config", commit_exists=bare_commit_exists(bare))  # type: ignore[arg-type]
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    argv = [
        "--output",
        "json",
        "agent",
        "--once",
        "--no-verify-signatures",
        *common(cluster, repo.url, tmp_path),
        "--commit-status-forge",
        "github",
        "--forge-repository",
        "acme/config",
        "--forge-api-url",
        github_api.url,
        "--forge-token-file",
        str(token_file),
    ]
    good = git(repo.work, "rev-parse", "HEAD")
    code, _out, err = agent_cli(capsys, *argv)
    assert code == 0, err
    assert statuses(github_api, good) == [("success", "shipstep/agent", "applied")]
    assert TOKEN not in err

    # Unchanged: no second status for the same verdict.
    code, _out, err = agent_cli(capsys, *argv)
    assert code == 0, err
    assert len(statuses(github_api, good)) == 1

    bad = repo.commit({"manifests/x.yaml": docs(configmap("x", namespace="kube-system"))})
    code, _out, err = agent_cli(capsys, *argv, "--allow-namespace", "apps")
    assert code == 1
    [(state, context, description)] = statuses(github_api, bad)
    assert (state, context) == ("failure", "shipstep/agent")
    assert description.startswith("refused: ") and "kube-system" in description
    assert len(description) <= 140


def test_forge_failure_is_logged_and_the_reconcile_stands(
    cluster: Any,
    git_server: Any,
    github_api: GitHubStandin,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = new_repo(git_server, tmp_path, FOUR)
    github_api.state.add_repo("acme/config")
    github_api.state.fail("POST", r"/statuses/", 403, times=1)
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    forge = GitHubForge("acme/config", TOKEN, api_url=github_api.url, backoff=0.01)
    agent.status.on_change = CommitStatusNotifier(forge, "shipstep/agent")
    with caplog.at_level(logging.WARNING, logger="shipstep.agent"):
        outcome = agent.reconcile()
    assert outcome.result == "applied", outcome.reason
    assert any(r.getMessage() == "commit status not set" for r in caplog.records)
    assert github_api.state.repos["acme/config"].statuses == {}


def test_bad_forge_flags_exit_2(
    cluster: Any, git_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = new_repo(git_server, tmp_path, FOUR)
    base = ["agent", "--once", "--no-verify-signatures", *common(cluster, repo.url, tmp_path)]
    code, _out, err = agent_cli(capsys, *base, "--commit-status-forge", "github")
    assert code == 2 and "The GitHub repository (OWNER/NAME)" in err
    code, _out, err = agent_cli(
        capsys, *base, "--commit-status-forge", "github", "--forge-repository", "acme/config"
    )
    assert code == 2 and "needs a token" in err
    assert "Traceback" not in err
    assert cluster.requests.all() == []
