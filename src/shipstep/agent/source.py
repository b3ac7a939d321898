"""The config repository: cheap polling, shallow fetch, last good checkout.

`GitSource.head()` runs `git ls-remote` (one round trip, no objects) and
`GitSource.checkout(rev)` fetches only that commit (`--depth 1`) into a new
directory, so a failed fetch never touches the checkout in use. Credentials
come from mounted files and reach git through the environment
(`GIT_CONFIG_*`, `GIT_SSH_COMMAND`), never through argv or logs.

`verify_webhook()` checks a GitHub push webhook's `X-Hub-Signature-256`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from shipstep.agent.config import AgentConfig
from shipstep.errors import ShipstepError

_CREDENTIALS_IN_URL = re.compile(r"://[^/@\s]+@")
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")


class SourceError(ShipstepError):
    """The repository could not be read; what runs is not affected."""


class GitSource:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.root = config.workdir / "checkouts"
        self.current: Path | None = None  # the last good checkout
        self.current_revision: str | None = None

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.config.workdir),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
        }
        if self.config.git_token_file is not None:
            token = self.config.git_token_file.read_text().strip()
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        if self.config.git_ssh_key_file is not None:
            known = self.config.git_known_hosts_file
            options = [
                "ssh",
                "-i",
                str(self.config.git_ssh_key_file),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
            ]
            if known is not None:
                options += ["-o", f"UserKnownHostsFile={known}"]
            env["GIT_SSH_COMMAND"] = " ".join(shlex.quote(o) for o in options)
        return env

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        try:
            completed = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=self.config.git_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SourceError(
                f"git {args[0]} timed out after {self.config.git_timeout:.0f}s.",
                hint="Check that the repository host is reachable from the agent.",
            ) from None
        if completed.returncode != 0:
            detail = completed.stderr.strip().splitlines()
            message = detail[-1] if detail else f"exit code {completed.returncode}"
            message = _CREDENTIALS_IN_URL.sub("://***@", message)
            hint = "Check the repository URL and that the git server is up."
            if re.search(
                r"authentication|permission denied|403|401|could not read Username",
                completed.stderr,
                re.I,
            ):
                hint = "The git server refused the credentials: check the token or SSH key Secret."
            raise SourceError(
                f"git {args[0]} of the config repository failed: {message}", hint=hint
            )
        return completed.stdout

    def head(self) -> str:
        """The commit the configured branch points at (`git ls-remote`)."""
        ref = f"refs/heads/{self.config.branch}"
        out = self._git("ls-remote", "--", self.config.repo_url, ref)
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            if name == ref and _SHA.match(sha):
                return sha
        raise SourceError(
            f"Branch {self.config.branch!r} does not exist in the config repository.",
            hint="Check --branch.",
        )

    def checkout(self, revision: str) -> Path:
        """A fresh shallow checkout of `revision` (the previous one is kept
        until `promote`)."""
        if not _SHA.match(revision):
            raise SourceError(f"Not a commit id: {revision!r}.")
        target = self.root / revision
        if target.exists() and target != self.current:
            shutil.rmtree(target)
        elif target == self.current:
            return target
        partial = self.root / f".partial-{revision}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            self._git("init", "--quiet", str(partial))
            self._git(
                "fetch",
                "--quiet",
                "--depth",
                "1",
                "--no-tags",
                "--",
                self.config.repo_url,
                revision,
                cwd=partial,
            )
            self._git(
                "-c", "advice.detachedHead=false", "checkout", "--quiet", "FETCH_HEAD", cwd=partial
            )
            got = self._git("rev-parse", "HEAD", cwd=partial).strip()
            if got != revision:
                raise SourceError(f"Fetched {got}, expected {revision}.")
            shutil.rmtree(partial / ".git")
            partial.rename(target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return target

    def promote(self, revision: str, path: Path) -> None:
        """Make `path` the last good checkout and drop every other one."""
        self.current, self.current_revision = path, revision
        for other in self.root.iterdir():
            if other != path:
                shutil.rmtree(other, ignore_errors=True)

    def discard(self, path: Path) -> None:
        if path != self.current:
            shutil.rmtree(path, ignore_errors=True)


def verify_webhook(secret: bytes, body: bytes, signature_header: str | None) -> bool:
    """GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`."""
    if not signature_header or not signature_header.startswith("sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature_header[len("sha256=") :])


def push_ref(body: bytes) -> str | None:
    """The `ref` of a GitHub push event payload, or None when it is not one."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    ref = payload.get("ref") if isinstance(payload, dict) else None
    return ref if isinstance(ref, str) else None
