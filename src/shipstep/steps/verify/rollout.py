"""The cluster checks on plain object dicts (pure: the waiting loop feeds
them what it lists and watches).

Per workload (Deployment, StatefulSet, DaemonSet):
- `health`: the kstatus verdict, by the agent's own rules
  (`shipstep.agent.health`); `ProgressDeadlineExceeded` is failed;
- `images`: every container that runs an expected repository is pinned to
  the expected digest in the template, every running pod of the current
  revision reports an `imageID` with that digest (a different digest fails
  at once), enough of them run, and no pod of an older revision remains.
  A Deployment's pods belong to its ReplicaSets (the current one is the
  ReplicaSet of the current template); a StatefulSet's or DaemonSet's pods
  are its own, current when their images are the template's.
And for the whole run, every expected image must be used by some workload.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
_KIND_NAMES = {
    "deployment": "Deployment",
    "deployments": "Deployment",
    "deploy": "Deployment",
    "statefulset": "StatefulSet",
    "statefulsets": "StatefulSet",
    "sts": "StatefulSet",
    "daemonset": "DaemonSet",
    "daemonsets": "DaemonSet",
    "ds": "DaemonSet",
}


@dataclass(frozen=True)
class Targets:
    namespace: str
    workloads: tuple[tuple[str, str], ...] = ()  # (kind, name)
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
        named = []
        for item in workloads:
            kind_text, _, name = item.rpartition("/")
            kind = _KIND_NAMES.get(kind_text.lower() or "deployment")
            if kind is None or not name:
                raise InputError(
                    f"Workload {item!r}: verify checks Deployments, StatefulSets and DaemonSets.",
                    hint="Name one as NAME (a Deployment), deployment/NAME, statefulset/NAME "
                    "or daemonset/NAME.",
                )
            if (kind, name) not in named:
                named.append((kind, name))
        return cls(namespace, tuple(named), selector or None)

    @property
    def workload_kinds(self) -> tuple[str, ...]:
        if self.selector:
            return WORKLOAD_KINDS
        return tuple(k for k in WORKLOAD_KINDS if any(kind == k for kind, _ in self.workloads))

    @property
    def watched_kinds(self) -> tuple[str, ...]:
        """What to list and watch: the workloads, ReplicaSets for Deployments, Pods."""
        kinds = self.workload_kinds
        return (*kinds, *(("ReplicaSet",) if "Deployment" in kinds else ()), "Pod")


@dataclass
class ClusterState:
    objects: dict[str, dict[str, Obj]] = field(default_factory=dict)  # kind -> name -> object

    def bucket(self, kind: str) -> dict[str, Obj]:
        return self.objects.setdefault(kind, {})

    @property
    def deployments(self) -> dict[str, Obj]:
        return self.bucket("Deployment")

    @property
    def replicasets(self) -> dict[str, Obj]:
        return self.bucket("ReplicaSet")

    @property
    def pods(self) -> dict[str, Obj]:
        return self.bucket("Pod")

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


def _pod_line(pod: Obj, group: str) -> str:
    status = pod.get("status") or {}
    phase = status.get("phase", "Unknown")
    if _meta(pod).get("deletionTimestamp"):
        phase = f"{phase}, terminating"
    ids = ", ".join(
        f"{cs.get('name')}={cs.get('imageID') or cs.get('image') or '?'}"
        for cs in status.get("containerStatuses") or []
    )
    return f"pod {_meta(pod).get('name')} ({group}, {phase}): {ids or 'no container status'}"


def _label(kind: str, name: str) -> str:
    return f"{kind.lower()}/{name}"


def health_check(kind: str, name: str, workload: Obj) -> Check:
    verdict = health(workload)
    status = {CURRENT: Status.PASSED, FAILED: Status.FAILED}.get(verdict.status, Status.PENDING)
    return Check("health", _label(kind, name), status, verdict.message)


def _pod_groups(kind: str, workload: Obj, state: ClusterState) -> tuple[dict[str, str], str] | None:
    """Each pod of the workload -> the name of its group (ReplicaSet or
    revision), and the current group; None while the current one is unknown."""
    template = (workload.get("spec") or {}).get("template") or {}
    want_images = _images(template)
    groups: dict[str, str] = {}
    if kind == "Deployment":
        owned_rs = [
            rs for rs in state.replicasets.values() if _owned_by(rs, workload, "Deployment")
        ]
        current = _current_replicaset(workload, owned_rs)
        if (
            current is None
            or _images((current.get("spec") or {}).get("template") or {}) != want_images
        ):
            return None
        for pod in state.pods.values():
            for rs in owned_rs:
                if _owned_by(pod, rs, "ReplicaSet"):
                    groups[str(_meta(pod).get("name"))] = f"ReplicaSet {_meta(rs).get('name')}"
        return groups, f"ReplicaSet {_meta(current).get('name')}"
    for pod in state.pods.values():
        if _owned_by(pod, workload, kind):
            revision = (_meta(pod).get("labels") or {}).get("controller-revision-hash", "?")
            same = _images({"spec": pod.get("spec") or {}}) == want_images
            groups[str(_meta(pod).get("name"))] = (
                "the current template" if same else f"older revision {revision}"
            )
    return groups, "the current template"


def _wanted_count(kind: str, workload: Obj) -> int | None:
    if kind == "DaemonSet":
        desired = (workload.get("status") or {}).get("desiredNumberScheduled")
        return desired if isinstance(desired, int) else None
    replicas = (workload.get("spec") or {}).get("replicas")
    return replicas if isinstance(replicas, int) else 1


def image_check(
    kind: str,
    name: str,
    workload: Obj,
    state: ClusterState,
    expected: Sequence[Reference],
    applied: bool,
) -> Check:
    label = _label(kind, name)
    template = (workload.get("spec") or {}).get("template") or {}
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
            f"the {kind}'s template is not the expected one",
            tuple(problems),
        )
    generation = _meta(workload).get("generation")
    observed = (workload.get("status") or {}).get("observedGeneration")
    if isinstance(generation, int) and (not isinstance(observed, int) or observed < generation):
        # Until the controller has seen this template, its ReplicaSets,
        # revisions and counts describe the previous one.
        return Check(
            "images",
            label,
            Status.PENDING,
            f"the {kind} controller has not observed generation {generation} yet",
        )
    grouped = _pod_groups(kind, workload, state)
    if grouped is None:
        return Check("images", label, Status.PENDING, "no ReplicaSet for the current template yet")
    group_of, current_group = grouped
    old, good, waiting, wrong, lines = [], 0, 0, [], []
    for pod_name in sorted(group_of):
        pod = state.pods[pod_name]
        line = _pod_line(pod, group_of[pod_name])
        lines.append(line)
        phase = (pod.get("status") or {}).get("phase")
        if group_of[pod_name] != current_group:
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
    wanted_count = _wanted_count(kind, workload)
    if wanted_count is None:
        return Check(
            "images", label, Status.PENDING, f"the {kind} reports no desired pod count yet"
        )
    want_count = wanted_count
    older = "an older ReplicaSet" if kind == "Deployment" else "an older revision"
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
            f"{len(old)} pod(s) of {older} remain; {good}/{want_count} run {digests}",
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
        f"{good}/{want_count} pods of {current_group} run {digests}; no older pods",
        tuple(lines),
    )


def evaluate(
    state: ClusterState, targets: Targets, expected: Sequence[Reference], *, applied: bool
) -> list[Check]:
    """The checks of every target workload. `applied`: the agent has reported
    the expected revision applied, so a missing workload or a template that
    differs is a failure, not something to wait for."""
    checks: list[Check] = []
    workloads = list(targets.workloads) or [
        (kind, name) for kind in targets.workload_kinds for name in sorted(state.bucket(kind))
    ]
    used: set[Reference] = set()
    if targets.selector and not workloads:
        checks.append(
            Check(
                "workload",
                f"selector {targets.selector}",
                Status.FAILED if applied else Status.PENDING,
                f"no Deployment, StatefulSet or DaemonSet in namespace {targets.namespace} "
                "matches the selector",
            )
        )
    found_any = False
    for kind, name in workloads:
        workload = state.bucket(kind).get(name)
        if workload is None:
            checks.append(
                Check(
                    "workload",
                    _label(kind, name),
                    Status.FAILED if applied else Status.PENDING,
                    f"{kind} {name} not found in namespace {targets.namespace}",
                )
            )
            continue
        found_any = True
        checks.append(health_check(kind, name, workload))
        checks.append(image_check(kind, name, workload, state, expected, applied))
        template = (workload.get("spec") or {}).get("template") or {}
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
                    Status.FAILED if applied and found_any else Status.PENDING,
                    "no target workload uses this repository",
                )
            )
    return checks
