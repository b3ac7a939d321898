"""The test phase: commands in the built image, reports, timeouts, interrupts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from tests.integration.build_step.conftest import Run, leftover_containers, write_context

JUNIT_SCRIPT = """#!/bin/sh
# A stand-in test runner inside the image: writes a JUnit report, fails if any failed.
mkdir -p /work/reports
cat > /work/reports/junit.xml <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="shop" tests="5">
    <testcase classname="tests.test_cart" name="test_add"/>
    <testcase classname="tests.test_cart" name="test_remove"/>
    <testcase classname="tests.test_cart" name="test_total"><failure message="1 != 2">assert 1 == 2</failure></testcase>
    <testcase classname="tests.test_pay" name="test_card"><error message="boom"/></testcase>
    <testcase classname="tests.test_pay" name="test_paypal"><skipped/></testcase>
  </testsuite>
</testsuites>
XML
echo "ran 5 tests"
exit 1
"""


@pytest.fixture
def test_image_context(busybox_image: str, tmp_path: Path) -> Path:
    return write_context(
        tmp_path / "ctx",
        busybox_image,
        [
            "COPY run-tests.sh /usr/local/bin/run-tests",
            "RUN chmod +x /usr/local/bin/run-tests",
            "WORKDIR /work",
        ],
        {"run-tests.sh": JUNIT_SCRIPT},
    )


@pytest.mark.timeout(180)
def test_failing_tests_exit_one_with_outputs_and_report(
    shipstep: Callable[..., Run],
    unique_tag: Callable[..., str],
    test_image_context: Path,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    summary = tmp_path / "summary.md"
    output = tmp_path / "output"
    report_to = tmp_path / "out" / "junit.xml"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    run = shipstep(
        "--output",
        "json",
        "build",
        "--context",
        str(test_image_context),
        "--tag",
        unique_tag(),
        "--test-command",
        "run-tests",
        "--test-report",
        "reports/junit.xml",
        "--test-report-to",
        str(report_to),
        env=env,
    )
    assert run.code == 1, run.err
    outputs = run.json()
    assert outputs["test-result"] == "failed"
    assert (outputs["tests-passed"], outputs["tests-failed"], outputs["tests-skipped"]) == (2, 2, 1)
    assert outputs["test-report"] == str(report_to)
    assert "test_add" in report_to.read_text()  # copied out of the container
    markdown = summary.read_text()
    assert "| tests | ❌ failed |" in markdown
    assert "2 passed, 2 failed, 1 skipped" in markdown
    assert (
        "- `tests.test_cart.test_total`" in markdown and "- `tests.test_pay.test_card`" in markdown
    )
    assert "ran 5 tests" in run.err
    assert "tests-failed<<" in output.read_text()
    assert leftover_containers(docker_client, outputs["image-id"]) == []  # type: ignore[arg-type]


@pytest.mark.timeout(180)
def test_passing_command_with_env_workdir_and_no_network(
    shipstep: Callable[..., Run],
    unique_tag: Callable[..., str],
    busybox_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context = write_context(tmp_path / "ctx", busybox_image, ["RUN mkdir -p /srv/app"])
    monkeypatch.setenv("PASSED_THROUGH", "from-env")
    check = (
        '["sh", "-c", "test \\"$(pwd)\\" = /srv/app && test \\"$MODE\\" = ci && '
        'test \\"$PASSED_THROUGH\\" = from-env && test \\"$(ls /sys/class/net)\\" = lo && echo checks ok"]'
    )
    run = shipstep(
        "build",
        "--context",
        str(context),
        "--tag",
        unique_tag(),
        "--test-command",
        check,
        "--test-env",
        "MODE=ci",
        "--test-env",
        "PASSED_THROUGH",
        "--test-workdir",
        "/srv/app",
    )
    assert run.code == 0, run.err
    assert "checks ok" in run.err
    assert "tests: passed (exit code 0" in run.out


@pytest.mark.timeout(180)
def test_failing_command_without_report(
    shipstep: Callable[..., Run], unique_tag: Callable[..., str], busybox_image: str, tmp_path: Path
) -> None:
    context = write_context(tmp_path / "ctx", busybox_image, [])
    run = shipstep(
        "--output",
        "json",
        "build",
        "--context",
        str(context),
        "--tag",
        unique_tag(),
        "--test-command",
        "sh -c 'echo 1 test failed >&2; exit 3'",
    )
    assert run.code == 1
    outputs = run.json()
    assert outputs["test-result"] == "failed"
    assert outputs["tests-failed"] is None and outputs["test-report"] is None
    assert "1 test failed" in run.err


@pytest.mark.timeout(180)
def test_test_target_stage(
    shipstep: Callable[..., Run],
    unique_tag: Callable[..., str],
    busybox_image: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    context = write_context(
        tmp_path / "ctx",
        busybox_image,
        [
            "AS app",
            "RUN echo app > /role",
            f"FROM {busybox_image} AS test",
            "RUN echo test > /role",
            'CMD ["sh", "-c", "grep -q test /role && echo in test stage"]',
            "FROM app",
        ],
    )
    text = (context / "Dockerfile").read_text().replace("\nAS app\n", " AS app\n", 1)
    (context / "Dockerfile").write_text(text)
    tag = unique_tag()
    run = shipstep(
        "--output",
        "json",
        "build",
        "--context",
        str(context),
        "--tag",
        tag,
        "--test-target",
        "test",
    )
    assert run.code == 0, run.err
    outputs = run.json()
    test_image = str(outputs["test-image-id"])
    try:
        assert "in test stage" in run.err
        assert test_image != outputs["image-id"]
        assert docker_client.containers.run(tag, ["cat", "/role"], remove=True) == b"app\n"
        assert docker_client.images.get(test_image).tags == []
    finally:
        docker_client.images.remove(test_image, force=True)


@pytest.mark.timeout(120)
def test_hanging_tests_are_killed_at_the_timeout_and_removed(
    shipstep: Callable[..., Run],
    unique_tag: Callable[..., str],
    busybox_image: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    context = write_context(tmp_path / "ctx", busybox_image, [])
    started = time.monotonic()
    run = shipstep(
        "--output",
        "json",
        "build",
        "--context",
        str(context),
        "--tag",
        unique_tag(),
        "--test-command",
        "sleep 600",
        "--test-timeout",
        "3",
    )
    assert run.code == 1
    assert time.monotonic() - started < 60
    outputs = run.json()
    assert outputs["test-result"] == "failed"
    assert "did not finish within 3s" in run.err
    assert leftover_containers(docker_client, outputs["image-id"]) == []  # type: ignore[arg-type]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_shipstep(*args: str) -> subprocess.Popen[str]:
    """`python -m shipstep ARGS` with SIGINT at its default disposition: a
    test runner started in the background without job control (`cmd &` in a
    script) hands SIGINT down ignored, and Python then never raises
    KeyboardInterrupt, so the Ctrl-C under test would not arrive."""
    return subprocess.Popen(
        [sys.executable, "-m", "shipstep", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
        preexec_fn=_default_sigint,
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_tests_removes_the_container(
    signum: int,
    unique_tag: Callable[..., str],
    busybox_image: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    context = write_context(tmp_path / "ctx", busybox_image, [])
    tag = unique_tag()
    process = start_shipstep(
        "build",
        "--context",
        str(context),
        "--tag",
        tag,
        "--test-command",
        "sh -c 'echo started; sleep 600'",
    )
    try:
        deadline = time.monotonic() + 60
        running: list[str] = []
        while time.monotonic() < deadline and not running:
            time.sleep(0.3)
            try:
                image = docker_client.images.get(tag).id
            except docker.errors.ImageNotFound:
                continue
            running = leftover_containers(docker_client, image)
        assert running, "the test container never started"
        time.sleep(1)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()  # reap it and close its pipes
    assert process.returncode == 130, err
    assert "Interrupted." in err and "Traceback" not in err
    assert leftover_containers(docker_client, image) == []


@pytest.mark.timeout(180)
def test_test_command_not_found(
    shipstep: Callable[..., Run],
    unique_tag: Callable[..., str],
    busybox_image: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    context = write_context(tmp_path / "ctx", busybox_image, [])
    tag = unique_tag()
    run = shipstep("build", "--context", str(context), "--tag", tag, "--test-command", "pytest -q")
    assert run.code == 2
    assert "the test command 'pytest' was not found in the image" in run.err
    assert "Traceback" not in run.err
    assert leftover_containers(docker_client, docker_client.images.get(tag).id) == []


@pytest.mark.timeout(180)
def test_missing_and_malformed_reports_fail_closed(
    shipstep: Callable[..., Run], unique_tag: Callable[..., str], busybox_image: str, tmp_path: Path
) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        "<testsuites>&lol2;</testsuites>"
    )
    context = write_context(tmp_path / "ctx", busybox_image, [], {"bomb.xml": bomb})
    text = (context / "Dockerfile").read_text() + "COPY bomb.xml /bomb.xml\n"
    (context / "Dockerfile").write_text(text)
    tag = unique_tag()
    missing = shipstep(
        "--output",
        "json",
        "build",
        "--context",
        str(context),
        "--tag",
        tag,
        "--test-command",
        "true",
        "--test-report",
        "/nowhere.xml",
        "--test-report-to",
        str(tmp_path / "a.xml"),
    )
    assert missing.code == 1 and missing.json()["test-result"] == "failed"
    assert "warning: the tests did not write the report /nowhere.xml" in missing.err
    entity = shipstep(
        "build",
        "--context",
        str(context),
        "--tag",
        tag,
        "--test-command",
        "true",
        "--test-report",
        "/bomb.xml",
        "--test-report-to",
        str(tmp_path / "b.xml"),
    )
    assert entity.code == 1
    assert "report: /bomb.xml: not well-formed XML" in entity.out
    assert "EntitiesForbidden" in entity.out  # defusedxml refused the entity declarations


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_the_build_leaves_no_container(
    signum: int,
    unique_tag: Callable[..., str],
    busybox_image: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    marker = f"build-marker-{signum}-{os.getpid()}-{time.monotonic_ns()}"
    context = write_context(tmp_path / "ctx", busybox_image, [f"RUN echo {marker}; sleep 600"])

    def build_containers() -> list[str]:
        # sparse: the list answer alone (its Command string); a per-container
        # inspect would race the engine removing the container after the interrupt.
        return [
            c.id
            for c in docker_client.containers.list(all=True, sparse=True)
            if marker in (c.attrs.get("Command") or "")
        ]

    process = start_shipstep("build", "--context", str(context), "--tag", unique_tag())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not build_containers():
            time.sleep(0.3)
        assert build_containers(), "the RUN step never started"
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()  # reap it and close its pipes
    assert process.returncode == 130, err
    assert "Interrupted." in err and "Traceback" not in err
    # The engine cancels the build when the client goes away and removes the
    # RUN step's container (forcerm).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and build_containers():
        time.sleep(0.5)
    assert build_containers() == []
