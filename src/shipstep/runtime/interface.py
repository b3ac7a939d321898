"""The boundary between shipstep and the CI system it runs in.

A runtime knows where inputs come from, where outputs and summaries go, and
how the CI system wants annotations, masks and log groups spelled. It writes
files (output and summary files) but never prints: it returns the workflow
command lines and the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from shipstep.result import OutputValue


@dataclass(frozen=True)
class Provenance:
    """Where the code being shipped comes from, for labels, commits and PRs."""

    source_url: str | None = None
    revision: str | None = None
    run_url: str | None = None


class Runtime(Protocol):
    name: str

    def input(self, name: str) -> str | None:
        """The raw value of an action input (`test-command`), or None if unset."""

    def write_outputs(self, outputs: Mapping[str, OutputValue]) -> None: ...

    def write_summary(self, markdown: str) -> None: ...

    def mask_command(self, secret: str) -> list[str]:
        """Lines that make the CI system hide `secret` in its logs."""

    def error_command(
        self, message: str, *, file: str | None, line: int | None, title: str | None
    ) -> str | None:
        """An annotation line for a failure, or None where the CI has none."""

    def group_commands(self, title: str) -> tuple[str, str] | None:
        """The lines that open and close a collapsed log block, if supported."""

    def provenance(self) -> Provenance: ...
