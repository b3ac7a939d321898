"""Discovery through the real client: version, groups, resource lists, CRDs."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from tests.fixtures.kube import KubeStandin
from tests.integration.kube_standin.helpers import crd

pytestmark = pytest.mark.timeout(30)


def test_version_and_core_group(kube: KubeStandin) -> None:
    api = kube.api_client()
    version = client.VersionApi(api).get_code()
    assert (version.major, version.minor) == ("1", "31")
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    resources = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert resources["namespaces"].namespaced is False
    assert resources["configmaps"].namespaced is True
    assert resources["configmaps"].kind == "ConfigMap"
    assert set(resources["secrets"].verbs) >= {"create", "get", "list", "watch", "patch", "delete"}
    assert "pods/status" in resources


def test_groups_and_group_versions(kube: KubeStandin) -> None:
    api = kube.api_client()
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    for name in (
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "coordination.k8s.io",
        "events.k8s.io",
    ):
        assert name in groups
    assert groups["apps"].preferred_version.group_version == "apps/v1"
    apps = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert {"deployments", "replicasets", "statefulsets", "daemonsets"} <= set(apps)
    assert apps["deployments"].short_names == ["deploy"]
    rbac = {
        r.name: r.namespaced
        for r in client.RbacAuthorizationV1Api(api).get_api_resources().resources
    }
    assert rbac == {
        "roles": True,
        "rolebindings": True,
        "clusterroles": False,
        "clusterrolebindings": False,
    }
    assert (
        client.ApiextensionsV1Api(api).get_api_resources().resources[0].name
        == "customresourcedefinitions"
    )
    lease = client.CoordinationV1Api(api).get_api_resources().resources[0]
    assert (lease.name, lease.kind) == ("leases", "Lease")


def test_unknown_group_version_is_404(kube: KubeStandin) -> None:
    import requests

    response = requests.get(f"{kube.url}/apis/nope.example.com/v1", timeout=5)
    assert response.status_code == 404
    assert response.json()["reason"] == "NotFound"
    assert requests.get(f"{kube.url}/apis/nope.example.com", timeout=5).status_code == 404


def test_dynamic_client_finds_builtin_kinds(kube: KubeStandin) -> None:
    dyn = kube.dynamic_client()
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert (deployments.name, deployments.namespaced) == ("deployments", True)
    namespaces = dyn.resources.get(api_version="v1", kind="Namespace")
    assert namespaces.namespaced is False
    with pytest.raises(ResourceNotFoundError):
        dyn.resources.get(api_version="shop.example.com/v1", kind="Widget")


def test_crd_adds_its_resources_once_established(kube: KubeStandin) -> None:
    api = kube.api_client()
    created = client.ApiextensionsV1Api(api).create_custom_resource_definition(crd())
    conditions = {c.type: c.status for c in created.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    dyn = kube.dynamic_client()
    widgets = dyn.resources.get(api_version="shop.example.com/v1", kind="Widget")
    assert (widgets.name, widgets.namespaced) == ("widgets", True)
    widget = widgets.create(
        body={
            "apiVersion": "shop.example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 3},
        },
        namespace="default",
    )
    assert widget.metadata.generation == 1
    assert widget.spec.size == 3
    listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "shop.example.com", "v1", "default", "widgets"
    )
    assert (listed["kind"], listed["items"][0]["kind"]) == ("WidgetList", "Widget")
    group = client.ApisApi(api).get_api_versions().groups
    assert "shop.example.com" in {g.name for g in group}


def test_crd_not_served_until_established(kube: KubeStandin) -> None:
    import requests

    kube.knobs.crd_establish_delay = 0.3
    client.ApiextensionsV1Api(kube.api_client()).create_custom_resource_definition(crd())
    assert requests.get(f"{kube.url}/apis/shop.example.com/v1", timeout=5).status_code == 404
    kube.wait(
        lambda: requests.get(f"{kube.url}/apis/shop.example.com/v1", timeout=5).status_code == 200,
        timeout=5,
    )
    served = kube.object(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.shop.example.com"
    )
    assert served is not None
    assert {c["type"] for c in served["status"]["conditions"]} == {"NamesAccepted", "Established"}


def test_deleting_a_crd_removes_its_resources_and_objects(kube: KubeStandin) -> None:
    import requests

    api = kube.api_client()
    client.ApiextensionsV1Api(api).create_custom_resource_definition(crd())
    objects = client.CustomObjectsApi(api)
    objects.create_namespaced_custom_object(
        "shop.example.com",
        "v1",
        "default",
        "widgets",
        {"apiVersion": "shop.example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}},
    )
    client.ApiextensionsV1Api(api).delete_custom_resource_definition("widgets.shop.example.com")
    assert requests.get(f"{kube.url}/apis/shop.example.com/v1", timeout=5).status_code == 404
    assert kube.store.objects.get(("shop.example.com", "widgets"), {}) == {}


def test_invalid_crd_is_refused(kube: KubeStandin) -> None:
    body = crd()
    body["metadata"]["name"] = "wrong.name"
    body["spec"]["versions"][0]["storage"] = False
    with pytest.raises(client.ApiException) as caught:
        client.ApiextensionsV1Api(kube.api_client()).create_custom_resource_definition(body)
    assert caught.value.status == 422
    import json

    status = json.loads(caught.value.body)
    fields = {c["field"] for c in status["details"]["causes"]}
    assert fields == {"metadata.name", "spec.versions"}
