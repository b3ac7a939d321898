"""Helpers for the build step's tests against the real engine."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from shipstep.cli import cli
from shipstep.cli._app import run_cli

TEST_ROLE = "dev.shipstep.role=test"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, object]:
        value = json.loads(self.out)
        assert isinstance(value, dict)
        return value


@pytest.fixture
def unique_tag(docker_client: docker.DockerClient) -> Iterator[Callable[[str], str]]:
    """`unique_tag("app")` -> a fresh local tag; the images go after the test."""
    made: list[str] = []

    def factory(name: str = "app", tag: str = "1.0") -> str:
        reference = f"shipstep-test/build-{name}-{uuid.uuid4().hex[:10]}:{tag}"
        made.append(reference)
        return reference

    yield factory
    for reference in made:
        with contextlib.suppress(docker.errors.DockerException):
            docker_client.images.remove(reference, force=True)


@pytest.fixture
def shipstep(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run `shipstep ARGS` in-process with the given runtime environment."""

    def run(*argv: str, env: dict[str, str] | None = None) -> Run:
        code = run_cli(cli, list(argv), env or {})
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def write_context(
    directory: Path, base: str, lines: list[str], files: dict[str, str] | None = None
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for relative, content in (files or {}).items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    (directory / "Dockerfile").write_text("\n".join([f"FROM {base}", *lines]) + "\n")
    return directory


def leftover_containers(client: docker.DockerClient, image_id: str | None = None) -> list[str]:
    filters: dict[str, object] = {"label": TEST_ROLE}
    if image_id:
        filters["ancestor"] = image_id
    # sparse: the list answer alone; a per-container inspect would race the
    # engine removing the container and fail with NotFound.
    return [c.id for c in client.containers.list(all=True, filters=filters, sparse=True)]
