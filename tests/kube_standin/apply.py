"""Field ownership: server-side apply and the `Update` records of other writes.

Simplified from structured-merge-diff but with the same observable rules:
each managedFields entry owns a set of leaf field paths; an apply claims the
fields of its configuration, conflicts (409) where another manager owns a
field whose value it would change unless `force`, and removes the fields it
applied before and no longer applies when nobody else owns them. Other writes
(create, update, patch) give their manager the fields they changed and take
those fields from every other manager.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tests.kube_standin import fields
from tests.kube_standin.errors import ApiError, bad_request, stale
from tests.kube_standin.fields import Path, clone
from tests.kube_standin.patches import structural_merge
from tests.kube_standin.resources import ResourceType


@dataclass
class Entry:
    manager: str
    operation: str  # "Apply" or "Update"
    subresource: str  # "" or "status"
    api_version: str
    time: str
    owned: set[Path]

    def key(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields.encode(self.owned),
        }
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_entries(obj: dict[str, Any] | None) -> list[Entry]:
    if not obj:
        return []
    result = []
    for raw in obj.get("metadata", {}).get("managedFields") or []:
        if not isinstance(raw, dict) or not raw.get("manager"):
            continue
        result.append(
            Entry(
                manager=raw["manager"],
                operation=raw.get("operation", "Update"),
                subresource=raw.get("subresource", ""),
                api_version=raw.get("apiVersion", ""),
                time=raw.get("time", ""),
                owned=fields.decode(raw.get("fieldsV1") or {}),
            )
        )
    return result


def write_entries(obj: dict[str, Any], entries: list[Entry]) -> None:
    kept = [e.to_dict() for e in entries if e.owned]
    if kept:
        obj["metadata"]["managedFields"] = kept
    else:
        obj["metadata"].pop("managedFields", None)


def _view(obj: dict[str, Any] | None, rtype: ResourceType, subresource: str) -> dict[str, Any]:
    if not obj:
        return {}
    return fields.tracked(obj, status_only=subresource == "status", skip_status=rtype.status)


def _entries_in_scope(entries: list[Entry], subresource: str) -> list[Entry]:
    return [e for e in entries if e.subresource == subresource]


def apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    rtype: ResourceType,
    manager: str,
    force: bool,
    subresource: str = "",
) -> dict[str, Any]:
    """The object after applying `applied` as `manager`; raises 409 on conflicts."""
    if not manager:
        raise bad_request("PATCH request with apply type must have fieldManager")
    metadata = applied.get("metadata") or {}
    wanted_rv = metadata.get("resourceVersion")
    if live is not None and wanted_rv and wanted_rv != live["metadata"].get("resourceVersion"):
        raise stale(rtype, live["metadata"]["name"])
    entries = read_entries(live)
    applied_view = _view(applied, rtype, subresource)
    claimed = fields.fields_of(applied_view)
    live_view = _view(live, rtype, subresource)
    live_fields = fields.fields_of(live_view)

    conflicts: dict[str, list[Path]] = {}
    for entry in _entries_in_scope(entries, subresource):
        if entry.manager == manager and entry.operation == "Apply":
            continue
        for path in sorted(entry.owned & claimed & live_fields):
            if _is_item(path):
                continue
            if fields.lookup(live_view, path) != fields.lookup(applied_view, path):
                conflicts.setdefault(entry.manager, []).append(path)
    if conflicts and not force:
        raise _conflict_error(conflicts, rtype.api_version)

    result = clone(live) if live is not None else _skeleton(applied)
    mine = next(
        (e for e in entries if e.key() == (manager, "Apply", subresource)),
        None,
    )
    others_owned: set[Path] = set()
    for entry in _entries_in_scope(entries, subresource):
        if entry is not mine:
            if force and entry.manager in conflicts:
                entry.owned -= set(conflicts[entry.manager])
            others_owned |= entry.owned
    if mine is not None:
        for path in sorted(mine.owned - claimed - others_owned, key=len, reverse=True):
            fields.remove(result, path)
    result = structural_merge(result, applied_view)

    stamp = now()
    if mine is None:
        mine = Entry(manager, "Apply", subresource, rtype.api_version, stamp, set())
        entries.append(mine)
    if mine.owned != claimed:
        mine.owned = claimed
        mine.time = stamp
    write_entries(result, entries)
    return result


def _skeleton(applied: dict[str, Any]) -> dict[str, Any]:
    metadata = applied.get("metadata") or {}
    skeleton: dict[str, Any] = {
        "apiVersion": applied.get("apiVersion"),
        "kind": applied.get("kind"),
        "metadata": {
            k: metadata[k] for k in ("name", "namespace", "generateName") if k in metadata
        },
    }
    return skeleton


def _is_item(path: Path) -> bool:
    return bool(path) and path[-1].startswith(("k:", "v:"))


def _conflict_error(conflicts: dict[str, list[Path]], api_version: str) -> ApiError:
    causes = []
    for manager, paths in conflicts.items():
        for path in paths:
            causes.append(
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{manager}" using {api_version}',
                    "field": fields.dotted(path),
                }
            )
    count = len(causes)
    if count == 1:
        message = f"Apply failed with 1 conflict: {causes[0]['message']}: {causes[0]['field']}"
    else:
        lines = []
        for manager, paths in conflicts.items():
            lines.append(f'conflicts with "{manager}" using {api_version}:')
            lines.extend(f"- {fields.dotted(p)}" for p in paths)
        message = f"Apply failed with {count} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    rtype: ResourceType,
    manager: str,
    subresource: str = "",
) -> None:
    """Give `manager` the fields this write changed; take them from the others."""
    supplied = new.get("metadata", {}).get("managedFields")
    previous = (old or {}).get("metadata", {}).get("managedFields")
    if supplied is not None and supplied != previous:
        entries = read_entries(new)  # the client rewrote managedFields (`[{}]` clears them)
    else:
        entries = read_entries(old)
    old_view, new_view = _view(old, rtype, subresource), _view(new, rtype, subresource)
    old_fields, new_fields = fields.fields_of(old_view), fields.fields_of(new_view)
    changed = {
        p
        for p in new_fields
        if (p not in old_fields)
        or (not _is_item(p) and fields.lookup(old_view, p) != fields.lookup(new_view, p))
    }
    stamp = now()
    mine = next((e for e in entries if e.key() == (manager, "Update", subresource)), None)
    for entry in _entries_in_scope(entries, subresource):
        before = set(entry.owned)
        if entry is not mine:
            entry.owned -= changed
        entry.owned &= new_fields
        if entry.owned != before:
            entry.time = stamp
    if changed:
        if mine is None:
            mine = Entry(manager, "Update", subresource, rtype.api_version, stamp, set())
            entries.append(mine)
        mine.owned |= changed
        mine.time = stamp
    write_entries(new, entries)
