"""`shipstep build` against the real engine: images, tags, labels, outputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from tests.fixtures.images import write_busybox_context
from tests.integration.build_step.conftest import Run, write_context


@pytest.mark.timeout(180)
def test_builds_from_scratch_and_runs_passing_tests(
    shipstep: Callable[..., Run],
    unique_tag: Callable[..., str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    context = write_busybox_context(tmp_path / "ctx")
    first, second = unique_tag("scratch", "2.3.4"), unique_tag("scratch", "latest")
    output, summary = tmp_path / "github-output", tmp_path / "summary.md"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "INPUT_TEST-COMMAND": "sh -c 'test -x /bin/busybox && echo all good'",
    }
    run = shipstep(
        "--output",
        "json",
        "build",
        "--context",
        str(context),
        "--tag",
        first,
        "--tag",
        second,
        "--label",
        "org.opencontainers.image.source=https://example.com/mine",
        "--label",
        "team=web",
        env=env,
    )
    assert run.code == 0, run.err
    outputs = run.json()
    assert outputs["test-result"] == "passed"
    assert outputs["tags"] == [first, second]
    assert outputs["digest"] is None  # not pushed: the engine knows no registry digest
    image = docker_client.images.get(first)
    assert outputs["image-id"] == image.id
    assert docker_client.images.get(second).id == image.id
    labels = image.labels
    assert labels["org.opencontainers.image.source"] == "https://example.com/mine"  # user wins
    assert labels["org.opencontainers.image.revision"] == env["GITHUB_SHA"]
    assert labels["org.opencontainers.image.version"] == "2.3.4"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["team"] == "web"
    # The log is grouped in CI and the test output streamed.
    assert f"::group::docker build {first}" in run.err and "::endgroup::" in run.err
    assert "all good" in run.err
    assert "image-id<<" in output.read_text() and image.id in output.read_text()
    assert "| tests | ✅ passed |" in summary.read_text()


@pytest.mark.timeout(180)
def test_build_options_reach_the_engine(
    shipstep: Callable[..., Run],
    unique_tag: Callable[..., str],
    busybox_image: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context = write_context(
        tmp_path / "ctx",
        busybox_image,
        [
            "ARG GREETING",
            "ARG FROM_ENV",
            'RUN echo "$GREETING $FROM_ENV" > /greeting && ls /sys/class/net > /nets',
            "FROM " + busybox_image + " AS second",
            "RUN echo second > /stage",
        ],
    )
    dockerfile = context / "Dockerfile"
    moved = tmp_path / "elsewhere.Dockerfile"  # --file outside the context, relative to cwd
    moved.write_text(
        dockerfile.read_text()
        .replace("AS second", "AS final")
        .replace("FROM " + busybox_image + "\n", "FROM " + busybox_image + " AS first\n", 1)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FROM_ENV", "world")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    tag = unique_tag("opts")
    run = shipstep(
        "--output",
        "json",
        "build",
        "--context",
        "ctx",
        "--file",
        "elsewhere.Dockerfile",
        "--tag",
        tag,
        "--build-arg",
        "GREETING=hello",
        "--build-arg",
        "FROM_ENV",
        "--target",
        "first",
        "--network",
        "none",
        "--no-cache",
    )
    assert run.code == 0, run.err
    assert run.json()["test-result"] == "skipped"
    output = docker_client.containers.run(tag, ["cat", "/greeting", "/nets"], remove=True)
    assert output == b"hello world\nlo\n"  # build args, target stage, RUN network none
    image = docker_client.images.get(tag)
    assert image.labels["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert "Using cache" not in run.err  # --no-cache


@pytest.mark.timeout(180)
def test_text_output_and_cache_reuse(
    shipstep: Callable[..., Run],
    unique_tag: Callable[..., str],
    busybox_image: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    context = write_context(tmp_path / "ctx", busybox_image, ["RUN echo built > /built"])
    tag = unique_tag("cache")
    first = shipstep("build", "--context", str(context), "--tag", tag)
    assert first.code == 0, first.err
    again = shipstep("build", "--context", str(context), "--tag", tag)
    assert again.code == 0, again.err
    image_line = first.out.splitlines()[0]
    assert image_line.startswith("built sha256:")
    # Same inputs, same SOURCE_DATE_EPOCH: every step from the cache, same image.
    assert again.out.splitlines()[0].split()[1] == image_line.split()[1]
    steps = again.out.splitlines()[0].rsplit(", ", 1)[1]
    done, total = steps.split()[0].split("/")
    assert done == total
    assert f"tagged {tag}" in again.out and "tests: skipped" in again.out
    assert first.out.splitlines()[0].endswith("(created)")
    assert again.out.splitlines()[0].endswith("(unchanged)")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000001")
    changed = shipstep("--output", "json", "build", "--context", str(context), "--tag", tag)
    try:
        assert json.loads(changed.out)["operation"] == "updated"
    finally:  # the first image is now untagged: remove it too
        docker_client.images.remove(image_line.split()[1], force=True)


def test_json_output_is_only_json(
    shipstep: Callable[..., Run], unique_tag: Callable[..., str], busybox_image: str, tmp_path: Path
) -> None:
    context = write_context(tmp_path / "ctx", busybox_image, ["RUN echo noisy"])
    run = shipstep("--output", "json", "build", "--context", str(context), "--tag", unique_tag())
    assert run.code == 0
    assert json.loads(run.out)["image-id"].startswith("sha256:")
    assert "noisy" in run.err and "noisy" not in run.out
