"""CI runtime adapters: GitHub Actions, AWS CodeBuild, and a local shell."""

from __future__ import annotations

import os
from collections.abc import Mapping

from shipstep.runtime.codebuild import CodeBuildRuntime
from shipstep.runtime.github import GitHubActionsRuntime
from shipstep.runtime.interface import Provenance, Runtime
from shipstep.runtime.local import LocalRuntime


def detect(environ: Mapping[str, str] | None = None) -> Runtime:
    """The runtime shipstep is running in, from the environment."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true":
        return GitHubActionsRuntime(env)
    if env.get("CODEBUILD_BUILD_ID"):
        return CodeBuildRuntime(env)
    return LocalRuntime()


__all__ = [
    "CodeBuildRuntime",
    "GitHubActionsRuntime",
    "LocalRuntime",
    "Provenance",
    "Runtime",
    "detect",
]
