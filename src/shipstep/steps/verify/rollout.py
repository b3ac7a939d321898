"""The cluster checks on plain object dicts (pure: the waiting loop feeds
them what it lists and watches).

Per Deployment:
- `health`: the kstatus verdict, by the agent's own rules
  (`shipstep.agent.health`); `ProgressDeadlineExceeded` is failed;
- `images`: every container that runs an expected repository is pinned to
  the expected digest in the template, every running pod of the current
  ReplicaSet reports an `imageID` with that digest (a different digest fails
  at once), enough of them run, and no pod of an older ReplicaSet remains.
And for the whole run, every expected image must be used by some workload.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipstep.agent.health import CURRENT, FAILED, health
from shipstep.errors import InputError
from shipstep.oci.reference import Reference, parse_reference
from shipstep.steps.verify.report import Check, Status

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CONTAINER_LISTS = ("initContainers", "containers")


@dataclass(frozen=True)
class Targets:
    namespace: str
    names: tuple[str, ...] = ()
    selector: str | None = None

    @classmethod
    def of(cls, namespace: str, workloads: Sequence[str], selector: str | None) -> Targets:
        if not namespace:
            raise InputError("No namespace given.", hint="Pass --namespace NS.")
        if bool(workloads) == bool(selector):
            raise InputError(
                "Name the workloads to check, either by name or by label selector.",
                hint="Pass --workload NAME (repeatable) or --selector app=web, not both.",
            )
        names = []
        for item in workloads:
            kind, _, name = item.rpartition("/")
            if kind and kind.lower() not in ("deployment", "deployments", "deploy"):
                raise InputError(
                    f"Workload {item!r}: only Deployments are verified in this version.",
                    hint="Name a Deployment (`NAME` or `deployment/NAME`).",
                )
            names.append(name)
        return cls(namespace, tuple(names), selector or None)


@dataclass
class ClusterState:
    deployments: dict[str, Obj] = field(default_factory=dict)  # by name
    replicasets: dict[str, Obj] = field(default_factory=dict)
    pods: dict[str, Obj] = field(default_factory=dict)

    def bucket(self, kind: str) -> dict[str, Obj]:
        return {"Deployment": self.deployments, "ReplicaSet": self.replicasets, "Pod": self.pods}[
            kind
        ]

    def apply_event(self, kind: str, event_type: str, obj: Obj) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        bucket = self.bucket(kind)
        if event_type == "DELETED":
            bucket.pop(name, None)
        elif event_type in ("ADDED", "MODIFIED"):
            bucket[name] = obj


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _owned_by(obj: Obj, owner: Obj, kind: str) -> bool:
    uid = _meta(owner).get("uid")
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("kind") != kind:
            continue
        if uid and ref.get("uid"):
            if ref["uid"] == uid:
                return True
        elif ref.get("name") == _meta(owner).get("name"):
            return True
    return False


def _containers(pod_spec: Obj) -> list[Obj]:
    return [c for key in _CONTAINER_LISTS for c in pod_spec.get(key) or []]


def _images(template: Obj) -> list[str]:
    return [str(c.get("image", "")) for c in _containers((template or {}).get("spec") or {})]


def _matching(image: str, expected: Sequence[Reference]) -> Reference | None:
    try:
        ref = parse_reference(image)
    except InputError:
        return None
    for want in expected:
        if want.same_repository(ref):
            return want
    return None


def _short(digest: str | None) -> str:
    return (digest or "none")[:19]


def _current_replicaset(deploy: Obj, owned: list[Obj]) -> Obj | None:
    revision = (_meta(deploy).get("annotations") or {}).get(REVISION)
    if revision:
        for rs in owned:
            if (_meta(rs).get("annotations") or {}).get(REVISION) == revision:
                return rs
    want = _images((deploy.get("spec") or {}).get("template") or {})
    same = [rs for rs in owned if _images((rs.get("spec") or {}).get("template") or {}) == want]
    same.sort(key=lambda rs: str(_meta(rs).get("creationTimestamp", "")))
    return same[-1] if same else None


def _pod_line(pod: Obj, rs_name: str) -> str:
    status = pod.get("status") or {}
    phase = status.get("phase", "Unknown")
    if _meta(pod).get("deletionTimestamp"):
        phase = f"{phase}, terminating"
    ids = ", ".join(
        f"{cs.get('name')}={cs.get('imageID') or cs.get('image') or '?'}"
        for cs in status.get("containerStatuses") or []
    )
    return f"pod {_meta(pod).get('name')} (ReplicaSet {rs_name}, {phase}): {ids or 'no container status'}"


def health_check(name: str, deploy: Obj) -> Check:
    verdict = health(deploy)
    status = {CURRENT: Status.PASSED, FAILED: Status.FAILED}.get(verdict.status, Status.PENDING)
    return Check("health", f"deployment/{name}", status, verdict.message)


def image_check(
    name: str, deploy: Obj, state: ClusterState, expected: Sequence[Reference], applied: bool
) -> Check:
    label = f"deployment/{name}"
    template = (deploy.get("spec") or {}).get("template") or {}
    wanted: dict[str, Reference] = {}  # container name -> expected image
    problems: list[str] = []
    for container in _containers(template.get("spec") or {}):
        want = _matching(str(container.get("image", "")), expected)
        if want is None:
            continue
        wanted[str(container.get("name"))] = want
        have = _DIGEST.search(str(container.get("image", "")))
        if not have or have.group(0) != want.digest:
            problems.append(
                f"container {container.get('name')} template image {container.get('image')} is not {want}"
            )
    if not wanted:
        return Check("images", label, Status.SKIPPED, "uses none of the expected images")
    if problems:
        # Once the agent reports the revision applied, a template that still
        # differs will not change by waiting.
        status = Status.FAILED if applied else Status.PENDING
        return Check(
            "images",
            label,
            status,
            "the Deployment's template is not the expected one",
            tuple(problems),
        )
    generation = _meta(deploy).get("generation")
    observed = (deploy.get("status") or {}).get("observedGeneration")
    if isinstance(generation, int) and (not isinstance(observed, int) or observed < generation):
        # Until the controller has seen this template, its ReplicaSets and
        # revision annotation describe the previous one.
        return Check(
            "images",
            label,
            Status.PENDING,
            f"the Deployment controller has not observed generation {generation} yet",
        )
    owned_rs = [rs for rs in state.replicasets.values() if _owned_by(rs, deploy, "Deployment")]
    current = _current_replicaset(deploy, owned_rs)
    want_images = _images(template)
    if current is None or _images((current.get("spec") or {}).get("template") or {}) != want_images:
        return Check("images", label, Status.PENDING, "no ReplicaSet for the current template yet")
    current_name = str(_meta(current).get("name"))
    rs_of: dict[str, str] = {}
    for pod in state.pods.values():
        for rs in owned_rs:
            if _owned_by(pod, rs, "ReplicaSet"):
                rs_of[str(_meta(pod).get("name"))] = str(_meta(rs).get("name"))
    old, good, waiting, wrong, lines = [], 0, 0, [], []
    for pod_name in sorted(rs_of):
        pod = state.pods[pod_name]
        line = _pod_line(pod, rs_of[pod_name])
        lines.append(line)
        phase = (pod.get("status") or {}).get("phase")
        if rs_of[pod_name] != current_name:
            if phase not in ("Succeeded", "Failed"):
                old.append(line)
            continue
        if phase != "Running" or _meta(pod).get("deletionTimestamp"):
            waiting += 1
            continue
        statuses = {
            str(cs.get("name")): cs
            for cs in (pod.get("status") or {}).get("containerStatuses") or []
        }
        statuses.update(
            {
                str(cs.get("name")): cs
                for cs in (pod.get("status") or {}).get("initContainerStatuses") or []
            }
        )
        ok = True
        for container_name, want in wanted.items():
            image_id = str((statuses.get(container_name) or {}).get("imageID") or "")
            seen = _DIGEST.findall(image_id)
            if not seen:
                ok = False
                waiting += 1
                break
            if seen[-1] != want.digest:
                ok = False
                wrong.append(
                    f"pod {pod_name} container {container_name} runs {seen[-1]}, expected {want.digest}"
                )
        if ok:
            good += 1
    replicas = (deploy.get("spec") or {}).get("replicas")
    want_count = replicas if isinstance(replicas, int) else 1
    digests = ", ".join(sorted({_short(w.digest) for w in wanted.values()}))
    if wrong:
        return Check(
            "images",
            label,
            Status.FAILED,
            f"{len(wrong)} pod container(s) run another digest than {digests}",
            tuple(wrong + lines),
        )
    if old:
        return Check(
            "images",
            label,
            Status.PENDING,
            f"{len(old)} pod(s) of an older ReplicaSet remain; {good}/{want_count} run {digests}",
            tuple(old + [ln for ln in lines if ln not in old]),
        )
    if good < want_count:
        return Check(
            "images",
            label,
            Status.PENDING,
            f"{good}/{want_count} pods run {digests} ({waiting} not running yet)",
            tuple(lines),
        )
    return Check(
        "images",
        label,
        Status.PASSED,
        f"{good}/{want_count} pods of ReplicaSet {current_name} run {digests}; no older pods",
        tuple(lines),
    )


def evaluate(
    state: ClusterState, targets: Targets, expected: Sequence[Reference], *, applied: bool
) -> list[Check]:
    """The checks of every target workload. `applied`: the agent has reported
    the expected revision applied, so a missing workload or a template that
    differs is a failure, not something to wait for."""
    checks: list[Check] = []
    names: Iterable[str] = targets.names or sorted(state.deployments)
    used: set[Reference] = set()
    if targets.selector and not state.deployments:
        checks.append(
            Check(
                "workload",
                f"selector {targets.selector}",
                Status.FAILED if applied else Status.PENDING,
                f"no Deployment in namespace {targets.namespace} matches the selector",
            )
        )
    for name in names:
        deploy = state.deployments.get(name)
        if deploy is None:
            checks.append(
                Check(
                    "workload",
                    f"deployment/{name}",
                    Status.FAILED if applied else Status.PENDING,
                    f"Deployment {name} not found in namespace {targets.namespace}",
                )
            )
            continue
        checks.append(health_check(name, deploy))
        checks.append(image_check(name, deploy, state, expected, applied))
        template = (deploy.get("spec") or {}).get("template") or {}
        for image in _images(template):
            want = _matching(image, expected)
            if want is not None:
                used.add(want)
    for want in expected:
        if want not in used:
            checks.append(
                Check(
                    "images",
                    str(want),
                    Status.FAILED if applied and state.deployments else Status.PENDING,
                    "no target workload uses this repository",
                )
            )
    return checks
