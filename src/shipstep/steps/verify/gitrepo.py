"""A private clone of the config repository: commit lookups, ancestry (is
the merge commit contained in what the agent applied?), the bump's diff, and
the revert branch. Real `git`, argv lists, never a shell; a token travels in
the environment (`http.extraHeader`), never in a URL or an argument."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from shipstep.errors import InputError, ShipstepError

_SHA = re.compile(r"^[0-9a-f]{7,64}$")
GIT_TIMEOUT = 300


def redact(url: str) -> str:
    return re.sub(r"://[^/@]*@", "://***@", url)


class ConfigRepo:
    def __init__(self, url: str, *, token: str | None = None, workdir: Path | None = None) -> None:
        self.url = url
        self._token = token
        self._own_dir = workdir is None
        self.path = Path(workdir or tempfile.mkdtemp(prefix="shipstep-verify-config-"))

    # lifecycle
    def clone(self) -> ConfigRepo:
        target = self.path / "repo"
        try:
            self._git(self.path, "clone", "--quiet", "--no-checkout", self.url, str(target))
        except ShipstepError:
            self.close()
            raise
        self.path = target
        return self

    def close(self) -> None:
        root = self.path.parent if self.path.name == "repo" else self.path
        if self._own_dir:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> ConfigRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # plumbing
    def _env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.path)),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
        }
        for name in (
            "SSH_AUTH_SOCK",
            "GIT_SSH_COMMAND",
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
        ):
            if name in os.environ:
                env[name] = os.environ[name]
        env.setdefault("GIT_AUTHOR_NAME", "shipstep")
        env.setdefault("GIT_AUTHOR_EMAIL", "shipstep@users.noreply.github.com")
        env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
        env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
        if self._token:
            basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        return env

    def _git(self, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ShipstepError(
                f"git {args[0]} failed: {error}", hint="Check that git is installed."
            ) from error
        if check and done.returncode != 0:
            stderr = redact(done.stderr.strip().replace(self._token or "\0", "***"))
            raise ShipstepError(
                f"git {args[0]} on the config repository {redact(self.url)} failed: {stderr}",
                hint="Check the repository URL and the credentials (GITHUB_TOKEN / --git-token).",
            )
        return done

    def git(self, *args: str, check: bool = True) -> str:
        return self._git(self.path, *args, check=check).stdout.strip()

    # queries
    def resolve(self, commit: str) -> str | None:
        """The full SHA of `commit`, or None when the clone does not have it."""
        if not _SHA.match(commit) and not commit.startswith(("refs/", "origin/")):
            raise InputError(
                f"{commit!r} is not a commit SHA.",
                hint="Pass --merge-commit with the merge commit's SHA.",
            )
        done = self._git(
            self.path, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", check=False
        )
        return done.stdout.strip() if done.returncode == 0 else None

    def fetch(self) -> None:
        self.git("fetch", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*")

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        done = self._git(
            self.path, "merge-base", "--is-ancestor", ancestor, descendant, check=False
        )
        if done.returncode not in (0, 1):
            raise ShipstepError(f"git merge-base failed: {done.stderr.strip()}")
        return done.returncode == 0

    def parents(self, commit: str) -> list[str]:
        return self.git("rev-list", "--parents", "-n", "1", commit).split()[1:]

    def diff_against_first_parent(self, commit: str) -> str:
        parents = self.parents(commit)
        if not parents:
            return self.git("show", "--format=", "--unified=0", commit)
        return self.git("diff", "--unified=0", parents[0], commit)
