"""Patch bodies: JSON merge patch (RFC 7386), strategic merge patch, JSON patch,
and the structural merge server-side apply performs."""

from __future__ import annotations

from typing import Any

import jsonpatch

from tests.kube_standin.errors import ApiError, bad_request
from tests.kube_standin.fields import SET_LISTS, clone, item_element, merge_key

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        result = jsonpatch.apply_patch(target, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    if not isinstance(result, dict):
        raise bad_request("the patch did not produce an object")
    return result


def strategic_merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A strategic merge patch: merge keys for the built-in lists, `$patch`
    directives (`replace`, `delete`), `$deleteFromPrimitiveList/`, null deletes."""
    result = _merge(target, patch, directives=True)
    return result if isinstance(result, dict) else {}


def structural_merge(target: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
    """Merge an apply configuration into the live object (no directives)."""
    result = _merge(target, applied, directives=False)
    return result if isinstance(result, dict) else {}


def _merge(target: Any, patch: Any, *, directives: bool) -> Any:
    if not isinstance(patch, dict):
        return clone(patch)
    if directives and patch.get("$patch") == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if directives and key.startswith("$"):
            if key.startswith("$deleteFromPrimitiveList/"):
                name = key.split("/", 1)[1]
                if isinstance(result.get(name), list):
                    result[name] = [v for v in result[name] if v not in value]
            continue  # $setElementOrder, $retainKeys: ordering and pruning hints
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, directives=directives)
        elif isinstance(value, dict):
            if directives and value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = _merge(result.get(key), value, directives=directives)
        else:
            result[key] = value
    return result


def _merge_list(name: str, live: Any, patch: list[Any], *, directives: bool) -> list[Any]:
    live_items = list(live) if isinstance(live, list) else []
    if directives and {"$patch": "replace"} in patch:
        return [clone(i) for i in patch if i != {"$patch": "replace"}]
    if name in SET_LISTS:
        return live_items + [i for i in patch if i not in live_items]
    plain = [i for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    keys = merge_key(name, plain + live_items) if plain or live_items else None
    if keys is None:
        return clone(plain)
    result = clone(live_items)
    for item in patch:
        element = item_element(keys, item)
        index = next(
            (n for n, live_item in enumerate(result) if item_element(keys, live_item) == element),
            None,
        )
        if directives and item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_merge({}, item, directives=directives))
        else:
            result[index] = _merge(result[index], item, directives=directives)
    return result
