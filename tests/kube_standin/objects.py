"""Helpers the controller's parts share: owner references, readiness,
conditions, generated names."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from tests.kube_standin.resources import ResourceType
from tests.kube_standin.store import Obj, Store

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated suffixes
REVISION = "deployment.kubernetes.io/revision"
KUBELET = "kubelet"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def safe_hash(value: Any, length: int = 10) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:length])


def types(store: Store) -> dict[str, ResourceType]:
    def find(group: str, plural: str) -> ResourceType:
        for rtype in store.registry.all():
            if (rtype.group, rtype.plural) == (group, plural):
                return rtype
        raise KeyError(plural)

    return {
        "crds": find("apiextensions.k8s.io", "customresourcedefinitions"),
        "deployments": find("apps", "deployments"),
        "replicasets": find("apps", "replicasets"),
        "statefulsets": find("apps", "statefulsets"),
        "daemonsets": find("apps", "daemonsets"),
        "jobs": find("batch", "jobs"),
        "pods": find("", "pods"),
        "pvcs": find("", "persistentvolumeclaims"),
        "services": find("", "services"),
    }


def replica_count(obj: Obj) -> int:
    return int(obj.get("spec", {}).get("replicas", 1))


def owned_by(obj: Obj, uid: str) -> bool:
    return any(
        ref.get("uid") == uid and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def owner_ref(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def ready_count(pods: Sequence[Obj], rs: Obj) -> int:
    return sum(1 for p in pods if owned_by(p, rs["metadata"]["uid"]) and pod_ready(p))


def status_counts(status: Obj) -> tuple[int, int, int]:
    return (
        status.get("replicas", 0),
        status.get("updatedReplicas", 0),
        status.get("readyReplicas", 0),
    )


def resolve(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        scaled = total * int(value[:-1]) / 100
        return int(-(-scaled // 1)) if round_up else int(scaled)
    return int(value)


def condition(
    previous: Obj | None,
    kind: str,
    value: bool | None,
    reason: str | None,
    message: str | None,
    *,
    touch: bool = False,
    pod_style: bool = False,
) -> Obj:
    text = "Unknown" if value is None else ("True" if value else "False")
    stamp = now()
    previous = previous or {}
    changed = not previous or previous.get("status") != text or previous.get("reason") != reason
    condition: dict[str, Any] = {"type": kind, "status": text}
    if pod_style:
        condition["lastProbeTime"] = None
    else:
        condition["lastUpdateTime"] = (
            stamp if changed or touch else previous.get("lastUpdateTime", stamp)
        )
    condition["lastTransitionTime"] = (
        stamp
        if not previous or previous.get("status") != text
        else previous.get("lastTransitionTime", stamp)
    )
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def workload_name(store: Store, t: dict[str, ResourceType], pod: Obj) -> str:
    refs = pod["metadata"].get("ownerReferences") or []
    if not refs:
        return str(pod["metadata"]["name"])
    ref = refs[0]
    if ref.get("kind") == "ReplicaSet":
        rs = store.find(t["replicasets"], pod["metadata"]["namespace"], ref["name"])
        if rs is not None:
            for owner in rs["metadata"].get("ownerReferences") or []:
                return str(owner.get("name"))
    return str(ref.get("name"))
