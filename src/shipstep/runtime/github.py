"""GitHub Actions: `INPUT_*` variables, `$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY`
and workflow commands.

Spec: https://docs.github.com/actions/reference/workflow-commands-for-github-actions
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from shipstep.result import OutputValue, render_output
from shipstep.runtime.interface import Provenance


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


class GitHubActionsRuntime:
    name = "github-actions"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ

    def input(self, name: str) -> str | None:
        # The runner upper-cases the name and turns spaces (not hyphens) into
        # underscores: input `test-command` arrives as `INPUT_TEST-COMMAND`.
        value = self._env.get("INPUT_" + name.replace(" ", "_").upper())
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def write_outputs(self, outputs: Mapping[str, OutputValue]) -> None:
        path = self._env.get("GITHUB_OUTPUT")
        if not path:
            return
        with Path(path).open("a", encoding="utf-8") as file:
            for name, value in outputs.items():
                text = render_output(value)
                # The heredoc form is safe for every value, multi-line or not,
                # as long as the delimiter cannot occur in it.
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
                while delimiter in text:  # pragma: no cover - a uuid collision
                    delimiter = f"ghadelimiter_{uuid.uuid4()}"
                file.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")

    def write_summary(self, markdown: str) -> None:
        path = self._env.get("GITHUB_STEP_SUMMARY")
        if path and markdown:
            with Path(path).open("a", encoding="utf-8") as file:
                file.write(markdown.rstrip("\n") + "\n")

    def mask_command(self, secret: str) -> list[str]:
        # A multi-line secret is masked line by line, as the runner matches
        # single log lines.
        return [f"::add-mask::{_escape_data(part)}" for part in secret.splitlines() if part.strip()]

    def error_command(
        self, message: str, *, file: str | None, line: int | None, title: str | None
    ) -> str | None:
        properties = []
        if file:
            properties.append(f"file={_escape_property(file)}")
        if line:
            properties.append(f"line={line}")
        if title:
            properties.append(f"title={_escape_property(title)}")
        joined = " " + ",".join(properties) if properties else ""
        return f"::error{joined}::{_escape_data(message)}"

    def group_commands(self, title: str) -> tuple[str, str] | None:
        return f"::group::{_escape_data(title)}", "::endgroup::"

    def provenance(self) -> Provenance:
        server = self._env.get("GITHUB_SERVER_URL", "https://github.com")
        repository = self._env.get("GITHUB_REPOSITORY")
        run_id = self._env.get("GITHUB_RUN_ID")
        return Provenance(
            source_url=f"{server}/{repository}" if repository else None,
            revision=self._env.get("GITHUB_SHA"),
            run_url=f"{server}/{repository}/actions/runs/{run_id}"
            if repository and run_id
            else None,
        )
