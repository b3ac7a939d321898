"""The bump step end to end against a real git daemon and the GitHub stand-in."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest
import requests

from shipstep.errors import InputError, ShipstepError
from shipstep.forges.github import GitHubForge
from shipstep.forges.interface import CommitStatus
from shipstep.gitops.finders import SearchOptions
from shipstep.progress import RecordingReporter
from shipstep.steps.bump import BumpInputs, bump
from tests.fixtures.config_repo import (
    APP,
    EXPECTED_CHANGED_LINES,
    MESSY_FILES,
    NEW_REF,
    SECOND_REF,
)
from tests.fixtures.git import GitServer, git
from tests.fixtures.github import (
    READ_ONLY_TOKEN,
    TOKEN,
    bare_branch_exists,
    bare_commit_exists,
    bare_merge,
)
from tests.github_standin.server import GitHubStandin

_names = itertools.count()

pytestmark = pytest.mark.timeout(120)


def make(
    git_server: GitServer, api: GitHubStandin, files: dict[str, str | bytes] | None = None
) -> tuple[str, Path, GitHubForge]:
    name = f"config-{next(_names)}-{id(api)}"
    bare = git_server.create_repo(name, files or MESSY_FILES)
    api.state.add_repo(f"org/{name}", branch_exists=bare_branch_exists(bare))  # type: ignore[arg-type]
    forge = GitHubForge(f"org/{name}", TOKEN, api_url=api.url, backoff=0.01)
    return git_server.url(name), bare, forge


def inputs(url: str, to: str = NEW_REF, **kwargs: object) -> BumpInputs:
    return BumpInputs(
        repo=url,
        image=APP,
        to=to,
        source="https://github.example/org/app/commit/abc123",
        run="https://github.example/org/app/actions/runs/1",
        backoff=0.01,
        **kwargs,
    )  # type: ignore[arg-type]


def branch_file(bare: Path, branch: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "show", f"{branch}:{path}"], cwd=bare, capture_output=True, check=True
    ).stdout


def changed_lines(old: bytes, new: bytes) -> set[int]:
    a, b = old.split(b"\n"), new.split(b"\n")
    assert len(a) == len(b)
    return {i + 1 for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y}


def test_create_then_unchanged_then_updated(
    git_server: GitServer, github_api: GitHubStandin
) -> None:
    url, bare, forge = make(git_server, github_api)
    first = bump(inputs(url, labels=("bump",), reviewers=("alice", "org/team")), forge)
    assert first.operation == "created"
    assert first.branch == "shipstep/bump/app"
    assert first.pull_request is not None and first.pull_request.number == 1
    assert first.changes == 13
    # The diff touches only the intended scalars, byte for byte.
    for path, expected in EXPECTED_CHANGED_LINES.items():
        old = MESSY_FILES[path]
        old_bytes = old.encode() if isinstance(old, str) else old
        new_bytes = branch_file(bare, "shipstep/bump/app", path)
        assert changed_lines(old_bytes, new_bytes) == expected, path
        assert new_bytes.count(b"\r\n") == old_bytes.count(b"\r\n")
        assert new_bytes.endswith(b"\n") == old_bytes.endswith(b"\n")
    changed = git(bare, "diff", "--name-only", "main", "shipstep/bump/app").splitlines()
    assert sorted(changed) == sorted(EXPECTED_CHANGED_LINES)
    message = git(bare, "log", "-1", "--format=%B", "shipstep/bump/app")
    assert (
        f"{APP}:1.3.0 -> {NEW_REF}" in message
        and "Run: https://github.example/org/app/actions/runs/1" in message
    )
    pr = github_api.state.repos[f"org/{url.rsplit('/', 1)[1][:-4]}"].pulls[1]
    assert pr["labels"] == ["bump"] and pr["reviewers"] == ["alice"] and pr["teams"] == ["team"]
    assert (
        "| `envs/prod/deployment.yaml` |" in pr["body"]
        and '<!-- shipstep:bump name="app"' in pr["body"]
    )
    assert NEW_REF.split("@")[1] in pr["body"]

    again = bump(inputs(url), forge)
    assert again.operation == "unchanged"
    assert again.commit == first.commit

    second = bump(inputs(url, to=SECOND_REF), forge)
    assert second.operation == "updated"
    assert second.pull_request is not None and second.pull_request.number == 1
    assert (
        SECOND_REF.split("@")[1] in branch_file(bare, "shipstep/bump/app", "pods/pod.yml").decode()
    )
    assert git(bare, "rev-list", "--count", "main..shipstep/bump/app") == "1"
    assert len(github_api.state.repos[f"org/{url.rsplit('/', 1)[1][:-4]}"].pulls) == 1
    outputs = second.outputs()
    assert (
        outputs["operation"] == "updated" and outputs["pr-number"] == 1 and outputs["changes"] == 13
    )


def test_superseded_when_branch_per_version(
    git_server: GitServer, github_api: GitHubStandin
) -> None:
    url, _bare, forge = make(git_server, github_api)
    template = "shipstep/bump/{name}-{tag}"
    first = bump(inputs(url, branch_template=template), forge)
    assert first.operation == "created"
    second = bump(inputs(url, to=SECOND_REF, branch_template=template), forge)
    assert second.operation == "superseded"
    assert [p.number for p in second.superseded] == [1]
    state = github_api.state.repos[f"org/{url.rsplit('/', 1)[1][:-4]}"]
    assert state.pulls[1]["state"] == "closed"
    assert "Superseded by #2" in state.comments[1][0]["body"]


def test_base_moved_recomputes_on_new_base(
    git_server: GitServer, github_api: GitHubStandin, tmp_path: Path
) -> None:
    url, bare, forge = make(git_server, github_api)
    bump(inputs(url), forge)
    # Someone changes the base, including a file holding the image.
    work = tmp_path / "w"
    git(tmp_path, "clone", str(bare), str(work))
    (work / "pods" / "pod.yml").write_text(
        (work / "pods" / "pod.yml").read_text().replace("name: a,", "name: renamed,")
    )
    git(work, "commit", "-am", "rename")
    git(work, "push", "origin", "main")
    result = bump(inputs(url, to=SECOND_REF), forge)
    assert result.operation == "updated"
    assert git(bare, "rev-parse", "shipstep/bump/app~1") == git(bare, "rev-parse", "main")
    assert "name: renamed," in branch_file(bare, "shipstep/bump/app", "pods/pod.yml").decode()


def test_never_force_pushes_over_foreign_commits(
    git_server: GitServer, github_api: GitHubStandin, tmp_path: Path
) -> None:
    url, bare, forge = make(git_server, github_api)
    bump(inputs(url), forge)
    work = tmp_path / "w"
    git(tmp_path, "clone", "--branch", "shipstep/bump/app", str(bare), str(work))
    (work / "NOTE").write_text("a human fix\n")
    git(work, "add", "NOTE")
    git(work, "commit", "-m", "human fix")
    git(work, "push", "origin", "shipstep/bump/app")
    tip = git(bare, "rev-parse", "shipstep/bump/app")
    with pytest.raises(ShipstepError, match="did not make"):
        bump(inputs(url, to=SECOND_REF), forge)
    assert git(bare, "rev-parse", "shipstep/bump/app") == tip


def test_no_match_and_allow_no_match(git_server: GitServer, github_api: GitHubStandin) -> None:
    url, bare, forge = make(git_server, github_api)
    other = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/absent"
    with pytest.raises(
        InputError, match=r"No reference to .*team/absent found: searched \d+ files"
    ):
        bump(BumpInputs(repo=url, image=other, to=f"{other}:1@sha256:{'d' * 64}"), forge)
    result = bump(
        BumpInputs(repo=url, image=other, to=f"{other}:1@sha256:{'d' * 64}", allow_no_match=True),
        forge,
    )
    assert result.operation == "skipped" and result.outputs()["pr-url"] == ""
    assert "shipstep/bump" not in git(bare, "branch", "--list")


def test_ambiguous_image_without_host(git_server: GitServer, github_api: GitHubStandin) -> None:
    files = {
        "a.yaml": "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a, image: ghcr.io/team/app:1}]\n",
        "b.yaml": "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a, image: quay.io/team/app:1}]\n",
    }
    url, _bare, forge = make(git_server, github_api, files)
    with pytest.raises(InputError, match="matches 2 different repositories"):
        bump(BumpInputs(repo=url, image="team/app", to=f"team/app:2@sha256:{'d' * 64}"), forge)
    assert github_api.state.repos[f"org/{url.rsplit('/', 1)[1][:-4]}"].pulls == {}


def test_missing_base_branch(git_server: GitServer, github_api: GitHubStandin) -> None:
    url, _, forge = make(git_server, github_api)
    with pytest.raises(InputError, match="base branch 'production' does not exist"):
        bump(inputs(url, base="production"), forge)


def test_auth_refused_leaves_nothing(git_server: GitServer, github_api: GitHubStandin) -> None:
    url, bare, _ = make(git_server, github_api)
    name = url.rsplit("/", 1)[1][:-4]
    bad = GitHubForge(f"org/{name}", "wrong-token", api_url=github_api.url)
    reporter = RecordingReporter()
    with pytest.raises(ShipstepError, match="401") as caught:
        bump(inputs(url), bad, reporter)
    assert "wrong-token" not in caught.value.diagnostic()
    assert "shipstep/bump" not in git(bare, "branch", "--list")
    read_only = GitHubForge(f"org/{name}", READ_ONLY_TOKEN, api_url=github_api.url)
    with pytest.raises(ShipstepError, match="403"):
        bump(inputs(url), read_only)
    assert "shipstep/bump" not in git(bare, "branch", "--list")


def test_forge_5xx_is_retried_then_fails_cleanly(
    git_server: GitServer, github_api: GitHubStandin
) -> None:
    url, _bare, forge = make(git_server, github_api)
    github_api.state.fail("POST", r"/pulls$", 502, times=2)
    assert bump(inputs(url), forge).operation == "created"
    url2, bare2, forge2 = make(git_server, github_api)
    github_api.state.fail("POST", r"/pulls$", 503, times=10)
    with pytest.raises(ShipstepError, match="503"):
        bump(inputs(url2), forge2)
    assert "shipstep/bump" not in git(bare2, "branch", "--list")


def test_forge_422_leaves_no_half_made_pr(git_server: GitServer, github_api: GitHubStandin) -> None:
    url, bare, forge = make(git_server, github_api)
    with pytest.raises(ShipstepError, match="422"):
        bump(inputs(url, reviewers=("ghost-user",)), forge)
    state = github_api.state.repos[f"org/{url.rsplit('/', 1)[1][:-4]}"]
    assert [p["state"] for p in state.pulls.values()] == ["closed"]
    assert "shipstep/bump" not in git(bare, "branch", "--list")


def test_pr_already_exists_422_from_standin(github_api: GitHubStandin) -> None:
    github_api.state.add_repo("org/x")
    forge = GitHubForge("org/x", TOKEN, api_url=github_api.url)
    forge.create_pull_request(head="b", base="main", title="t", body="", draft=False)
    with pytest.raises(ShipstepError, match="A pull request already exists for org:b"):
        forge.create_pull_request(head="b", base="main", title="t", body="", draft=False)


def test_pagination(github_api: GitHubStandin) -> None:
    github_api.state.add_repo("org/many")
    forge = GitHubForge("org/many", TOKEN, api_url=github_api.url)
    for i in range(205):
        forge.create_pull_request(head=f"b{i}", base="main", title="t", body="", draft=False)
    assert len(forge.open_pull_requests("main")) == 205
    assert sum(1 for m, p in github_api.state.requests if m == "GET" and p.endswith("/pulls")) == 3


def test_yaml_error_names_file_and_line(git_server: GitServer, github_api: GitHubStandin) -> None:
    files = {
        "bad.yaml": f"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: {APP}:1\n    name: [unclosed\n"
    }
    url, _, forge = make(git_server, github_api, files)
    with pytest.raises(ShipstepError) as caught:
        bump(inputs(url), forge)
    assert (
        caught.value.file == "bad.yaml" and caught.value.line is not None and caught.value.line >= 6
    )
    assert "bad.yaml:" in caught.value.diagnostic()


def test_symlink_escaping_checkout_is_refused(
    git_server: GitServer, github_api: GitHubStandin, tmp_path: Path
) -> None:
    url, bare, forge = make(git_server, github_api)
    work = tmp_path / "w"
    git(tmp_path, "clone", str(bare), str(work))
    (work / "envs" / "leak.yaml").symlink_to("/etc/hostname")
    git(work, "add", "-A")
    git(work, "commit", "-m", "symlink")
    git(work, "push", "origin", "main")
    with pytest.raises(ShipstepError, match="resolves outside the config repository"):
        bump(inputs(url), forge)
    assert "shipstep/bump" not in git(bare, "branch", "--list")


def test_sparse_checkout_limited_to_paths(git_server: GitServer, github_api: GitHubStandin) -> None:
    url, bare, forge = make(git_server, github_api)
    result = bump(inputs(url, paths=("envs/prod/**",), options=SearchOptions()), forge)
    assert result.operation == "created"
    changed = git(bare, "diff", "--name-only", "main", "shipstep/bump/app").splitlines()
    assert sorted(changed) == ["envs/prod/deployment.yaml", "envs/prod/kustomization.yaml"]


def test_push_rejected_by_server_leaves_nothing(
    git_server: GitServer, github_api: GitHubStandin
) -> None:
    url, bare, forge = make(git_server, github_api)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected: pushes are not allowed' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(ShipstepError, match="protected: pushes are not allowed"):
        bump(inputs(url), forge)
    assert "shipstep/bump" not in git(bare, "branch", "--list")
    assert github_api.state.repos[f"org/{url.rsplit('/', 1)[1][:-4]}"].pulls == {}


class RacingForge(GitHubForge):
    """Another shipstep run pushes the branch just before this one does."""

    def __init__(self, *args: object, bare: Path, scratch: Path, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.bare, self.scratch, self.raced = bare, scratch, False

    def push_branch(
        self, repo: object, commit: str, branch: str, expected: str | None
    ) -> str | None:
        if not self.raced:
            self.raced = True
            work = self.scratch / "racer"
            git(self.scratch, "clone", str(self.bare), str(work))
            (work / "RACE").write_text("x\n")
            git(work, "add", "RACE")
            git(work, "commit", "-m", "Bump app elsewhere\n\nShipstep-Bump: app")
            git(work, "push", "origin", f"HEAD:refs/heads/{branch}")
        return super().push_branch(repo, commit, branch, expected)  # type: ignore[arg-type]


def test_lease_race_retries_on_fresh_base(
    git_server: GitServer, github_api: GitHubStandin, tmp_path: Path
) -> None:
    url, bare, forge = make(git_server, github_api)
    racing = RacingForge(
        forge.repository, TOKEN, api_url=github_api.url, bare=bare, scratch=tmp_path
    )
    reporter = RecordingReporter()
    result = bump(inputs(url), racing, reporter)
    assert result.operation == "created"
    assert any("moved while bumping" in line for line in reporter.lines)
    assert git(bare, "rev-parse", "shipstep/bump/app~1") == git(bare, "rev-parse", "main")
    assert "RACE" not in git(bare, "ls-tree", "--name-only", "shipstep/bump/app")


def test_draft_and_auto_merge(git_server: GitServer, github_api: GitHubStandin) -> None:
    url, _, forge = make(git_server, github_api)
    result = bump(inputs(url, draft=True, auto_merge="squash"), forge)
    state = github_api.state.repos[f"org/{url.rsplit('/', 1)[1][:-4]}"]
    assert result.pull_request is not None and result.pull_request.draft
    assert state.pulls[1]["auto_merge"] == {"merge_method": "squash"}


def test_auto_merge_not_allowed_cleans_up(git_server: GitServer, github_api: GitHubStandin) -> None:
    url, bare, forge = make(git_server, github_api)
    state = github_api.state.repos[f"org/{url.rsplit('/', 1)[1][:-4]}"]
    state.allow_auto_merge = False
    with pytest.raises(ShipstepError, match="auto-merge"):
        bump(inputs(url, auto_merge="merge"), forge)
    assert [p["state"] for p in state.pulls.values()] == ["closed"]
    assert "shipstep/bump" not in git(bare, "branch", "--list")


class HiddenPullsForge(GitHubForge):
    """Lists no pull requests once: another run opens the PR in between."""

    hidden = True

    def open_pull_requests(self, base: str) -> list:  # type: ignore[type-arg]
        if self.hidden:
            self.hidden = False
            return []
        return super().open_pull_requests(base)


def test_pull_request_already_exists_race_becomes_update(
    git_server: GitServer, github_api: GitHubStandin
) -> None:
    url, _, forge = make(git_server, github_api)
    bump(inputs(url), forge)
    racing = HiddenPullsForge(forge.repository, TOKEN, api_url=github_api.url)
    result = bump(inputs(url, to=SECOND_REF), racing)
    assert result.operation == "updated"
    assert result.pull_request is not None and result.pull_request.number == 1


def test_signed_commit_with_ssh_key(
    git_server: GitServer, github_api: GitHubStandin, tmp_path: Path
) -> None:
    from shipstep.gitops.git import Signing

    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    url, bare, forge = make(git_server, github_api)
    bump(inputs(url, signing=Signing("ssh", str(key))), forge)
    raw = git(bare, "cat-file", "commit", "shipstep/bump/app")
    assert "-----BEGIN SSH SIGNATURE-----" in raw
    signers = tmp_path / "allowed"
    signers.write_text(
        "shipstep@users.noreply.github.com " + (tmp_path / "signing_key.pub").read_text()
    )
    verified = subprocess.run(
        [
            "git",
            "-c",
            f"gpg.ssh.allowedSignersFile={signers}",
            "verify-commit",
            "shipstep/bump/app",
        ],
        cwd=bare,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr


def test_symlink_inside_checkout_commits_the_real_file(
    git_server: GitServer, github_api: GitHubStandin
) -> None:
    files: dict[str, str | bytes] = {
        "base/pod.yaml": f"apiVersion: v1\nkind: Pod\nspec:\n  containers: [{{name: a, image: {APP}:1}}]\n"
    }
    url, bare, forge = make(git_server, github_api, files)
    work = bare.parent / f".work-{url.rsplit('/', 1)[1][:-4]}"
    (work / "envs").mkdir()
    (work / "envs" / "pod.yaml").symlink_to("../base/pod.yaml")
    git(work, "add", "-A")
    git(work, "commit", "-m", "link")
    git(work, "push", "origin", "main")
    result = bump(inputs(url, paths=("envs/**",)), forge)
    assert result.operation == "created"
    assert git(bare, "diff", "--name-only", "main", "shipstep/bump/app") == "base/pod.yaml"


def test_signed_commit_with_gpg_key(
    git_server: GitServer,
    github_api: GitHubStandin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shipstep.gitops.git import Signing

    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "shipstep <shipstep@users.noreply.github.com>",
            "ed25519",
            "sign",
            "never",
        ],
        check=True,
        capture_output=True,
    )
    url, bare, forge = make(git_server, github_api)
    bump(inputs(url, signing=Signing("openpgp", "shipstep@users.noreply.github.com")), forge)
    assert "-----BEGIN PGP SIGNATURE-----" in git(bare, "cat-file", "commit", "shipstep/bump/app")
    verified = subprocess.run(
        ["git", "verify-commit", "shipstep/bump/app"],
        cwd=bare,
        capture_output=True,
        text=True,
        check=False,
        env={"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    assert verified.returncode == 0, verified.stderr


def test_standin_merges_into_the_real_repository(
    git_server: GitServer, github_api: GitHubStandin
) -> None:
    import requests

    from tests.fixtures.github import bare_merge

    url, bare, forge = make(git_server, github_api)
    state = github_api.state.repos[forge.repository]
    state.merge = bare_merge(bare)  # type: ignore[assignment]
    result = bump(inputs(url), forge)
    assert result.pull_request is not None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    merged = requests.put(
        f"{github_api.url}/repos/{forge.repository}/pulls/1/merge",
        json={"merge_method": "squash"},
        headers=headers,
        timeout=10,
    )
    assert merged.status_code == 200, merged.text
    assert git(bare, "rev-parse", "main") == merged.json()["sha"]
    assert NEW_REF in git(bare, "show", "main:pods/pod.yml")
    again = requests.put(
        f"{github_api.url}/repos/{forge.repository}/pulls/1/merge",
        json={},
        headers=headers,
        timeout=10,
    )
    assert again.status_code == 405
    # Re-running the bump after the merge: the base holds the new reference.
    assert bump(inputs(url), forge).operation == "unchanged"


def test_pull_request_merge_commit_only_once_merged(
    git_server: GitServer, github_api: GitHubStandin
) -> None:
    name = f"merged-{id(github_api)}"
    bare = git_server.create_repo(name, {"app.yaml": "image: a\n"})
    git(bare, "branch", "topic", "main")
    github_api.state.add_repo(f"org/{name}", merge=bare_merge(bare))  # type: ignore[arg-type]
    forge = GitHubForge(f"org/{name}", TOKEN, api_url=github_api.url)
    pr = forge.create_pull_request(head="topic", base="main", title="t", body="", draft=False)
    opened = forge.pull_request(pr.number)
    # GitHub reports a test-merge sha on open pull requests; it is not a base commit.
    assert (opened.state, opened.merge_commit) == ("open", None)
    github_api.state.repos[f"org/{name}"].pulls[pr.number]["state"] = "closed"
    assert forge.pull_request(pr.number).state == "closed"
    github_api.state.repos[f"org/{name}"].pulls[pr.number]["state"] = "open"
    response = requests.put(
        f"{github_api.url}/repos/org/{name}/pulls/{pr.number}/merge",
        json={"merge_method": "merge"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200
    merged = forge.pull_request(pr.number)
    assert (merged.state, merged.merge_commit) == ("merged", git(bare, "rev-parse", "main"))
    with pytest.raises(ShipstepError, match="404") as caught:
        forge.pull_request(99)
    assert f"org/{name} exists" in (caught.value.hint or "")


def test_commit_status(git_server: GitServer, github_api: GitHubStandin) -> None:
    name = f"status-{id(github_api)}"
    bare = git_server.create_repo(name, {"app.yaml": "image: a\n"})
    github_api.state.add_repo(f"org/{name}", commit_exists=bare_commit_exists(bare))  # type: ignore[arg-type]
    forge = GitHubForge(f"org/{name}", TOKEN, api_url=github_api.url)
    commit = git(bare, "rev-parse", "main")
    long = "verify failed: " + "health: deployment/web, " * 20
    assert forge.set_commit_status(
        commit, CommitStatus("failure", "shipstep/verify", long, "https://ci.example/1")
    )
    [status] = github_api.state.repos[f"org/{name}"].statuses[commit]
    assert (status["state"], status["context"], status["target_url"]) == (
        "failure",
        "shipstep/verify",
        "https://ci.example/1",
    )
    assert status["description"] == long[:140]
    with pytest.raises(ShipstepError, match="No commit found for SHA") as caught:
        forge.set_commit_status("f" * 40, CommitStatus("success", "shipstep/verify", "ok"))
    assert caught.value.hint
    reader = GitHubForge(f"org/{name}", READ_ONLY_TOKEN, api_url=github_api.url)
    with pytest.raises(ShipstepError, match="403"):
        reader.set_commit_status(commit, CommitStatus("success", "shipstep/verify", "ok"))
