"""WATCH through `kubernetes.watch.Watch` and the dynamic client."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes import client, watch

from tests.fixtures.kube import KubeStandin
from tests.integration.kube_standin.helpers import configmap, deployment

pytestmark = pytest.mark.timeout(30)


def collect(stream: Any, count: int) -> list[tuple[str, str]]:
    events = []
    for event in stream:
        obj = event["raw_object"]
        events.append((event["type"], obj["metadata"]["name"]))
        if len(events) == count:
            break
    return events


def test_watch_without_version_lists_then_follows(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apps = client.AppsV1Api(kube.api_client())
    apps.create_namespaced_deployment("default", deployment("first"))
    w = watch.Watch()
    stream = w.stream(apps.list_namespaced_deployment, "default", timeout_seconds=5)
    seen: list[tuple[str, str]] = []

    def writer() -> None:
        kube.wait(lambda: seen, timeout=5)
        apps.create_namespaced_deployment("default", deployment("second"))
        apps.patch_namespaced_deployment("second", "default", {"spec": {"replicas": 3}})
        apps.delete_namespaced_deployment("second", "default")

    thread = threading.Thread(target=writer)
    thread.start()
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 4:
            w.stop()
    thread.join()
    assert seen == [
        ("ADDED", "first"),
        ("ADDED", "second"),
        ("MODIFIED", "second"),
        ("DELETED", "second"),
    ]
    assert isinstance(event["object"], client.V1Deployment)


def test_watch_from_resource_version_sends_only_later_events(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_config_map("default", configmap("before"))
    listing = core.list_namespaced_config_map("default")
    core.create_namespaced_config_map("default", configmap("after"))
    core.patch_namespaced_config_map("before", "default", {"data": {"mode": "red"}})
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=listing.metadata.resource_version,
        timeout_seconds=1,
    )
    events = [
        (e["type"], e["object"].metadata.name, e["object"].metadata.resource_version)
        for e in stream
    ]
    assert [(t, n) for t, n, _ in events] == [("ADDED", "after"), ("MODIFIED", "before")]
    assert int(events[1][2]) > int(events[0][2]) > int(listing.metadata.resource_version)


def test_watch_filters_by_namespace_and_labels(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    start = core.list_namespaced_config_map("default").metadata.resource_version
    labelled = configmap("labelled")
    labelled["metadata"]["labels"] = {"app": "web"}
    core.create_namespaced_config_map("default", labelled)
    core.create_namespaced_config_map("default", configmap("unlabelled"))
    core.create_namespaced_config_map(
        "kube-system", configmap("elsewhere", namespace="kube-system")
    )
    core.patch_namespaced_config_map(
        "unlabelled", "default", {"metadata": {"labels": {"app": "web"}}}
    )
    core.patch_namespaced_config_map("labelled", "default", {"metadata": {"labels": {"app": "db"}}})
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        label_selector="app=web",
        resource_version=start,
        timeout_seconds=1,
    )
    events = [(e["type"], e["object"].metadata.name) for e in stream]
    # Entering the selector looks like ADDED, leaving it like DELETED.
    assert events == [("ADDED", "labelled"), ("ADDED", "unlabelled"), ("DELETED", "labelled")]


def test_watch_across_namespaces_with_the_dynamic_client(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    dyn = kube.dynamic_client()
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    client.CoreV1Api(kube.api_client()).create_namespace({"metadata": {"name": "shop"}})
    deployments.create(body=deployment("a"), namespace="default")
    deployments.create(body=deployment("b", namespace="shop"), namespace="shop")
    events = [(e["type"], e["object"].metadata.namespace) for e in deployments.watch(timeout=1)]
    assert events == [("ADDED", "default"), ("ADDED", "shop")]


def test_expired_resource_version_gets_410(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    old = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", configmap())
    kube.store.compact()
    stream = watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=1
    )
    with pytest.raises(client.ApiException) as caught:
        list(stream)
    assert caught.value.status == 410
    assert "too old resource version" in caught.value.reason


def test_bookmarks_when_allowed(kube: KubeStandin) -> None:
    kube.knobs.bookmark_interval = 0.1
    core = client.CoreV1Api(kube.api_client())
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", configmap())
    w = watch.Watch()
    kinds = []
    for event in w.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=2,
        deserialize=False,
    ):
        kinds.append(event["type"])
        if event["type"] == "BOOKMARK":
            assert int(event["object"]["metadata"]["resourceVersion"]) > int(rv)
            w.stop()
    assert kinds == ["ADDED", "BOOKMARK"]
    plain = [
        e["type"]
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
        )
    ]
    assert plain == ["ADDED"]


def test_watch_timeout_ends_the_stream(kube: KubeStandin) -> None:
    import time

    core = client.CoreV1Api(kube.api_client())
    started = time.monotonic()
    assert (
        list(
            watch.Watch().stream(
                core.list_namespaced_pod, "default", resource_version="1000", timeout_seconds=1
            )
        )
        == []
    )
    assert 0.9 < time.monotonic() - started < 5
    assert kube.requests.count("GET", "/api/v1/namespaces/default/pods") == 1
    assert (
        "watch=True" in kube.requests.all()[0].query or "watch=true" in kube.requests.all()[0].query
    )


def test_reset_ends_open_watches(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    done = threading.Event()

    def follow() -> None:
        list(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=20))
        done.set()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    kube.wait(lambda: kube.requests.count("GET", "/api/v1/namespaces/default/pods"), timeout=5)
    kube.reset()
    assert done.wait(timeout=5)
