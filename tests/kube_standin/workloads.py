"""StatefulSets, DaemonSets and Jobs: their pods and status."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from tests.kube_standin.errors import ApiError
from tests.kube_standin.fields import clone
from tests.kube_standin.objects import (
    ALPHABET,
    now,
    owned_by,
    owner_ref,
    pod_ready,
    safe_hash,
)
from tests.kube_standin.resources import ResourceType
from tests.kube_standin.store import CONTROLLER, Obj, Store

if TYPE_CHECKING:
    from tests.kube_standin.standin import KubeStandin


class Workloads:
    """Part of the controller (a mixin of `Controller`)."""

    standin: KubeStandin
    _random: random.Random

    def _create_pod(
        self,
        store: Store,
        t: dict[str, ResourceType],
        owner: Obj,
        template: Obj,
        name: str | None,
        extra_labels: dict[str, str] | None = None,
        node: str | None = None,
    ) -> None:
        metadata = clone(template.get("metadata") or {})
        metadata["labels"] = {**(metadata.get("labels") or {}), **(extra_labels or {})}
        metadata["ownerReferences"] = [owner_ref(owner)]
        metadata["namespace"] = owner["metadata"]["namespace"]
        if name is None:
            suffix = "".join(self._random.choice(ALPHABET) for _ in range(5))
            metadata["name"] = f"{owner['metadata']['name']}-{suffix}"
        else:
            metadata["name"] = name
        spec = clone(template.get("spec") or {})
        spec["nodeName"] = node or self.standin.knobs.nodes[0]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
        try:
            store.create(t["pods"], metadata["namespace"], pod, manager=CONTROLLER)
        except ApiError as exc:
            if exc.code != 409:
                raise

    def _delete(self, store: Store, rtype: ResourceType, obj: Obj) -> None:
        try:
            store.delete(rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        except ApiError as exc:
            if exc.code != 404:
                raise

    def _sync_statefulset(self, store: Store, t: dict[str, ResourceType], sts: Obj) -> None:
        namespace, uid, name = (
            sts["metadata"]["namespace"],
            sts["metadata"]["uid"],
            sts["metadata"]["name"],
        )
        replicas = int(sts["spec"].get("replicas", 1))
        revision = f"{name}-{safe_hash(sts['spec'].get('template', {}))}"
        pods = {
            p["metadata"]["name"]: p for p in store.view(t["pods"], namespace) if owned_by(p, uid)
        }
        for pod_name, pod in pods.items():
            if int(pod_name.rsplit("-", 1)[-1]) >= replicas:
                self._delete(store, t["pods"], pod)
        outdated = sorted(
            (
                n
                for n, p in pods.items()
                if p["metadata"]["labels"].get("controller-revision-hash") != revision
            ),
            key=lambda n: -int(n.rsplit("-", 1)[-1]),
        )
        if outdated and all(pod_ready(p) for p in pods.values()):
            self._delete(
                store, t["pods"], pods[outdated[0]]
            )  # one at a time, highest ordinal first
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            if pod_name not in pods:
                self._create_pod(
                    store,
                    t,
                    sts,
                    sts["spec"]["template"],
                    pod_name,
                    {
                        "controller-revision-hash": revision,
                        "statefulset.kubernetes.io/pod-name": pod_name,
                        "apps.kubernetes.io/pod-index": str(ordinal),
                    },
                )
                break  # OrderedReady: one pod at a time
            if not pod_ready(pods[pod_name]):
                break
        current = [p for p in store.view(t["pods"], namespace) if owned_by(p, uid)]
        updated = [
            p
            for p in current
            if p["metadata"]["labels"].get("controller-revision-hash") == revision
        ]
        ready = [p for p in current if pod_ready(p)]
        previous = sts.get("status", {})
        done = len(updated) == replicas == len(current)
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(current),
            "readyReplicas": len(ready),
            "currentReplicas": len(updated) if done else len(current) - len(updated),
            "updatedReplicas": len(updated),
            "availableReplicas": len(ready),
            "currentRevision": revision if done else previous.get("currentRevision", revision),
            "updateRevision": revision,
            "collisionCount": 0,
        }
        store.write_status(
            t["statefulsets"],
            sts,
            {
                k: v
                for k, v in status.items()
                if v != 0 or k in ("replicas", "observedGeneration", "collisionCount")
            },
        )

    def _sync_daemonset(self, store: Store, t: dict[str, ResourceType], ds: Obj) -> None:
        namespace, uid = ds["metadata"]["namespace"], ds["metadata"]["uid"]
        template_hash = safe_hash(ds["spec"].get("template", {}))
        pods = [p for p in store.view(t["pods"], namespace) if owned_by(p, uid)]
        by_node = {p["spec"].get("nodeName"): p for p in pods}
        outdated = [
            p
            for p in pods
            if p["metadata"]["labels"].get("controller-revision-hash") != template_hash
        ]
        if outdated and all(pod_ready(p) for p in pods):
            self._delete(store, t["pods"], outdated[0])
            by_node.pop(outdated[0]["spec"].get("nodeName"), None)
        for node in self.standin.knobs.nodes:
            if node not in by_node:
                self._create_pod(
                    store,
                    t,
                    ds,
                    ds["spec"]["template"],
                    None,
                    {"controller-revision-hash": template_hash},
                    node,
                )
        current = [p for p in store.view(t["pods"], namespace) if owned_by(p, uid)]
        ready = sum(1 for p in current if pod_ready(p))
        updated = sum(
            1
            for p in current
            if p["metadata"]["labels"].get("controller-revision-hash") == template_hash
        )
        desired = len(self.standin.knobs.nodes)
        status = {
            "observedGeneration": ds["metadata"].get("generation", 1),
            "currentNumberScheduled": len(current),
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "updatedNumberScheduled": updated,
            "numberAvailable": ready,
            "numberUnavailable": max(0, desired - ready),
        }
        store.write_status(
            t["daemonsets"],
            ds,
            {
                k: v
                for k, v in status.items()
                if v != 0
                or k
                in (
                    "currentNumberScheduled",
                    "desiredNumberScheduled",
                    "numberMisscheduled",
                    "numberReady",
                    "observedGeneration",
                )
            },
        )

    def _sync_job(self, store: Store, t: dict[str, ResourceType], job: Obj) -> None:
        namespace, uid = job["metadata"]["namespace"], job["metadata"]["uid"]
        spec, previous = job["spec"], job.get("status", {})
        pods = [p for p in store.view(t["pods"], namespace) if owned_by(p, uid)]
        succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
        active = [p for p in pods if p.get("status", {}).get("phase") in ("Pending", "Running")]
        completions, backoff = int(spec.get("completions", 1)), int(spec.get("backoffLimit", 6))
        finished = any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in previous.get("conditions", [])
        )
        status: dict[str, Any] = {"startTime": previous.get("startTime", now())}
        conditions = list(previous.get("conditions", []))
        if not finished and succeeded >= completions:
            stamp = now()
            conditions += [
                {
                    "type": "SuccessCriteriaMet",
                    "status": "True",
                    "reason": "CompletionsReached",
                    "message": "Reached expected number of succeeded pods",
                    "lastProbeTime": stamp,
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Complete",
                    "status": "True",
                    "reason": "CompletionsReached",
                    "message": "Reached expected number of succeeded pods",
                    "lastProbeTime": stamp,
                    "lastTransitionTime": stamp,
                },
            ]
            status["completionTime"] = stamp
        elif not finished and failed > backoff:
            stamp = now()
            conditions += [
                {
                    "type": "FailureTarget",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastProbeTime": stamp,
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastProbeTime": stamp,
                    "lastTransitionTime": stamp,
                },
            ]
        elif not finished and not active and not spec.get("suspend"):
            self._create_pod(store, t, job, spec["template"], None)
        if previous.get("completionTime"):
            status["completionTime"] = previous["completionTime"]
        status.update(
            {
                "active": len(active),
                "succeeded": succeeded,
                "failed": failed,
                "ready": sum(1 for p in active if pod_ready(p)),
            }
        )
        status = {k: v for k, v in status.items() if v != 0 or k == "ready"}
        if conditions:
            status["conditions"] = conditions
        store.write_status(t["jobs"], job, status)
