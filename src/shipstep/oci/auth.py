"""Registry credentials and where they come from.

A `CredentialProvider` answers `credentials(registry_host) -> Credentials | None`.
Every `Credentials` names its `source` (e.g. "docker config /home/u/.docker/config.json",
"credential helper docker-credential-ecr-login") so that a refused login
says which source was tried, never what the secret is.

Providers:
- `Anonymous()`: never has credentials.
- `StaticCredentials(username, password, registry=None, source=...)`: from flags.
- `DockerConfig(path=None)`: `$DOCKER_CONFIG/config.json` or
  `~/.docker/config.json`: `auths` entries (`auth`, `username`/`password`,
  `identitytoken`), `credHelpers` and `credsStore` (run as
  `docker-credential-<name> get` with an argv list, host on stdin).
- `ChainCredentials(providers)`: the first provider that has credentials.
- ECR tokens: `shipstep.oci.ecr.EcrCredentials` (boto3).

`parse_challenge(header)` parses a `WWW-Authenticate` header into
`(scheme, params)`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shipstep.errors import ShipstepError


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str
    identity_token: str | None = field(default=None, repr=False)


class CredentialProvider(Protocol):
    def credentials(self, registry: str) -> Credentials | None:
        """Credentials for `registry` (a host with optional port), or None."""

    def describe(self) -> str:
        """Which sources this provider consults (for error messages)."""


class Anonymous:
    def credentials(self, registry: str) -> Credentials | None:
        return None

    def describe(self) -> str:
        return "no credentials (anonymous)"


@dataclass
class StaticCredentials:
    username: str
    password: str = field(repr=False)
    registry: str | None = None
    source: str = "--username/--password"

    def credentials(self, registry: str) -> Credentials | None:
        if self.registry is not None and self.registry != registry:
            return None
        return Credentials(self.username, self.password, self.source)

    def describe(self) -> str:
        return self.source


def _host_keys(registry: str) -> list[str]:
    keys = [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]
    if registry in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        keys += ["https://index.docker.io/v1/", "index.docker.io", "docker.io"]
    return keys


def _match_entry(entries: dict[str, object], registry: str) -> object | None:
    for key in _host_keys(registry):
        if key in entries:
            return entries[key]
    for key, value in entries.items():  # "https://host/v2/" and other spellings
        stripped = re.sub(r"^https?://", "", key).split("/", 1)[0]
        if stripped == registry:
            return value
    return None


class DockerConfig:
    """Credentials from the Docker CLI's config file and credential helpers."""

    def __init__(self, path: Path | None = None, *, helper_timeout: float = 30.0) -> None:
        if path is None:
            directory = os.environ.get("DOCKER_CONFIG")
            base = Path(directory) if directory else Path.home() / ".docker"
            path = base / "config.json"
        self.path = path
        self.helper_timeout = helper_timeout

    def describe(self) -> str:
        return f"docker config {self.path}"

    def _load(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise ShipstepError(
                f"Cannot read the Docker config {self.path}: {error.__class__.__name__}.",
                hint="Fix or remove the file, or pass credentials another way.",
            ) from None
        return data if isinstance(data, dict) else {}

    def credentials(self, registry: str) -> Credentials | None:
        config = self._load()
        helpers = config.get("credHelpers")
        if isinstance(helpers, dict):
            helper = _match_entry(helpers, registry)
            if isinstance(helper, str) and helper:
                return self._from_helper(helper, registry)
        auths = config.get("auths")
        if isinstance(auths, dict):
            entry = _match_entry(auths, registry)
            if isinstance(entry, dict):
                found = self._from_entry(entry, registry)
                if found:
                    return found
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            return self._from_helper(store, registry, missing_ok=True)
        return None

    def _from_entry(self, entry: dict[str, object], registry: str) -> Credentials | None:
        source = f"docker config {self.path} (auths entry for {registry})"
        username = entry.get("username")
        password = entry.get("password")
        token = entry.get("identitytoken")
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            try:
                decoded = base64.b64decode(auth, validate=True).decode()
                username, password = decoded.split(":", 1)
            except (ValueError, UnicodeDecodeError):
                raise ShipstepError(
                    f"The {source} has an 'auth' value that is not base64 'user:password'.",
                    hint="Log in again with `docker login`.",
                ) from None
        if isinstance(token, str) and token:
            return Credentials(str(username or "<token>"), "", source, identity_token=token)
        if isinstance(username, str) and isinstance(password, str) and username:
            return Credentials(username, password, source)
        return None

    def _from_helper(
        self, helper: str, registry: str, *, missing_ok: bool = False
    ) -> Credentials | None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", helper):
            raise ShipstepError(f"Invalid credential helper name {helper!r} in {self.path}.")
        program = f"docker-credential-{helper}"
        source = f"credential helper {program}"
        binary = shutil.which(program)
        if binary is None:
            if missing_ok:
                return None
            raise ShipstepError(
                f"{self.path} names the credential helper {program} for {registry}, but it is not installed.",
                hint=f"Install {program} or remove the credHelpers entry.",
            )
        try:
            done = subprocess.run(
                [binary, "get"],
                input=registry.encode(),
                capture_output=True,
                timeout=self.helper_timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ShipstepError(
                f"The {source} failed for {registry}: {error.__class__.__name__}."
            ) from None
        if done.returncode != 0:
            if b"credentials not found" in done.stdout.lower() + done.stderr.lower():
                return None
            raise ShipstepError(
                f"The {source} failed for {registry} (exit {done.returncode}).",
                hint=f"Run `echo {registry} | {program} get` to see why.",
            )
        try:
            answer = json.loads(done.stdout)
            username, secret = str(answer["Username"]), str(answer["Secret"])
        except (ValueError, KeyError, TypeError):
            raise ShipstepError(
                f"The {source} answered something that is not JSON credentials."
            ) from None
        if username == "<token>":
            return Credentials(username, "", source, identity_token=secret)
        return Credentials(username, secret, source)


@dataclass
class ChainCredentials:
    providers: Sequence[CredentialProvider]

    def credentials(self, registry: str) -> Credentials | None:
        for provider in self.providers:
            found = provider.credentials(registry)
            if found is not None:
                return found
        return None

    def describe(self) -> str:
        return ", ".join(p.describe() for p in self.providers) or "no credentials"


_PARAM = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(rest):
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params[match.group(1).lower()] = value or ""
    return scheme.lower(), params
