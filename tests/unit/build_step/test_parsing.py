"""Pure parts of the build step: Dockerfile scanning, labels, inputs, logs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipstep.errors import InputError
from shipstep.steps.imagebuild.dockerfile import parse_dockerfile
from shipstep.steps.imagebuild.inputs import (
    check_tag,
    parse_labels,
    parse_pairs,
    parse_platforms,
    parse_test_command,
)
from shipstep.steps.imagebuild.labels import created_timestamp, oci_labels, version_from_tags
from shipstep.steps.imagebuild.log import LineSplitter, Tail, strip_ansi

DOCKERFILE = """\
# syntax=docker/dockerfile:1
# escape=\\

# a comment
FROM python:3.12 AS Base
ARG A=1 B
RUN echo one \\
    # a comment inside a continuation
    two
from base as test
ARG C
COPY . /src
FROM base
"""


def test_dockerfile_instructions_stages_and_args() -> None:
    parsed = parse_dockerfile(DOCKERFILE, Path("Dockerfile"))
    assert [(i.keyword, i.line) for i in parsed.instructions] == [
        ("FROM", 5),
        ("ARG", 6),
        ("RUN", 7),
        ("FROM", 10),
        ("ARG", 11),
        ("COPY", 12),
        ("FROM", 13),
    ]
    assert parsed.instructions[2].text == "RUN echo one two"
    assert parsed.stages == ("Base", "test")
    assert parsed.args == {"A", "B", "C"}
    assert parsed.instruction_at_step(3, "RUN") == parsed.instructions[2]
    assert parsed.instruction_at_step(3, "COPY") is None
    assert parsed.instruction_at_step(9, "LABEL") is None


def test_backtick_escape_directive() -> None:
    parsed = parse_dockerfile("# escape=`\nFROM scratch\nRUN a `\n  b\n", Path("D"))
    assert [i.text for i in parsed.instructions] == ["FROM scratch", "RUN a b"]


def test_target_and_build_arg_checks() -> None:
    parsed = parse_dockerfile(DOCKERFILE, Path("Dockerfile"))
    parsed.check_target("base", "--target")  # stage names are case-insensitive
    with pytest.raises(InputError, match="--target 'prod': no stage of that name") as error:
        parsed.check_target("prod", "--target")
    assert error.value.hint == "Stages in this Dockerfile: Base, test."
    parsed.check_build_args(["A", "C", "https_proxy"], buildkit=False)
    with pytest.raises(InputError, match="build argument SOURCE_DATE_EPOCH is not declared"):
        parsed.check_build_args(["SOURCE_DATE_EPOCH"], buildkit=False)
    parsed.check_build_args(["SOURCE_DATE_EPOCH"], buildkit=True)
    unnamed = parse_dockerfile("FROM scratch\n", Path("D"))
    with pytest.raises(InputError) as error:
        unnamed.check_target("x", "--test-target")
    assert "none: name one with" in str(error.value.hint)


def test_created_timestamp() -> None:
    assert created_timestamp({"SOURCE_DATE_EPOCH": "0"}) == "1970-01-01T00:00:00Z"
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert created_timestamp({}, now) == "2026-03-04T05:06:07Z"
    with pytest.raises(InputError, match="SOURCE_DATE_EPOCH='yesterday'"):
        created_timestamp({"SOURCE_DATE_EPOCH": "yesterday"})


def test_version_and_label_precedence() -> None:
    assert version_from_tags(["app:latest", "localhost:5000/app:1.2"]) == "1.2"
    assert version_from_tags(["localhost:5000/app", "app:latest"]) is None
    labels = oci_labels(
        user={"org.opencontainers.image.revision": "mine"},
        tags=["app:2.0"],
        source_url="https://github.com/acme/app",
        revision="abc",
        created="2026-01-01T00:00:00Z",
    )
    assert labels == {
        "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
        "org.opencontainers.image.source": "https://github.com/acme/app",
        "org.opencontainers.image.revision": "mine",
        "org.opencontainers.image.version": "2.0",
    }
    assert "org.opencontainers.image.source" not in oci_labels(
        user={}, tags=[], source_url=None, revision=None, created="x"
    )


@pytest.mark.parametrize(
    "tag",
    [
        "app",
        "app:1.0",
        "localhost:5000/team/app:v1",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/a/b:1_2-3",
    ],
)
def test_valid_tags(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize(
    "tag", ["App", "app:", "app:-x", "app@sha256:00", "a//b", "app:" + "x" * 129, " app"]
)
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(InputError, match="not a valid image name"):
        check_tag(tag)


def test_pairs_and_labels() -> None:
    env = {"TOKEN": "s3cret"}
    assert parse_pairs(["A=1", "B=x=y", "TOKEN"], "--build-arg", env) == {
        "A": "1",
        "B": "x=y",
        "TOKEN": "s3cret",
    }
    with pytest.raises(InputError, match=r"\$MISSING is not set"):
        parse_pairs(["MISSING"], "--build-arg", env)
    with pytest.raises(InputError, match="not a valid name"):
        parse_pairs(["1X=2"], "--test-env", env)
    assert parse_labels(["com.example.team=web", "empty="]) == {
        "com.example.team": "web",
        "empty": "",
    }
    with pytest.raises(InputError, match="is not NAME=VALUE"):
        parse_labels(["bare"])
    assert parse_platforms(["linux/amd64, linux/arm64", "linux/s390x"]) == (
        "linux/amd64",
        "linux/arm64",
        "linux/s390x",
    )


def test_test_command_forms() -> None:
    assert parse_test_command("pytest -q 'tests/a b'") == ("pytest", "-q", "tests/a b")
    assert parse_test_command('["sh", "-c", "make test; echo $?"]') == (
        "sh",
        "-c",
        "make test; echo $?",
    )
    # No shell: metacharacters are plain arguments.
    assert parse_test_command("echo $HOME; rm -rf /") == ("echo", "$HOME;", "rm", "-rf", "/")
    for bad, message in [
        ("", "is empty"),
        ("[]", "is empty"),
        ('["a", 2]', "array of strings"),
        ("[not json", "not valid JSON"),
        ("pytest 'unclosed", "cannot be split"),
    ]:
        with pytest.raises(InputError, match=message):
            parse_test_command(bad)


def test_line_splitter_bounds_lines() -> None:
    splitter = LineSplitter(max_chars=10)
    out = list(splitter.feed("ab\r\ncd"))
    out += list(splitter.feed("ef\n" + "x" * 25))
    assert out == ["ab", "cdef", "x" * 10, "x" * 10]
    assert list(splitter.flush()) == ["x" * 5]
    assert list(splitter.flush()) == []
    assert list(LineSplitter(4).feed("123456789\n")) == ["1234", "5678", "9"]


def test_tail_is_bounded() -> None:
    tail = Tail(lines=3, line_chars=5)
    for index in range(10):
        tail.add(f"\x1b[91mline{index}-long\x1b[0m")
    assert tail.lines() == ["line7 …", "line8 …", "line9 …"]
    assert tail.dropped == 7
    assert tail.render().startswith("  … (7 earlier lines not shown)\n  line7")
    assert strip_ansi("\x1b[0;31mred\x1b[0m") == "red"
