"""Kubernetes objects as plain dicts: identity, canonical hash, images.

Pure functions only: the verify step and the tests import them freely.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

_POD_SPEC_LISTS = ("containers", "initContainers", "ephemeralContainers")


def split_api_version(api_version: str) -> tuple[str, str]:
    """`apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`)."""
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclass(frozen=True, order=True)
class ObjectId:
    """Identity of an object across versions: group, kind, namespace, name."""

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Obj) -> ObjectId:
        group, _ = split_api_version(str(obj.get("apiVersion", "")))
        meta = obj.get("metadata") or {}
        return cls(
            group,
            str(obj.get("kind", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("name", "")),
        )

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"

    @property
    def group_kind(self) -> tuple[str, str]:
        return (self.group, self.kind)


@dataclass(frozen=True)
class Manifest:
    """One desired object and where it came from (`path:line`)."""

    obj: Obj
    source: str

    @property
    def id(self) -> ObjectId:
        return ObjectId.of(self.obj)

    @property
    def api_version(self) -> str:
        return str(self.obj["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])


def canonical_hash(obj: Obj) -> str:
    """sha256 over the canonical JSON of an object (keys sorted)."""
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


def normalize_secret(obj: Obj) -> Obj:
    """A Secret's write-only `stringData` folded into `data` (base64), as the
    API server stores it, so that desired and live objects compare equal."""
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1" or "stringData" not in obj:
        return obj
    out = copy.deepcopy(obj)
    data = dict(out.get("data") or {})
    for key, value in (out.pop("stringData") or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    out["data"] = data
    return out


def _pod_specs(node: Any) -> Iterator[Obj]:
    """Every mapping holding a container list, anywhere below `node`: pod
    templates of built-in workloads and of custom resources alike (fail closed)."""
    if isinstance(node, dict):
        if any(isinstance(node.get(key), list) for key in _POD_SPEC_LISTS):
            yield node
        for key, value in node.items():
            if key not in ("metadata", "status"):
                yield from _pod_specs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _pod_specs(item)


def images_of(obj: Obj) -> list[tuple[str, str]]:
    """(container name, image) for every container of every pod spec in `obj`."""
    found: list[tuple[str, str]] = []
    for spec in _pod_specs({k: v for k, v in obj.items() if k not in ("metadata", "status")}):
        for key in _POD_SPEC_LISTS:
            for container in spec.get(key) or []:
                if isinstance(container, dict) and "image" in container:
                    found.append((str(container.get("name", "?")), str(container["image"])))
    return found


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field of `desired` has the same value in `live`.

    Fields the API server adds (defaults, status, managedFields) are ignored;
    lists must have the same length and match element by element; a null or
    empty desired field matches a missing one (the server drops those).
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(
            is_subset(value, live[key]) if key in live else value in (None, {}, [])
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(is_subset(d, lv) for d, lv in zip(desired, live, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return desired == live
    return bool(desired == live)


_KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "labels",
    "annotations",
    "deletionTimestamp",
)


def project(desired: Any, live: Any) -> Any:
    """The parts of `live` that `is_subset(desired, live)` looks at: an
    equivalent, smaller copy to hold while planning thousands of objects."""
    if isinstance(desired, dict) and isinstance(live, dict):
        return {k: project(v, live[k]) for k, v in desired.items() if k in live}
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        return [project(d, lv) for d, lv in zip(desired, live, strict=True)]
    return live


def slim(live: Obj, desired: Obj | None) -> Obj:
    """A live object reduced to identity, ownership metadata and (when it is
    desired) the fields the drift check compares."""
    meta = live.get("metadata") or {}
    out: Obj = project(desired, live) if desired is not None else {}
    out["apiVersion"], out["kind"] = live.get("apiVersion"), live.get("kind")
    out["metadata"] = {k: meta[k] for k in _KEPT_METADATA if k in meta}
    return out
