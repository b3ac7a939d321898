"""Parsing and checking the build step's textual inputs (flags, action inputs)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping

from shipstep.errors import InputError

_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_REFERENCE = re.compile(rf"^(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*(?::{_TAG})?$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_tag(tag: str) -> str:
    if len(tag) > 255 or not _REFERENCE.match(tag):
        raise InputError(
            f"--tag {tag!r} is not a valid image name.",
            hint="Use NAME[:TAG] with a lower-case name, e.g. "
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1.2.3 (no digest, no upper case).",
        )
    return tag


def parse_pairs(
    values: Iterable[str],
    option: str,
    environ: Mapping[str, str] | None = None,
    *,
    check_name: bool = True,
) -> dict[str, str]:
    """`NAME=VALUE` items; with `environ`, a bare `NAME` takes its value from there."""
    pairs: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            if environ is None:
                raise InputError(f"{option} {item!r} is not NAME=VALUE.")
            if name not in environ:
                raise InputError(
                    f"{option} {name}: no value given and ${name} is not set in the environment.",
                    hint=f"Pass {option} {name}=VALUE or export {name}.",
                )
            value = environ[name]
        if not name or (check_name and not _NAME.match(name)):
            raise InputError(
                f"{option} {item.split('=', 1)[0]!r}: not a valid name.",
                hint="Names are letters, digits and underscores, not starting with a digit.",
            )
        pairs[name] = value
    return pairs


def parse_labels(values: Iterable[str]) -> dict[str, str]:
    labels = parse_pairs(values, "--label", check_name=False)
    for name in labels:
        if any(char.isspace() for char in name):
            raise InputError(f"--label {name!r}: label keys may not contain spaces.")
    return labels


def parse_test_command(text: str) -> tuple[str, ...]:
    """The test command as an argument list: a JSON array (`["pytest", "-q"]`,
    like a Dockerfile's exec form) or a string split by POSIX shell rules
    (`pytest -q "tests/a b"`), without ever running a shell."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise InputError(
                f"--test-command looks like a JSON array but is not valid JSON: {error.msg}.",
                hint='Write it as ["program", "arg", ...] or as a plain command line.',
            ) from error
        if not isinstance(parsed, list) or not all(isinstance(arg, str) for arg in parsed):
            raise InputError("--test-command as JSON must be an array of strings.")
        argv = tuple(parsed)
    else:
        try:
            argv = tuple(shlex.split(stripped))
        except ValueError as error:
            raise InputError(
                f"--test-command {text!r} cannot be split into arguments: {error}.",
                hint="Check the quotes; the command runs without a shell.",
            ) from error
    if not argv or not argv[0]:
        raise InputError("--test-command is empty.", hint="Pass the program that runs the tests.")
    return argv


def parse_platforms(values: Iterable[str]) -> tuple[str, ...]:
    platforms: list[str] = []
    for value in values:
        platforms.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(platforms)
