"""`LocalForge.merge` and `shipstep local-merge` on real bare repositories."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from shipstep.cli import cli
from shipstep.cli._app import run_cli
from shipstep.errors import InputError, ShipstepError
from shipstep.forges.interface import CommitStatus
from shipstep.forges.local import ALREADY_MERGED, MERGED, LocalForge
from tests.fixtures.git import git

pytestmark = pytest.mark.timeout(60)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


class Config:
    """A bare config repository with a work clone to push branches from."""

    def __init__(self, tmp_path: Path) -> None:
        self.bare = tmp_path / "config.git"
        self.work = tmp_path / "work"
        git(tmp_path, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(tmp_path, "init", "-q", "-b", "main", str(self.work))
        self.write("apps/web.yaml", "image: app@sha256:1111\n")
        self.write("README.md", "config\n")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", "initial")
        git(self.work, "push", "-q", str(self.bare), "main")

    def write(self, relative: str, text: str) -> None:
        (self.work / relative).parent.mkdir(parents=True, exist_ok=True)
        (self.work / relative).write_text(text)

    def branch(self, name: str, files: dict[str, str], start: str = "main") -> str:
        git(self.work, "checkout", "-q", "-B", name, start)
        for relative, text in files.items():
            self.write(relative, text)
        git(self.work, "commit", "-q", "-am", f"change on {name}")
        git(self.work, "push", "-q", "-f", str(self.bare), f"{name}:{name}")
        git(self.work, "checkout", "-q", "main")
        return git(self.work, "rev-parse", name)

    def rev(self, ref: str) -> str:
        return git(self.bare, "rev-parse", ref)

    def show(self, ref: str, path: str) -> str:
        return git(self.bare, "show", f"{ref}:{path}")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(tmp_path)


def open_pr(forge: LocalForge, head: str) -> int:
    pr = forge.create_pull_request(
        head=head, base="main", title=f"bump {head}", body="body", draft=False
    )
    return pr.number


def test_merge_makes_a_merge_commit_and_is_idempotent(config: Config) -> None:
    head = config.branch("shipstep/bump/web", {"apps/web.yaml": "image: app@sha256:2222\n"})
    # main moves on meanwhile (another file): the merge cannot be a fast-forward.
    config.write("README.md", "config, edited\n")
    git(config.work, "commit", "-q", "-am", "readme")
    git(config.work, "push", "-q", str(config.bare), "main")
    base = config.rev("main")
    forge = LocalForge(config.bare)
    number = open_pr(forge, "shipstep/bump/web")

    merge = forge.merge(number)
    assert merge.operation == MERGED and merge.pull_request.state == "merged"
    assert config.rev("main") == merge.commit
    assert git(config.bare, "rev-list", "--parents", "-n1", merge.commit).split()[1:] == [
        base,
        head,
    ]
    message = git(config.bare, "log", "-1", "--format=%an <%ae>%n%B", merge.commit)
    assert message.startswith("shipstep local forge <local-forge@shipstep.invalid>\n")
    assert "Merge pull request #1 from shipstep/bump/web" in message and "bump shipstep" in message
    assert config.show("main", "apps/web.yaml") == "image: app@sha256:2222"
    assert config.show("main", "README.md") == "config, edited"
    assert git(config.bare, "fsck", "--strict") == ""
    assert not list((config.bare / "objects").glob("incoming-*"))
    record = forge.record(number)
    assert record["state"] == "merged" and record["merge_commit"] == merge.commit
    assert forge.open_pull_requests("main") == []

    before = snapshot(config.bare)
    again = forge.merge(number)
    assert again.operation == ALREADY_MERGED and again.commit == merge.commit
    assert snapshot(config.bare) == before


def test_branch_already_in_base_is_reported_and_recorded(config: Config) -> None:
    head = config.branch("topic", {"apps/web.yaml": "image: app@sha256:3333\n"})
    forge = LocalForge(config.bare)
    number = open_pr(forge, "topic")
    git(config.bare, "update-ref", "refs/heads/main", head)  # merged by hand (fast-forward)
    merge = forge.merge(number)
    assert merge.operation == ALREADY_MERGED and merge.commit == head
    assert config.rev("main") == head
    assert forge.record(number)["state"] == "merged"


def test_conflict_is_an_error_and_changes_nothing(config: Config) -> None:
    config.branch("topic", {"apps/web.yaml": "image: app@sha256:4444\n"})
    config.write("apps/web.yaml", "image: app@sha256:5555\n")
    git(config.work, "commit", "-q", "-am", "conflicting edit")
    git(config.work, "push", "-q", str(config.bare), "main")
    forge = LocalForge(config.bare)
    number = open_pr(forge, "topic")
    before = snapshot(config.bare)
    with pytest.raises(ShipstepError) as caught:
        forge.merge(number)
    assert "has conflicts in apps/web.yaml" in caught.value.message
    assert "nothing was merged" in caught.value.message and caught.value.hint
    assert snapshot(config.bare) == before  # no ref, record or object changed


def test_bad_requests(config: Config) -> None:
    forge = LocalForge(config.bare)
    with pytest.raises(InputError, match="There is no pull request #7"):
        forge.merge(7)
    config.branch("gone", {"README.md": "x\n"})
    number = open_pr(forge, "gone")
    git(config.bare, "update-ref", "-d", "refs/heads/gone")
    with pytest.raises(ShipstepError, match=r"Branch 'gone' .* does not exist"):
        forge.merge(number)
    config.branch("closed", {"README.md": "y\n"})
    closed = open_pr(forge, "closed")
    forge.close_pull_request(forge.open_pull_requests("main")[-1], "superseded")
    with pytest.raises(InputError, match=f"#{closed} is closed"):
        forge.merge(closed)


def cli_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "CODEBUILD_BUILD_ID")}
    capsys.readouterr()
    code = run_cli(cli, list(args), env)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli(config: Config, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config.branch("shipstep/bump/web", {"apps/web.yaml": "image: app@sha256:6666\n"})
    number = open_pr(LocalForge(config.bare), "shipstep/bump/web")
    repo = str(config.bare)
    code, out, err = cli_run(capsys, "local-merge", "--repo", repo, "--pr", str(number))
    assert code == 0, err
    commit = config.rev("main")
    assert out.strip() == (
        f"pull request #{number} (shipstep/bump/web -> main): merged, main is now {commit}"
    )
    code, out, err = cli_run(
        capsys, "--output", "json", "local-merge", "--repo", repo, "--pr", str(number)
    )
    assert code == 0, err
    assert json.loads(out) == {
        "pr-number": number,
        "branch": "shipstep/bump/web",
        "base": "main",
        "merge-operation": "already-merged",
        "merge-commit": commit,
    }
    assert "local-merge" not in cli_run(capsys, "--help")[1]  # not a pipeline step

    config.branch("clash", {"apps/web.yaml": "image: app@sha256:7777\n"})
    clash = open_pr(LocalForge(config.bare), "clash")
    code, out, err = cli_run(capsys, "local-merge", "--repo", repo, "--pr", str(clash))
    assert code == 1 and "has conflicts in apps/web.yaml" in err and "Traceback" not in err
    code, _, err = cli_run(capsys, "local-merge", "--repo", str(tmp_path), "--pr", "1")
    assert code == 2 and "is not a bare git repository" in err
    code, _, err = cli_run(capsys, "local-merge", "--repo", repo, "--pr", "0")
    assert code == 2 and "--pr" in err


def test_pull_request_reports_the_merge_commit_and_keeps_it(config: Config) -> None:
    config.branch("topic", {"apps/web.yaml": "image: app@sha256:8888\n"})
    forge = LocalForge(config.bare)
    number = open_pr(forge, "topic")
    opened = forge.pull_request(number)
    assert (opened.state, opened.merge_commit) == ("open", None)
    merge = forge.merge(number)
    merged = forge.pull_request(number)
    assert (merged.state, merged.merge_commit) == ("merged", merge.commit)
    forge.add_labels(opened, ["late"])  # a stale copy of the PR does not unset the merge
    assert forge.pull_request(number).merge_commit == merge.commit
    with pytest.raises(InputError, match="There is no pull request #9"):
        forge.pull_request(9)


def test_commit_statuses_are_recorded_per_context(config: Config) -> None:
    forge = LocalForge(config.bare)
    commit = config.rev("main")
    failed = CommitStatus("failure", "shipstep/verify", "verify failed: health", "https://ci/1")
    assert forge.set_commit_status(commit, CommitStatus("pending", "shipstep/verify", "waiting"))
    assert forge.set_commit_status(commit, failed)
    assert forge.set_commit_status(commit, CommitStatus("success", "lint", "ok"))
    assert forge.commit_statuses(commit) == {
        "shipstep/verify": failed,
        "lint": CommitStatus("success", "lint", "ok"),
    }
    before = snapshot(config.bare)
    with pytest.raises(ShipstepError, match=f"No commit {'0' * 40}"):
        forge.set_commit_status("0" * 40, failed)
    assert snapshot(config.bare) == before
