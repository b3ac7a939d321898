"""Validation of shipstep.yaml against its published JSON Schema.

The schema (`shipstep.schema.json`, draft 2020-12) is the one editors use
through the yaml-language-server modeline; here its errors become
diagnostics with file:line, the setting's dotted name and the expected type.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from shipstep.config.yamlsource import Document, Path_
from shipstep.errors import InputError

SCHEMA_FILE = "shipstep.schema.json"

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "null": "null",
}


@cache
def schema() -> Mapping[str, Any]:
    text = resources.files("shipstep.config").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: Mapping[str, Any] = json.loads(text)
    return loaded


def dotted(path: Iterable[str | int]) -> str:
    """`("image", "tags", 0)` -> `image.tags[0]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def describe(value: object) -> str:
    """How a value looks to the user, in YAML terms."""
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'a string ("{shown}")'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({value})"


def expected_type(types: str | list[str]) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(name, name) for name in names)


class Problem:
    """One schema violation, located."""

    def __init__(self, message: str, line: int | None, where: str | None) -> None:
        self.message = message
        self.line = line
        # Where the value came from when not from the file (a flag).
        self.where = where

    def text(self, file: str) -> str:
        if self.where:
            return f"{self.where}: {self.message}"
        return f"{file}:{self.line}: {self.message}" if self.line else f"{file}: {self.message}"


def _allowed_keys(subschema: Mapping[str, Any]) -> list[str]:
    return sorted(subschema.get("properties", {}))


def _problems(
    error: ValidationError, document: Document, flags: Mapping[Path_, str]
) -> list[Problem]:
    path: Path_ = tuple(error.absolute_path)
    name = dotted(path)
    subschema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    expected: Any = error.validator_value

    def locate(at: Path_, *, key: bool = False) -> tuple[int | None, str | None]:
        for length in range(len(at), 0, -1):
            if at[:length] in flags:
                return None, flags[at[:length]]
        return document.line_of(at, key=key), None

    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = _allowed_keys(subschema)
        problems = []
        for key in error.instance:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f"; did you mean '{close[0]}'?" if close else ""
            within = f" in '{name}'" if path else ""
            message = (
                f"unknown key '{key}'{within}{suggestion} (allowed: {', '.join(allowed) or 'none'})"
            )
            problems.append(Problem(message, *locate((*path, key), key=True)))
        return problems
    if error.validator == "type":
        message = f"'{name}' must be {expected_type(expected)}, not {describe(error.instance)}"
    elif error.validator in ("enum", "const"):
        options: list[Any] = list(expected) if error.validator == "enum" else [expected]
        shown = ", ".join(json.dumps(option) for option in options)
        message = f"'{name}' must be one of {shown}, not {describe(error.instance)}"
    elif error.validator == "pattern":
        what = subschema.get("description") or _parent_description(error)
        message = f"'{name}' has an invalid value {describe(error.instance)}"
        if what:
            message += f"; expected: {what}"
    elif error.validator in ("minimum", "minLength", "minItems"):
        limits = {
            "minimum": f"a number of at least {expected}",
            "minLength": "a non-empty string",
            "minItems": f"a list of at least {expected} item(s)",
        }
        message = f"'{name}' must be {limits[str(error.validator)]}, not {describe(error.instance)}"
    else:
        message = f"'{name}': {error.message}"
    return [Problem(message, *locate(path))]


def _parent_description(error: ValidationError) -> str | None:
    parent = error.parent
    while parent is not None:
        description = parent.schema.get("description") if isinstance(parent.schema, dict) else None
        if description:
            return str(description)
        parent = parent.parent
    return None


def validate(document: Document, flags: Mapping[Path_, str] | None = None) -> None:
    """Raise one InputError listing every violation, the first one located.

    `flags` maps the paths whose values came from command-line flags to the
    flag's name, so that their errors name the flag instead of a line.
    """
    validator = Draft202012Validator(schema())
    problems: list[Problem] = []
    for error in validator.iter_errors(document.data):
        problems.extend(_problems(error, document, flags or {}))
    if not problems:
        return
    problems.sort(key=lambda problem: (problem.where is None, problem.line or 0))
    first, rest = problems[0], problems[1:]
    message = first.message
    if first.where:
        message = f"{first.where}: {message}"
    if rest:
        message += "\n" + "\n".join(f"also {problem.text(document.file)}" for problem in rest)
    raise InputError(
        message,
        file=None if first.where else document.file,
        line=first.line,
        title="Invalid shipstep.yaml",
        hint=(
            "Fix the setting; docs/run.md lists every key, and the JSON schema "
            f"({SCHEMA_FILE}, shipped with shipstep) gives editors completion and checks."
        ),
    )
