"""Bad input and faults: each gives a clear diagnostic, no traceback, nothing left behind."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from shipstep.steps.build import BuildInputs, build
from shipstep.steps.imagebuild.log import TAIL_LINE_CHARS, TAIL_LINES
from shipstep.steps.imagebuild.testrun import ImageTests
from tests.fixtures.images import write_busybox_context
from tests.fixtures.services import free_port
from tests.integration.build_step.conftest import Run, leftover_containers, write_context


def assert_clean(run: Run) -> None:
    assert "Traceback" not in run.err + run.out


def test_missing_context(shipstep: Callable[..., Run], tmp_path: Path) -> None:
    run = shipstep("build", "--context", str(tmp_path / "nope"), "--tag", "app:1")
    assert run.code == 2
    assert f"the build context {tmp_path / 'nope'} does not exist" in run.err
    assert "hint: Pass --context" in run.err
    assert_clean(run)


def test_missing_dockerfile(shipstep: Callable[..., Run], tmp_path: Path) -> None:
    run = shipstep("build", "--context", str(tmp_path), "--tag", "app:1")
    assert run.code == 2 and f"no Dockerfile at {tmp_path / 'Dockerfile'}" in run.err
    run = shipstep(
        "build", "--context", str(tmp_path), "--file", "other/Dockerfile", "--tag", "app:1"
    )
    assert run.code == 2 and "no Dockerfile at other/Dockerfile" in run.err
    assert_clean(run)


def test_secret_looking_build_args_and_test_env_are_masked(
    shipstep: Callable[..., Run], tmp_path: Path
) -> None:
    run = shipstep(
        "build",
        "--context",
        str(tmp_path / "none"),
        "--tag",
        "a:1",
        "--build-arg",
        "NPM_TOKEN=tok-123",
        "--build-arg",
        "VERSION=1.0",
        "--test-command",
        "true",
        "--test-env",
        "DB_PASSWORD=pw-456",
        env={"GITHUB_ACTIONS": "true"},
    )
    assert run.code == 2
    assert "::add-mask::tok-123" in run.err and "::add-mask::pw-456" in run.err
    assert "::add-mask::1.0" not in run.err


@pytest.mark.timeout(120)
def test_dockerfile_syntax_error_points_at_the_line(
    shipstep: Callable[..., Run],
    busybox_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context = write_context(tmp_path / "ctx", busybox_image, ["RUN true", "COPPY a b"])
    run = shipstep(
        "build",
        "--context",
        str(context),
        "--tag",
        "shipstep-test/never:1",
        env={"GITHUB_ACTIONS": "true"},
    )
    assert run.code == 2
    dockerfile = context / "Dockerfile"
    assert f"{dockerfile}:3: the engine refused the Dockerfile" in run.err
    assert "unknown instruction: COPPY" in run.err
    assert f"::error file={dockerfile},line=3,title=Dockerfile error::" in run.err
    # Inside the checkout, annotations name the file relative to it, as GitHub wants.
    monkeypatch.chdir(tmp_path)
    run = shipstep(
        "build",
        "--context",
        "ctx",
        "--tag",
        "shipstep-test/never:1",
        env={"GITHUB_ACTIONS": "true"},
    )
    assert "::error file=ctx/Dockerfile,line=3,title=Dockerfile error::" in run.err
    assert_clean(run)


def test_unknown_build_arg_and_target(
    shipstep: Callable[..., Run], busybox_image: str, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx", busybox_image + " AS base", ["ARG VERSION", "FROM base AS final"]
    )
    run = shipstep("build", "--context", str(context), "--tag", "app:1", "--build-arg", "VERSON=1")
    assert run.code == 2
    assert (
        "build argument VERSON is not declared by any ARG" in run.err
        and "Declared: VERSION" in run.err
    )
    run = shipstep("build", "--context", str(context), "--tag", "app:1", "--target", "tests")
    assert run.code == 2
    assert "--target 'tests': no stage of that name" in run.err and "base, final" in run.err
    run = shipstep("build", "--context", str(context), "--tag", "app:1", "--test-target", "tests")
    assert run.code == 2 and "--test-target 'tests'" in run.err
    # Proxy arguments need no declaration, as with docker build.
    run = shipstep(
        "build",
        "--context",
        str(context / "missing"),
        "--tag",
        "app:1",
        "--build-arg",
        "HTTP_PROXY=x",
    )
    assert "build argument" not in run.err
    assert_clean(run)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tag", "App:1"], "--tag 'App:1' is not a valid image name"),
        (["--tag", "app@sha256:abc"], "is not a valid image name"),
        (["--tag", "a:1", "--test-command", "sh -c 'unclosed"], "cannot be split into arguments"),
        (["--tag", "a:1", "--test-command", '["sh", 1]'], "must be an array of strings"),
        (
            ["--tag", "a:1", "--test-command", "true", "--test-timeout", "0"],
            "must be a positive number",
        ),
        (["--tag", "a:1", "--test-report", "/r.xml"], "need --test-command or --test-target"),
        (["--tag", "a:1", "--platform", "linux/amd64,linux/arm64"], "need --builder buildx"),
        (["--tag", "a:1", "--build-arg", "UNSET_SHIPSTEP_VAR"], "$UNSET_SHIPSTEP_VAR is not set"),
        (["--tag", "a:1", "--label", "novalue"], "is not NAME=VALUE"),
        (
            ["--tag", "a:1", "--builder", "buildx", "--oci-output", "x.tar,type=registry"],
            "may not contain commas",
        ),
        (["--tag", "a:1", "--cache-to", "type=inline"], "need --builder buildx"),
    ],
)
def test_bad_inputs(
    shipstep: Callable[..., Run], tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    run = shipstep("build", "--context", str(tmp_path), *argv)
    assert run.code == 2, run.err
    assert message in run.err
    assert_clean(run)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["unix", "tcp"])
def test_engine_unreachable_names_docker_host(
    shipstep: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    host = (
        f"unix://{tmp_path}/no-docker.sock" if kind == "unix" else f"tcp://127.0.0.1:{free_port()}"
    )
    monkeypatch.setenv("DOCKER_HOST", host)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    run = shipstep("build", "--context", str(tmp_path), "--tag", "app:1")
    assert run.code == 1
    assert f"cannot reach the Docker engine at DOCKER_HOST={host}" in run.err
    assert "hint: Start the engine or point DOCKER_HOST at it" in run.err
    assert_clean(run)


def test_buildx_without_docker_cli_is_a_clear_error(
    shipstep: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    run = shipstep("build", "--context", str(tmp_path), "--tag", "a:1", "--builder", "buildx")
    assert run.code == 2 and "--builder buildx needs the docker CLI, and none is on PATH" in run.err
    assert_clean(run)


def _has_buildx() -> bool:
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        return False
    probe = subprocess.run([docker_cli, "buildx", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.timeout(300)
def test_buildx_builder_builds_or_says_it_is_missing(
    shipstep: Callable[..., Run],
    unique_tag: Callable[..., str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    """Where the docker CLI has buildx (GitHub runners) this is a real buildx
    build; where it has not (Debian's docker.io here) the error must say so."""
    context = write_busybox_context(tmp_path / "ctx")
    tag = unique_tag("buildx", "3.1")
    run = shipstep(
        "--output",
        "json",
        "build",
        "--context",
        str(context),
        "--tag",
        tag,
        "--builder",
        "buildx",
        "--test-command",
        "sh -c 'echo via buildx'",
        env={"GITHUB_ACTIONS": "true"},
    )
    assert_clean(run)
    if not _has_buildx():
        assert run.code == 2
        assert "has no buildx plugin" in run.err and "docker/setup-buildx-action" in run.err
        return
    assert run.code == 0, run.err
    outputs = run.json()
    image = docker_client.images.get(tag)
    assert outputs["image-id"] == image.id
    assert image.labels["org.opencontainers.image.version"] == "3.1"
    assert outputs["test-result"] == "passed" and "via buildx" in run.err


@pytest.mark.timeout(180)
def test_failing_instruction_and_bounded_tail(
    shipstep: Callable[..., Run], unique_tag: Callable[..., str], busybox_image: str, tmp_path: Path
) -> None:
    script = (
        "RUN i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done; "
        "head -c 10000 /dev/zero | tr '\\0' x; echo; echo the-last-words >&2; exit 7"
    )
    context = write_context(tmp_path / "ctx", busybox_image, ["RUN echo fine", script])
    run = shipstep(
        "build", "--context", str(context), "--tag", unique_tag(), env={"GITHUB_ACTIONS": "true"}
    )
    assert run.code == 1
    error = run.err[run.err.index("error: ") :]
    assert f"{context / 'Dockerfile'}:3: the build failed at step 3/" in error
    assert ": RUN i=0; while" in error
    assert "Removing intermediate container" not in error
    assert "returned a non-zero code: 7" in error
    assert "the-last-words" in error and "line-19999" in error
    assert "earlier lines not shown" in error
    # The message keeps a bounded tail however much the step printed.
    assert len(error) < (TAIL_LINES + 10) * (TAIL_LINE_CHARS + 20)
    assert f"::error file={context / 'Dockerfile'},line=3,title=docker build failed::" in run.err
    assert "line-0\n" in run.err  # the whole log was streamed before
    assert_clean(run)


class CountingReporter:
    """Counts lines without keeping them (a stand-in for a terminal)."""

    def __init__(self) -> None:
        self.lines = 0
        self.longest = 0
        self.saw_end = False

    def log(self, line: str) -> None:
        # A call may carry a block of lines (one chunk of the container's output).
        parts = line.split("\n")
        self.lines += len(parts)
        self.longest = max(self.longest, *map(len, parts))
        self.saw_end = self.saw_end or "test-line-49999" in line

    def group(self, title: str):  # type: ignore[no-untyped-def]
        from contextlib import nullcontext

        return nullcontext()

    def task(self, description: str, total: float | None = None):  # type: ignore[no-untyped-def]
        from contextlib import nullcontext

        from shipstep.progress import _NullTask

        return nullcontext(_NullTask())

    def mask(self, secret: str) -> None:
        pass


@pytest.mark.timeout(180)
def test_test_log_flood_keeps_a_bounded_tail(
    unique_tag: Callable[..., str],
    busybox_image: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    context = write_context(tmp_path / "ctx", busybox_image, [])
    flood = "i=0; while [ $i -lt 50000 ]; do echo test-line-$i; i=$((i+1)); done; head -c 200000 /dev/zero | tr '\\0' y; exit 1"
    reporter = CountingReporter()
    result = build(
        BuildInputs(
            context=context,
            tags=(unique_tag(),),
            tests=ImageTests(command=("sh", "-c", flood), timeout=120),
        ),
        reporter=reporter,
    )
    assert not result.succeeded and result.tests is not None
    assert result.tests.exit_code == 1
    assert reporter.lines > 50000 and reporter.saw_end  # the whole output, to the end
    assert reporter.longest <= 4096  # a 200 kB line arrives in bounded pieces
    assert len(result.tests.tail) == TAIL_LINES
    assert all(len(line) <= TAIL_LINE_CHARS + 2 for line in result.tests.tail)
    assert leftover_containers(docker_client, result.image_id) == []
