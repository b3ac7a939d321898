"""GET, LIST, CREATE, PUT, DELETE and their errors through the typed clients."""

from __future__ import annotations

import json

import pytest
import requests
from kubernetes import client

from tests.fixtures.kube import KubeStandin
from tests.integration.kube_standin.helpers import configmap, deployment

pytestmark = pytest.mark.timeout(30)


def status_of(exc: client.ApiException) -> dict:  # type: ignore[type-arg]
    return json.loads(exc.body)  # type: ignore[no-any-return]


def test_create_sets_identity_and_versions(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    created = core.create_namespaced_config_map("default", configmap())
    assert created.metadata.uid and created.metadata.creation_timestamp is not None
    assert int(created.metadata.resource_version) > 0
    assert created.metadata.generation is None  # ConfigMaps have no generation
    fetched = core.read_namespaced_config_map("settings", "default")
    assert fetched.metadata.resource_version == created.metadata.resource_version
    assert fetched.data == {"mode": "blue"}
    manager = created.metadata.managed_fields[0]
    assert (manager.manager, manager.operation) == ("OpenAPI-Generator", "Update")
    assert manager.fields_v1 == {"f:data": {"f:mode": {}}}


def test_not_found_and_already_exists(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_config_map("nope", "default")
    status = status_of(missing.value)
    assert (missing.value.status, status["reason"], status["message"]) == (
        404,
        "NotFound",
        'configmaps "nope" not found',
    )
    assert status["details"] == {"name": "nope", "kind": "configmaps"}
    core.create_namespaced_config_map("default", configmap())
    with pytest.raises(client.ApiException) as exists:
        core.create_namespaced_config_map("default", configmap())
    assert (exists.value.status, status_of(exists.value)["reason"]) == (409, "AlreadyExists")
    apps = client.AppsV1Api(kube.api_client())
    with pytest.raises(client.ApiException) as missing_deploy:
        apps.read_namespaced_deployment("nope", "default")
    assert status_of(missing_deploy.value)["message"] == 'deployments.apps "nope" not found'
    assert status_of(missing_deploy.value)["details"]["group"] == "apps"


def test_namespace_must_exist(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_config_map("ghost", configmap(namespace="ghost"))
    assert caught.value.status == 404
    assert status_of(caught.value)["message"] == 'namespaces "ghost" not found'
    core.create_namespace({"metadata": {"name": "ghost"}})
    assert (
        core.create_namespaced_config_map("ghost", configmap(namespace="ghost")).metadata.namespace
        == "ghost"
    )
    namespace = core.read_namespace("ghost")
    assert namespace.status.phase == "Active"
    assert namespace.metadata.labels == {"kubernetes.io/metadata.name": "ghost"}


def test_cluster_scoped_objects(kube: KubeStandin) -> None:
    rbac = client.RbacAuthorizationV1Api(kube.api_client())
    role = rbac.create_cluster_role(
        {
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        }
    )
    assert role.metadata.namespace is None
    assert [r.metadata.name for r in rbac.list_cluster_role().items] == ["reader"]
    response = requests.get(
        f"{kube.url}/apis/rbac.authorization.k8s.io/v1/namespaces/default/clusterroles/reader",
        timeout=5,
    )
    assert response.status_code == 404


def test_list_label_selectors_and_resource_version(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    for name, tier, env in (
        ("a", "web", "prod"),
        ("b", "web", "dev"),
        ("c", "db", "prod"),
        ("d", None, "prod"),
    ):
        body = configmap(name)
        body["metadata"]["labels"] = {"env": env, **({"tier": tier} if tier else {})}
        last = core.create_namespaced_config_map("default", body)

    def names(selector: str) -> list[str]:
        return [
            c.metadata.name
            for c in core.list_namespaced_config_map("default", label_selector=selector).items
        ]

    assert names("tier=web") == ["a", "b"]
    assert names("tier==web,env=prod") == ["a"]
    assert names("tier!=web") == ["c", "d"]
    assert names("tier in (web, db),env notin (dev)") == ["a", "c"]
    assert names("tier") == ["a", "b", "c"]
    assert names("!tier") == ["d"]
    listing = core.list_namespaced_config_map("default")
    assert listing.metadata.resource_version == last.metadata.resource_version
    everywhere = core.list_config_map_for_all_namespaces()
    assert len(everywhere.items) == 4
    with pytest.raises(client.ApiException) as bad:
        core.list_namespaced_config_map("default", label_selector="tier in (")
    assert bad.value.status == 400


def test_field_selectors_and_paging(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    for name in ("a", "b", "c"):
        core.create_namespaced_config_map("default", configmap(name))
    assert [
        c.metadata.name
        for c in core.list_namespaced_config_map("default", field_selector="metadata.name=b").items
    ] == ["b"]
    assert (
        len(core.list_namespaced_config_map("default", field_selector="metadata.name!=b").items)
        == 2
    )
    with pytest.raises(client.ApiException) as bad:
        core.list_namespaced_config_map("default", field_selector="data.mode=blue")
    assert bad.value.status == 400
    first = core.list_namespaced_config_map("default", limit=2)
    assert [c.metadata.name for c in first.items] == ["a", "b"]
    assert first.metadata.remaining_item_count == 1
    second = core.list_namespaced_config_map("default", limit=2, _continue=first.metadata._continue)
    assert [c.metadata.name for c in second.items] == ["c"]
    assert second.metadata._continue is None


def test_put_bumps_resource_version_and_refuses_stale_ones(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    created = core.create_namespaced_config_map("default", configmap())
    created.data = {"mode": "green"}
    updated = core.replace_namespaced_config_map("settings", "default", created)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    created.data = {"mode": "red"}  # still carries the first resourceVersion
    with pytest.raises(client.ApiException) as stale:
        core.replace_namespaced_config_map("settings", "default", created)
    status = status_of(stale.value)
    assert (stale.value.status, status["reason"]) == (409, "Conflict")
    assert "the object has been modified" in status["message"]
    assert core.read_namespaced_config_map("settings", "default").data == {"mode": "green"}


def test_noop_put_keeps_resource_version(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    created = core.create_namespaced_config_map("default", configmap())
    same = core.replace_namespaced_config_map("settings", "default", created)
    assert same.metadata.resource_version == created.metadata.resource_version


def test_generation_moves_only_with_spec(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apps = client.AppsV1Api(kube.api_client())
    created = apps.create_namespaced_deployment("default", deployment())
    assert created.metadata.generation == 1
    created.metadata.labels["team"] = "shop"
    relabelled = apps.replace_namespaced_deployment("web", "default", created)
    assert relabelled.metadata.generation == 1
    assert relabelled.metadata.resource_version != created.metadata.resource_version
    relabelled.spec.replicas = 5
    scaled = apps.replace_namespaced_deployment("web", "default", relabelled)
    assert scaled.metadata.generation == 2
    status_only = apps.read_namespaced_deployment_status("web", "default")
    status_only.status = client.V1DeploymentStatus(replicas=5, observed_generation=2)
    written = apps.replace_namespaced_deployment_status("web", "default", status_only)
    assert written.metadata.generation == 2
    assert written.status.replicas == 5
    scaled = apps.read_namespaced_deployment("web", "default")
    scaled.status = client.V1DeploymentStatus(replicas=99)
    scaled.spec.replicas = 6
    again = apps.replace_namespaced_deployment("web", "default", scaled)
    assert again.status.replicas == 5  # main-resource writes keep the status
    assert again.metadata.generation == 3


def test_defaults_are_filled_in(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    api = kube.api_client()
    body = deployment()
    del body["spec"]["replicas"]
    created = client.AppsV1Api(api).create_namespaced_deployment("default", body)
    assert created.spec.replicas == 1
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    assert created.spec.progress_deadline_seconds == 600
    container = created.spec.template.spec.containers[0]
    assert (container.image_pull_policy, container.ports[0].protocol) == ("IfNotPresent", "TCP")
    service = client.CoreV1Api(api).create_namespaced_service(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    assert service.spec.type == "ClusterIP" and service.spec.cluster_ip.startswith("10.96.")
    assert (service.spec.ports[0].protocol, service.spec.ports[0].target_port) == ("TCP", 80)
    secret = client.CoreV1Api(api).create_namespaced_secret(
        "default", {"metadata": {"name": "s"}, "stringData": {"token": "abc"}}
    )
    assert (secret.type, secret.data, secret.string_data) == ("Opaque", {"token": "YWJj"}, None)


def test_invalid_objects_get_422_with_causes(kube: KubeStandin) -> None:
    apps = client.AppsV1Api(kube.api_client())
    body = deployment()
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    body["spec"]["template"]["spec"]["containers"][0].pop("image")
    with pytest.raises(client.ApiException) as caught:
        apps.create_namespaced_deployment("default", body)
    status = status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (422, "Invalid")
    assert status["message"].startswith('Deployment.apps "web" is invalid: ')
    assert {c["field"] for c in status["details"]["causes"]} == {
        "spec.template.metadata.labels",
        "spec.template.spec.containers[0].image",
    }
    core = client.CoreV1Api(kube.api_client())
    with pytest.raises(client.ApiException) as bad_name:
        core.create_namespaced_config_map("default", configmap("Not_Valid"))
    assert status_of(bad_name.value)["details"]["causes"][0]["field"] == "metadata.name"


def test_immutable_fields(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apps = client.AppsV1Api(kube.api_client())
    created = apps.create_namespaced_deployment("default", deployment())
    created.spec.selector.match_labels = {"app": "web", "extra": "x"}
    created.spec.template.metadata.labels["extra"] = "x"
    with pytest.raises(client.ApiException) as caught:
        apps.replace_namespaced_deployment("web", "default", created)
    assert caught.value.status == 422
    assert "field is immutable" in status_of(caught.value)["message"]


def test_mismatched_bodies_are_bad_requests(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    created = core.create_namespaced_config_map("default", configmap())
    with pytest.raises(client.ApiException) as other_name:
        core.replace_namespaced_config_map("other", "default", created)
    assert other_name.value.status == 400
    assert "does not match the name on the URL" in status_of(other_name.value)["message"]
    with pytest.raises(client.ApiException) as other_ns:
        core.create_namespaced_config_map("kube-system", configmap())
    assert other_ns.value.status == 400
    response = requests.post(
        f"{kube.url}/api/v1/namespaces/default/configmaps",
        data=json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    response = requests.post(
        f"{kube.url}/api/v1/namespaces/default/configmaps",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert (response.status_code, response.json()["reason"]) == (400, "BadRequest")
    assert (
        requests.put(
            f"{kube.url}/api/v1/namespaces/default/configmaps", data=b"{}", timeout=5
        ).status_code
        == 405
    )


def test_delete_returns_status_and_object_kinds(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    created = core.create_namespaced_config_map("default", configmap())
    deleted = core.delete_namespaced_config_map("settings", "default")  # this client answers a dict
    assert deleted["kind"] == "Status"
    assert (deleted["status"], deleted["details"]["name"], deleted["details"]["uid"]) == (
        "Success",
        "settings",
        created.metadata.uid,
    )
    with pytest.raises(client.ApiException) as again:
        core.delete_namespaced_config_map("settings", "default")
    assert again.value.status == 404
    core.create_namespace({"metadata": {"name": "temp"}})
    core.create_namespaced_config_map("temp", configmap(namespace="temp"))
    gone = core.delete_namespace("temp")
    assert (gone["kind"], gone["status"]["phase"]) == ("Namespace", "Terminating")
    assert core.list_config_map_for_all_namespaces().items == []


def test_delete_preconditions(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_config_map("default", configmap())
    with pytest.raises(client.ApiException) as caught:
        core.delete_namespaced_config_map(
            "settings",
            "default",
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="other")),
        )
    assert caught.value.status == 409
    assert "Precondition failed" in status_of(caught.value)["message"]


def test_finalizers_hold_deletion(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    body = configmap()
    body["metadata"]["finalizers"] = ["shop.example.com/cleanup"]
    core.create_namespaced_config_map("default", body)
    marked = core.delete_namespaced_config_map("settings", "default")
    assert marked["kind"] == "ConfigMap" and marked["metadata"]["deletionTimestamp"]
    held = core.read_namespaced_config_map("settings", "default")
    assert held.metadata.deletion_timestamp is not None
    held.metadata.finalizers = []
    core.replace_namespaced_config_map("settings", "default", held)
    with pytest.raises(client.ApiException) as gone:
        core.read_namespaced_config_map("settings", "default")
    assert gone.value.status == 404


def test_owner_references_are_garbage_collected(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    owner = core.create_namespaced_config_map("default", configmap("owner"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for name in ("child", "orphan-me"):
        body = configmap(name)
        body["metadata"]["ownerReferences"] = [ref]
        core.create_namespaced_config_map("default", body)
    core.delete_namespaced_config_map("owner", "default")
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == []
    owner = core.create_namespaced_config_map("default", configmap("owner"))
    body = configmap("child")
    body["metadata"]["ownerReferences"] = [{**ref, "uid": owner.metadata.uid}]
    core.create_namespaced_config_map("default", body)
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Orphan")
    kept = core.read_namespaced_config_map("child", "default")
    assert kept.metadata.owner_references is None


def test_delete_collection(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    for name, env in (("a", "dev"), ("b", "dev"), ("c", "prod")):
        body = configmap(name)
        body["metadata"]["labels"] = {"env": env}
        core.create_namespaced_config_map("default", body)
    core.delete_collection_namespaced_config_map("default", label_selector="env=dev")
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["c"]


def test_dry_run_create_and_update_store_nothing(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    preview = core.create_namespaced_config_map("default", configmap(), dry_run="All")
    assert preview.metadata.uid
    with pytest.raises(client.ApiException):
        core.read_namespaced_config_map("settings", "default")
    created = core.create_namespaced_config_map("default", configmap())
    created.data = {"mode": "green"}
    preview = core.replace_namespaced_config_map("settings", "default", created, dry_run="All")
    assert preview.data == {"mode": "green"}
    assert core.read_namespaced_config_map("settings", "default").data == {"mode": "blue"}
    core.delete_namespaced_config_map("settings", "default", dry_run="All")
    assert core.read_namespaced_config_map("settings", "default")
    with pytest.raises(client.ApiException) as bad:
        core.delete_namespaced_config_map("settings", "default", dry_run="Yes")
    assert bad.value.status == 400


def test_non_string_data_is_a_decode_error(kube: KubeStandin) -> None:
    # The typed client refuses such bodies itself; send them raw.
    url = f"{kube.url}/api/v1/namespaces/default/configmaps"
    for body in (
        {"metadata": {"name": "c"}, "data": {"size": 3}},
        {"metadata": {"name": "c", "labels": {"on": True}}},
    ):
        response = requests.post(url, json=body, timeout=5)
        assert (response.status_code, response.json()["reason"]) == (400, "BadRequest")


def test_dependent_with_two_owners_outlives_one(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    owners = [
        core.create_namespaced_config_map("default", configmap(name)) for name in ("one", "two")
    ]
    body = configmap("shared")
    body["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": o.metadata.name, "uid": o.metadata.uid}
        for o in owners
    ]
    core.create_namespaced_config_map("default", body)
    core.delete_namespaced_config_map("one", "default")
    left = core.read_namespaced_config_map("shared", "default")
    assert [r.name for r in left.metadata.owner_references] == ["two"]
    core.delete_namespaced_config_map("two", "default")
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == []


def test_collected_dependent_with_finalizer_waits_for_it(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    owner = core.create_namespaced_config_map("default", configmap("owner"))
    body = configmap("held")
    body["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    ]
    body["metadata"]["finalizers"] = ["shop.example.com/keep"]
    core.create_namespaced_config_map("default", body)
    core.delete_namespaced_config_map("owner", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == []
