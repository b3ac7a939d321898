"""A controller loop standing in for kube-controller-manager and the kubelet.

Deployments get ReplicaSets and pods, StatefulSets and DaemonSets pods, Jobs
pods that complete; pods run (or stall, fail, crash per the rollout rules) and
report `imageID` with the image digest; workloads report observedGeneration,
replica counts and conditions. It runs whenever the store changes and every
`controller_interval` seconds (for delays and deadlines).
"""

from __future__ import annotations

import math
import random
import threading
import time
from typing import TYPE_CHECKING, Any

from tests.kube_standin import patches
from tests.kube_standin.errors import ApiError
from tests.kube_standin.fields import clone
from tests.kube_standin.kubelet import Kubelet
from tests.kube_standin.objects import (
    REVISION,
    condition,
    owned_by,
    owner_ref,
    pod_ready,
    ready_count,
    replica_count,
    resolve,
    safe_hash,
    status_counts,
    types,
)
from tests.kube_standin.resources import ResourceType
from tests.kube_standin.store import CONTROLLER, Obj, Store, establish_crd
from tests.kube_standin.workloads import Workloads

if TYPE_CHECKING:
    from tests.kube_standin.standin import KubeStandin

IDLE_PASS = 0.25  # seconds between passes when nothing changes and no timer is due


class Controller(Workloads, Kubelet):
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
        self._wake_at = math.inf

    def _wake(self, at: float) -> None:
        """Run a pass at this monotonic time even if nothing is written before."""
        self._wake_at = min(self._wake_at, at)

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
                    # Nothing changed: sleep until a write, a timer, or IDLE_PASS.
                    until = min(self._wake_at - time.monotonic(), IDLE_PASS)
                    store.changed.wait(timeout=max(knobs.controller_interval, until))
            if self._stop.is_set():
                return
            if not knobs.controller:
                seen_rv = store.rv
                continue
            before = store.rv
            self._wake_at = math.inf
            try:
                self.sync(store)
            except ApiError:  # a race with a client's write: try again next pass
                self.races += 1
            except Exception as exc:  # a bug in the stand-in: keep running, show it in `errors`
                self.errors.append(repr(exc))
            seen_rv = store.rv if store.rv == before else -1

    # --- one pass --------------------------------------------------------------

    def sync(self, store: Store) -> None:
        t = types(store)
        for crd in store.view(t["crds"], None):
            self._sync_crd(store, t["crds"], crd)
        for deployment in store.view(t["deployments"], None):
            self._sync_deployment(store, t, deployment)
        for rs in store.view(t["replicasets"], None):
            self._sync_replicaset(store, t, rs)
        for sts in store.view(t["statefulsets"], None):
            self._sync_statefulset(store, t, sts)
        for ds in store.view(t["daemonsets"], None):
            self._sync_daemonset(store, t, ds)
        for job in store.view(t["jobs"], None):
            self._sync_job(store, t, job)
        for pod in store.view(t["pods"], None):
            self._kubelet(store, t, pod)
        for claim in store.view(t["pvcs"], None):
            spec = claim.get("spec") or {}
            storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
            bound = {
                "phase": "Bound",
                "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
                "capacity": {"storage": storage},
            }
            store.write_status(t["pvcs"], claim, bound)
        for service in store.view(t["services"], None):
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
        wait = self.standin.knobs.crd_establish_delay - self._age(crd)
        if wait > 0:
            self._wake(time.monotonic() + wait)
        else:
            with_status = clone(crd)
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
        owned = [rs for rs in store.view(t["replicasets"], namespace) if owned_by(rs, uid)]
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
        pods = store.view(t["pods"], namespace)
        new_ready = ready_count(pods, new_rs) if new_rs else 0
        if not paused and new_rs is not None:
            recreate = spec.get("strategy", {}).get("type") == "Recreate"
            old_pods = sum(1 for rs in old for p in pods if owned_by(p, rs["metadata"]["uid"]))
            if not self.standin.knobs.keep_old_pods:
                for rs in old:
                    target = 0 if recreate else max(0, min(replica_count(rs), replicas - new_ready))
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
        pod_template = clone(template)
        pod_template.setdefault("metadata", {})["labels"] = labels
        selector = clone(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": d["metadata"]["namespace"],
                "labels": labels,
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [owner_ref(d)],
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
        if replica_count(rs) != replicas:
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
            for p in store.view(t["pods"], namespace)
            if not p["metadata"].get("deletionTimestamp")
        ]
        all_rs = ([new_rs] if new_rs else []) + old
        mine = [p for p in pods if any(owned_by(p, rs["metadata"]["uid"]) for rs in all_rs)]
        updated = [p for p in mine if new_rs is not None and owned_by(p, new_rs["metadata"]["uid"])]
        ready = [p for p in mine if pod_ready(p)]
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
        if counts != status_counts(previous):
            self._progress[uid] = time.monotonic()
        started = self._progress.setdefault(uid, time.monotonic())
        max_unavailable = resolve(
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
            condition(
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
            progressing = condition(
                conditions.get("Progressing"),
                "Progressing",
                None,
                "DeploymentPaused",
                "Deployment is paused",
            )
        elif complete:
            progressing = condition(
                conditions.get("Progressing"),
                "Progressing",
                True,
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif conditions.get("Progressing", {}).get(
            "reason"
        ) == "ProgressDeadlineExceeded" and counts == status_counts(previous):
            progressing = conditions["Progressing"]
        elif time.monotonic() - started > (deadline := self._deadline(d, store, t)):
            progressing = condition(
                conditions.get("Progressing"),
                "Progressing",
                False,
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = condition(
                conditions.get("Progressing"),
                "Progressing",
                True,
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
                touch=counts != status_counts(previous),
            )
            self._wake(started + deadline + 0.01)
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
        pods = [p for p in store.view(t["pods"], namespace) if owned_by(p, uid)]
        replicas = replica_count(owner)
        for pod in sorted(pods, key=lambda p: (pod_ready(p), p["metadata"]["creationTimestamp"]))[
            : max(0, len(pods) - replicas)
        ]:
            self._delete(store, t["pods"], pod)
        for _ in range(replicas - len(pods)):
            self._create_pod(store, t, owner, owner["spec"]["template"], None)
        rs_pods = [p for p in store.view(t["pods"], namespace) if owned_by(p, uid)]
        ready = sum(1 for p in rs_pods if pod_ready(p))
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
