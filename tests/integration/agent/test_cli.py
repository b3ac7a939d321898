"""`shipstep agent` on the command line: flags, environment, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from shipstep.cli import cli
from shipstep.cli._app import run_cli
from tests.integration.agent.harness import new_repo
from tests.integration.agent.test_agent import FOUR, writes

pytestmark = pytest.mark.timeout(120)


def agent_cli(
    capsys: pytest.CaptureFixture[str], *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITHUB_ACTIONS", "CODEBUILD_BUILD_ID") and not k.startswith("SHIPSTEP_")
    }
    environ.update(env or {})
    capsys.readouterr()
    code = run_cli(cli, list(args), environ)
    out = capsys.readouterr()
    return code, out.out, out.err


def common(cluster: Any, url: str, tmp_path: Path) -> list[str]:
    return [
        "--repo-url",
        url,
        "--path",
        "manifests",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--namespace",
        "shipstep-system",
        "--default-namespace",
        "apps",
        "--workdir",
        str(tmp_path / "w"),
    ]


def test_bad_flags_exit_2_without_touching_the_cluster(
    cluster: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = agent_cli(capsys, "agent", "--once", "--kubeconfig", str(cluster.kubeconfig))
    assert code == 2 and "--repo-url" in err
    code, _, err = agent_cli(capsys, "agent", "--once", *common(cluster, "git://x/y.git", tmp_path))
    assert code == 2 and "No signature policy given" in err and "--policy" in err
    code, _, err = agent_cli(
        capsys,
        "agent",
        "--once",
        "--no-verify-signatures",
        "--prune-max-share",
        "2",
        *common(cluster, "git://x/y.git", tmp_path),
    )
    assert code == 2 and "not between 0 and 1" in err
    code, _, err = agent_cli(
        capsys,
        "agent",
        "--once",
        "--no-verify-signatures",
        "--path",
        "../etc",
        *common(cluster, "git://x/y.git", tmp_path),
    )
    assert code == 2 and "not relative to the repository" in err
    assert "Traceback" not in err
    assert cluster.requests.all() == []


def test_dry_run_prints_the_plan_and_once_applies(
    cluster: Any,
    git_server: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = new_repo(git_server, tmp_path, FOUR)
    code, out, err = agent_cli(
        capsys, "agent", "--dry-run", "--no-verify-signatures", *common(cluster, repo.url, tmp_path)
    )
    assert code == 0, err
    assert "plan (dry run, nothing written)" in out and "create    Deployment.apps apps/web" in out
    assert writes(cluster) == []
    # Configuration from the environment, as the Deployment's ConfigMap gives it.
    env = {
        "SHIPSTEP_REPO_URL": repo.url,
        "SHIPSTEP_PATHS": "manifests",
        "SHIPSTEP_VERIFY_SIGNATURES": "false",
        "SHIPSTEP_ONCE": "true",
    }
    rest = [
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--namespace",
        "shipstep-system",
        "--default-namespace",
        "apps",
        "--workdir",
        str(tmp_path / "w"),
    ]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = agent_cli(capsys, "--output", "json", "agent", *rest, env=env)
    assert code == 0, err
    result = json.loads(out)
    assert result["result"] == "applied" and result["created"] == 4
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line["msg"] == "reconcile" and line["result"] == "applied" for line in lines)
    bad = repo.commit({"manifests/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n"})
    code, out, _ = agent_cli(capsys, "--output", "json", "agent", *rest, env=env)
    assert code == 1  # the head is refused (the previous revision is still reconciled)
    result = json.loads(out)
    assert result["refused-revision"] == bad and "manifests/a.yaml:" in result["reason"]
