"""Label selectors (equality- and set-based) and the field selectors the API supports."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.kube_standin.errors import bad_request
from tests.kube_standin.resources import ResourceType

Requirement = Callable[[dict[str, str]], bool]

_SET = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def _requirement(key: str, op: str, values: frozenset[str]) -> Requirement:
    def check(labels: dict[str, str]) -> bool:
        if op in ("=", "=="):
            return labels.get(key) in values
        if op in ("!=", "notin"):
            return labels.get(key) not in values
        if op == "in":
            return labels.get(key) in values
        if op == "exists":
            return key in labels
        return key not in labels  # "!"

    return check


def parse_labels(selector: str) -> list[Requirement]:
    requirements: list[Requirement] = []
    for part in _split(selector):
        eq = _EQ.match(part)
        if eq:
            key, op, value = eq.groups()
            requirements.append(_requirement(key, op, frozenset({value})))
            continue
        match = _SET.match(part)
        if not match:
            raise bad_request(
                f'unable to parse requirement: found "{part.strip()}", expected: identifier'
            )
        negate, key, op, values = match.groups()
        if op:
            wanted = frozenset(v.strip() for v in values.split(",") if v.strip())
            requirements.append(_requirement(key, op, wanted))
        else:
            requirements.append(_requirement(key, "!" if negate else "exists", frozenset()))
    return requirements


def matches_labels(requirements: list[Requirement], obj: dict[str, Any]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(r(labels) for r in requirements)


def match_selector(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A `LabelSelector` object (matchLabels, matchExpressions) against labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "status.phase", "spec.restartPolicy", "spec.serviceAccountName"),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "reason",
        "type",
        "source",
    ),
    "secrets": ("type",),
    "namespaces": ("status.phase",),
}


def parse_fields(selector: str, rtype: ResourceType) -> list[Callable[[dict[str, Any]], bool]]:
    allowed = ("metadata.name", "metadata.namespace", *_FIELDS.get(rtype.plural, ()))
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for part in _split(selector):
        match = _EQ.match(part)
        if not match:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{part}'")
        field, op, value = match.groups()
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")
        checks.append(_field_check(field, value, negate=op == "!="))
    return checks


def _field_check(field: str, value: str, *, negate: bool) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        return (_dig(obj, field) == value) != negate

    return check


def _dig(obj: dict[str, Any], dotted: str) -> str:
    current: Any = obj
    for part in dotted.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    return "" if current is None else str(current)
