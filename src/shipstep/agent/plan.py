"""What a reconcile has to do, decided without writing anything.

Each desired object is prepared (ownership label, hash annotation of the
desired state) and compared with the live object from one LIST per kind:
- `create`: no live object;
- `update`: the desired state changed since the last apply (hash differs);
- `drift`: same desired state, but a field we set was changed or removed
  behind our back (the desired fields are not a subset of the live object);
- `unchanged`: nothing to send. A no-op reconcile makes no write request.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

from shipstep.agent.config import HASH_ANNOTATION, OWNER_LABEL, AgentConfig
from shipstep.agent.objects import (
    Manifest,
    Obj,
    ObjectId,
    canonical_hash,
    is_subset,
    normalize_secret,
)
from shipstep.agent.validate import ResourceInfo

CREATE, UPDATE, DRIFT, UNCHANGED = "create", "update", "drift", "unchanged"
_SERVER_FIELDS = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
)


def prepare(obj: Obj, config: AgentConfig, *, in_place: bool = False) -> Obj:
    """The object as the agent applies it: ownership label and desired-state
    hash added. `in_place` reuses `obj` (for freshly rendered objects)."""
    out = normalize_secret(obj if in_place else copy.deepcopy(obj))
    out.pop("status", None)
    meta = out.setdefault("metadata", {})
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop(HASH_ANNOTATION, None)
    meta["labels"] = {**(meta.get("labels") or {}), OWNER_LABEL: config.name}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    digest = canonical_hash(out)
    meta["annotations"] = {**annotations, HASH_ANNOTATION: digest[:32]}
    return out


@dataclass
class PlanItem:
    manifest: Manifest
    info: ResourceInfo
    desired: Obj
    action: str
    live_resource_version: str | None = None

    @property
    def id(self) -> ObjectId:
        return self.manifest.id


@dataclass
class Plan:
    items: list[PlanItem] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for item in self.items if item.action == action)

    @property
    def writes(self) -> list[PlanItem]:
        return [item for item in self.items if item.action != UNCHANGED]


def decide(desired: Obj, live: Obj | None) -> str:
    if live is None:
        return CREATE
    want = desired["metadata"]["annotations"][HASH_ANNOTATION]
    have = ((live.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
    if want != have:
        return UPDATE
    return UNCHANGED if is_subset(desired, live) else DRIFT


def make_plan(
    objects: list[tuple[Manifest, ResourceInfo]],
    live: Mapping[ObjectId, Obj],
    config: AgentConfig,
    prepared: Mapping[ObjectId, Obj] | None = None,
) -> Plan:
    """`prepared` caches the prepared objects of a revision across reconciles."""
    plan = Plan()
    for manifest, info in objects:
        oid = manifest.id
        desired = (
            prepared[oid]
            if prepared is not None and oid in prepared
            else prepare(manifest.obj, config)
        )
        current = live.get(oid)
        rv = (current.get("metadata") or {}).get("resourceVersion") if current else None
        plan.items.append(PlanItem(manifest, info, desired, decide(desired, current), rv))
    return plan


def stage_of(info: ResourceInfo) -> int:
    """Apply order: CRDs and Namespaces first (stage 0), then the rest."""
    if (info.group, info.kind) in (
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("", "Namespace"),
    ):
        return 0
    return 1
