"""A controller loop standing in for kube-controller-manager and the kubelet.

Deployments get ReplicaSets and pods, StatefulSets and DaemonSets pods, Jobs
pods that complete; pods run (or stall, fail, crash per the rollout rules) and
report `imageID` with the image digest; workloads report observedGeneration,
replica counts and conditions. It runs whenever the store changes and every
`controller_interval` seconds (for delays and deadlines).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import threading
import time
from typing import TYPE_CHECKING, Any

from tests.kube_standin import patches
from tests.kube_standin.errors import ApiError
from tests.kube_standin.knobs import RolloutRule
from tests.kube_standin.resources import ResourceType
from tests.kube_standin.store import CONTROLLER, Obj, Store, establish_crd

if TYPE_CHECKING:
    from tests.kube_standin.standin import KubeStandin

KUBELET = "kubelet"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated suffixes
REVISION = "deployment.kubernetes.io/revision"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def safe_hash(value: Any, length: int = 10) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:length])


def image_id(image: str, digests: dict[str, str]) -> str:
    """What a container runtime reports as imageID: `<repository>@<digest>`."""
    name, _, digest = image.partition("@")
    if not digest:
        digest = digests.get(image) or "sha256:" + hashlib.sha256(image.encode()).hexdigest()
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: -(len(last) - last.index(":"))]
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"
    return f"{name}@{digest}"


class Controller:
    def __init__(self, standin: KubeStandin) -> None:
        self.standin = standin
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="kube-standin-controller", daemon=True
        )
        self._random = random.Random(11)
        self.errors: list[str] = []  # unexpected exceptions: bugs of the stand-in
        self.races = 0  # passes cut short by a client's concurrent write
        self._progress: dict[str, float] = {}  # deployment uid -> time of last progress
        self._first_seen: dict[str, float] = {}  # uid -> when this controller first saw it

    def _age(self, obj: Obj) -> float:
        """Seconds since the controller first saw the object (creationTimestamp has whole seconds)."""
        first = self._first_seen.setdefault(obj["metadata"]["uid"], time.monotonic())
        return time.monotonic() - first

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self.standin.store.changed:
            self.standin.store.changed.notify_all()
        self._thread.join(timeout=5)

    def settle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        store = self.standin.store
        while time.monotonic() < deadline:
            self._idle.clear()
            rv = store.rv
            if self._idle.wait(timeout=max(0.0, deadline - time.monotonic())) and store.rv == rv:
                return
        raise TimeoutError(f"the stand-in controller did not settle within {timeout}s")

    def _run(self) -> None:
        seen_rv = -1
        while not self._stop.is_set():
            store = self.standin.store
            knobs = self.standin.knobs
            with store.changed:
                if store.rv == seen_rv:
                    self._idle.set()
                    store.changed.wait(timeout=knobs.controller_interval)
            if self._stop.is_set():
                return
            if not knobs.controller:
                seen_rv = store.rv
                continue
            before = store.rv
            try:
                self.sync(store)
            except ApiError:  # a race with a client's write: try again next pass
                self.races += 1
            except Exception as exc:  # a bug in the stand-in: keep running, show it in `errors`
                self.errors.append(repr(exc))
            seen_rv = store.rv if store.rv == before else -1

    # --- one pass --------------------------------------------------------------

    def sync(self, store: Store) -> None:
        t = _types(store)
        for crd in store.list(t["crds"], None)[0]:
            self._sync_crd(store, t["crds"], crd)
        for deployment in store.list(t["deployments"], None)[0]:
            self._sync_deployment(store, t, deployment)
        for rs in store.list(t["replicasets"], None)[0]:
            self._sync_replicaset(store, t, rs)
        for sts in store.list(t["statefulsets"], None)[0]:
            self._sync_statefulset(store, t, sts)
        for ds in store.list(t["daemonsets"], None)[0]:
            self._sync_daemonset(store, t, ds)
        for job in store.list(t["jobs"], None)[0]:
            self._sync_job(store, t, job)
        for pod in store.list(t["pods"], None)[0]:
            self._kubelet(store, t, pod)
        for claim in store.list(t["pvcs"], None)[0]:
            spec = claim.get("spec") or {}
            storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
            bound = {
                "phase": "Bound",
                "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
                "capacity": {"storage": storage},
            }
            store.write_status(t["pvcs"], claim, bound)
        for service in store.list(t["services"], None)[0]:
            if (service.get("spec") or {}).get("type") == "LoadBalancer":
                address = (service["spec"].get("clusterIP") or "10.96.0.1").replace(
                    "10.96.", "192.0.", 1
                )
                store.write_status(
                    t["services"],
                    service,
                    {"loadBalancer": {"ingress": [{"ip": address, "ipMode": "VIP"}]}},
                )

    def _sync_crd(self, store: Store, rtype: ResourceType, crd: Obj) -> None:
        conditions = {c.get("type") for c in crd.get("status", {}).get("conditions", [])}
        if "Established" in conditions:
            return
        if self._age(crd) >= self.standin.knobs.crd_establish_delay:
            with_status = copy.deepcopy(crd)
            establish_crd(with_status)
            store.write_status(rtype, crd, with_status["status"])

    # --- Deployments -----------------------------------------------------------

    def _sync_deployment(self, store: Store, t: dict[str, ResourceType], d: Obj) -> None:
        if d["metadata"].get("deletionTimestamp"):
            return
        namespace, uid = d["metadata"]["namespace"], d["metadata"]["uid"]
        spec = d["spec"]
        replicas = int(spec.get("replicas", 1))
        template = spec.get("template", {})
        template_hash = safe_hash(template)
        owned = [rs for rs in store.list(t["replicasets"], namespace)[0] if _owned_by(rs, uid)]
        new_rs = next(
            (
                rs
                for rs in owned
                if rs["metadata"].get("labels", {}).get("pod-template-hash") == template_hash
            ),
            None,
        )
        old = [rs for rs in owned if rs is not new_rs]
        revision = max(
            [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in owned] or [0]
        )
        paused = bool(spec.get("paused"))
        if new_rs is None and not paused:
            new_rs = self._create_rs(store, t, d, template, template_hash, revision + 1)
            self._progress[uid] = time.monotonic()
        elif (
            new_rs is not None
            and int(new_rs["metadata"].get("annotations", {}).get(REVISION, "0")) < revision
        ):
            new_rs = store.patch(
                t["replicasets"],
                namespace,
                new_rs["metadata"]["name"],
                patches.MERGE_PATCH,
                {"metadata": {"annotations": {REVISION: str(revision + 1)}}},
                manager=CONTROLLER,
            )
        if new_rs is not None:
            rev = new_rs["metadata"].get("annotations", {}).get(REVISION)
            if d["metadata"].get("annotations", {}).get(REVISION) != rev:
                store.patch(
                    t["deployments"],
                    namespace,
                    d["metadata"]["name"],
                    patches.MERGE_PATCH,
                    {"metadata": {"annotations": {REVISION: rev}}},
                    manager=CONTROLLER,
                )
        pods = store.list(t["pods"], namespace)[0]
        new_ready = _ready_count(pods, new_rs) if new_rs else 0
        if not paused and new_rs is not None:
            recreate = spec.get("strategy", {}).get("type") == "Recreate"
            old_pods = sum(1 for rs in old for p in pods if _owned_by(p, rs["metadata"]["uid"]))
            if not self.standin.knobs.keep_old_pods:
                for rs in old:
                    target = 0 if recreate else max(0, min(_replicas(rs), replicas - new_ready))
                    self._scale(store, t, rs, target)
            if not recreate or old_pods == 0 or self.standin.knobs.keep_old_pods:
                self._scale(store, t, new_rs, replicas)
        self._deployment_status(store, t, d, new_rs, old, replicas, paused)

    def _create_rs(
        self,
        store: Store,
        t: dict[str, ResourceType],
        d: Obj,
        template: Obj,
        template_hash: str,
        revision: int,
    ) -> Obj:
        name = f"{d['metadata']['name']}-{template_hash}"
        labels = {
            **(template.get("metadata", {}).get("labels") or {}),
            "pod-template-hash": template_hash,
        }
        pod_template = copy.deepcopy(template)
        pod_template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": d["metadata"]["namespace"],
                "labels": labels,
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [_owner_ref(d)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": pod_template},
        }
        try:
            return store.create(
                t["replicasets"], d["metadata"]["namespace"], rs, manager=CONTROLLER
            )
        except ApiError as exc:
            if exc.code != 409:
                raise
            return store.get(t["replicasets"], d["metadata"]["namespace"], name)

    def _scale(self, store: Store, t: dict[str, ResourceType], rs: Obj, replicas: int) -> None:
        if _replicas(rs) != replicas:
            store.patch(
                t["replicasets"],
                rs["metadata"]["namespace"],
                rs["metadata"]["name"],
                patches.MERGE_PATCH,
                {"spec": {"replicas": replicas}},
                manager=CONTROLLER,
            )

    def _deployment_status(
        self,
        store: Store,
        t: dict[str, ResourceType],
        d: Obj,
        new_rs: Obj | None,
        old: list[Obj],
        replicas: int,
        paused: bool,
    ) -> None:
        uid, namespace = d["metadata"]["uid"], d["metadata"]["namespace"]
        pods = [
            p
            for p in store.list(t["pods"], namespace)[0]
            if not p["metadata"].get("deletionTimestamp")
        ]
        all_rs = ([new_rs] if new_rs else []) + old
        mine = [p for p in pods if any(_owned_by(p, rs["metadata"]["uid"]) for rs in all_rs)]
        updated = [
            p for p in mine if new_rs is not None and _owned_by(p, new_rs["metadata"]["uid"])
        ]
        ready = [p for p in mine if _pod_ready(p)]
        previous = d.get("status", {})
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": len(mine),
            "updatedReplicas": len(updated),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "unavailableReplicas": max(0, replicas - len(ready)),
        }
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        counts = (len(mine), len(updated), len(ready))
        if counts != _counts(previous):
            self._progress[uid] = time.monotonic()
        started = self._progress.setdefault(uid, time.monotonic())
        max_unavailable = _resolve(
            d["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable", "25%"),
            replicas,
            round_up=False,
        )
        if d["spec"].get("strategy", {}).get("type") == "Recreate":
            max_unavailable = replicas
        available = len(ready) >= replicas - max_unavailable
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        complete = len(updated) == replicas and len(mine) == replicas and len(ready) == replicas
        conditions = {c["type"]: c for c in previous.get("conditions", [])}
        new_conditions = [
            _condition(
                conditions.get("Available"),
                "Available",
                available,
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
            )
        ]
        if paused:
            progressing = _condition(
                conditions.get("Progressing"),
                "Progressing",
                None,
                "DeploymentPaused",
                "Deployment is paused",
            )
        elif complete:
            progressing = _condition(
                conditions.get("Progressing"),
                "Progressing",
                True,
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif conditions.get("Progressing", {}).get(
            "reason"
        ) == "ProgressDeadlineExceeded" and counts == _counts(previous):
            progressing = conditions["Progressing"]
        elif time.monotonic() - started > self._deadline(d, store, t):
            progressing = _condition(
                conditions.get("Progressing"),
                "Progressing",
                False,
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = _condition(
                conditions.get("Progressing"),
                "Progressing",
                True,
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
                touch=counts != _counts(previous),
            )
        new_conditions.append(progressing)
        status["conditions"] = new_conditions
        store.write_status(t["deployments"], d, status)

    def _deadline(self, d: Obj, store: Store, t: dict[str, ResourceType]) -> float:
        images = [
            c.get("image", "")
            for c in d["spec"].get("template", {}).get("spec", {}).get("containers", [])
        ]
        rule = self.standin.knobs.rule_for(
            images, d["metadata"]["name"], d["metadata"]["namespace"]
        )
        if rule is not None and rule.mode == "fail":
            return rule.deadline
        return (
            float(d["spec"].get("progressDeadlineSeconds", 600)) * self.standin.knobs.deadline_scale
        )

    # --- pods of ReplicaSets, StatefulSets, DaemonSets, Jobs --------------------

    def _sync_replicaset(self, store: Store, t: dict[str, ResourceType], owner: Obj) -> None:
        namespace, uid = owner["metadata"]["namespace"], owner["metadata"]["uid"]
        pods = [p for p in store.list(t["pods"], namespace)[0] if _owned_by(p, uid)]
        replicas = _replicas(owner)
        for pod in sorted(pods, key=lambda p: (_pod_ready(p), p["metadata"]["creationTimestamp"]))[
            : max(0, len(pods) - replicas)
        ]:
            self._delete(store, t["pods"], pod)
        for _ in range(replicas - len(pods)):
            self._create_pod(store, t, owner, owner["spec"]["template"], None)
        rs_pods = [p for p in store.list(t["pods"], namespace)[0] if _owned_by(p, uid)]
        ready = sum(1 for p in rs_pods if _pod_ready(p))
        status = {
            "replicas": len(rs_pods),
            "fullyLabeledReplicas": len(rs_pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": owner["metadata"].get("generation", 1),
        }
        store.write_status(
            t["replicasets"],
            owner,
            {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")},
        )

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
        metadata = copy.deepcopy(template.get("metadata") or {})
        metadata["labels"] = {**(metadata.get("labels") or {}), **(extra_labels or {})}
        metadata["ownerReferences"] = [_owner_ref(owner)]
        metadata["namespace"] = owner["metadata"]["namespace"]
        if name is None:
            suffix = "".join(self._random.choice(_ALPHABET) for _ in range(5))
            metadata["name"] = f"{owner['metadata']['name']}-{suffix}"
        else:
            metadata["name"] = name
        spec = copy.deepcopy(template.get("spec") or {})
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
            p["metadata"]["name"]: p
            for p in store.list(t["pods"], namespace)[0]
            if _owned_by(p, uid)
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
        if outdated and all(_pod_ready(p) for p in pods.values()):
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
            if not _pod_ready(pods[pod_name]):
                break
        current = [p for p in store.list(t["pods"], namespace)[0] if _owned_by(p, uid)]
        updated = [
            p
            for p in current
            if p["metadata"]["labels"].get("controller-revision-hash") == revision
        ]
        ready = [p for p in current if _pod_ready(p)]
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
        pods = [p for p in store.list(t["pods"], namespace)[0] if _owned_by(p, uid)]
        by_node = {p["spec"].get("nodeName"): p for p in pods}
        outdated = [
            p
            for p in pods
            if p["metadata"]["labels"].get("controller-revision-hash") != template_hash
        ]
        if outdated and all(_pod_ready(p) for p in pods):
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
        current = [p for p in store.list(t["pods"], namespace)[0] if _owned_by(p, uid)]
        ready = sum(1 for p in current if _pod_ready(p))
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
        pods = [p for p in store.list(t["pods"], namespace)[0] if _owned_by(p, uid)]
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
                "ready": sum(1 for p in active if _pod_ready(p)),
            }
        )
        status = {k: v for k, v in status.items() if v != 0 or k == "ready"}
        if conditions:
            status["conditions"] = conditions
        store.write_status(t["jobs"], job, status)

    # --- the kubelet -------------------------------------------------------------

    def _kubelet(self, store: Store, t: dict[str, ResourceType], pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            return
        status = pod.get("status", {})
        phase = status.get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            return
        knobs = self.standin.knobs
        if phase == "Pending" and self._age(pod) < knobs.pod_start_delay:
            return
        containers = pod["spec"].get("containers", [])
        rule = knobs.rule_for(
            [c.get("image", "") for c in containers],
            _workload_name(store, t, pod),
            pod["metadata"]["namespace"],
        )
        restart = pod["spec"].get("restartPolicy", "Always")
        store.write_status(
            t["pods"], pod, self._pod_status(pod, status, rule, restart), manager=KUBELET
        )

    def _pod_status(self, pod: Obj, previous: Obj, rule: RolloutRule | None, restart: str) -> Obj:
        stamp = now()
        started = previous.get("startTime", stamp)
        mode = rule.mode if rule else None
        job_like = restart in ("Never", "OnFailure")
        was_running = previous.get("phase") == "Running"
        statuses = []
        for container in pod["spec"].get("containers", []):
            image = container.get("image", "")
            entry: dict[str, Any] = {
                "name": container.get("name"),
                "image": image,
                "imageID": "",
                "restartCount": 0,
                "ready": False,
                "started": False,
            }
            old = next(
                (
                    s
                    for s in previous.get("containerStatuses", [])
                    if s.get("name") == container.get("name")
                ),
                {},
            )
            if mode == "stall":
                entry["state"] = {"waiting": {"reason": "ContainerCreating"}}
            elif mode == "fail" and not job_like:
                entry["state"] = {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{image}"',
                    }
                }
            else:
                entry["imageID"] = image_id(image, self.standin.knobs.image_digests)
                entry["containerID"] = (
                    "containerd://"
                    + hashlib.sha256(
                        f"{pod['metadata']['uid']}/{container.get('name')}".encode()
                    ).hexdigest()
                )
                running_since = old.get("state", {}).get("running", {}).get("startedAt", stamp)
                if mode == "crash" or (mode == "fail" and job_like):
                    entry["restartCount"] = old.get("restartCount", 0) + (
                        0 if old.get("state", {}).get("waiting") else 1
                    )
                    entry["lastState"] = old.get("lastState") or {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "startedAt": running_since,
                            "finishedAt": stamp,
                        }
                    }
                    entry["state"] = {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": f"back-off restarting failed container {container.get('name')}",
                        }
                    }
                elif job_like and was_running:
                    entry["state"] = {
                        "terminated": {
                            "exitCode": 0,
                            "reason": "Completed",
                            "startedAt": running_since,
                            "finishedAt": old.get("state", {})
                            .get("terminated", {})
                            .get("finishedAt", stamp),
                        }
                    }
                else:
                    entry["state"] = {"running": {"startedAt": running_since}}
                    entry["ready"] = entry["started"] = True
            statuses.append(entry)
        ready = all(s["ready"] for s in statuses) and bool(statuses)
        if mode == "fail" and job_like:
            phase = "Failed"
        elif job_like and was_running and mode is None:
            phase = "Succeeded"
        elif mode in ("stall", "fail"):
            phase = "Pending"
        else:
            phase = "Running"
        conditions = {c["type"]: c for c in previous.get("conditions", [])}
        result: dict[str, Any] = {
            "phase": phase,
            "conditions": [
                _condition(conditions.get(kind), kind, value, None, None, pod_style=True)
                for kind, value in (
                    ("PodReadyToStartContainers", mode != "stall"),
                    ("Initialized", True),
                    ("Ready", ready),
                    ("ContainersReady", ready),
                    ("PodScheduled", True),
                )
            ],
            "hostIP": "10.0.0.1",
            "hostIPs": [{"ip": "10.0.0.1"}],
            "podIP": previous.get("podIP")
            or f"10.244.{self._random.randrange(256)}.{self._random.randrange(1, 255)}",
            "startTime": started,
            "qosClass": "BestEffort",
            "containerStatuses": statuses,
        }
        result["podIPs"] = [{"ip": result["podIP"]}]
        if phase in ("Succeeded", "Failed"):
            for s in statuses:
                s["ready"] = False
                s["started"] = False
                if phase == "Failed":
                    s["state"] = {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "startedAt": started,
                            "finishedAt": stamp,
                        }
                    }
        return result


# --- helpers ---------------------------------------------------------------------


def _types(store: Store) -> dict[str, ResourceType]:
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


def _replicas(obj: Obj) -> int:
    return int(obj.get("spec", {}).get("replicas", 1))


def _owned_by(obj: Obj, uid: str) -> bool:
    return any(
        ref.get("uid") == uid and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def _owner_ref(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def _ready_count(pods: list[Obj], rs: Obj) -> int:
    return sum(1 for p in pods if _owned_by(p, rs["metadata"]["uid"]) and _pod_ready(p))


def _counts(status: Obj) -> tuple[int, int, int]:
    return (
        status.get("replicas", 0),
        status.get("updatedReplicas", 0),
        status.get("readyReplicas", 0),
    )


def _resolve(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        scaled = total * int(value[:-1]) / 100
        return int(-(-scaled // 1)) if round_up else int(scaled)
    return int(value)


def _condition(
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
    changed = previous is None or previous.get("status") != text or previous.get("reason") != reason
    condition: dict[str, Any] = {"type": kind, "status": text}
    if pod_style:
        condition["lastProbeTime"] = None
    else:
        condition["lastUpdateTime"] = (
            stamp if changed or touch else previous.get("lastUpdateTime", stamp)
        )  # type: ignore[union-attr]
    condition["lastTransitionTime"] = (
        stamp
        if previous is None or previous.get("status") != text
        else previous.get("lastTransitionTime", stamp)
    )
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _workload_name(store: Store, t: dict[str, ResourceType], pod: Obj) -> str:
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
