"""A private clone of the config repository for verify: commit lookups,
ancestry (is the merge commit contained in what the agent applied?), the
bump's diff, and the revert branch. Git runs through the bump step's
`shipstep.gitops.git.Repo` (argv lists, token through a credential helper,
never in a URL or an argument); this class adds what verify asks of it and
implements the forge's `Repo` protocol by delegation."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from shipstep.errors import InputError
from shipstep.gitops.git import Repo, redact

_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_IDENTITY = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")


class ConfigRepo:
    def __init__(self, url: str, *, token: str | None = None) -> None:
        self.url = url
        self._root = Path(tempfile.mkdtemp(prefix="shipstep-verify-config-"))
        self.path = self._root / "repo"
        self.repo = Repo(self.path, token=token)

    def clone(self) -> ConfigRepo:
        done = self.repo.run(
            "clone",
            "--quiet",
            "--no-checkout",
            "--",
            self.url,
            str(self.path),
            cwd=self._root,
            check=False,
        )
        if done.returncode != 0:
            self.close()
            raise self.repo.error(["clone"], done.stderr)
        return self

    def close(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> ConfigRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _identity(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in _IDENTITY if name in os.environ}
        env.setdefault("GIT_AUTHOR_NAME", "shipstep")
        env.setdefault("GIT_AUTHOR_EMAIL", "shipstep@users.noreply.github.com")
        env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
        env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
        return env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.repo.run(*args, env=self._identity(), check=check)

    def git(self, *args: str, check: bool = True) -> str:
        return self.run(*args, check=check).stdout.strip()

    # queries
    def resolve(self, commit: str) -> str | None:
        """The full SHA of `commit`, or None when the clone does not have it."""
        if not _SHA.match(commit) and not commit.startswith(("refs/", "origin/")):
            raise InputError(
                f"{commit!r} is not a commit SHA.",
                hint="Pass --merge-commit with the merge commit's SHA.",
            )
        done = self.run("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    def fetch(self) -> None:
        self.run("fetch", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*")

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        done = self.run("merge-base", "--is-ancestor", ancestor, descendant, check=False)
        if done.returncode not in (0, 1):
            raise self.repo.error(["merge-base"], done.stderr)
        return done.returncode == 0

    def parents(self, commit: str) -> list[str]:
        return self.git("rev-list", "--parents", "-n", "1", commit).split()[1:]

    def diff_against_first_parent(self, commit: str) -> str:
        parents = self.parents(commit)
        if not parents:
            return self.git("show", "--format=", "--unified=0", commit)
        return self.git("diff", "--unified=0", parents[0], commit)

    def display_url(self) -> str:
        return redact(self.url)

    # the forge's `Repo` protocol, by delegation
    def remote_branch(self, branch: str) -> str | None:
        return self.repo.remote_branch(branch)

    def push(self, commit: str, branch: str, expected: str | None) -> bool:
        return self.repo.push(commit, branch, expected)

    def delete_remote_branch(self, branch: str, expected: str) -> None:
        self.repo.delete_remote_branch(branch, expected)

    def files_at(self, commit: str, paths: Sequence[str]) -> dict[str, bytes]:
        return self.repo.files_at(commit, paths)

    def message(self, commit: str) -> str:
        return self.repo.message(commit)

    def parent_and_paths(self, commit: str) -> tuple[str, list[str]]:
        return self.repo.parent_and_paths(commit)
