"""JUnit summaries, the buildx command line and log reader, result rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipstep.errors import InputError
from shipstep.steps.build import BuildResult
from shipstep.steps.imagebuild.buildx import BuildxLog, buildx_argv
from shipstep.steps.imagebuild.dockerfile import parse_dockerfile
from shipstep.steps.imagebuild.interface import BuildRequest
from shipstep.steps.imagebuild.junit import JUnitSummary, ReportError, parse_report
from shipstep.steps.imagebuild.testrun import TestOutcome


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "report.xml"
    path.write_text(text)
    return path


def test_junit_single_suite_and_nested_suites(tmp_path: Path) -> None:
    single = write(
        tmp_path,
        '<testsuite name="s"><testcase name="a"/><testcase name="b" classname="m">'
        '<failure message="x"/></testcase><testcase name="c"><skipped/></testcase></testsuite>',
    )
    assert parse_report(single) == JUnitSummary(1, 1, 1, ("m.b",), 0)
    nested = write(
        tmp_path,
        "<testsuites><testsuite><testsuite><testcase name='deep'><error/></testcase>"
        "</testsuite></testsuite><testsuite><testcase name='ok'/></testsuite></testsuites>",
    )
    assert parse_report(nested) == JUnitSummary(1, 1, 0, ("deep",), 0)


def test_junit_failure_names_are_capped(tmp_path: Path) -> None:
    cases = "".join(f'<testcase name="t{i}"><failure/></testcase>' for i in range(60))
    summary = parse_report(write(tmp_path, f"<testsuite>{cases}</testsuite>"))
    assert summary.failed == 60 and len(summary.failures) == 50 and summary.more_failures == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<html/>", "root element is <html>"),
        ("<testsuite>", "not well-formed"),
        (
            '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><testsuite>&e;</testsuite>',
            "not well-formed",
        ),
    ],
)
def test_junit_rejects_bad_reports(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        parse_report(write(tmp_path, text))


def request(tmp_path: Path, **overrides: object) -> BuildRequest:
    dockerfile = parse_dockerfile("FROM scratch AS app\nARG TOKEN\n", tmp_path / "Dockerfile")
    values: dict[str, object] = {
        "context": tmp_path,
        "dockerfile": dockerfile,
        "tags": ("app:1", "app:latest"),
        "build_args": {"TOKEN": "s3cret-value"},
        "labels": {"a": "b"},
        "target": "app",
        "no_cache": True,
        "pull": True,
        "network": "host",
        "cache_from": ("type=gha",),
        "cache_to": ("type=gha,mode=max",),
    }
    values.update(overrides)
    return BuildRequest(**values)  # type: ignore[arg-type]


def test_buildx_argv_keeps_secrets_out_of_the_command_line(tmp_path: Path) -> None:
    argv = buildx_argv(request(tmp_path), "/usr/bin/docker", Path("/t/iid"), Path("/t/meta"))
    assert argv[:5] == ["/usr/bin/docker", "buildx", "build", "--progress", "plain"]
    assert "s3cret-value" not in " ".join(argv)
    joined = " ".join(argv)
    for expected in (
        "--build-arg TOKEN",
        "--tag app:1 --tag app:latest",
        "--label a=b",
        "--target app",
        "--no-cache",
        "--pull",
        "--network host",
        "--cache-from type=gha",
        "--cache-to type=gha,mode=max",
        "--iidfile /t/iid",
        "--load",
    ):
        assert expected in joined
    assert argv[-1] == str(tmp_path)


def test_buildx_multi_platform_needs_an_oci_output(tmp_path: Path) -> None:
    multi = request(tmp_path, platforms=("linux/amd64", "linux/arm64"))
    with pytest.raises(InputError, match="multi-platform build cannot be loaded") as error:
        buildx_argv(multi, "docker", Path("i"), Path("m"))
    assert "--oci-output FILE" in str(error.value.hint)
    out = request(tmp_path, platforms=("linux/amd64", "linux/arm64"), oci_output=Path("/o.tar"))
    argv = buildx_argv(out, "docker", Path("i"), Path("m"))
    assert "--platform linux/amd64,linux/arm64 --cache-from" in " ".join(argv)
    assert "type=oci,dest=/o.tar" in argv and "--load" not in argv


BUILDKIT_FAILURE = """\
#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 120B done
#1 DONE 0.0s

#5 [app 1/3] COPY . /src
#5 CACHED

#6 [app 2/3] RUN make test
#6 0.311 compiling
#6 0.502 \x1b[31mtest_total FAILED\x1b[0m
#6 ERROR: process "/bin/sh -c make test" did not complete successfully: exit code: 2
------
 > [app 2/3] RUN make test:
0.502 test_total FAILED
------
Dockerfile:7
--------------------
   5 |     COPY . /src
   6 | >>> RUN make test
--------------------
ERROR: failed to solve: process "/bin/sh -c make test" did not complete successfully: exit code: 2
"""


def test_buildx_log_names_the_failing_step(tmp_path: Path) -> None:
    log = BuildxLog()
    for line in BUILDKIT_FAILURE.splitlines():
        log.line(line)
    assert log.steps == {"5", "6"} and log.cached == {"5"}
    error = log.failure(request(tmp_path), 1)
    assert error.line == 7 and error.file == str(tmp_path / "Dockerfile")
    assert error.message.startswith("the build failed at [app 2/3] RUN make test\n")
    assert (
        'process "/bin/sh -c make test" did not complete successfully: exit code: 2'
        in error.message
    )
    assert "  0.311 compiling\n  0.502 test_total FAILED" in error.message


def result(tests: TestOutcome | None) -> BuildResult:
    return BuildResult(
        image_id="sha256:" + "a" * 64,
        tags=("app:1",),
        digest=None,
        builder="engine",
        steps=4,
        cached_steps=3,
        labels={},
        tests=tests,
    )


def test_result_outputs_and_summaries(tmp_path: Path) -> None:
    skipped = result(None)
    assert skipped.succeeded and skipped.outputs()["test-result"] == "skipped"
    assert skipped.outputs()["tests-passed"] is None
    report = JUnitSummary(3, 1, 0, ("suite.test_`x`",), 0)
    failed = result(TestOutcome(1, False, 2.0, report, tmp_path / "r.xml"))
    assert not failed.succeeded
    assert failed.outputs() == {
        "image-id": "sha256:" + "a" * 64,
        "operation": "created",
        "digest": None,
        "tags": ["app:1"],
        "test-result": "failed",
        "tests-passed": 3,
        "tests-failed": 1,
        "tests-skipped": 0,
        "test-report": str(tmp_path / "r.xml"),
        "test-image-id": None,
    }
    assert "- `suite.test_'x'`" in failed.summary_markdown()
    assert "  failed: suite.test_`x`" in failed.text()
    # Exit code 0 but failures in the report: failed (fail closed).
    lying = result(TestOutcome(0, False, 1.0, report, tmp_path / "r.xml"))
    assert lying.test_result == "failed"
    timed_out = result(TestOutcome(None, True, 30.0))
    assert timed_out.test_result == "failed"
    assert "killed at the timeout" in timed_out.text()
    assert "killed at the timeout" in timed_out.summary_markdown()
    assert result(TestOutcome(0, False, 1.0)).test_result == "passed"
    assert result(TestOutcome(0, False, 1.0, report_problem="no report")).test_result == "failed"
