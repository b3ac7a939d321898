"""Field paths, field sets and their `fieldsV1` encoding in `managedFields`.

A path is a tuple of `fieldsV1` elements: `f:<key>` for a map key,
`k:<json>` for an item of an associative list (identified by its merge key),
`v:<json>` for an item of a set list (finalizers). A field set holds the leaf
paths of an object plus the paths of associative-list items themselves.
Lists that are neither associative nor sets are atomic: one leaf.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

Path = tuple[str, ...]
T = TypeVar("T")

# Merge keys by field name, as the built-in types declare them
# (`patchMergeKey` / `listMapKeys`). Lists of other names are atomic.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "containerStatuses": ("name",),
}
SET_LISTS = frozenset({"finalizers"})
TRACKED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


def clone(value: T) -> T:
    """A deep copy of JSON data (several times faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return cast(T, {k: clone(v) for k, v in value.items()})
    if isinstance(value, list):
        return cast(T, [clone(v) for v in value])
    return value


def merge_key(name: str, items: list[Any]) -> tuple[str, ...] | None:
    """The key fields of list `name` with these items, or None when atomic."""
    if name == "ports" and items and all(isinstance(i, dict) for i in items):
        keys: tuple[str, ...] = (
            ("containerPort", "protocol") if "containerPort" in items[0] else ("port", "protocol")
        )
    else:
        keys = MERGE_KEYS.get(name, ())
    if not keys or not all(isinstance(i, dict) and keys[0] in i for i in items):
        return None
    return keys


def item_element(keys: tuple[str, ...], item: dict[str, Any]) -> str:
    key = {k: item.get(k, "TCP" if k == "protocol" else None) for k in keys}
    key = {k: v for k, v in key.items() if v is not None}
    return "k:" + json.dumps(key, separators=(",", ":"), sort_keys=True)


def set_element(value: Any) -> str:
    return "v:" + json.dumps(value, separators=(",", ":"))


def fields_of(value: Any, prefix: Path = ()) -> set[Path]:
    """The field set of a value (a map's leaves, list items and their leaves)."""
    result: set[Path] = set()
    if isinstance(value, dict) and value:
        for key, child in value.items():
            path = (*prefix, f"f:{key}")
            if isinstance(child, list) and child:
                result |= _list_fields(key, child, path)
            elif isinstance(child, dict) and child:
                result |= fields_of(child, path)
            else:
                result.add(path)
    elif prefix:
        result.add(prefix)
    return result


def _list_fields(name: str, items: list[Any], path: Path) -> set[Path]:
    if name in SET_LISTS:
        return {(*path, set_element(item)) for item in items}
    keys = merge_key(name, items)
    if keys is None:
        return {path}
    result: set[Path] = set()
    for item in items:
        item_path = (*path, item_element(keys, item))
        result.add(item_path)
        result |= fields_of(item, item_path) - {item_path}
    return result


def tracked(obj: dict[str, Any], *, status_only: bool, skip_status: bool) -> dict[str, Any]:
    """The part of an object whose fields managers own."""
    if status_only:
        return {"status": obj["status"]} if "status" in obj else {}
    view: dict[str, Any] = {
        k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")
    }
    if not skip_status and "status" in obj:
        view["status"] = obj["status"]
    metadata = obj.get("metadata") or {}
    kept = {k: metadata[k] for k in TRACKED_METADATA if k in metadata}
    if kept:
        view["metadata"] = kept
    return view


def lookup(obj: Any, path: Path) -> tuple[bool, Any]:
    """(found, value) at a path."""
    current = obj
    for element in path:
        found, current = _step(current, element)
        if not found:
            return False, None
    return True, current


def _step(current: Any, element: str) -> tuple[bool, Any]:
    kind, _, rest = element.partition(":")
    if kind == "f":
        if isinstance(current, dict) and rest in current:
            return True, current[rest]
        return False, None
    if not isinstance(current, list):
        return False, None
    wanted = json.loads(rest)
    for item in current:
        if kind == "v" and item == wanted:
            return True, item
        if kind == "k" and isinstance(item, dict) and _matches(item, wanted):
            return True, item
    return False, None


def _matches(item: dict[str, Any], key: dict[str, Any]) -> bool:
    return all(item.get(k, "TCP" if k == "protocol" else None) == v for k, v in key.items())


def remove(obj: Any, path: Path) -> None:
    """Delete the field or list item at a path, then empty maps it leaves behind."""
    if not path:
        return
    found, parent = lookup(obj, path[:-1])
    if not found:
        return
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif isinstance(parent, list):
        wanted = json.loads(rest)
        parent[:] = [
            item
            for item in parent
            if not (
                item == wanted if kind == "v" else isinstance(item, dict) and _matches(item, wanted)
            )
        ]
        if not parent and len(path) > 1:
            remove(obj, path[:-1])
        return
    if len(path) > 1 and parent in ({}, []) and not path[-2].startswith(("k:", "v:")):
        remove(obj, path[:-1])


def encode(paths: set[Path]) -> dict[str, Any]:
    """A field set as `fieldsV1`: nested maps, `.` marking a node that is itself owned."""
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for element in path:
            node = node.setdefault(element, {})
    _mark_items(root, paths, ())
    return root


def _mark_items(node: dict[str, Any], paths: set[Path], prefix: Path) -> None:
    for element, child in node.items():
        if element == ".":
            continue
        path = (*prefix, element)
        if child and path in paths:
            child["."] = {}
        _mark_items(child, paths, path)


def decode(fields_v1: dict[str, Any], prefix: Path = ()) -> set[Path]:
    result: set[Path] = set()
    for element, child in fields_v1.items():
        if element == ".":
            result.add(prefix)
            continue
        path = (*prefix, element)
        if child:
            result |= decode(child, path)
        else:
            result.add(path)
    return result


def dotted(path: Path) -> str:
    """`.spec.template.spec.containers[name="app"].image`, as conflict messages show paths."""
    text = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            text += f".{rest}"
        elif kind == "k":
            text += (
                "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(rest).items()) + "]"
            )
        else:
            text += f"[{rest}]"
    return text
