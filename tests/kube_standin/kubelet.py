"""The kubelet's part: pods run, stall, fail or crash; containers report imageID."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.kube_standin.knobs import RolloutRule
from tests.kube_standin.objects import KUBELET, condition, now, workload_name
from tests.kube_standin.resources import ResourceType
from tests.kube_standin.store import Obj, Store

if TYPE_CHECKING:
    from tests.kube_standin.standin import KubeStandin


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


class Kubelet:
    """Part of the controller (a mixin of `Controller`)."""

    standin: KubeStandin
    _random: random.Random
    _age: Callable[[Obj], float]
    _wake: Callable[[float], None]

    def _kubelet(self, store: Store, t: dict[str, ResourceType], pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            return
        status = pod.get("status", {})
        phase = status.get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            return
        knobs = self.standin.knobs
        if phase == "Pending" and (wait := knobs.pod_start_delay - self._age(pod)) > 0:
            self._wake(time.monotonic() + wait)
            return
        containers = pod["spec"].get("containers", [])
        rule = knobs.rule_for(
            [c.get("image", "") for c in containers],
            workload_name(store, t, pod),
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
            old: dict[str, Any] = next(
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
                condition(conditions.get(kind), kind, value, None, None, pod_style=True)
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
