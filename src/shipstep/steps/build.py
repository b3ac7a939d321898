"""The build step: build an image with the Docker engine (or buildx), then run
the project's tests inside it.

`build(inputs)` takes plain inputs (provenance included: the CLI reads it from
the runtime) and returns a `BuildResult`; failures to build are raised as
`ShipstepError`, failing tests are a result whose `succeeded` is False.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import docker
import docker.errors

from shipstep.errors import InputError
from shipstep.progress import NullReporter, Reporter
from shipstep.result import OutputValue
from shipstep.steps.imagebuild.buildx import BuildxBuilder
from shipstep.steps.imagebuild.dockerfile import Dockerfile, read_dockerfile
from shipstep.steps.imagebuild.engine import EngineBuilder, connect
from shipstep.steps.imagebuild.inputs import check_tag
from shipstep.steps.imagebuild.interface import Builder, BuildRequest, BuiltImage
from shipstep.steps.imagebuild.labels import created_timestamp, oci_labels
from shipstep.steps.imagebuild.testrun import (
    ImageTests,
    TestOutcome,
    run_tests,
    sigterm_as_interrupt,
)

BUILDERS = ("engine", "buildx")


@dataclass(frozen=True)
class BuildInputs:
    context: Path
    tags: tuple[str, ...]
    dockerfile: Path | None = None  # default: <context>/Dockerfile
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    network: str | None = None
    builder: str = "engine"
    platforms: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    oci_output: Path | None = None
    # Provenance for the OCI labels (from the CI runtime or the git checkout).
    source_url: str | None = None
    revision: str | None = None
    tests: ImageTests | None = None
    test_target: str | None = None  # build this stage and run the tests in it


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tags: tuple[str, ...]
    digest: str | None
    builder: str
    steps: int
    cached_steps: int
    labels: Mapping[str, str]
    tests: TestOutcome | None = None
    test_image: str | None = None
    # What the build did to the first tag: created (new tag), updated (moved
    # to a new image) or unchanged (the same image id as before).
    operation: str = "created"

    @property
    def succeeded(self) -> bool:
        return self.tests is None or self.tests.passed

    @property
    def test_result(self) -> str:
        if self.tests is None:
            return "skipped"
        return "passed" if self.tests.passed else "failed"

    def outputs(self) -> Mapping[str, OutputValue]:
        report = self.tests.report if self.tests else None
        report_file = self.tests.report_file if self.tests else None
        return {
            "image-id": self.image_id,
            "operation": self.operation,
            "digest": self.digest,
            "tags": list(self.tags),
            "test-result": self.test_result,
            "tests-passed": report.passed if report else None,
            "tests-failed": report.failed if report else None,
            "tests-skipped": report.skipped if report else None,
            "test-report": str(report_file) if report_file else None,
            "test-image-id": self.test_image,
        }

    def _test_lines(self) -> list[str]:
        outcome = self.tests
        if outcome is None:
            return ["tests: skipped (no --test-command or --test-target)"]
        if outcome.timed_out:
            verdict = f"failed: killed at the timeout after {outcome.duration:.0f}s"
        else:
            verdict = f"{self.test_result} (exit code {outcome.exit_code}, {outcome.duration:.1f}s)"
        lines = [f"tests: {verdict}"]
        if outcome.report:
            report = outcome.report
            lines.append(
                f"report: {report.passed} passed, {report.failed} failed, {report.skipped} skipped"
                f" ({outcome.report_file})"
            )
            lines += [f"  failed: {name}" for name in report.failures]
            if report.more_failures:
                lines.append(f"  ... and {report.more_failures} more")
        if outcome.report_problem:
            lines.append(f"report: {outcome.report_problem}")
        return lines

    def text(self) -> str:
        cache = f", {self.cached_steps}/{self.steps} steps from cache" if self.steps else ""
        lines = [f"built {self.image_id} with the {self.builder} builder{cache} ({self.operation})"]
        lines += [f"tagged {tag}" for tag in self.tags]
        if self.digest:
            lines.append(f"digest {self.digest}")
        return "\n".join(lines + self._test_lines())

    def summary_markdown(self) -> str:
        icon = {"passed": "✅", "failed": "❌", "skipped": "➖"}[self.test_result]
        rows = [
            "### shipstep build",
            "",
            "| | |",
            "|---|---|",
            f"| image id | `{self.image_id}` ({self.operation}) |",
            f"| tags | {', '.join(f'`{tag}`' for tag in self.tags)} |",
        ]
        if self.digest:
            rows.append(f"| digest | `{self.digest}` |")
        rows.append(f"| tests | {icon} {self.test_result} |")
        outcome = self.tests
        if outcome and outcome.report:
            report = outcome.report
            rows.append(
                f"| report | {report.passed} passed, {report.failed} failed, "
                f"{report.skipped} skipped |"
            )
        text = "\n".join(rows) + "\n"
        if outcome and outcome.timed_out:
            text += f"\nThe tests were killed at the timeout ({outcome.duration:.0f}s).\n"
        if outcome and outcome.report and outcome.report.failures:
            text += "\n**Failed tests**\n\n"
            text += "".join(f"- `{_code(name)}`\n" for name in outcome.report.failures)
            if outcome.report.more_failures:
                text += f"- … and {outcome.report.more_failures} more\n"
        if outcome and outcome.report_problem:
            text += f"\n{_code(outcome.report_problem)}\n"
        return text


def _code(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ")


def _dockerfile_of(inputs: BuildInputs) -> Dockerfile:
    context = inputs.context
    if not context.exists():
        raise InputError(
            f"the build context {context} does not exist.",
            hint="Pass --context with the directory holding your sources (default: .).",
        )
    if not context.is_dir():
        raise InputError(f"the build context {context} is not a directory.")
    path = inputs.dockerfile or context / "Dockerfile"
    if not path.is_file():
        raise InputError(
            f"no Dockerfile at {path}.",
            hint="Pass --file with the Dockerfile's path (relative to the current directory).",
        )
    return read_dockerfile(path.resolve())


def check_inputs(inputs: BuildInputs) -> Dockerfile:
    """Refuse bad input before talking to the engine; return the Dockerfile."""
    if inputs.builder not in BUILDERS:
        raise InputError(
            f"--builder {inputs.builder!r} is not one of {', '.join(BUILDERS)}.",
            hint="Use engine (the default) or buildx.",
        )
    if not inputs.tags:
        raise InputError("no --tag given.", hint="Pass at least one --tag NAME:TAG.")
    for tag in inputs.tags:
        check_tag(tag)
    buildx_only = len(inputs.platforms) > 1 or inputs.cache_to or inputs.oci_output
    if inputs.builder == "engine" and buildx_only:
        raise InputError(
            "--platform lists, --cache-to and --oci-output need --builder buildx.",
            hint="Add --builder buildx (the docker CLI with the buildx plugin must be installed).",
        )
    if inputs.oci_output and any(char in str(inputs.oci_output) for char in ',"\n'):
        # It becomes part of buildx's CSV `--output type=oci,dest=...`.
        raise InputError(
            f"--oci-output {str(inputs.oci_output)!r}: the path may not contain commas or quotes."
        )
    dockerfile = _dockerfile_of(inputs)
    if inputs.target:
        dockerfile.check_target(inputs.target, "--target")
    if inputs.test_target:
        dockerfile.check_target(inputs.test_target, "--test-target")
    dockerfile.check_build_args(list(inputs.build_args), buildkit=inputs.builder == "buildx")
    tests = inputs.tests
    if tests is None and inputs.test_target:
        raise InputError("--test-target needs the test phase: internal inputs are inconsistent.")
    if tests is not None:
        if not tests.timeout > 0:
            raise InputError(
                f"--test-timeout {tests.timeout:g}: must be a positive number of seconds."
            )
        if len(inputs.platforms) > 1 and not inputs.test_target:
            raise InputError(
                "tests cannot run in a multi-platform image that is not loaded into the engine.",
                hint="Pass --test-target STAGE (built for this machine's platform) or build "
                "one platform.",
            )
    return dockerfile


def build(
    inputs: BuildInputs,
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
) -> BuildResult:
    reporter = reporter or NullReporter()
    env = os.environ if environ is None else environ
    dockerfile = check_inputs(inputs)
    # SIGTERM (a cancelled CI job) unwinds like Ctrl-C: test containers are
    # removed and the engine connection closed.
    with sigterm_as_interrupt():
        return _build(inputs, dockerfile, reporter, env)


def _build(
    inputs: BuildInputs, dockerfile: Dockerfile, reporter: Reporter, env: Mapping[str, str]
) -> BuildResult:
    labels = oci_labels(
        user=inputs.labels,
        tags=inputs.tags,
        source_url=inputs.source_url,
        revision=inputs.revision,
        created=created_timestamp(env),
    )
    builder: Builder
    if inputs.builder == "buildx":
        builder = BuildxBuilder(env)
    api = connect(env)
    try:
        if inputs.builder == "engine":
            builder = EngineBuilder(api)
        request = BuildRequest(
            context=inputs.context.resolve(),
            dockerfile=dockerfile,
            tags=inputs.tags,
            build_args=inputs.build_args,
            labels=labels,
            target=inputs.target,
            no_cache=inputs.no_cache,
            pull=inputs.pull,
            network=inputs.network,
            platforms=inputs.platforms,
            cache_from=inputs.cache_from,
            cache_to=inputs.cache_to,
            oci_output=inputs.oci_output,
            title=f"docker build {inputs.tags[0]}",
        )
        previous = _image_id_of(api, inputs.tags[0])
        built = builder.build(request, reporter)
        operation = (
            "created"
            if previous is None
            else ("unchanged" if previous == built.image_id else "updated")
        )
        digest = _repo_digest(api, built)
        outcome: TestOutcome | None = None
        test_image: str | None = None
        if inputs.tests is not None:
            test_image = built.image_id
            if inputs.test_target:
                stage = replace(
                    request,
                    tags=(),
                    target=inputs.test_target,
                    platforms=(),
                    cache_to=(),
                    oci_output=None,
                    title=f"docker build --target {inputs.test_target} (tests)",
                )
                test_image = builder.build(stage, reporter).image_id
            tests = _resolve_report_path(api, test_image, inputs.tests)
            with reporter.group("tests"):
                outcome = run_tests(api, test_image, tests, reporter)
                if outcome.report_problem:
                    reporter.log(f"warning: {outcome.report_problem}")
        return BuildResult(
            image_id=built.image_id,
            tags=inputs.tags,
            digest=digest,
            builder=builder.name,
            steps=built.steps,
            cached_steps=built.cached_steps,
            labels=labels,
            tests=outcome,
            test_image=test_image,
            operation=operation,
        )
    finally:
        api.close()


def _image_id_of(api: docker.APIClient, reference: str) -> str | None:
    try:
        return str(api.inspect_image(reference)["Id"])
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError:
        return None


def _repo_digest(api: docker.APIClient, built: BuiltImage) -> str | None:
    """The registry digest if the engine knows one (only after a push or pull)."""
    if not built.loaded:
        return built.image_id  # buildx's OCI output: the index digest
    try:
        digests = api.inspect_image(built.image_id).get("RepoDigests") or []
    except docker.errors.APIError:
        return None
    return str(digests[0]) if digests else None


def _resolve_report_path(api: docker.APIClient, image: str, tests: ImageTests) -> ImageTests:
    """A relative --test-report is relative to the test's working directory."""
    if not tests.report_path or posixpath.isabs(tests.report_path):
        return tests
    workdir = tests.workdir
    if not workdir:
        try:
            workdir = api.inspect_image(image).get("Config", {}).get("WorkingDir") or "/"
        except docker.errors.APIError:
            workdir = "/"
    return replace(tests, report_path=posixpath.join(workdir, tests.report_path))
