"""The cluster checks on object dicts: healthy, stuck on old pods, wrong
digest, failed rollout, workload not found."""

from __future__ import annotations

from typing import Any

import pytest

from shipstep.errors import InputError
from shipstep.steps.verify.expected import parse_expected
from shipstep.steps.verify.report import Status
from shipstep.steps.verify.rollout import ClusterState, Targets, evaluate

REPO = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app"
NEW = "sha256:" + "a" * 64
OLD = "sha256:" + "b" * 64
EXPECTED = parse_expected([f"{REPO}@{NEW}"])


def template(digest: str) -> dict[str, Any]:
    return {
        "spec": {
            "containers": [
                {"name": "app", "image": f"{REPO}:1.4.2@{digest}"},
                {"name": "proxy", "image": "envoyproxy/envoy:v1.31"},
            ]
        }
    }


def deployment(
    digest: str, *, revision: str = "2", replicas: int = 2, **status: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "dep-uid",
            "generation": 2,
            "annotations": {"deployment.kubernetes.io/revision": revision},
        },
        "spec": {
            "replicas": replicas,
            "template": template(digest),
        },
        "status": {
            "observedGeneration": 2,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True"}],
            **status,
        },
    }


def replicaset(name: str, digest: str, revision: str) -> dict[str, Any]:
    return {
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "uid": f"{name}-uid",
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "dep-uid"}],
        },
        "spec": {"template": template(digest)},
    }


def pod(name: str, rs: str, image_digest: str | None, phase: str = "Running") -> dict[str, Any]:
    statuses = [{"name": "proxy", "imageID": "docker.io/envoyproxy/envoy@sha256:" + "e" * 64}]
    if image_digest is not None:
        statuses.append({"name": "app", "imageID": f"{REPO}@{image_digest}"})
    return {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "ownerReferences": [{"kind": "ReplicaSet", "name": rs, "uid": f"{rs}-uid"}],
        },
        "status": {"phase": phase, "containerStatuses": statuses},
    }


def state(*objs: dict[str, Any]) -> ClusterState:
    s = ClusterState()
    for obj in objs:
        s.apply_event(obj["kind"], "ADDED", obj)
    return s


TARGETS = Targets.of("shop", ["web"], None)


def by_kind(checks: list[Any]) -> dict[str, Any]:
    return {c.kind: c for c in checks}


def test_healthy_rollout_passes() -> None:
    s = state(
        deployment(NEW),
        replicaset("web-new", NEW, "2"),
        replicaset("web-old", OLD, "1"),
        pod("web-new-1", "web-new", NEW),
        pod("web-new-2", "web-new", NEW),
        pod("web-old-1", "web-old", OLD, phase="Succeeded"),
    )
    checks = evaluate(s, TARGETS, EXPECTED, applied=True)
    assert [c.status for c in checks] == [Status.PASSED, Status.PASSED]
    assert by_kind(checks)["images"].summary == (
        f"2/2 pods of ReplicaSet web-new run {NEW[:19]}; no older pods"
    )


def test_stuck_on_old_pods_lists_them() -> None:
    s = state(
        deployment(NEW, updatedReplicas=1),
        replicaset("web-new", NEW, "2"),
        replicaset("web-old", OLD, "1"),
        pod("web-new-1", "web-new", NEW),
        pod("web-old-1", "web-old", OLD),
    )
    checks = by_kind(evaluate(s, TARGETS, EXPECTED, applied=True))
    assert checks["health"].status is Status.PENDING
    images = checks["images"]
    assert images.status is Status.PENDING
    assert images.summary.startswith("1 pod(s) of an older ReplicaSet remain; 1/2 run")
    assert images.details[0].startswith("pod web-old-1 (ReplicaSet web-old, Running): ")
    assert OLD in images.details[0]
    failed = images.timed_out(120)
    assert failed.status is Status.FAILED
    assert failed.summary.startswith("still not satisfied after 120s: 1 pod(s) of an older")


def test_progress_deadline_exceeded_fails() -> None:
    condition = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "web-new" has timed out progressing.',
    }
    s = state(deployment(NEW, updatedReplicas=1, conditions=[condition]))
    health = by_kind(evaluate(s, TARGETS, EXPECTED, applied=True))["health"]
    assert health.status is Status.FAILED
    assert "Progress deadline exceeded" in health.summary


def test_pod_reporting_another_digest_fails_at_once() -> None:
    s = state(
        deployment(NEW, replicas=1),
        replicaset("web-new", NEW, "2"),
        pod("web-new-1", "web-new", OLD),
    )
    images = by_kind(evaluate(s, TARGETS, EXPECTED, applied=True))["images"]
    assert images.status is Status.FAILED
    assert images.details[0] == f"pod web-new-1 container app runs {OLD}, expected {NEW}"


def test_template_not_updated_waits_then_fails_once_applied() -> None:
    s = state(deployment(OLD), replicaset("web-old", OLD, "2"))
    waiting = by_kind(evaluate(s, TARGETS, EXPECTED, applied=False))["images"]
    assert waiting.status is Status.PENDING
    done = by_kind(evaluate(s, TARGETS, EXPECTED, applied=True))["images"]
    assert done.status is Status.FAILED
    assert "template image" in done.details[0]


def test_pending_pods_and_missing_image_id_wait() -> None:
    s = state(
        deployment(NEW, replicas=2),
        replicaset("web-new", NEW, "2"),
        pod("web-new-1", "web-new", None),
        pod("web-new-2", "web-new", NEW, phase="Pending"),
    )
    images = by_kind(evaluate(s, TARGETS, EXPECTED, applied=True))["images"]
    assert images.status is Status.PENDING
    assert images.summary == f"0/2 pods run {NEW[:19]} (2 not running yet)"


def test_workload_not_found() -> None:
    checks = evaluate(ClusterState(), TARGETS, EXPECTED, applied=True)
    assert checks[0].kind == "workload"
    assert checks[0].status is Status.FAILED
    assert checks[0].summary == "Deployment web not found in namespace shop"
    assert evaluate(ClusterState(), TARGETS, EXPECTED, applied=False)[0].status is Status.PENDING


def test_selector_matching_nothing() -> None:
    checks = evaluate(ClusterState(), Targets.of("shop", [], "app=web"), EXPECTED, applied=True)
    assert checks[0].summary == (
        "no Deployment, StatefulSet or DaemonSet in namespace shop matches the selector"
    )


def test_expected_image_unused_by_any_workload() -> None:
    other = parse_expected([f"{REPO}@{NEW}", "ghcr.io/acme/worker@" + OLD])
    s = state(
        deployment(NEW, replicas=1),
        replicaset("web-new", NEW, "2"),
        pod("web-new-1", "web-new", NEW),
    )
    checks = evaluate(s, TARGETS, other, applied=True)
    unused = [c for c in checks if c.name.startswith("ghcr.io")]
    assert unused[0].status is Status.FAILED
    assert unused[0].summary == "no target workload uses this repository"


def test_deleted_events_remove_objects() -> None:
    s = state(pod("p", "rs", NEW))
    s.apply_event("Pod", "DELETED", pod("p", "rs", NEW))
    assert s.pods == {}


@pytest.mark.parametrize(
    ("workloads", "selector", "message"),
    [
        ([], None, "either by name or by label selector"),
        (["web"], "app=web", "either by name or by label selector"),
        (["cronjob/db"], None, "verify checks Deployments, StatefulSets and DaemonSets"),
        (["deployment/"], None, "verify checks Deployments, StatefulSets and DaemonSets"),
    ],
)
def test_bad_targets(workloads: list[str], selector: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Targets.of("shop", workloads, selector)


def test_expected_images_need_digests() -> None:
    with pytest.raises(InputError, match="has no digest"):
        parse_expected([f"{REPO}:1.4.2"])
    with pytest.raises(InputError, match="Two different digests"):
        parse_expected([f"{REPO}@{NEW}", f"{REPO}@{OLD}"])


def test_old_replicaset_is_not_judged_before_the_controller_sees_the_new_template() -> None:
    # The template changed (generation 3) but the controller has not caught
    # up: the old ReplicaSet still carries the revision annotation.
    behind = deployment(NEW, revision="1", observedGeneration=2)
    behind["metadata"]["generation"] = 3
    s = state(
        behind,
        replicaset("web-old", OLD, "1"),
        pod("web-old-1", "web-old", OLD),
        pod("web-old-2", "web-old", OLD),
    )
    images = by_kind(evaluate(s, TARGETS, EXPECTED, applied=True))["images"]
    assert images.status is Status.PENDING
    assert images.summary == "the Deployment controller has not observed generation 3 yet"


def statefulset(digest: str, replicas: int = 2) -> dict[str, Any]:
    obj = deployment(digest, replicas=replicas)
    obj["kind"] = "StatefulSet"
    obj["metadata"]["name"] = "db"
    obj["metadata"]["uid"] = "sts-uid"
    obj["status"] = {
        "observedGeneration": 2,
        "replicas": replicas,
        "readyReplicas": replicas,
        "currentReplicas": replicas,
        "updatedReplicas": replicas,
        "currentRevision": "db-2",
        "updateRevision": "db-2",
    }
    return obj


def sts_pod(name: str, digest: str) -> dict[str, Any]:
    p = pod(name, "unused", digest)
    p["metadata"]["ownerReferences"] = [{"kind": "StatefulSet", "name": "db", "uid": "sts-uid"}]
    p["metadata"]["labels"] = {"controller-revision-hash": "db-" + digest[-1]}
    p["spec"] = template(digest)["spec"]
    return p


def test_statefulset_pods_are_judged_by_their_own_template() -> None:
    targets = Targets.of("shop", ["sts/db"], None)
    s = state(statefulset(NEW), sts_pod("db-0", NEW), sts_pod("db-1", OLD))
    images = by_kind(evaluate(s, targets, EXPECTED, applied=True))["images"]
    assert images.name == "statefulset/db"
    assert images.status is Status.PENDING
    assert images.summary == f"1 pod(s) of an older revision remain; 1/2 run {NEW[:19]}"
    assert images.details[0].startswith("pod db-1 (older revision db-b, Running)")
    done = state(statefulset(NEW), sts_pod("db-0", NEW), sts_pod("db-1", NEW))
    checks = by_kind(evaluate(done, targets, EXPECTED, applied=True))
    assert checks["health"].status is Status.PASSED
    assert checks["images"].status is Status.PASSED
    assert checks["images"].summary == (
        f"2/2 pods of the current template run {NEW[:19]}; no older pods"
    )
