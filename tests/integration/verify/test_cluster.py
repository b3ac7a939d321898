"""The cluster checks and the watching wait against the Kubernetes API stand-in:
healthy, stuck on old pods, ProgressDeadlineExceeded, workload not found,
unreachable cluster, expired credentials."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shipstep.cluster.access import ClusterOptions, connect
from shipstep.cluster.client import ClusterError
from shipstep.steps.verify.expected import parse_expected
from shipstep.steps.verify.report import Status
from shipstep.steps.verify.rollout import Targets
from shipstep.steps.verify.wait import WaitOptions, wait_for_cluster
from tests.fixtures.services import free_port
from tests.integration.verify.cluster_helpers import (
    NAMESPACE,
    NEW,
    OLD,
    REPO,
    cluster_for,
    deployment,
    namespace,
    running,
    set_image,
    set_workload_image,
    workload,
)
from tests.kube_standin.standin import KubeStandin

pytestmark = pytest.mark.timeout(60)
EXPECTED = parse_expected([f"{REPO}@{NEW}"])
TARGETS = Targets.of(NAMESPACE, ["web"], None)


def rolled_out(kube: KubeStandin) -> None:
    kube.seed(namespace(NAMESPACE), deployment(OLD))
    kube.wait(lambda: running(kube, OLD), what="old pods running")


def test_healthy_rollout_passes_as_soon_as_it_completes(kube: KubeStandin) -> None:
    rolled_out(kube)
    kube.knobs.pod_start_delay = 0.3
    set_image(kube, NEW)
    with cluster_for(kube) as cluster:
        started = time.monotonic()
        checks = wait_for_cluster(
            cluster, TARGETS, EXPECTED, None, WaitOptions(timeout=20, poll_interval=5)
        )
        took = time.monotonic() - started
    assert [(c.kind, c.status) for c in checks] == [
        ("health", Status.PASSED),
        ("images", Status.PASSED),
    ]
    assert checks[1].summary.startswith("2/2 pods of ReplicaSet web-")
    assert took < 5  # decided by watch events, not by the 5 s poll interval
    # watching: one list per kind, then watches; no polling lists
    lists = [
        r
        for r in kube.requests.all()
        if r.method == "GET" and "watch=true" not in r.query and "watch=1" not in r.query
    ]
    assert len(lists) == 3


def test_selector_selects_the_workloads(kube: KubeStandin) -> None:
    kube.seed(namespace(NAMESPACE), deployment(NEW), deployment(NEW, name="api"))
    kube.wait(lambda: running(kube, NEW) and running(kube, NEW, name="api"), what="pods")
    with cluster_for(kube) as cluster:
        checks = wait_for_cluster(
            cluster,
            Targets.of(NAMESPACE, [], "tier=front"),
            EXPECTED,
            None,
            WaitOptions(timeout=10),
        )
    assert {c.name for c in checks} == {"deployment/web", "deployment/api"}
    assert all(c.status is Status.PASSED for c in checks)


def test_stuck_on_old_pods_fails_at_the_deadline_listing_them(kube: KubeStandin) -> None:
    rolled_out(kube)
    kube.knobs.keep_old_pods = True
    set_image(kube, NEW)
    with cluster_for(kube) as cluster:
        checks = wait_for_cluster(
            cluster, TARGETS, EXPECTED, None, WaitOptions(timeout=3, poll_interval=1)
        )
    images = next(c for c in checks if c.kind == "images")
    assert images.status is Status.FAILED
    assert images.summary.startswith(
        "still not satisfied after 3s: 2 pod(s) of an older ReplicaSet remain"
    )
    old_lines = [d for d in images.details if OLD in d]
    assert len(old_lines) == 2 and all(d.startswith("pod web-") for d in old_lines)


def test_progress_deadline_exceeded_fails_without_waiting_for_the_deadline(
    kube: KubeStandin,
) -> None:
    rolled_out(kube)
    kube.knobs.rollout("fail", image=NEW, deadline=0.5)
    set_image(kube, NEW)
    with cluster_for(kube) as cluster:
        started = time.monotonic()
        checks = wait_for_cluster(
            cluster, TARGETS, EXPECTED, None, WaitOptions(timeout=30, poll_interval=10)
        )
        took = time.monotonic() - started
    health = next(c for c in checks if c.kind == "health")
    assert health.status is Status.FAILED
    assert "Progress deadline exceeded" in health.summary
    assert took < 10


def test_workload_not_found(kube: KubeStandin) -> None:
    kube.seed(namespace(NAMESPACE))
    with cluster_for(kube) as cluster:
        checks = wait_for_cluster(cluster, TARGETS, EXPECTED, None, WaitOptions(timeout=1))
    assert checks[0].kind == "workload"
    assert checks[0].status is Status.FAILED
    assert (
        checks[0].summary
        == "still not satisfied after 1s: Deployment web not found in namespace shop"
    )


def test_polling_mode_sees_the_same(kube: KubeStandin) -> None:
    rolled_out(kube)
    set_image(kube, NEW)
    with cluster_for(kube) as cluster:
        checks = wait_for_cluster(
            cluster,
            TARGETS,
            EXPECTED,
            None,
            WaitOptions(timeout=20, poll_interval=0.2, watch=False),
        )
    assert all(c.status is Status.PASSED for c in checks)


def test_unreachable_cluster(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    port = free_port()
    config.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
"""
    )
    with (
        connect(ClusterOptions(kubeconfig=config)) as cluster,
        pytest.raises(ClusterError) as caught,
    ):
        wait_for_cluster(cluster, TARGETS, EXPECTED, None, WaitOptions(timeout=5))
    assert caught.value.message == (
        f"Cannot reach the Kubernetes API (http://127.0.0.1:{port}) to list deployments in shop: connection refused."
    )


def test_expired_credentials(kube: KubeStandin) -> None:
    kube.knobs.token = "a-newer-token"  # the kubeconfig's token is no longer accepted
    with cluster_for(kube) as cluster, pytest.raises(ClusterError) as caught:
        wait_for_cluster(cluster, TARGETS, EXPECTED, None, WaitOptions(timeout=5))
    assert (
        "refused the credentials to list deployments in shop (401 Unauthorized)"
        in caught.value.message
    )
    assert "expired or invalid" in (caught.value.hint or "")


def test_missing_kubeconfig_is_an_input_error(tmp_path: Path) -> None:
    from shipstep.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        connect(ClusterOptions(kubeconfig=tmp_path / "nope"))


def test_watch_relists_after_410_gone(kube: KubeStandin) -> None:
    import queue

    from shipstep.steps.verify.wait import _Watcher

    kube.seed(namespace(NAMESPACE), deployment(OLD))
    kube.settle()
    with cluster_for(kube) as cluster:
        _, stale = cluster.list_items("Deployment", NAMESPACE)
        kube.seed(deployment(OLD, name="api"))  # history moves on...
        kube.settle()
        kube.store.compact()  # ...and is forgotten: `stale` is now too old
        events: queue.Queue[tuple[str, str, object]] = queue.Queue()
        watcher = _Watcher(cluster, "Deployment", TARGETS, stale, time.monotonic() + 20, events)
        watcher.start()
        try:
            kind, event_type, items = events.get(timeout=10)
            assert (kind, event_type) == ("Deployment", "RELIST"), repr(items)
            assert sorted(i["metadata"]["name"] for i in items) == ["api", "web"]  # type: ignore[attr-defined]
            set_image(kube, NEW)  # and it watches on from the new list
            kind, event_type, _obj = events.get(timeout=10)
            assert (kind, event_type) == ("Deployment", "MODIFIED")
        finally:
            watcher.stop()
            watcher.join(timeout=5)
        assert not watcher.is_alive()


@pytest.mark.parametrize(("kind", "count"), [("StatefulSet", 2), ("DaemonSet", 1)])
def test_statefulset_and_daemonset_rollouts(kube: KubeStandin, kind: str, count: int) -> None:
    kube.seed(namespace(NAMESPACE), workload(kind, OLD, "db"))
    kube.wait(lambda: running(kube, OLD, count=count, name="db"), what="old pods")
    set_workload_image(kube, kind, NEW, "db")
    targets = Targets.of(NAMESPACE, [f"{kind.lower()}/db"], None)
    with cluster_for(kube) as cluster:
        checks = wait_for_cluster(cluster, targets, EXPECTED, None, WaitOptions(timeout=20))
    assert [(c.kind, c.name, c.status) for c in checks] == [
        ("health", f"{kind.lower()}/db", Status.PASSED),
        ("images", f"{kind.lower()}/db", Status.PASSED),
    ], checks
    assert (
        checks[1].summary
        == f"{count}/{count} pods of the current template run {NEW[:19]}; no older pods"
    )


def test_statefulset_whose_new_pods_never_run_fails_at_the_deadline(kube: KubeStandin) -> None:
    kube.seed(namespace(NAMESPACE), workload("StatefulSet", OLD, "db"))
    kube.wait(lambda: running(kube, OLD, name="db"), what="old pods")
    kube.knobs.rollout("fail", image=NEW)
    set_workload_image(kube, "StatefulSet", NEW, "db")
    targets = Targets.of(NAMESPACE, ["statefulset/db"], None)
    with cluster_for(kube) as cluster:
        checks = wait_for_cluster(cluster, targets, EXPECTED, None, WaitOptions(timeout=2))
    images = next(c for c in checks if c.kind == "images")
    assert images.status is Status.FAILED
    assert images.summary.startswith("still not satisfied after 2s: 0/2 pods run"), images
    assert all("Pending" in d for d in images.details)
