"""The controller loop: rollouts, pods with image digests, status, knobs."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.kube import KubeStandin
from tests.integration.kube_standin.helpers import APPLY, DIGEST_A, DIGEST_B, deployment

pytestmark = pytest.mark.timeout(60)

IMAGE_A = f"registry.example/shop/web:1.0@{DIGEST_A}"
IMAGE_B = f"registry.example/shop/web:1.1@{DIGEST_B}"


def conditions(obj: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in (obj.status and obj.status.conditions) or []}


def apply(kube: KubeStandin, body: dict[str, Any]) -> Any:
    apps = client.AppsV1Api(kube.api_client())
    return apps.patch_namespaced_deployment(
        body["metadata"]["name"],
        body["metadata"]["namespace"],
        body,
        field_manager="shipstep",
        _content_type=APPLY,
    )


def test_deployment_rolls_out_pods_with_digests(kube: KubeStandin) -> None:
    apply(kube, deployment(image=IMAGE_A, replicas=3))
    kube.settle()
    apps, core = client.AppsV1Api(kube.api_client()), client.CoreV1Api(kube.api_client())
    d = apps.read_namespaced_deployment("web", "default")
    assert d.status.observed_generation == d.metadata.generation == 1
    assert (
        d.status.replicas,
        d.status.updated_replicas,
        d.status.ready_replicas,
        d.status.available_replicas,
    ) == (3, 3, 3, 3)
    assert conditions(d) == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    rs = apps.list_namespaced_replica_set("default").items
    assert len(rs) == 1 and rs[0].metadata.owner_references[0].uid == d.metadata.uid
    pods = core.list_namespaced_pod("default", label_selector="app=web").items
    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Running"
        assert (
            pod.metadata.labels["pod-template-hash"] == rs[0].metadata.labels["pod-template-hash"]
        )
        status = pod.status.container_statuses[0]
        assert (status.image, status.image_id, status.ready) == (
            IMAGE_A,
            f"registry.example/shop/web@{DIGEST_A}",
            True,
        )


def test_new_template_replaces_pods_and_bumps_revision(kube: KubeStandin) -> None:
    apply(kube, deployment(image=IMAGE_A))
    kube.settle()
    apply(kube, deployment(image=IMAGE_B))
    kube.settle()
    apps, core = client.AppsV1Api(kube.api_client()), client.CoreV1Api(kube.api_client())
    d = apps.read_namespaced_deployment("web", "default")
    assert d.status.observed_generation == 2
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert conditions(d)["Progressing"] == ("True", "NewReplicaSetAvailable")
    ids = {
        p.status.container_statuses[0].image_id for p in core.list_namespaced_pod("default").items
    }
    assert ids == {f"registry.example/shop/web@{DIGEST_B}"}
    replica_sets = {
        rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs.spec.replicas
        for rs in apps.list_namespaced_replica_set("default").items
    }
    assert replica_sets == {"1": 0, "2": 2}


def test_stalled_rollout_keeps_old_pods_and_stays_in_progress(kube: KubeStandin) -> None:
    apply(kube, deployment(image=IMAGE_A))
    kube.settle()
    kube.knobs.rollout("stall", image=DIGEST_B)
    apply(kube, deployment(image=IMAGE_B))
    kube.settle()
    apps, core = client.AppsV1Api(kube.api_client()), client.CoreV1Api(kube.api_client())
    d = apps.read_namespaced_deployment("web", "default")
    assert (d.status.updated_replicas, d.status.ready_replicas, d.status.replicas) == (2, 2, 4)
    assert conditions(d) == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "ReplicaSetUpdated"),
    }
    waiting = [p for p in core.list_namespaced_pod("default").items if p.status.phase == "Pending"]
    assert len(waiting) == 2
    assert waiting[0].status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    assert waiting[0].status.container_statuses[0].image_id == ""


def test_failed_rollout_reports_progress_deadline_exceeded(kube: KubeStandin) -> None:
    kube.knobs.rollout("fail", image=DIGEST_B, deadline=0.2)
    apply(kube, deployment(image=IMAGE_B))
    apps = client.AppsV1Api(kube.api_client())
    d = kube.wait(
        lambda: (
            (d := apps.read_namespaced_deployment("web", "default"))
            and conditions(d).get("Progressing", ("", ""))[1] == "ProgressDeadlineExceeded"
            and d
        ),
        timeout=10,
    )
    assert conditions(d)["Progressing"][0] == "False"
    assert conditions(d)["Available"] == ("False", "MinimumReplicasUnavailable")
    assert d.status.unavailable_replicas == 2
    pod = client.CoreV1Api(kube.api_client()).list_namespaced_pod("default").items[0]
    assert pod.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"


def test_stall_reaches_the_deadline_scaled(kube: KubeStandin) -> None:
    kube.knobs.rollout("stall", workload="web")
    kube.knobs.deadline_scale = 0.001  # 600 s -> 0.6 s
    apply(kube, deployment(image=IMAGE_A))
    apps = client.AppsV1Api(kube.api_client())
    kube.wait(
        lambda: (
            conditions(apps.read_namespaced_deployment("web", "default")).get(
                "Progressing", ("", "")
            )[1]
            == "ProgressDeadlineExceeded"
        ),
        timeout=10,
    )


def test_crashing_pods(kube: KubeStandin) -> None:
    kube.knobs.rollout("crash", workload="web")
    apply(kube, deployment(image=IMAGE_A, replicas=1))
    kube.settle()
    pod = client.CoreV1Api(kube.api_client()).list_namespaced_pod("default").items[0]
    status = pod.status.container_statuses[0]
    assert pod.status.phase == "Running"
    assert (status.ready, status.state.waiting.reason, status.restart_count) == (
        False,
        "CrashLoopBackOff",
        1,
    )
    assert status.image_id.endswith(DIGEST_A)


def test_keep_old_pods(kube: KubeStandin) -> None:
    kube.knobs.keep_old_pods = True
    apply(kube, deployment(image=IMAGE_A))
    kube.settle()
    apply(kube, deployment(image=IMAGE_B))
    kube.settle()
    d = client.AppsV1Api(kube.api_client()).read_namespaced_deployment("web", "default")
    assert (d.status.replicas, d.status.updated_replicas) == (4, 2)
    assert conditions(d)["Progressing"] == ("True", "ReplicaSetUpdated")
    ids = sorted(
        p.status.container_statuses[0].image_id[-5:]
        for p in client.CoreV1Api(kube.api_client()).list_namespaced_pod("default").items
    )
    assert ids == ["aaaaa", "aaaaa", "bbbbb", "bbbbb"]


def test_pod_start_delay_and_tag_digests(kube: KubeStandin) -> None:
    kube.knobs.pod_start_delay = 0.3
    kube.knobs.image_digests["nginx:1.27"] = DIGEST_B
    apply(kube, deployment(image="nginx:1.27", replicas=1))
    core = client.CoreV1Api(kube.api_client())
    pod = kube.wait(lambda: core.list_namespaced_pod("default").items, timeout=5)[0]
    assert pod.status.phase == "Pending"
    kube.settle()
    kube.wait(
        lambda: core.list_namespaced_pod("default").items[0].status.phase == "Running", timeout=5
    )
    running = core.list_namespaced_pod("default").items[0]
    assert running.status.container_statuses[0].image_id == f"docker.io/library/nginx@{DIGEST_B}"


def test_scaling_and_deleting_a_deployment(kube: KubeStandin) -> None:
    apply(kube, deployment(image=IMAGE_A, replicas=3))
    kube.settle()
    apps, core = client.AppsV1Api(kube.api_client()), client.CoreV1Api(kube.api_client())
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 1}})
    kube.settle()
    assert len(core.list_namespaced_pod("default").items) == 1
    apps.delete_namespaced_deployment("web", "default")
    kube.settle()
    assert apps.list_namespaced_replica_set("default").items == []
    assert core.list_namespaced_pod("default").items == []


def test_paused_deployment(kube: KubeStandin) -> None:
    apply(kube, deployment(image=IMAGE_A, paused=True))
    kube.settle()
    d = client.AppsV1Api(kube.api_client()).read_namespaced_deployment("web", "default")
    assert conditions(d)["Progressing"] == ("Unknown", "DeploymentPaused")
    assert client.AppsV1Api(kube.api_client()).list_namespaced_replica_set("default").items == []


def test_recreate_strategy(kube: KubeStandin) -> None:
    apply(kube, deployment(image=IMAGE_A, strategy={"type": "Recreate"}))
    kube.settle()
    apply(kube, deployment(image=IMAGE_B, strategy={"type": "Recreate"}))
    kube.settle()
    ids = {
        p.status.container_statuses[0].image_id
        for p in client.CoreV1Api(kube.api_client()).list_namespaced_pod("default").items
    }
    assert ids == {f"registry.example/shop/web@{DIGEST_B}"}


def workload(kind: str, name: str, image: str, **spec: Any) -> dict[str, Any]:
    body = deployment(name=name, image=image)
    body["kind"] = kind
    body["spec"].pop("replicas")
    body["spec"].update(spec)
    return body


def test_statefulset_status(kube: KubeStandin) -> None:
    apps = client.AppsV1Api(kube.api_client())
    apps.create_namespaced_stateful_set(
        "default", workload("StatefulSet", "db", IMAGE_A, replicas=2, serviceName="db")
    )
    kube.settle()
    sts = apps.read_namespaced_stateful_set("db", "default")
    assert (sts.status.replicas, sts.status.ready_replicas, sts.status.updated_replicas) == (
        2,
        2,
        2,
    )
    assert sts.status.current_revision == sts.status.update_revision
    assert sts.status.observed_generation == 1
    names = sorted(
        p.metadata.name
        for p in client.CoreV1Api(kube.api_client()).list_namespaced_pod("default").items
    )
    assert names == ["db-0", "db-1"]
    apps.patch_namespaced_stateful_set(
        "db",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": IMAGE_B}]}}}},
    )
    kube.settle()
    sts = apps.read_namespaced_stateful_set("db", "default")
    assert (
        sts.status.updated_replicas == 2
        and sts.status.current_revision == sts.status.update_revision
    )
    ids = {
        p.status.container_statuses[0].image_id[-5:]
        for p in client.CoreV1Api(kube.api_client()).list_namespaced_pod("default").items
    }
    assert ids == {"bbbbb"}


def test_daemonset_status(kube: KubeStandin) -> None:
    kube.knobs.nodes = ("node-a", "node-b")
    apps = client.AppsV1Api(kube.api_client())
    apps.create_namespaced_daemon_set("default", workload("DaemonSet", "agent", IMAGE_A))
    kube.settle()
    ds = apps.read_namespaced_daemon_set("agent", "default")
    assert (
        ds.status.desired_number_scheduled,
        ds.status.number_ready,
        ds.status.updated_number_scheduled,
    ) == (2, 2, 2)
    nodes = sorted(
        p.spec.node_name
        for p in client.CoreV1Api(kube.api_client()).list_namespaced_pod("default").items
    )
    assert nodes == ["node-a", "node-b"]


def test_job_completes_or_fails(kube: KubeStandin) -> None:
    batch = client.BatchV1Api(kube.api_client())
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {
            "backoffLimit": 1,
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": IMAGE_A}]}
            },
        },
    }
    batch.create_namespaced_job("default", job)
    kube.settle()
    done = batch.read_namespaced_job("migrate", "default")
    assert done.status.succeeded == 1
    assert conditions(done)["Complete"] == ("True", "CompletionsReached")
    kube.knobs.rollout("fail", workload="broken")
    job["metadata"]["name"] = "broken"
    batch.create_namespaced_job("default", job)
    kube.settle()
    failed = batch.read_namespaced_job("broken", "default")
    assert failed.status.failed == 2
    assert conditions(failed)["Failed"] == ("True", "BackoffLimitExceeded")


def test_controller_can_be_frozen(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apply(kube, deployment(image=IMAGE_A))
    kube.settle()
    d = client.AppsV1Api(kube.api_client()).read_namespaced_deployment("web", "default")
    assert d.status is None or d.status.replicas is None
    assert kube.controller.errors == []


def test_scale_subresource(kube: KubeStandin) -> None:
    apps = client.AppsV1Api(kube.api_client())
    apply(kube, deployment(image=IMAGE_A, replicas=2))
    kube.settle()
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (2, 2, "app=web")
    scaled = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})
    assert scaled.spec.replicas == 4
    kube.settle()
    assert len(client.CoreV1Api(kube.api_client()).list_namespaced_pod("default").items) == 4
    d = apps.read_namespaced_deployment("web", "default")
    assert (d.spec.replicas, d.metadata.generation) == (4, 2)
    scale = apps.read_namespaced_deployment_scale("web", "default")
    scale.spec.replicas = -1
    with pytest.raises(client.ApiException) as caught:
        apps.replace_namespaced_deployment_scale("web", "default", scale)
    assert caught.value.status == 422
    scale.spec.replicas = 1
    scale.metadata.resource_version = "1"
    with pytest.raises(client.ApiException) as stale:
        apps.replace_namespaced_deployment_scale("web", "default", scale)
    assert stale.value.status == 409


def test_bare_pods_run(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "debug"},
            "spec": {"containers": [{"name": "sh", "image": "busybox"}]},
        },
    )
    kube.settle()
    pod = core.read_namespaced_pod("debug", "default")
    assert pod.status.phase == "Running"
    assert pod.status.container_statuses[0].image_id.startswith("docker.io/library/busybox@sha256:")
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_pod(
            "default", {"metadata": {"name": "empty"}, "spec": {"containers": []}}
        )
    assert caught.value.status == 422


def test_claims_bind_and_load_balancers_get_an_address(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_persistent_volume_claim(
        "default",
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "5Gi"}},
            },
        },
    )
    core.create_namespaced_service(
        "default",
        {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    )
    core.create_namespaced_service(
        "default", {"metadata": {"name": "plain"}, "spec": {"ports": [{"port": 80}]}}
    )
    kube.settle()
    claim = core.read_namespaced_persistent_volume_claim("data", "default")
    assert (claim.status.phase, claim.status.capacity) == ("Bound", {"storage": "5Gi"})
    assert (
        core.read_namespaced_service("lb", "default")
        .status.load_balancer.ingress[0]
        .ip.startswith("192.0.")
    )
    assert not core.read_namespaced_service("plain", "default").status
