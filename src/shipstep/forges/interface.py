"""What the bump and verify steps need from a code forge: pull requests, a
way to put a commit on a branch, and commit statuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Repo(Protocol):
    """The git working copy a forge pushes from (`shipstep.gitops.git.Repo`)."""

    def push(self, commit: str, branch: str, expected: str | None) -> bool: ...

    def delete_remote_branch(self, branch: str, expected: str) -> None: ...

    def files_at(self, commit: str, paths: Sequence[str]) -> dict[str, bytes]: ...

    def message(self, commit: str) -> str: ...

    def parent_and_paths(self, commit: str) -> tuple[str, list[str]]: ...


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    head: str  # branch name
    base: str
    title: str
    body: str
    state: str = "open"  # open | closed | merged
    draft: bool = False
    merge_commit: str | None = None  # the commit the merge made on `base`, once merged


@dataclass(frozen=True)
class CommitStatus:
    """A check result shown on a commit (GitHub's commit status API)."""

    state: str  # success | failure | error | pending
    context: str  # e.g. shipstep/verify; a later status of the same context replaces it
    description: str
    target_url: str | None = None


class Forge(Protocol):
    name: str

    def git_credentials(self) -> tuple[str | None, str | None]:
        """(username, token) for git over HTTPS, or (None, None) to use the
        environment's own git credential configuration."""

    def open_pull_requests(self, base: str) -> list[PullRequest]:
        """Every open pull request into `base`."""

    def pull_request(self, number: int) -> PullRequest:
        """Pull request `number` in any state; `merge_commit` is set once it is merged."""

    def set_commit_status(self, commit: str, status: CommitStatus) -> bool:
        """Show `status` on `commit`. False where the forge has no commit statuses."""

    def create_pull_request(
        self, *, head: str, base: str, title: str, body: str, draft: bool
    ) -> PullRequest: ...

    def update_pull_request(self, pr: PullRequest, *, title: str, body: str) -> PullRequest: ...

    def close_pull_request(self, pr: PullRequest, comment: str | None) -> None: ...

    def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None: ...

    def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> None: ...

    def enable_auto_merge(self, pr: PullRequest, method: str) -> bool:
        """True when auto-merge is now enabled; False where the forge has none."""

    def push_branch(self, repo: Repo, commit: str, branch: str, expected: str | None) -> str | None:
        """Point `branch` at `commit` (or an equal commit the forge makes) if
        it is still at `expected` (None: absent). Returns the branch's new
        commit, or None when `expected` was stale (someone else moved it)."""

    def delete_branch(self, repo: Repo, branch: str, expected: str) -> None:
        """Remove a branch this run created (cleanup after a failure)."""


class GitPushMixin:
    """Branches written with `git push --force-with-lease`."""

    def push_branch(self, repo: Repo, commit: str, branch: str, expected: str | None) -> str | None:
        return commit if repo.push(commit, branch, expected) else None

    def delete_branch(self, repo: Repo, branch: str, expected: str) -> None:
        repo.delete_remote_branch(branch, expected)
