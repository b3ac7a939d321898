"""A developer's shell: no CI files; provenance from the git checkout."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from shipstep.result import OutputValue
from shipstep.runtime.interface import Provenance


def _git(cwd: Path, *args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = completed.stdout.strip()
    return value if completed.returncode == 0 and value else None


class LocalRuntime:
    name = "local"

    def __init__(self, cwd: Path | None = None) -> None:
        self._cwd = cwd or Path.cwd()

    def input(self, name: str) -> str | None:
        return None

    def write_outputs(self, outputs: Mapping[str, OutputValue]) -> None:
        return None

    def write_summary(self, markdown: str) -> None:
        return None

    def mask_command(self, secret: str) -> list[str]:
        return []

    def error_command(
        self, message: str, *, file: str | None, line: int | None, title: str | None
    ) -> str | None:
        return None

    def group_commands(self, title: str) -> tuple[str, str] | None:
        return None

    def provenance(self) -> Provenance:
        remote = _git(self._cwd, "remote", "get-url", "origin")
        return Provenance(
            source_url=_strip_credentials(remote) if remote else None,
            revision=_git(self._cwd, "rev-parse", "HEAD"),
        )


def _strip_credentials(url: str) -> str:
    """`https://user:token@host/repo` -> `https://host/repo`: never leak a token."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url
