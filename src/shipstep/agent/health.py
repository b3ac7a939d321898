"""Health of Kubernetes objects by the kstatus rules, as pure functions on
object dicts (no client code: the verify step imports this module).

`health(obj)` returns a `Health` whose `status` is one of:
- `Current`: the object has reached its desired state;
- `InProgress`: not yet (rollout running, observedGeneration behind, ...);
- `Failed`: it will not get there without a change (ProgressDeadlineExceeded,
  a failed Job, a `Stalled` condition);
- `NotFound`: no live object (pass `None`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CURRENT = "Current"
IN_PROGRESS = "InProgress"
FAILED = "Failed"
NOT_FOUND = "NotFound"


@dataclass(frozen=True)
class Health:
    status: str
    message: str

    @property
    def done(self) -> bool:
        """Waiting is over: the object is current or has failed."""
        return self.status in (CURRENT, FAILED)


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and isinstance(cond.get("type"), str):
            out[cond["type"]] = cond
    return out


def _is_true(conds: dict[str, dict[str, Any]], kind: str) -> bool:
    return str((conds.get(kind) or {}).get("status", "")) == "True"


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _deployment(obj: dict[str, Any], conds: dict[str, dict[str, Any]]) -> Health:
    progressing = conds.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(
            FAILED, f"Progress deadline exceeded: {progressing.get('message', '')}".strip()
        )
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = _int(spec.get("replicas"), 1)
    updated, ready = _int(status.get("updatedReplicas")), _int(status.get("readyReplicas"))
    available, total = _int(status.get("availableReplicas")), _int(status.get("replicas"))
    if updated < want:
        return Health(IN_PROGRESS, f"Updated: {updated}/{want}")
    if total > updated:
        return Health(IN_PROGRESS, f"Pending termination: {total - updated}")
    if available < updated:
        return Health(IN_PROGRESS, f"Available: {available}/{updated}")
    if ready < updated:
        return Health(IN_PROGRESS, f"Ready: {ready}/{updated}")
    if "Available" in conds and not _is_true(conds, "Available"):
        return Health(IN_PROGRESS, "Deployment not Available")
    return Health(CURRENT, f"Deployment is available. Replicas: {total}")


def _statefulset(obj: dict[str, Any], conds: dict[str, dict[str, Any]]) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return Health(CURRENT, "StatefulSet uses the OnDelete update strategy")
    want = _int(spec.get("replicas"), 1)
    ready, current = _int(status.get("readyReplicas")), _int(status.get("currentReplicas"))
    if _int(status.get("replicas")) < want:
        return Health(IN_PROGRESS, f"Replicas: {_int(status.get('replicas'))}/{want}")
    if ready < want:
        return Health(IN_PROGRESS, f"Ready: {ready}/{want}")
    partition = _int(
        (((spec.get("updateStrategy") or {}).get("rollingUpdate")) or {}).get("partition")
    )
    if partition > 0:
        updated = _int(status.get("updatedReplicas"))
        if updated < want - partition:
            return Health(IN_PROGRESS, f"Partitioned rollout: {updated}/{want - partition}")
        return Health(CURRENT, "Partitioned rollout complete")
    if status.get("updateRevision") != status.get("currentRevision") or current < want:
        return Health(IN_PROGRESS, f"Rolling out: {current}/{want} on the current revision")
    return Health(CURRENT, f"All replicas ready: {ready}")


def _daemonset(obj: dict[str, Any], conds: dict[str, dict[str, Any]]) -> Health:
    status = obj.get("status") or {}
    want = _int(status.get("desiredNumberScheduled"), -1)
    if want < 0:
        return Health(IN_PROGRESS, "Missing desiredNumberScheduled")
    for field in (
        "currentNumberScheduled",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberReady",
    ):
        have = _int(status.get(field))
        if have < want:
            return Health(IN_PROGRESS, f"{field}: {have}/{want}")
    return Health(CURRENT, f"All replicas scheduled as expected. Replicas: {want}")


def _job(obj: dict[str, Any], conds: dict[str, dict[str, Any]]) -> Health:
    if _is_true(conds, "Failed"):
        return Health(
            FAILED,
            f"Job failed: {conds['Failed'].get('message') or conds['Failed'].get('reason', '')}",
        )
    if _is_true(conds, "Complete"):
        return Health(CURRENT, "Job completed")
    return Health(
        IN_PROGRESS, f"Job running: {_int((obj.get('status') or {}).get('active'))} active"
    )


def _pod(obj: dict[str, Any], conds: dict[str, dict[str, Any]]) -> Health:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return Health(CURRENT, "Pod has completed successfully")
    if phase == "Failed":
        return Health(FAILED, "Pod has failed")
    if phase == "Running" and _is_true(conds, "Ready"):
        return Health(CURRENT, "Pod is Ready")
    return Health(IN_PROGRESS, f"Pod phase {phase or 'unknown'}")


def _crd(obj: dict[str, Any], conds: dict[str, dict[str, Any]]) -> Health:
    if _is_true(conds, "Established"):
        return Health(CURRENT, "CRD is established")
    if (conds.get("NamesAccepted") or {}).get("status") == "False":
        return Health(
            FAILED, f"CRD names not accepted: {conds['NamesAccepted'].get('message', '')}"
        )
    return Health(IN_PROGRESS, "CRD is not established yet")


def _namespace(obj: dict[str, Any], conds: dict[str, dict[str, Any]]) -> Health:
    if (obj.get("status") or {}).get("phase") == "Terminating":
        return Health(IN_PROGRESS, "Namespace is terminating")
    return Health(CURRENT, "Namespace is active")


def _pvc(obj: dict[str, Any], conds: dict[str, dict[str, Any]]) -> Health:
    if (obj.get("status") or {}).get("phase") == "Bound":
        return Health(CURRENT, "PVC is Bound")
    return Health(IN_PROGRESS, "PVC is not Bound")


_RULES: dict[tuple[str, str], Callable[[dict[str, Any], dict[str, dict[str, Any]]], Health]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("batch", "Job"): _job,
    ("", "Pod"): _pod,
    ("", "Namespace"): _namespace,
    ("", "PersistentVolumeClaim"): _pvc,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}


def health(obj: dict[str, Any] | None) -> Health:
    """The kstatus verdict for one live object."""
    if obj is None:
        return Health(NOT_FOUND, "Object not found")
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return Health(IN_PROGRESS, "Object is being deleted")
    status = obj.get("status") or {}
    generation = meta.get("generation")
    observed = status.get("observedGeneration")
    if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
        return Health(
            IN_PROGRESS, f"observedGeneration {observed} is behind generation {generation}"
        )
    conds = _conditions(obj)
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    rule = _RULES.get((group, str(obj.get("kind", ""))))
    if rule is not None:
        if group in ("apps", "batch") and not status:
            return Health(IN_PROGRESS, "Status not yet reported by the controller")
        return rule(obj, conds)
    if _is_true(conds, "Stalled"):
        return Health(FAILED, f"Stalled: {conds['Stalled'].get('message', '')}".strip())
    if _is_true(conds, "Reconciling"):
        return Health(
            IN_PROGRESS, f"Reconciling: {conds['Reconciling'].get('message', '')}".strip()
        )
    if "Ready" in conds and not _is_true(conds, "Ready"):
        return Health(IN_PROGRESS, f"Not Ready: {conds['Ready'].get('message', '')}".strip())
    return Health(CURRENT, "Resource is current")
