"""Which objects to delete: `previous inventory - desired`, with guards.

Pure planning; the engine performs the deletes. Guards:
- an empty render never prunes;
- an object is deleted only when its live copy carries the agent's ownership
  label (objects gone or not ours are forgotten, never deleted);
- objects annotated `shipstep.dev/prune: disabled` are kept (and forgotten);
- deleting more than `prune_max_share` of the inventory needs
  `prune_allow_mass`; without it nothing is deleted and the candidates stay in
  the inventory;
- kinds whose live objects could not be listed are kept in the inventory;
- a Namespace that still holds desired objects is kept (deleting it would
  delete them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shipstep.agent.config import OWNER_LABEL, PRUNE_ANNOTATION, PRUNE_DISABLED, AgentConfig
from shipstep.agent.inventory import Entry
from shipstep.agent.objects import Obj, ObjectId


@dataclass
class PrunePlan:
    delete: list[tuple[Entry, Obj]] = field(default_factory=list)  # entry, live object
    keep: list[tuple[Entry, str]] = field(default_factory=list)  # stays in the inventory
    forget: list[tuple[Entry, str]] = field(default_factory=list)  # dropped from the inventory
    blocked: str | None = None  # why nothing is deleted


def plan_prune(
    previous: set[Entry],
    desired: set[ObjectId],
    live: Mapping[ObjectId, Obj],
    unlisted: set[tuple[str, str]],
    config: AgentConfig,
) -> PrunePlan:
    """`live` holds the agent-labelled objects of every listed kind;
    `unlisted` the (group, kind)s that could not be listed."""
    plan = PrunePlan()
    candidates = sorted(e for e in previous if e.id not in desired)
    if not candidates:
        return plan
    if not config.prune:
        plan.forget = [(e, "prune is disabled") for e in candidates]
        return plan
    if not desired:
        plan.blocked = "the render is empty: an empty render never prunes"
        plan.keep = [(e, plan.blocked) for e in candidates]
        return plan
    deletable: list[tuple[Entry, Obj]] = []
    in_use = {oid.namespace for oid in desired}
    for entry in candidates:
        oid = entry.id
        obj = live.get(oid)
        if oid.group_kind == ("", "Namespace") and oid.name in in_use:
            plan.keep.append((entry, "the namespace still holds desired objects"))
        elif oid.group_kind in unlisted:
            plan.keep.append((entry, "its kind could not be listed"))
        elif obj is None:
            plan.forget.append((entry, "already gone or not owned by this agent"))
        elif ((obj.get("metadata") or {}).get("labels") or {}).get(OWNER_LABEL) != config.name:
            plan.forget.append((entry, "not owned by this agent"))
        elif ((obj.get("metadata") or {}).get("annotations") or {}).get(
            PRUNE_ANNOTATION
        ) == PRUNE_DISABLED:
            plan.forget.append((entry, f"annotated {PRUNE_ANNOTATION}: {PRUNE_DISABLED}"))
        else:
            deletable.append((entry, obj))
    share = len(deletable) / max(len(previous), 1)
    if deletable and share > config.prune_max_share and not config.prune_allow_mass:
        plan.blocked = (
            f"would delete {len(deletable)} of {len(previous)} objects ({share:.0%}), over the limit of "
            f"{config.prune_max_share:.0%}; pass --prune-allow-mass to allow it"
        )
        plan.keep.extend((e, plan.blocked) for e, _ in deletable)
        return plan
    # Namespaces and CRDs go last: what lives in them goes first.
    plan.delete = sorted(
        deletable, key=lambda d: d[0].kind in ("Namespace", "CustomResourceDefinition")
    )
    return plan
