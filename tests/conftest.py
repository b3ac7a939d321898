"""Shared fixtures: real local services (Docker engine, registry, moto, git).

In CI (CI=true) nothing may be skipped: a missing service fails its tests,
and the session fails if any test was skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.aws import aws_endpoint, moto_server
from tests.fixtures.docker_engine import docker_client, docker_host
from tests.fixtures.git import git_server
from tests.fixtures.images import busybox_image, make_image
from tests.fixtures.registry import auth_registry, make_registry, registry
from tests.fixtures.services import IN_CI

__all__ = [
    "auth_registry",
    "aws_endpoint",
    "busybox_image",
    "docker_client",
    "docker_host",
    "git_server",
    "make_image",
    "make_registry",
    "moto_server",
    "registry",
]

# Subprocesses (`python -m shipstep`, the agent) import the code of this
# checkout, whatever is installed in the environment.
_SRC = str(Path(__file__).resolve().parent.parent / "src")
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_SRC, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped and session.exitstatus == 0:
        if reporter:
            reporter.write_line(f"CI forbids skipped tests: {skipped} were skipped", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
