"""Git through the `git` command (argv lists, never a shell).

Credentials never go into a URL: a token reaches git through a credential
helper that reads it from this process's environment, and every URL or
message shown to the user has its userinfo removed.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipstep.errors import InputError, ShipstepError

TOKEN_ENV = "SHIPSTEP_GIT_TOKEN"  # noqa: S105 (a variable name, not a secret)
# The helper is git's own `!` syntax; it prints the token from the
# environment, so the token is neither in argv nor in a config file.
_HELPER = '!f() { test "$1" = get && echo "username=${SHIPSTEP_GIT_USERNAME:-x-access-token}" && echo "password=${SHIPSTEP_GIT_TOKEN}"; }; f'
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)
_AUTH_FAILURES = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "permission denied",
    "the requested url returned error: 401",
    "the requested url returned error: 403",
    "access denied",
    "invalid username or password",
)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    text = _USERINFO.sub(r"\g<scheme>", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class Identity:
    name: str = "shipstep"
    email: str = "shipstep@users.noreply.github.com"


@dataclass(frozen=True)
class Signing:
    """Sign commits: `format` is `ssh` (key = a private or public key file)
    or `openpgp` (key = a GPG key id)."""

    format: str
    key: str


class GitError(ShipstepError):
    pass


class Repo:
    """A working copy driven through `git`. The environment's git
    configuration applies (CodeBuild's CodeCommit credential helper, SSH
    agents); given a token, shipstep's helper replaces the configured ones."""

    def __init__(
        self, path: Path, *, token: str | None = None, username: str | None = None
    ) -> None:
        self.path = path
        self._token = token
        self._env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(path)),
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
        for name in (
            "SSH_AUTH_SOCK",
            "GIT_SSH_COMMAND",
            "GNUPGHOME",
            "AWS_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        ):
            if name in os.environ:
                self._env[name] = os.environ[name]
        if token:
            self._env[TOKEN_ENV] = token
            if username:
                self._env["SHIPSTEP_GIT_USERNAME"] = username

    def _config(self) -> list[str]:
        if not self._token:
            return []
        return ["-c", "credential.helper=", "-c", f"credential.helper={_HELPER}"]

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        argv = ["git", *self._config(), *args]
        completed = subprocess.run(
            argv,
            cwd=cwd or self.path,
            env={**self._env, **(env or {})},
            capture_output=True,
            text=True,
            input=input,
            check=False,
            timeout=600,
        )
        if check and completed.returncode != 0:
            raise self.error(args, completed.stderr)
        return completed

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def error(self, args: Sequence[str], stderr: str) -> GitError:
        detail = redact(stderr.strip(), [self._token or ""])
        lowered = detail.lower()
        if any(marker in lowered for marker in _AUTH_FAILURES):
            return GitError(
                f"The git server refused the credentials (git {args[0]}): {detail.splitlines()[-1] if detail else ''}",
                hint="Check the token (--token / GITHUB_TOKEN) and that it may read and push to the config repository.",
                title="Authentication refused",
            )
        return GitError(f"git {args[0]} failed: {detail}", hint="See git's message above.")

    # --- operations ---------------------------------------------------------

    def clone(
        self, url: str, branch: str, *, depth: int = 1, sparse: Sequence[str] | None = None
    ) -> None:
        argv = [
            "clone",
            "--quiet",
            "--depth",
            str(depth),
            "--single-branch",
            "--no-tags",
            "--branch",
            branch,
        ]
        if sparse:
            argv += ["--sparse", "--filter=blob:none"]
        completed = self.run(*argv, "--", url, str(self.path), cwd=self.path.parent, check=False)
        if completed.returncode != 0:
            stderr = completed.stderr
            if "not found in upstream" in stderr or f"Remote branch {branch} not found" in stderr:
                raise InputError(
                    f"The base branch {branch!r} does not exist in {redact(url)}.",
                    hint="Pass the config repository's branch with --base (for example main).",
                    title="Base branch missing",
                )
            raise self.error(["clone"], stderr)
        if sparse:
            self.run("sparse-checkout", "set", "--", *sparse)

    def remote_branch(self, branch: str) -> str | None:
        """The commit the remote's `branch` points at, or None."""
        output = self.out("ls-remote", "--heads", "origin", f"refs/heads/{branch}")
        for line in output.splitlines():
            sha, _, ref = line.partition("\t")
            if ref == f"refs/heads/{branch}":
                return sha
        return None

    def fetch(self, branch: str, *, depth: int = 2) -> str:
        self.run(
            "fetch",
            "--quiet",
            "--no-tags",
            f"--depth={depth}",
            "origin",
            f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
        )
        return self.out("rev-parse", f"refs/remotes/origin/{branch}")

    def head(self) -> str:
        return self.out("rev-parse", "HEAD")

    def commit(
        self,
        paths: Sequence[str],
        message: str,
        *,
        author: Identity,
        signing: Signing | None = None,
    ) -> str:
        self.run("add", "--", *paths)
        ident = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": author.name,
            "GIT_COMMITTER_EMAIL": author.email,
        }
        config: list[str] = []
        sign: list[str] = []
        if signing is not None:
            config = ["-c", f"gpg.format={signing.format}", "-c", f"user.signingkey={signing.key}"]
            sign = ["--gpg-sign"]
        self.run(
            *config, "commit", "--quiet", "--no-verify", *sign, "--file=-", env=ident, input=message
        )
        return self.head()

    def message(self, commit: str) -> str:
        return self.out("log", "-1", "--format=%B", commit)

    def patch_id(self, commit: str) -> str:
        """Identifies the change a commit makes (whatever its parent)."""
        diff = self.run("diff-tree", "--patch", "--no-color", "--full-index", commit).stdout
        result = self.run("patch-id", "--stable", input=diff).stdout.split()
        return result[0] if result else ""

    def same_change(self, tip: str, commit: str) -> bool:
        """Whether the branch tip already makes the change `commit` makes:
        the same patch, or (for a forge that stacks its commits) the same
        content of the changed files and no other file touched."""
        if self.patch_id(tip) == self.patch_id(commit):
            return True
        ours = self.changed_paths(commit)
        if not set(self.changed_paths(tip)) <= set(ours):
            return False
        return self.run("diff", "--quiet", commit, tip, "--", *ours, check=False).returncode == 0

    def push(self, commit: str, branch: str, expected: str | None) -> bool:
        """Point the remote's `branch` at `commit` if it still is at
        `expected` (None: must not exist). False when the lease failed."""
        lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
        completed = self.run(
            "push", "--porcelain", lease, "origin", f"{commit}:refs/heads/{branch}", check=False
        )
        if completed.returncode == 0:
            return True
        text = completed.stdout + completed.stderr
        if (
            "stale info" in text or "non-fast-forward" in text or "fetch first" in text
        ) and "remote rejected" not in text:
            if any(marker in text.lower() for marker in _AUTH_FAILURES):
                raise self.error(["push"], text)
            return False
        raise self.error(["push"], text)

    def delete_remote_branch(self, branch: str, expected: str) -> None:
        self.run(
            "push",
            "--porcelain",
            f"--force-with-lease=refs/heads/{branch}:{expected}",
            "origin",
            f":refs/heads/{branch}",
            check=False,
        )

    def files_at(self, commit: str, paths: Sequence[str]) -> dict[str, bytes]:
        """The content of `paths` at `commit`."""
        files: dict[str, bytes] = {}
        for path in paths:
            completed = subprocess.run(
                ["git", "show", f"{commit}:{path}"],
                cwd=self.path,
                env=self._env,
                capture_output=True,
                check=False,
                timeout=60,
            )
            if completed.returncode != 0:
                raise self.error(["show"], completed.stderr.decode(errors="replace"))
            files[path] = completed.stdout
        return files

    def changed_paths(self, commit: str) -> list[str]:
        return self.out("diff-tree", "--no-commit-id", "--name-only", "-r", commit).splitlines()

    def parent_and_paths(self, commit: str) -> tuple[str, list[str]]:
        return self.out("rev-parse", f"{commit}^"), self.changed_paths(commit)
