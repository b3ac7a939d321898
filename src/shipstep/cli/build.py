"""`shipstep build`: Build a container image with the Docker engine and run its tests inside it."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import click

from shipstep.cli._app import SECRET_NAME, cli_command, emit, state_of
from shipstep.errors import InputError
from shipstep.steps.imagebuild.inputs import (
    parse_labels,
    parse_pairs,
    parse_platforms,
    parse_test_command,
)

DEFAULT_TEST_TIMEOUT = 1800.0


@cli_command(
    "build",
)
@click.option("--context", default=".", show_default=True, help="The build context directory.")
@click.option(
    "--file",
    "dockerfile",
    help="The Dockerfile (relative to the current directory). Default: CONTEXT/Dockerfile.",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    required=True,
    help="NAME[:TAG] for the image; repeatable (one per line as an action input).",
)
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    help="NAME=VALUE, or NAME to take the value from the environment; repeatable. "
    "Must be declared by an ARG in the Dockerfile.",
)
@click.option("--label", "labels", multiple=True, help="NAME=VALUE image label; repeatable.")
@click.option("--target", help="The stage to build (default: the last).")
@click.option("--no-cache", is_flag=True, help="Do not use the build cache.")
@click.option("--pull", is_flag=True, help="Always pull newer versions of the base images.")
@click.option("--network", help="Network mode for RUN instructions (default, none, host...).")
@click.option(
    "--builder",
    type=click.Choice(["engine", "buildx"]),
    default="engine",
    show_default=True,
    help="engine: the Docker engine API at DOCKER_HOST. buildx: the docker CLI's buildx plugin "
    "(platform lists, cache export).",
)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    help="Target platform(s), e.g. linux/amd64,linux/arm64 (a list needs --builder buildx).",
)
@click.option("--cache-from", multiple=True, help="Cache source (buildx syntax with buildx).")
@click.option("--cache-to", multiple=True, help="Cache export (buildx only).")
@click.option(
    "--oci-output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="buildx multi-platform builds: write the image as an OCI layout tarball here.",
)
@click.option(
    "--test-command",
    help="Run the tests with this command in the built image. Split like a POSIX shell would "
    '(`pytest -q "a b"`) or given as a JSON array (`["pytest","-q"]`); never run through a '
    "shell: write `sh -c '...'` yourself if you need one.",
)
@click.option(
    "--test-target",
    help="Build this stage and run the tests in it (with --test-command, or its own CMD).",
)
@click.option(
    "--test-env",
    "test_env",
    multiple=True,
    help="NAME=VALUE, or NAME to pass it from the environment, for the tests; repeatable.",
)
@click.option("--test-workdir", help="Working directory of the test command.")
@click.option(
    "--test-network",
    default="none",
    show_default=True,
    help="Network of the test container (none: no network).",
)
@click.option(
    "--test-timeout",
    type=float,
    default=DEFAULT_TEST_TIMEOUT,
    show_default=True,
    help="Seconds before the tests are killed (and count as failed).",
)
@click.option(
    "--test-report",
    help="Path of a JUnit XML report inside the container, copied out and summarised.",
)
@click.option(
    "--test-report-to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to copy the report. Default: its file name in the current directory.",
)
@click.pass_context
def command(
    ctx: click.Context,
    context: str,
    dockerfile: str | None,
    tags: tuple[str, ...],
    build_args: tuple[str, ...],
    labels: tuple[str, ...],
    target: str | None,
    no_cache: bool,
    pull: bool,
    network: str | None,
    builder: str,
    platforms: tuple[str, ...],
    cache_from: tuple[str, ...],
    cache_to: tuple[str, ...],
    oci_output: Path | None,
    test_command: str | None,
    test_target: str | None,
    test_env: tuple[str, ...],
    test_workdir: str | None,
    test_network: str,
    test_timeout: float,
    test_report: str | None,
    test_report_to: Path | None,
) -> None:
    """Build a container image with the Docker engine and run its tests inside it.

    The test command runs in a fresh container with no network (unless
    --test-network says otherwise); the container is removed afterwards in
    every case, also at the timeout and on Ctrl-C. Failing tests exit 1 with
    all outputs written; a failed build exits 1 with the failing instruction
    and the tail of its output; bad input exits 2.
    """
    # Imported here: the Docker SDK is only loaded when this command runs.
    from shipstep.steps.build import BuildInputs, build
    from shipstep.steps.imagebuild.testrun import ImageTests

    state = state_of(ctx)
    environ = os.environ
    tests: ImageTests | None = None
    wants_tests = test_command is not None or test_target is not None
    if not wants_tests and (test_report or test_env or test_workdir):
        raise InputError(
            "--test-report, --test-env and --test-workdir need --test-command or --test-target.",
            hint="Add --test-command CMD to run tests in the built image.",
        )
    if wants_tests:
        report_to = test_report_to
        if test_report and report_to is None:
            report_to = Path(PurePosixPath(test_report).name or "test-report.xml")
        tests = ImageTests(
            command=parse_test_command(test_command) if test_command is not None else None,
            env=parse_pairs(test_env, "--test-env", environ),
            workdir=test_workdir,
            network=test_network,
            timeout=test_timeout,
            report_path=test_report,
            # Kept as given: a relative path is the same file for later steps on
            # the runner (a docker action's working directory is the workspace).
            report_to=report_to,
        )
    build_arg_values = parse_pairs(build_args, "--build-arg", environ)
    for name, value in [*build_arg_values.items(), *(tests.env.items() if tests else [])]:
        if value and SECRET_NAME.search(name):
            state.reporter.mask(value)
    provenance = state.runtime.provenance()
    inputs = BuildInputs(
        context=Path(context),
        tags=tuple(tags),
        dockerfile=Path(dockerfile) if dockerfile else None,
        build_args=build_arg_values,
        labels=parse_labels(labels),
        target=target,
        no_cache=no_cache,
        pull=pull,
        network=network,
        builder=builder,
        platforms=parse_platforms(platforms),
        cache_from=tuple(cache_from),
        cache_to=tuple(cache_to),
        oci_output=oci_output,
        source_url=provenance.source_url,
        revision=provenance.revision,
        tests=tests,
        test_target=test_target,
    )
    emit(ctx, build(inputs, reporter=state.reporter, environ=environ))
