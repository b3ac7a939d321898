"""AWS CodeBuild: outputs as a dotenv file a buildspec can `source`.

A buildspec lists the names under `env: exported-variables` and sources the
file in a command (see the README). Names are `SHIPSTEP_<OUTPUT>` with
hyphens turned into underscores: output `image-id` is `SHIPSTEP_IMAGE_ID`.
Values are single-quoted for the shell, so multi-line values survive.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from shipstep.result import OutputValue, render_output
from shipstep.runtime.interface import Provenance

DEFAULT_ENV_FILE = "shipstep.env"


def variable_name(output: str) -> str:
    return "SHIPSTEP_" + output.upper().replace("-", "_")


class CodeBuildRuntime:
    name = "codebuild"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ

    @property
    def env_file(self) -> Path:
        return Path(self._env.get("SHIPSTEP_ENV_FILE") or DEFAULT_ENV_FILE)

    def input(self, name: str) -> str | None:
        return None

    def write_outputs(self, outputs: Mapping[str, OutputValue]) -> None:
        # Appended, so that a chain of steps accumulates its outputs; a later
        # assignment of the same name wins when the file is sourced.
        with self.env_file.open("a", encoding="utf-8") as file:
            for name, value in outputs.items():
                file.write(f"{variable_name(name)}={shlex.quote(render_output(value))}\n")

    def write_summary(self, markdown: str) -> None:
        # CodeBuild has no step summary; the report is in the build log.
        return None

    def mask_command(self, secret: str) -> list[str]:
        # CodeBuild masks the values it injects from Secrets Manager and
        # Parameter Store itself; there is no command for others.
        return []

    def error_command(
        self, message: str, *, file: str | None, line: int | None, title: str | None
    ) -> str | None:
        return None

    def group_commands(self, title: str) -> tuple[str, str] | None:
        return None

    def provenance(self) -> Provenance:
        return Provenance(
            source_url=self._env.get("CODEBUILD_SOURCE_REPO_URL"),
            revision=self._env.get("CODEBUILD_RESOLVED_SOURCE_VERSION"),
            run_url=self._env.get("CODEBUILD_BUILD_URL"),
        )
