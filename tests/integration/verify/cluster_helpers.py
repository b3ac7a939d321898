"""Objects and helpers the verify tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from shipstep.cluster.access import ClusterOptions, connect
from shipstep.cluster.client import Cluster
from tests.kube_standin.standin import KubeStandin

REPO = "registry.example/shop/web"
OLD = "sha256:" + "0" * 63 + "1"
NEW = "sha256:" + "0" * 63 + "2"
NAMESPACE = "shop"


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def deployment(digest: str, name: str = "web", replicas: int = 2, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app": name, "tier": "front"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": f"{REPO}:1.4.2@{digest}"}]},
            },
            **spec,
        },
    }


def set_image(kube: KubeStandin, digest: str, name: str = "web") -> None:
    """Roll the Deployment to another digest through the real client, as the agent would."""
    apps = k8s.AppsV1Api(kube.api_client())
    body = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "image": f"{REPO}:1.4.3@{digest}"}]}
            }
        }
    }
    apps.patch_namespaced_deployment(name, NAMESPACE, body)


def running(kube: KubeStandin, digest: str, count: int = 2, name: str = "web") -> bool:
    pods = kube.objects("v1", "Pod", NAMESPACE, labels=f"app={name}")
    ids = [
        cs.get("imageID", "")
        for p in pods
        for cs in (p.get("status") or {}).get("containerStatuses") or []
    ]
    return len(ids) == count and all(i.endswith(digest) for i in ids)


def cluster_for(kube: KubeStandin) -> Cluster:
    return connect(ClusterOptions(kubeconfig=Path(kube.kubeconfig)))


def workload(kind: str, digest: str, name: str, replicas: int = 2) -> dict[str, Any]:
    """A StatefulSet or DaemonSet running REPO at `digest`."""
    obj = deployment(digest, name=name, replicas=replicas)
    obj["kind"] = kind
    if kind == "DaemonSet":
        del obj["spec"]["replicas"]
    else:
        obj["spec"]["serviceName"] = name
    return obj


def set_workload_image(kube: KubeStandin, kind: str, digest: str, name: str) -> None:
    apps = k8s.AppsV1Api(kube.api_client())
    body = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "image": f"{REPO}:1.4.3@{digest}"}]}
            }
        }
    }
    patch = (
        apps.patch_namespaced_stateful_set
        if kind == "StatefulSet"
        else apps.patch_namespaced_daemon_set
    )
    patch(name, NAMESPACE, body)
