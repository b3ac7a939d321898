"""What every step returns: outputs for machines, a summary for people."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

# An output value as a step produces it. Lists become newline-separated
# strings in GitHub/CodeBuild outputs and stay lists in `--output json`.
OutputValue = str | int | bool | list[str] | None


class StepResult(Protocol):
    @property
    def succeeded(self) -> bool:
        """False when the step ran to the end but its verdict is failure
        (tests failed, verification failed): outputs are still emitted and the
        command exits 1."""

    def outputs(self) -> Mapping[str, OutputValue]:
        """Outputs under the names the step's action.yml declares."""

    def summary_markdown(self) -> str:
        """A short markdown report for `$GITHUB_STEP_SUMMARY`."""

    def text(self) -> str:
        """What a person reads in a terminal."""


def render_output(value: OutputValue) -> str:
    """An output value as the string a CI variable holds."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\n".join(value)
    return str(value)
