"""Server-side apply, managedFields, and the other patch types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.kube import KubeStandin
from tests.integration.kube_standin.helpers import APPLY, DIGEST_B, configmap, crd, deployment

pytestmark = pytest.mark.timeout(30)


def managers(obj: Any) -> dict[tuple[str, str], dict[str, Any]]:
    entries = (
        obj["metadata"]["managedFields"]
        if isinstance(obj, dict)
        else [e.to_dict() for e in obj.metadata.managed_fields]
    )
    return {(e["manager"], e["operation"]): e.get("fieldsV1", e.get("fields_v1")) for e in entries}


def test_apply_creates_then_updates_then_is_unchanged(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apps = client.AppsV1Api(kube.api_client())
    created = apps.patch_namespaced_deployment(
        "web", "default", deployment(), field_manager="shipstep", _content_type=APPLY
    )
    assert created.metadata.generation == 1
    fields = managers(created)[("shipstep", "Apply")]
    assert fields["f:spec"]["f:replicas"] == {}
    containers = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert containers['k:{"name":"app"}']["."] == {}
    assert containers['k:{"name":"app"}']["f:ports"][
        'k:{"containerPort":8080,"protocol":"TCP"}'
    ] == {".": {}, "f:containerPort": {}}
    again = apps.patch_namespaced_deployment(
        "web", "default", deployment(), field_manager="shipstep", _content_type=APPLY
    )
    assert again.metadata.resource_version == created.metadata.resource_version
    changed = apps.patch_namespaced_deployment(
        "web", "default", deployment(replicas=3), field_manager="shipstep", _content_type=APPLY
    )
    assert changed.metadata.generation == 2
    assert changed.spec.replicas == 3
    assert (
        kube.requests.count("PATCH", "/apis/apps/v1/namespaces/default/deployments/web", APPLY) == 3
    )


def test_apply_requires_a_field_manager(kube: KubeStandin) -> None:
    apps = client.AppsV1Api(kube.api_client())
    with pytest.raises(client.ApiException) as caught:
        apps.patch_namespaced_deployment("web", "default", deployment(), _content_type=APPLY)
    assert caught.value.status == 400
    assert "fieldManager" in json.loads(caught.value.body)["message"]


def test_conflicting_managers_get_409_unless_forced(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apps = client.AppsV1Api(kube.api_client())
    apps.patch_namespaced_deployment(
        "web", "default", deployment(), field_manager="shipstep", _content_type=APPLY
    )
    other = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 7},
    }
    with pytest.raises(client.ApiException) as caught:
        apps.patch_namespaced_deployment(
            "web", "default", other, field_manager="hpa-ish", _content_type=APPLY
        )
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (409, "Conflict")
    assert (
        status["message"]
        == 'Apply failed with 1 conflict: conflict with "shipstep" using apps/v1: .spec.replicas'
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "shipstep" using apps/v1',
            "field": ".spec.replicas",
        }
    ]
    forced = apps.patch_namespaced_deployment(
        "web", "default", other, field_manager="hpa-ish", force=True, _content_type=APPLY
    )
    assert forced.spec.replicas == 7
    owners = managers(forced)
    assert "f:replicas" not in owners[("shipstep", "Apply")]["f:spec"]
    assert owners[("hpa-ish", "Apply")] == {"f:spec": {"f:replicas": {}}}


def test_same_value_is_shared_not_a_conflict(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    core = client.CoreV1Api(kube.api_client())
    core.patch_namespaced_config_map(
        "settings", "default", configmap(), field_manager="one", _content_type=APPLY
    )
    shared = core.patch_namespaced_config_map(
        "settings", "default", configmap(), field_manager="two", _content_type=APPLY
    )
    owners = managers(shared)
    assert owners[("one", "Apply")] == owners[("two", "Apply")] == {"f:data": {"f:mode": {}}}
    # `one` stops applying the field; `two` still owns it, so it stays.
    left = core.patch_namespaced_config_map(
        "settings",
        "default",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}},
        field_manager="one",
        _content_type=APPLY,
    )
    assert left.data == {"mode": "blue"}


def test_fields_no_longer_applied_are_removed(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    core = client.CoreV1Api(kube.api_client())
    body = configmap(mode="blue", size="3")
    body["metadata"]["labels"] = {"app": "shop", "tier": "web"}
    core.patch_namespaced_config_map(
        "settings", "default", body, field_manager="shipstep", _content_type=APPLY
    )
    core.patch_namespaced_config_map(
        "settings",
        "default",
        {"metadata": {"labels": {"owner": "ops"}}},
        field_manager="kubectl-label",
    )
    smaller = configmap(mode="blue")
    smaller["metadata"]["labels"] = {"app": "shop"}
    result = core.patch_namespaced_config_map(
        "settings", "default", smaller, field_manager="shipstep", _content_type=APPLY
    )
    assert result.data == {"mode": "blue"}
    assert result.metadata.labels == {
        "app": "shop",
        "owner": "ops",
    }  # another manager's label stays


def test_list_items_merge_by_key(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apps = client.AppsV1Api(kube.api_client())
    apps.patch_namespaced_deployment(
        "web", "default", deployment(), field_manager="shipstep", _content_type=APPLY
    )
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1.30"}]}}},
    }
    result = apps.patch_namespaced_deployment(
        "web", "default", sidecar, field_manager="injector", _content_type=APPLY
    )
    assert [c.name for c in result.spec.template.spec.containers] == ["app", "proxy"]
    bumped = deployment(image=f"registry.example/shop/web:1.1@{DIGEST_B}")
    result = apps.patch_namespaced_deployment(
        "web", "default", bumped, field_manager="shipstep", _content_type=APPLY
    )
    images = {c.name: c.image for c in result.spec.template.spec.containers}
    assert images == {"app": f"registry.example/shop/web:1.1@{DIGEST_B}", "proxy": "envoy:1.30"}


def test_update_takes_ownership_then_apply_conflicts(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apps = client.AppsV1Api(kube.api_client())
    apps.patch_namespaced_deployment(
        "web", "default", deployment(), field_manager="shipstep", _content_type=APPLY
    )
    apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"replicas": 4}}, field_manager="kubectl-scale"
    )
    current = apps.read_namespaced_deployment("web", "default")
    owners = managers(current)
    assert owners[("kubectl-scale", "Update")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owners[("shipstep", "Apply")]["f:spec"]
    with pytest.raises(client.ApiException) as caught:
        apps.patch_namespaced_deployment(
            "web", "default", deployment(), field_manager="shipstep", _content_type=APPLY
        )
    assert 'conflict with "kubectl-scale"' in json.loads(caught.value.body)["message"]


def test_apply_dry_run_shows_defaults_and_stores_nothing(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apps = client.AppsV1Api(kube.api_client())
    preview = apps.patch_namespaced_deployment(
        "web", "default", deployment(), field_manager="shipstep", dry_run="All", _content_type=APPLY
    )
    assert preview.spec.progress_deadline_seconds == 600
    assert preview.metadata.generation == 1
    assert kube.object("apps/v1", "Deployment", "web", "default") is None
    live = apps.patch_namespaced_deployment(
        "web", "default", deployment(), field_manager="shipstep", _content_type=APPLY
    )
    preview = apps.patch_namespaced_deployment(
        "web",
        "default",
        deployment(replicas=9),
        field_manager="shipstep",
        dry_run="All",
        _content_type=APPLY,
    )
    assert (preview.spec.replicas, preview.metadata.generation) == (9, 2)
    stored = apps.read_namespaced_deployment("web", "default")
    assert (stored.spec.replicas, stored.metadata.resource_version) == (
        2,
        live.metadata.resource_version,
    )


def test_apply_with_stale_resource_version_conflicts(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    created = core.patch_namespaced_config_map(
        "settings", "default", configmap(), field_manager="m", _content_type=APPLY
    )
    core.patch_namespaced_config_map(
        "settings", "default", configmap(mode="red"), field_manager="m", _content_type=APPLY
    )
    stale = configmap(mode="green")
    stale["metadata"]["resourceVersion"] = created.metadata.resource_version
    with pytest.raises(client.ApiException) as caught:
        core.patch_namespaced_config_map(
            "settings", "default", stale, field_manager="m", _content_type=APPLY
        )
    assert caught.value.status == 409


def test_apply_refuses_wrong_kind_and_name(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    body = configmap()
    body["kind"] = "Secret"
    with pytest.raises(client.ApiException) as kind:
        core.patch_namespaced_config_map(
            "settings", "default", body, field_manager="m", _content_type=APPLY
        )
    assert kind.value.status == 400
    with pytest.raises(client.ApiException) as name:
        core.patch_namespaced_config_map(
            "other", "default", configmap(), field_manager="m", _content_type=APPLY
        )
    assert name.value.status == 400
    with pytest.raises(client.ApiException) as namespace:
        core.patch_namespaced_config_map(
            "settings",
            "ghost",
            configmap(namespace="ghost"),
            field_manager="m",
            _content_type=APPLY,
        )
    assert namespace.value.status == 404


def test_dynamic_client_server_side_apply(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    dyn = kube.dynamic_client()
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    created = deployments.server_side_apply(
        body=deployment(), name="web", namespace="default", field_manager="shipstep"
    )
    assert created.metadata.managedFields[0].manager == "shipstep"
    with pytest.raises(Exception) as caught:
        deployments.server_side_apply(
            body=deployment(replicas=5), name="web", namespace="default", field_manager="other"
        )
    assert getattr(caught.value, "status", None) == 409
    forced = deployments.server_side_apply(
        body=deployment(replicas=5),
        name="web",
        namespace="default",
        field_manager="other",
        force_conflicts=True,
    )
    assert forced.spec.replicas == 5


def test_strategic_merge_patch(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apps = client.AppsV1Api(kube.api_client())
    apps.create_namespaced_deployment("default", deployment())
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "web:2"},
                        {"name": "proxy", "image": "envoy:1.30"},
                    ]
                }
            }
        }
    }
    result = apps.patch_namespaced_deployment("web", "default", patch)  # strategic merge by default
    containers = {c.name: c for c in result.spec.template.spec.containers}
    assert containers["app"].image == "web:2"
    assert containers["app"].ports[0].container_port == 8080  # merged, not replaced
    assert result.metadata.generation == 2
    deleting = {
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "$patch": "delete"}]}}}
    }
    result = apps.patch_namespaced_deployment("web", "default", deleting)
    assert [c.name for c in result.spec.template.spec.containers] == ["app"]


def test_merge_and_json_patches(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_config_map("default", configmap(mode="blue", size="3"))
    api = kube.api_client()
    merged = api.call_api(
        *api.param_serialize(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/settings",
            header_params={
                "Content-Type": "application/merge-patch+json",
                "Accept": "application/json",
            },
            body={"data": {"size": None, "color": "teal"}},
        )
    )
    merged.read()
    assert json.loads(merged.data)["data"] == {"mode": "blue", "color": "teal"}
    patched = core.patch_namespaced_config_map(
        "settings", "default", [{"op": "replace", "path": "/data/mode", "value": "red"}]
    )
    assert patched.data == {"mode": "red", "color": "teal"}
    with pytest.raises(client.ApiException) as bad:
        core.patch_namespaced_config_map(
            "settings", "default", [{"op": "test", "path": "/data/mode", "value": "blue"}]
        )
    assert bad.value.status == 422


def test_patch_on_missing_object_is_404(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    with pytest.raises(client.ApiException) as caught:
        core.patch_namespaced_config_map("nope", "default", {"data": {"a": "b"}})
    assert caught.value.status == 404


def test_strategic_merge_patch_refused_for_custom_resources(kube: KubeStandin) -> None:
    api = kube.api_client()
    client.ApiextensionsV1Api(api).create_custom_resource_definition(crd())
    objects = client.CustomObjectsApi(api)
    objects.create_namespaced_custom_object(
        "shop.example.com",
        "v1",
        "default",
        "widgets",
        {
            "apiVersion": "shop.example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 1},
        },
    )
    request = api.param_serialize(
        "PATCH",
        "/apis/shop.example.com/v1/namespaces/default/widgets/w",
        header_params={"Content-Type": "application/strategic-merge-patch+json"},
        body={"spec": {"size": 2}},
    )
    response = api.call_api(*request)
    response.read()
    assert response.status == 415
    patched = objects.patch_namespaced_custom_object(
        "shop.example.com", "v1", "default", "widgets", "w", {"spec": {"size": 2}}
    )
    assert patched["spec"]["size"] == 2
    assert patched["metadata"]["generation"] == 2


def test_status_subresource_apply_and_managers(kube: KubeStandin) -> None:
    kube.knobs.controller = False
    apps = client.AppsV1Api(kube.api_client())
    apps.patch_namespaced_deployment(
        "web", "default", deployment(), field_manager="shipstep", _content_type=APPLY
    )
    status = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "status": {"replicas": 2},
    }
    result = apps.patch_namespaced_deployment_status(
        "web", "default", status, field_manager="ctrl", _content_type=APPLY
    )
    assert result.status.replicas == 2
    entry = next(e for e in result.metadata.managed_fields if e.manager == "ctrl")
    assert (entry.operation, entry.subresource) == ("Apply", "status")
    assert result.metadata.generation == 1


def test_apply_configuration_must_be_well_formed(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    with pytest.raises(client.ApiException) as no_kind:
        core.patch_namespaced_config_map(
            "settings",
            "default",
            {"metadata": {"name": "settings"}, "data": {"a": "b"}},
            field_manager="m",
            _content_type=APPLY,
        )
    assert no_kind.value.status == 400
    body = configmap()
    body["metadata"]["managedFields"] = [{"manager": "x"}]
    with pytest.raises(client.ApiException) as managed:
        core.patch_namespaced_config_map(
            "settings", "default", body, field_manager="m", _content_type=APPLY
        )
    assert json.loads(managed.value.body)["message"] == "metadata.managedFields must be nil"


def test_raw_yaml_apply_keeps_timestamps_as_strings(kube: KubeStandin) -> None:
    import requests

    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  since: 2024-01-01T00:00:00Z\n"
    response = requests.patch(
        f"{kube.url}/api/v1/namespaces/default/configmaps/settings?fieldManager=m",
        data=body,
        headers={"Content-Type": APPLY},
        timeout=5,
    )
    assert response.status_code == 201
    assert response.json()["data"] == {"since": "2024-01-01T00:00:00Z"}
